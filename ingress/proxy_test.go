package ingress

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// echo is a backend that answers with the request's host and headers as JSON.
func echo(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"backend": name, "host": r.Host, "header": r.Header, "uri": r.RequestURI})
	}))
	t.Cleanup(s.Close)
	return s
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// closedAddr returns a loopback address where nothing listens: connecting is refused.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func route(app, env, svc string, hosts ...string) Route {
	return Route{Version: RouteVersion, Cloudspace: "local", App: app, Env: env, Hosts: hosts, Primary: hosts[0], Service: svc}
}

// newTestProxy returns a proxy with the routes and instances applied.
func newTestProxy(t *testing.T, cfg Config, routes []Route, instances map[string][]string) *Proxy {
	t.Helper()
	p := New(cfg)
	st := newState()
	p.apply(st, RoutesUpdate{Routes: routes})
	for svc, addrs := range instances {
		var list []Instance
		for _, a := range addrs {
			list = append(list, Instance{ID: a, Addr: a})
		}
		p.apply(st, InstancesUpdate{Service: svc, Instances: list})
	}
	return p
}

func TestProxyRoutes(t *testing.T) {
	t.Parallel()
	backend := echo(t, "a")
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := route("shop", "live", "shop-live", "shop-live.apps.test", "www.shop.test", "shop.test")
	web.Primary = "www.shop.test"
	secure := route("shop", "test", "shop-test", "shop-test.apps.test")
	secure.HTTPSRedirect = true
	guarded := route("blog", "test", "blog-test", "blog-test.apps.test")
	guarded.BasicAuth = &BasicAuth{Username: "ann", PasswordHash: string(hash)}
	empty := route("idle", "live", "idle-live", "idle-live.apps.test")
	p := newTestProxy(t, Config{}, []Route{web, secure, guarded, empty}, map[string][]string{
		"shop-live": {addr(backend)}, "shop-test": {addr(backend)}, "blog-test": {addr(backend)},
	})

	for _, tc := range []struct {
		name       string
		host, uri  string
		user, pass string
		status     int
		location   string
		body       string
	}{
		{name: "unknown host", host: "nope.test", uri: "/", status: 404, body: "No Wharf environment answers to nope.test"},
		{name: "primary", host: "www.shop.test", uri: "/a?b=c", status: 200, body: `"backend":"a"`},
		{name: "primary with port and capitals", host: "WWW.Shop.test:8080", uri: "/", status: 200, body: `"backend":"a"`},
		{name: "alias redirects", host: "shop.test", uri: "/a?b=c", status: 308, location: "http://www.shop.test/a?b=c"},
		{name: "generated host redirects", host: "shop-live.apps.test", uri: "/", status: 308, location: "http://www.shop.test/"},
		{name: "https redirect", host: "shop-test.apps.test", uri: "/x", status: 308, location: "https://shop-test.apps.test/x"},
		{name: "no healthy instance", host: "idle-live.apps.test", uri: "/", status: 503, body: "idle/live has no instance passing its health check"},
		{name: "basic auth missing", host: "blog-test.apps.test", uri: "/", status: 401},
		{name: "basic auth wrong password", host: "blog-test.apps.test", uri: "/", user: "ann", pass: "guess", status: 401},
		{name: "basic auth wrong user", host: "blog-test.apps.test", uri: "/", user: "bob", pass: "s3cret", status: 401},
		{name: "basic auth right", host: "blog-test.apps.test", uri: "/", user: "ann", pass: "s3cret", status: 200, body: `"backend":"a"`},
		{name: "basic auth right again (cached)", host: "blog-test.apps.test", uri: "/", user: "ann", pass: "s3cret", status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://"+tc.host+tc.uri, nil)
			req.Host = tc.host
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			w := httptest.NewRecorder()
			p.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location %q, want %q", got, tc.location)
			}
			if !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("body %q does not hold %q", w.Body, tc.body)
			}
			if w.Header().Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id in the answer")
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestProxyForwardedHeaders(t *testing.T) {
	t.Parallel()
	backend := echo(t, "a")
	p := newTestProxy(t, Config{}, []Route{route("a", "live", "a", "a.test")}, map[string][]string{"a": {addr(backend)}})
	front := httptest.NewServer(p)
	defer front.Close()

	req, _ := http.NewRequest("GET", front.URL+"/path", nil)
	req.Host = "a.test"
	req.Header.Set("X-Request-Id", "given-id")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Host   string
		Header http.Header
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Host": "a.test", "X-Forwarded-Proto": "http", "X-Request-Id": "given-id",
	} {
		if v := got.Header.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if got.Host != "a.test" {
		t.Errorf("backend saw Host %q, want a.test", got.Host)
	}
	if v := resp.Header.Get("X-Request-Id"); v != "given-id" {
		t.Errorf("answer's X-Request-Id %q, want given-id", v)
	}
}

func TestProxyBalancesAndRetriesRefused(t *testing.T) {
	t.Parallel()
	a, b := echo(t, "a"), echo(t, "b")
	p := newTestProxy(t, Config{}, []Route{route("a", "live", "a", "a.test"), route("d", "live", "d", "dead.test")},
		map[string][]string{"a": {addr(a), closedAddr(t), addr(b)}, "d": {closedAddr(t), closedAddr(t)}})
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, httptest.NewRequest("POST", "http://a.test/", strings.NewReader("body")))
		if w.Code != 200 {
			t.Fatalf("request %d: status %d with one instance refusing; body %s", i, w.Code, w.Body)
		}
		var got struct{ Backend string }
		json.Unmarshal(w.Body.Bytes(), &got)
		seen[got.Backend]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Errorf("requests went to %v, want both instances", seen)
	}

	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "http://dead.test/", nil))
	if w.Code != http.StatusBadGateway {
		t.Errorf("every instance refusing: status %d, want 502", w.Code)
	}
}

func TestProxyReadTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	p := newTestProxy(t, Config{ReadTimeout: 50 * time.Millisecond}, []Route{route("s", "live", "s", "slow.test")},
		map[string][]string{"s": {addr(slow)}})
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest("GET", "http://slow.test/", nil))
	if w.Code != http.StatusGatewayTimeout {
		t.Errorf("status %d, want 504", w.Code)
	}
}

func TestProxyWebSocket(t *testing.T) {
	t.Parallel()
	// The backend accepts the upgrade and echoes each line back, upper-cased.
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(strings.ToUpper(line))
			brw.Flush()
		}
	}))
	defer backend.Close()
	p := newTestProxy(t, Config{}, []Route{route("w", "live", "w", "ws.test")}, map[string][]string{"w": {addr(backend)}})
	front := httptest.NewServer(p)
	defer front.Close()

	conn, err := net.Dial("tcp", addr(front))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /socket HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", resp.StatusCode)
	}
	io.WriteString(conn, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "HELLO\n" {
		t.Fatalf("echo %q, %v; want HELLO", line, err)
	}
}

func TestRouteValidate(t *testing.T) {
	t.Parallel()
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	ok := route("a", "live", "a-live", "a-live.apps.test", "www.a.test")
	for _, tc := range []struct {
		name  string
		edit  func(*Route)
		valid bool
	}{
		{"valid", func(*Route) {}, true},
		{"valid with basic auth", func(r *Route) { r.BasicAuth = &BasicAuth{Username: "u", PasswordHash: string(hash)} }, true},
		{"plain password", func(r *Route) { r.BasicAuth = &BasicAuth{Username: "u", PasswordHash: "pw"} }, false},
		{"unknown version", func(r *Route) { r.Version = 2 }, false},
		{"primary not a host", func(r *Route) { r.Primary = "other.test" }, false},
		{"upper-case host", func(r *Route) { r.Hosts = []string{"A.test"}; r.Primary = "A.test" }, false},
		{"host with port", func(r *Route) { r.Hosts = []string{"a.test:80"}; r.Primary = "a.test:80" }, false},
		{"IP address", func(r *Route) { r.Hosts = []string{"127.0.0.1"}; r.Primary = "127.0.0.1" }, false},
		{"no service", func(r *Route) { r.Service = "" }, false},
		{"slash in app", func(r *Route) { r.App = "a/b" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			r.Hosts = append([]string(nil), ok.Hosts...)
			tc.edit(&r)
			err := r.Validate()
			if (err == nil) != tc.valid {
				t.Errorf("Validate() = %v, want valid %v", err, tc.valid)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "invalid:") {
				t.Errorf("error %q is not of code invalid", err)
			}
		})
	}
}

