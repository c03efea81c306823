package ingress

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Instance is one healthy instance of a service: where to send its requests.
type Instance struct {
	ID   string // the service instance's ID in the catalog, for logs
	Addr string // host:port
}

// Update is a change a source pushes to the Proxy. Its two kinds, RoutesUpdate and
// InstancesUpdate, are the only ones: the interface's method is unexported.
type Update interface{ update() }

// RoutesUpdate is the whole, current set of valid route records. A source sends one
// whenever a record is written or deleted; the Proxy replaces its routes with it.
type RoutesUpdate struct{ Routes []Route }

// InstancesUpdate is the whole, current set of passing instances of one service. A source
// sends one whenever the service's health changes, and once when a route starts naming
// the service.
type InstancesUpdate struct {
	Service   string
	Instances []Instance
}

func (RoutesUpdate) update()    {}
func (InstancesUpdate) update() {}

// table is an immutable host → target map. Routes change by building a new table and
// swapping it in; instances change inside a service without a new table.
type table struct {
	hosts map[string]*target
}

// target is what a host resolves to: its route and the service that serves it.
type target struct {
	route Route
	svc   *service
	// auth caches credentials already checked against the bcrypt hash, so bcrypt's
	// deliberate slowness is paid once per credential, not per request.
	auth *authCache
	m    routeMetrics
	// prev is the service the route named before it named svc, kept while svc's
	// instances have not been read yet: a route moving to another service (an upgrade to
	// new names, a migration) is served by the one it had until the ingress knows the new
	// one's instances, never by none.
	prev *service
}

// serving is the service whose instances receive the route's requests now: svc, or prev
// while svc's instances are unknown.
func (t *target) serving() *service {
	if t.prev != nil && !t.svc.known.Load() {
		return t.prev
	}
	return t.svc
}

// service holds the passing instances of one Consul service; a source replaces them.
type service struct {
	name      string
	instances atomic.Pointer[instanceSet]
	// known is set once the service's instances have been read.
	known atomic.Bool
}

// instanceSet is an immutable list of instances and the round-robin cursor over it.
type instanceSet struct {
	list []Instance
	next atomic.Uint64
}

// pick returns the instances to try, in order: the next in round-robin order first, then
// the others, up to max in all.
func (s *instanceSet) pick(max int) []Instance {
	n := len(s.list)
	if n == 0 {
		return nil
	}
	if max > n {
		max = n
	}
	start := int(s.next.Add(1) % uint64(n))
	if max == 1 {
		return s.list[start : start+1]
	}
	out := make([]Instance, 0, max)
	for i := 0; i < max; i++ {
		out = append(out, s.list[(start+i)%n])
	}
	return out
}

// state is the Proxy's mutable view, owned by the goroutine that applies updates.
type state struct {
	routes   map[string]Route    // by Route.Key
	services map[string]*service // by name, kept while any route names it
	targets  map[string]*target  // by Route.Key, reused while the route is unchanged
}

func newState() *state {
	return &state{routes: map[string]Route{}, services: map[string]*service{}, targets: map[string]*target{}}
}

func (s *state) service(name string) *service {
	svc := s.services[name]
	if svc == nil {
		svc = &service{name: name}
		svc.instances.Store(&instanceSet{})
		s.services[name] = svc
	}
	return svc
}

// setInstances replaces a service's instances in place; no new table is needed. A
// service no route names (any more) is ignored: a source sends a service's instances
// only after the routes that name it.
func (s *state) setInstances(name string, list []Instance) {
	svc := s.services[name]
	if svc == nil {
		return
	}
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b Instance) int {
		if a.Addr < b.Addr {
			return -1
		}
		if a.Addr > b.Addr {
			return 1
		}
		return 0
	})
	svc.instances.Store(&instanceSet{list: list})
	svc.known.Store(true)
}

// instancesKnown reports whether every routed service's instances have been read once.
func (s *state) instancesKnown() bool {
	for _, svc := range s.services {
		if !svc.known.Load() {
			return false
		}
	}
	return true
}

// setRoutes replaces the routes and builds the table for them. Targets of unchanged
// routes are kept, with their credential caches and metrics.
//
// A host has at most one route. wharfd makes sure of it where claims are written (a
// custom domain's claim is created with check-and-set; generated hosts are distinct by
// construction and no custom domain may sit under an ingress domain), so two records
// claiming one host mean a record not written by those rules. The ingress then does not
// pick: it serves neither for that host (404), and returns the host with the claimants'
// names so the caller logs them. Picking one by any order (key, write time) could hand a
// tenant's host to whoever wrote a record that sorts first or came first.
func (s *state) setRoutes(routes []Route, metrics *proxyMetrics) (*table, map[string][]string) {
	next := make(map[string]Route, len(routes))
	for _, r := range routes {
		next[r.Key()] = r
	}
	targets := make(map[string]*target, len(next))
	for key, r := range next {
		if t := s.targets[key]; t != nil && routesEqual(t.route, r) {
			targets[key] = t
			continue
		}
		tg := &target{route: r, svc: s.service(r.Service), auth: &authCache{}, m: metrics.route(r.Name())}
		if old := s.targets[key]; old != nil && old.route.Service != r.Service && !tg.svc.known.Load() {
			tg.prev = old.svc
			if old.prev != nil && !old.svc.known.Load() {
				tg.prev = old.prev
			}
		}
		targets[key] = tg
	}
	used := map[string]bool{}
	for _, r := range next {
		used[r.Service] = true
	}
	for name := range s.services {
		if !used[name] {
			delete(s.services, name)
		}
	}
	names := map[string]bool{}
	for _, r := range next {
		names[r.Name()] = true
	}
	for _, t := range s.targets {
		if name := t.route.Name(); !names[name] {
			metrics.forget(name) // a removed route's series would otherwise stay forever
		}
	}
	s.routes, s.targets = next, targets

	t := &table{hosts: make(map[string]*target, len(next))}
	claimants := map[string][]string{}
	for _, tg := range targets {
		for _, h := range slices.Compact(slices.Sorted(slices.Values(tg.route.Hosts))) {
			t.hosts[h] = tg
			claimants[h] = append(claimants[h], tg.route.Name())
		}
	}
	conflicts := map[string][]string{}
	for h, names := range claimants {
		if len(names) > 1 {
			delete(t.hosts, h)
			slices.Sort(names)
			conflicts[h] = names
		}
	}
	return t, conflicts
}

func routesEqual(a, b Route) bool {
	if a.Version != b.Version || a.Cloudspace != b.Cloudspace || a.App != b.App || a.Env != b.Env ||
		a.Primary != b.Primary || a.Service != b.Service || a.HTTPSRedirect != b.HTTPSRedirect ||
		!slices.Equal(a.Hosts, b.Hosts) {
		return false
	}
	if (a.BasicAuth == nil) != (b.BasicAuth == nil) {
		return false
	}
	return a.BasicAuth == nil || *a.BasicAuth == *b.BasicAuth
}

// authCache remembers credentials that matched, bounded in size.
type authCache struct {
	mu sync.Mutex
	ok map[[32]byte]bool
}

const authCacheMax = 1024

func (c *authCache) has(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ok[k]
}

func (c *authCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok == nil || len(c.ok) >= authCacheMax {
		c.ok = map[[32]byte]bool{}
	}
	c.ok[k] = true
}

// routeMetrics are one route's metrics, resolved once so a request does no label lookup.
type routeMetrics struct {
	byClass  [6]prometheus.Counter // index: status / 100
	duration prometheus.Observer
}
