package consul_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"golang.org/x/crypto/bcrypt"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
)

// rig is a real Consul, a route store on it, and an ingress (Source + Proxy) following
// it, served on a loopback port.
type rig struct {
	consul  *consulapi.Client // the operator's
	ingress *consulapi.Client // the ingress's, as the source has
	routes  *consul.RouteStore
	proxy   *ingress.Proxy
	url     string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	c := agenttest.Consul(t)
	return newRigOn(t, c, c.Addr)
}

// newRigOn is newRig on a Consul already running, reached at addr.
func newRigOn(t *testing.T, c *devstack.Consul, addr string) *rig {
	t.Helper()
	return newRigWith(t, c, addr, &consul.Source{WaitTime: 10 * time.Second})
}

// newRigWith is newRigOn with the source's settings from src. The source reads with
// the ingress's token, routes are written with wharfd's, and instances registered with
// the operator's (as Nomad would).
func newRigWith(t *testing.T, c *devstack.Consul, addr string, src *consul.Source) *rig {
	t.Helper()
	clientWith := func(token string) *consulapi.Client {
		client, err := consulapi.NewClient(&consulapi.Config{Address: addr, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		return client
	}
	client := clientWith(c.IngressToken)
	ctx, cancel := context.WithCancel(context.Background())
	updates := make(chan ingress.Update)
	p := ingress.New(ingress.Config{})
	src.Client, src.Cloudspace, src.Log = client, "local", slog.New(slog.NewTextHandler(testWriter{t}, nil))
	done := make(chan struct{}, 2)
	go func() { p.Run(ctx, updates); done <- struct{}{} }()
	go func() { src.Run(ctx, updates); done <- struct{}{} }()
	front := httptest.NewServer(p)
	t.Cleanup(func() {
		front.Close()
		cancel()
		<-done
		<-done
	})
	return &rig{consul: clientWith(c.ManagementToken), ingress: client, routes: consul.NewRouteStore(clientWith(c.WharfdToken), ""), proxy: p, url: front.URL}
}

// instance registers a backend as an instance of svc with a TTL check in the given
// state, and returns its check's ID.
func (r *rig) instance(t *testing.T, svc string, backend *httptest.Server, status string) string {
	t.Helper()
	host, portStr, _ := strings.Cut(strings.TrimPrefix(backend.URL, "http://"), ":")
	port, _ := strconv.Atoi(portStr)
	id := fmt.Sprintf("%s-%d", svc, port)
	err := r.consul.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: id, Name: svc, Address: host, Port: port,
		Check: &consulapi.AgentServiceCheck{CheckID: id, TTL: "10m", Status: status},
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func backend(t *testing.T, body string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
	t.Cleanup(s.Close)
	return s
}

type answer struct {
	status   int
	body     string
	location string
}

func (r *rig) get(host, user, pass string) (answer, error) {
	req, _ := http.NewRequest("GET", r.url+"/", nil)
	req.Host = host
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header.Get("Location")}, nil
}

// await asks host until the answer has the status (and body, when given), for at most
// 20 s: routing changes are expected within a second, and measured by the benchmarks.
func (r *rig) await(t *testing.T, host string, status int, body string) {
	t.Helper()
	var last answer
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		last, err = r.get(host, "", "")
		if err == nil && last.status == status && strings.Contains(last.body, body) {
			return
		}
	}
	t.Fatalf("%s never answered %d %q; last %d %q (%v)", host, status, body, last.status, last.body, err)
}

func putRoute(t *testing.T, r *rig, route ingress.Route) {
	t.Helper()
	route.Version = ingress.RouteVersion
	if route.Cloudspace == "" {
		route.Cloudspace = "local"
	}
	if route.Primary == "" {
		route.Primary = route.Hosts[0]
	}
	_, index, err := r.routes.Get(context.Background(), route.Cloudspace, route.App, route.Env)
	if err != nil && platform.ErrorCode(err) != platform.NotFound {
		t.Fatal(err)
	}
	if err := r.routes.Put(context.Background(), route, index); err != nil {
		t.Fatal(err)
	}
}

// TestSourceFollowsHealth: an instance passing its check is routed, a failing one is
// dropped, and a service with none passing answers 503; a deleted route answers 404.
func TestSourceFollowsHealth(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	host := "shop-live.apps.test"
	putRoute(t, r, ingress.Route{App: "shop", Env: "live", Hosts: []string{host}, Service: "shop-live-web"})
	r.await(t, host, 503, "no instance passing")

	one := r.instance(t, "shop-live-web", backend(t, "one"), consulapi.HealthCritical)
	two := r.instance(t, "shop-live-web", backend(t, "two"), consulapi.HealthCritical)
	if err := r.consul.Agent().PassTTL(one, ""); err != nil {
		t.Fatal(err)
	}
	r.await(t, host, 200, "one")
	if err := r.consul.Agent().PassTTL(two, ""); err != nil {
		t.Fatal(err)
	}
	r.await(t, host, 200, "two")
	if err := r.consul.Agent().FailTTL(one, ""); err != nil {
		t.Fatal(err)
	}
	// Dropped: once the table holds one instance, only "two" answers.
	for deadline := time.Now().Add(20 * time.Second); len(r.proxy.Instances(host)) != 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the failing instance was never dropped: %v", r.proxy.Instances(host))
		}
	}
	for i := 0; i < 10; i++ {
		if a, err := r.get(host, "", ""); err != nil || a.status != 200 || a.body != "two" {
			t.Fatalf("after one failed: %d %q %v, want 200 two", a.status, a.body, err)
		}
	}
	if err := r.consul.Agent().ServiceDeregister(two); err != nil {
		t.Fatal(err)
	}
	r.await(t, host, 503, "no instance passing")

	if err := r.routes.Delete(context.Background(), "local", "shop", "live", 0); err != nil {
		t.Fatal(err)
	}
	r.await(t, host, 404, "No Wharf environment")
}