func TestTableUpdates(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	st := newState()
	a := route("a", "live", "svc-a", "a.test", "shared.test")
	b := route("b", "live", "svc-b", "b.test", "shared.test")
	p.apply(st, InstancesUpdate{Service: "svc-a", Instances: []Instance{{Addr: "127.0.0.1:1"}}})
	if p.Routed("a.test") {
		t.Fatal("routed before any route")
	}
	p.apply(st, RoutesUpdate{Routes: []Route{b, a}})
	if got := p.Instances("a.test"); len(got) != 0 {
		t.Errorf("instances sent before the route were kept: %v", got)
	}
	p.apply(st, InstancesUpdate{Service: "svc-a", Instances: []Instance{{Addr: "127.0.0.1:2"}, {Addr: "127.0.0.1:1"}}})
	if got := p.Instances("a.test"); len(got) != 2 || got[0].Addr != "127.0.0.1:1" {
		t.Errorf("instances %v, want both, sorted", got)
	}
	if tg := p.table.Load().hosts["shared.test"]; tg != nil {
		t.Errorf("a host two records claim went to %s; the ingress must serve neither", tg.route.Name())
	}
	if !p.Routed("a.test") || !p.Routed("b.test") {
		t.Error("the claimants' other hosts stopped being routed")
	}
	before := p.table.Load().hosts["a.test"]
	b.HTTPSRedirect = true
	p.apply(st, RoutesUpdate{Routes: []Route{a, b}})
	if p.table.Load().hosts["a.test"] != before {
		t.Error("an unchanged route's target was rebuilt")
	}
	if !p.table.Load().hosts["b.test"].route.HTTPSRedirect {
		t.Error("a changed route was not updated")
	}
	p.apply(st, RoutesUpdate{Routes: []Route{b}})
	if p.Routed("a.test") || !p.Routed("shared.test") {
		t.Error("a removed route's hosts are still routed, or a host it shared was lost")
	}
	p.apply(st, RoutesUpdate{Routes: []Route{a, b}})
	if got := p.Instances("a.test"); len(got) != 0 {
		t.Errorf("a route added again kept the instances of its first life: %v", got)
	}
}

// TestProxyReady: an ingress is ready (its health check passes, so a load balancer sends
// it traffic) only once it has the routes and every routed service's instances, and it
// stays ready when a route is added later.
func TestProxyReady(t *testing.T) {
	p := New(Config{})
	st := newState()
	steps := []struct {
		name  string
		u     Update
		ready bool
	}{
		{"instances before any route", InstancesUpdate{Service: "a"}, false},
		{"routes loaded", RoutesUpdate{Routes: []Route{route("shop", "live", "a", "a.test"), route("blog", "live", "b", "b.test")}}, false},
		{"one service's instances", InstancesUpdate{Service: "a", Instances: []Instance{{ID: "1", Addr: "127.0.0.1:1"}}}, false},
		{"the other's, none healthy", InstancesUpdate{Service: "b"}, true},
		{"a route added later", RoutesUpdate{Routes: []Route{route("shop", "live", "a", "a.test"), route("blog", "live", "b", "b.test"), route("wiki", "live", "c", "c.test")}}, true},
	}
	for _, s := range steps {
		p.apply(st, s.u)
		if p.Ready() != s.ready {
			t.Errorf("after %s: ready = %v, want %v", s.name, p.Ready(), s.ready)
		}
	}
	routesOnly := New(Config{})
	routesOnly.apply(newState(), RoutesUpdate{})
	if !routesOnly.Ready() {
		t.Error("an ingress with no routes is not ready once they are loaded")
	}
}

// TestRouteMovesToAnotherService: a route that names a new service (an environment moved
// to new names, or to another cloudspace) keeps being served by its previous service
// until the new one's instances are read, then by the new one alone; never by none.
func TestRouteMovesToAnotherService(t *testing.T) {
	t.Parallel()
	p := New(Config{})
	st := newState()
	p.apply(st, RoutesUpdate{Routes: []Route{route("shop", "live", "legacy", "shop.test")}})
	p.apply(st, InstancesUpdate{Service: "legacy", Instances: []Instance{{Addr: "127.0.0.1:1"}}})
	want := func(step, addr string) {
		t.Helper()
		got := p.Instances("shop.test")
		if len(got) != 1 || got[0].Addr != addr {
			t.Errorf("%s: instances %v, want %s", step, got, addr)
		}
	}
	want("before the move", "127.0.0.1:1")
	p.apply(st, RoutesUpdate{Routes: []Route{route("shop", "live", "new", "shop.test")}})
	want("route names the new service, its instances unread", "127.0.0.1:1")
	p.apply(st, RoutesUpdate{Routes: []Route{route("shop", "live", "newer", "shop.test")}})
	want("moved again before the first move's instances were read", "127.0.0.1:1")
	p.apply(st, InstancesUpdate{Service: "newer", Instances: []Instance{{Addr: "127.0.0.1:2"}}})
	want("the new service's instances read", "127.0.0.1:2")
	p.apply(st, InstancesUpdate{Service: "legacy", Instances: nil})
	want("the legacy service gone", "127.0.0.1:2")

	// A new route (no previous service) is not served by anything else's.
	p.apply(st, RoutesUpdate{Routes: []Route{route("shop", "live", "newer", "shop.test"), route("blog", "live", "blog", "blog.test")}})
	if got := p.Instances("blog.test"); len(got) != 0 {
		t.Errorf("a new route's instances before its service was read: %v", got)
	}
}
