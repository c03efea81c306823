package consul

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
)

// Source watches a cloudspace's route records and the health of the services they name,
// and pushes ingress updates: a RoutesUpdate whenever a record changes, an
// InstancesUpdate whenever a routed service's passing instances may have changed.
//
// It holds two blocking queries whatever the number of routed services, as fabio does:
// one on the route records' prefix, one on the state of every check in the datacenter.
// When a check of a routed service changes (or an instance with checks comes or goes),
// the service's passing instances are read again. One blocking health query per routed
// service would need a connection each, and Consul allows 200 connections per client
// address by default, fewer than the 1,000 services an ingress must follow.
//
// Instances without any check are seen when their route appears and at each Resync.
type Source struct {
	// Client is the Consul client; Prefix the records' prefix (DefaultPrefix);
	// Cloudspace the cloudspace whose records are routed.
	Client     *consulapi.Client
	Prefix     string
	Cloudspace string
	Log        *slog.Logger
	// WaitTime bounds each blocking query (default 55 s). A query that has not answered
	// WaitTime + WaitTime/16 + StallMargin after it was sent is stalled: the watchdog
	// cancels it and asks again.
	WaitTime    time.Duration
	StallMargin time.Duration
	// Resync reads every routed service's instances again this often (default 5 min).
	Resync time.Duration
	// Fetchers bounds concurrent reads of services' instances (default 8).
	Fetchers int
	// CheckFilter, when set, is a Consul filter expression on the checks watched, so a
	// datacenter with many services the ingress never routes sends less on each change,
	// e.g. `ServiceID == "" or ServiceTags contains "wharf"`. Node-level checks (empty
	// ServiceID) must pass it.
	CheckFilter string
}