// TestSourceCustomDomainAndBasicAuth: a custom primary domain routes, the generated host
// and another alias redirect to it, and basic auth from the record guards it.
func TestSourceCustomDomainAndBasicAuth(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.instance(t, "blog-test-web", backend(t, "blog"), consulapi.HealthPassing)
	putRoute(t, r, ingress.Route{App: "blog", Env: "test", Hosts: []string{"blog-test.apps.test"}, Service: "blog-test-web"})
	r.await(t, "blog-test.apps.test", 200, "blog")

	hash, err := bcrypt.GenerateFromPassword([]byte("open sesame"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	putRoute(t, r, ingress.Route{
		App: "blog", Env: "test", Service: "blog-test-web",
		Hosts:     []string{"blog-test.apps.test", "www.blog.test", "blog.test"},
		Primary:   "www.blog.test",
		BasicAuth: &ingress.BasicAuth{Username: "editor", PasswordHash: string(hash)},
	})
	r.await(t, "www.blog.test", 401, "protected")
	for _, alias := range []string{"blog.test", "blog-test.apps.test"} {
		a, err := r.get(alias, "", "")
		if err != nil || a.status != 308 || a.location != "http://www.blog.test/" {
			t.Errorf("%s: %d to %q (%v), want 308 to http://www.blog.test/", alias, a.status, a.location, err)
		}
	}
	for _, tc := range []struct {
		name, user, pass string
		status           int
	}{
		{"no credentials", "", "", 401},
		{"wrong password", "editor", "open", 401},
		{"right credentials", "editor", "open sesame", 200},
	} {
		a, err := r.get("www.blog.test", tc.user, tc.pass)
		if err != nil || a.status != tc.status {
			t.Errorf("%s: %d (%v), want %d", tc.name, a.status, err, tc.status)
		}
	}
}

// TestSourceWatchdog: when the connections of the blocking queries go silent (a dead
// path, a frozen agent), the watchdog drops them and asks again, so changes made
// meanwhile are still routed.
func TestSourceWatchdog(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	sp := newStallProxy(t, c.Addr)
	r := newRigWith(t, c, sp.addr(), &consul.Source{WaitTime: time.Second, StallMargin: 500 * time.Millisecond})
	r.instance(t, "a-live-web", backend(t, "a"), consulapi.HealthPassing)
	putRoute(t, r, ingress.Route{App: "a", Env: "live", Hosts: []string{"a.test"}, Service: "a-live-web"})
	r.await(t, "a.test", 200, "a")

	sp.stall()
	// Written straight to Consul: the ingress's connections are the ones stalled.
	direct, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	(&rig{consul: direct}).instance(t, "b-live-web", backend(t, "b"), consulapi.HealthPassing)
	putRoute(t, &rig{routes: consul.NewRouteStore(direct, "")}, ingress.Route{App: "b", Env: "live", Hosts: []string{"b.test"}, Service: "b-live-web"})
	r.await(t, "b.test", 200, "b")
	if sp.stalled() == 0 {
		t.Error("no connection was stalled: the test proved nothing")
	}
}

// TestSourceCheckFilter: with a filter on the checks watched, the checks that pass it
// are still followed.
func TestSourceCheckFilter(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	r := newRigWith(t, c, c.Addr, &consul.Source{WaitTime: 10 * time.Second, CheckFilter: `ServiceID == "" or ServiceTags contains "wharf"`})
	web := backend(t, "filtered")
	port, _ := strconv.Atoi(web.URL[strings.LastIndexByte(web.URL, ':')+1:])
	if err := r.consul.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "f-1", Name: "f-live-web", Address: "127.0.0.1", Port: port, Tags: []string{"wharf"},
		Check: &consulapi.AgentServiceCheck{CheckID: "f-1", TTL: "10m", Status: consulapi.HealthCritical},
	}); err != nil {
		t.Fatal(err)
	}
	putRoute(t, r, ingress.Route{App: "f", Env: "live", Hosts: []string{"f.test"}, Service: "f-live-web"})
	r.await(t, "f.test", 503, "no instance passing")
	if err := r.consul.Agent().PassTTL("f-1", ""); err != nil {
		t.Fatal(err)
	}
	r.await(t, "f.test", 200, "filtered")
	if err := r.consul.Agent().FailTTL("f-1", ""); err != nil {
		t.Fatal(err)
	}
	r.await(t, "f.test", 503, "no instance passing")
}

