package ingress

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"testing"
)

// BenchmarkServeHTTP compares a request through Wharf's proxy with one through a bare
// httputil.ReverseProxy, in process, to the same loopback backend. The whole-system
// comparison (beside HAProxy and Caddy, CPU pinned, with Consul) is ingress/bench.
func BenchmarkServeHTTP(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) }))
	defer backend.Close()
	target := addrOf(backend)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	defer transport.CloseIdleConnections()

	bare := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = target
			pr.SetXForwarded()
		},
		Transport: transport,
	}
	wharf := New(Config{Transport: transport})
	st := newState()
	wharf.apply(st, RoutesUpdate{Routes: []Route{{Version: RouteVersion, Cloudspace: "local", App: "a", Env: "live",
		Hosts: []string{"a.test"}, Primary: "a.test", Service: "a"}}})
	wharf.apply(st, InstancesUpdate{Service: "a", Instances: []Instance{{ID: "1", Addr: target}}})

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"wharf", wharf}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("GET", "http://a.test/", nil)
					w := httptest.NewRecorder()
					bc.h.ServeHTTP(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d", w.Code)
					}
				}
			})
		})
	}
}

func addrOf(s *httptest.Server) string { return s.Listener.Addr().String() }