func (s *Source) defaults() {
	if s.Prefix == "" {
		s.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(s.Prefix, "/") {
		s.Prefix += "/"
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.WaitTime == 0 {
		s.WaitTime = 55 * time.Second
	}
	if s.StallMargin == 0 {
		s.StallMargin = 10 * time.Second
	}
	if s.Resync == 0 {
		s.Resync = 5 * time.Minute
	}
	if s.Fetchers == 0 {
		s.Fetchers = 8
	}
}

// Run watches until ctx ends, sending updates on out, and returns nil then. It never
// gives up on Consul: errors are logged and the watch retried with a backoff.
func (s *Source) Run(ctx context.Context, out chan<- ingress.Update) error {
	s.defaults()
	routesCh := make(chan []ingress.Route)
	checksCh := make(chan consulapi.HealthChecks)
	go s.watchRoutes(ctx, routesCh)
	go s.watchChecks(ctx, checksCh)

	f := &fetcher{src: s, ctx: ctx, out: out, sem: make(chan struct{}, s.Fetchers), pending: map[string]bool{}, running: map[string]bool{}}
	routed := map[string]bool{} // services named by a route
	sigs := map[string]uint64{} // service → signature of its checks
	var nodeSig uint64          // signature of the node-level checks
	resync := time.NewTicker(s.Resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case routes := <-routesCh:
			if !send(ctx, out, ingress.RoutesUpdate{Routes: routes}) {
				return nil
			}
			next := map[string]bool{}
			for _, r := range routes {
				next[r.Service] = true
				if !routed[r.Service] {
					f.mark(r.Service)
				}
			}
			routed = next
		case checks := <-checksCh:
			nodes, bySvc := signatures(checks)
			all := nodes != nodeSig
			nodeSig = nodes
			for svc := range routed {
				if sig := bySvc[svc]; all || sig != sigs[svc] {
					f.mark(svc)
				}
			}
			sigs = bySvc
		case <-resync.C:
			for svc := range routed {
				f.mark(svc)
			}
		}
	}
}

func send(ctx context.Context, out chan<- ingress.Update, u ingress.Update) bool {
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// signatures hashes the checks: node-level checks together, and each service's checks
// (node, instance, check, status) apart. A changed hash means the service's passing
// instances may have changed.
func signatures(checks consulapi.HealthChecks) (nodes uint64, bySvc map[string]uint64) {
	bySvc = map[string]uint64{}
	for _, c := range checks {
		h := fnv.New64a()
		for _, s := range []string{c.Node, c.ServiceID, c.CheckID, c.Status} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		// Summing makes the signature independent of the checks' order.
		if c.ServiceID == "" {
			nodes += h.Sum64()
		} else {
			bySvc[c.ServiceName] += h.Sum64()
		}
	}
	return nodes, bySvc
}

// fetcher reads services' passing instances, at most Fetchers at once and one read per
// service at a time; a service marked during its read is read once more after it.
type fetcher struct {
	src     *Source
	ctx     context.Context
	out     chan<- ingress.Update
	sem     chan struct{}
	mu      sync.Mutex
	pending map[string]bool
	running map[string]bool
}

func (f *fetcher) mark(svc string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running[svc] {
		f.pending[svc] = true
		return
	}
	f.running[svc] = true
	go f.run(svc)
}

func (f *fetcher) run(svc string) {
	for {
		select {
		case f.sem <- struct{}{}:
		case <-f.ctx.Done():
			return
		}
		insts, err := f.src.instances(f.ctx, svc)
		<-f.sem
		if err == nil {
			if !send(f.ctx, f.out, ingress.InstancesUpdate{Service: svc, Instances: insts}) {
				return
			}
		} else if f.ctx.Err() == nil {
			f.src.Log.Warn("read service health", "service", svc, "error", err)
			time.Sleep(time.Second)
			f.mu.Lock()
			f.pending[svc] = true
			f.mu.Unlock()
		}
		f.mu.Lock()
		if f.pending[svc] {
			delete(f.pending, svc)
			f.mu.Unlock()
			continue
		}
		delete(f.running, svc)
		f.mu.Unlock()
		return
	}
}

// instances reads a service's passing instances.
func (s *Source) instances(ctx context.Context, svc string) ([]ingress.Instance, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries, _, err := s.Client.Health().Service(svc, "", true, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, err
	}
	insts := make([]ingress.Instance, 0, len(entries))
	for _, e := range entries {
		addr := e.Service.Address
		if addr == "" {
			addr = e.Node.Address
		}
		insts = append(insts, ingress.Instance{ID: e.Service.ID, Addr: net.JoinHostPort(addr, strconv.Itoa(e.Service.Port))})
	}
	return insts, nil
}

// watchRoutes sends the valid route records of the cloudspace each time they change.
func (s *Source) watchRoutes(ctx context.Context, out chan<- []ingress.Route) {
	prefix := s.Prefix + s.Cloudspace + "/"
	warned := map[string]uint64{} // key → ModifyIndex already warned about
	s.watch(ctx, "routes", func(q *consulapi.QueryOptions) (uint64, error) {
		pairs, meta, err := s.Client.KV().List(prefix, q)
		if err != nil || meta.LastIndex == q.WaitIndex {
			return indexOf(meta), err
		}
		routes := make([]ingress.Route, 0, len(pairs))
		for _, p := range pairs {
			r, err := ingress.ParseRoute(p.Value)
			if err == nil && s.Prefix+r.Key() != p.Key {
				err = errors.New("its cloudspace, app and env do not match its key")
			}
			if err != nil {
				if warned[p.Key] != p.ModifyIndex {
					s.Log.Warn("route record skipped", "key", p.Key, "error", err)
					warned[p.Key] = p.ModifyIndex
				}
				continue
			}
			routes = append(routes, r)
		}
		slices.SortFunc(routes, func(a, b ingress.Route) int { return strings.Compare(a.Key(), b.Key()) })
		select {
		case out <- routes:
		case <-ctx.Done():
		}
		return meta.LastIndex, nil
	})
}

// watchChecks sends the state of every check each time any changes.
func (s *Source) watchChecks(ctx context.Context, out chan<- consulapi.HealthChecks) {
	s.watch(ctx, "checks", func(q *consulapi.QueryOptions) (uint64, error) {
		q.Filter = s.CheckFilter
		checks, meta, err := s.Client.Health().State(consulapi.HealthAny, q)
		if err != nil || meta.LastIndex == q.WaitIndex {
			return indexOf(meta), err
		}
		select {
		case out <- checks:
		case <-ctx.Done():
		}
		return meta.LastIndex, nil
	})
}

// watch runs a blocking query until ctx ends. query is called with the index to wait
// on, passes on what it read when the index moved, and returns the new index; it is
// called again at once after an answer and after a backoff after an error. The
// watchdog: each call's context expires when the query is overdue, so a stalled
// connection is dropped and the query asked again.
func (s *Source) watch(ctx context.Context, name string, query func(*consulapi.QueryOptions) (uint64, error)) {
	var index uint64
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		qctx, cancel := context.WithTimeout(ctx, s.WaitTime+s.WaitTime/16+s.StallMargin)
		next, err := query((&consulapi.QueryOptions{WaitIndex: index, WaitTime: s.WaitTime}).WithContext(qctx))
		stalled := qctx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case stalled:
			s.Log.Warn("watch stalled; asking again", "watch", name)
			continue
		case err != nil:
			s.Log.Warn("watch failed; retrying", "watch", name, "error", err, "backoff", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		switch {
		case next < index:
			// Consul's index went backwards (a restored snapshot): read afresh.
			index = 0
		case next == 0:
			// Consul never answers 0; were it to, 0 would not block, 1 does.
			index = 1
		default:
			index = next
		}
	}
}

func indexOf(m *consulapi.QueryMeta) uint64 {
	if m == nil {
		return 0
	}
	return m.LastIndex
}