// stallProxy forwards TCP connections to a target. stall makes every connection open so
// far go silent both ways, without closing it; later connections work.
type stallProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []*atomic.Bool // one frozen flag per connection
	frozen int
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{l: l, target: target}
	var open []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			open = append(open, in, out)
			mu.Unlock()
			frozen := new(atomic.Bool)
			p.mu.Lock()
			p.conns = append(p.conns, frozen)
			p.mu.Unlock()
			go pipe(out, in, frozen)
			go pipe(in, out, frozen)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
	})
	return p
}

// pipe copies from src to dst until either closes; once frozen, it reads and drops.
func pipe(dst, src net.Conn, frozen *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if !frozen.Load() {
				dst.Close()
			}
			return
		}
	}
}

func (p *stallProxy) addr() string { return p.l.Addr().String() }

func (p *stallProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.conns {
		if !f.Swap(true) {
			p.frozen++
		}
	}
}

func (p *stallProxy) stalled() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

// TestRouteStoreCheckAndSet: writes conflict unless they name the record's index.
func TestRouteStoreCheckAndSet(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr, Token: c.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	s := consul.NewRouteStore(client, "")
	ctx := context.Background()
	r := ingress.Route{Cloudspace: "local", App: "a", Env: "live", Hosts: []string{"a-live.apps.test"}, Primary: "a-live.apps.test", Service: "a-live-web"}

	if _, _, err := s.Get(ctx, "local", "a", "live"); platform.ErrorCode(err) != platform.NotFound {
		t.Fatalf("Get of a missing record: %v, want not_found", err)
	}
	if err := s.Put(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r, 0); platform.ErrorCode(err) != platform.Conflict {
		t.Fatalf("second create: %v, want conflict", err)
	}
	got, index, err := s.Get(ctx, "local", "a", "live")
	if err != nil || got.Service != r.Service || got.Version != ingress.RouteVersion {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	r.HTTPSRedirect = true
	if err := s.Put(ctx, r, index); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, r, index); platform.ErrorCode(err) != platform.Conflict {
		t.Fatalf("write at a stale index: %v, want conflict", err)
	}
	if err := s.Delete(ctx, "local", "a", "live", index); platform.ErrorCode(err) != platform.Conflict {
		t.Fatalf("delete at a stale index: %v, want conflict", err)
	}
	bad := r
	bad.Primary = "elsewhere.test"
	if err := s.Put(ctx, bad, 0); platform.ErrorCode(err) != platform.Invalid {
		t.Fatalf("invalid record: %v, want invalid", err)
	}
	_, index, _ = s.Get(ctx, "local", "a", "live")
	if err := s.Delete(ctx, "local", "a", "live", index); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(ctx, "local", "a", "live"); platform.ErrorCode(err) != platform.NotFound {
		t.Fatalf("Get after delete: %v, want not_found", err)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
