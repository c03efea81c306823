package api_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// benchConcurrency is how many clients send requests at once.
const benchConcurrency = 8

// BenchmarkAPILatency measures, in one run and under the same concurrent load, the
// latency of four things: a bare Echo handler (the floor of any HTTP request), a direct
// consistent Consul KV read (the floor of any state read), the API reading an
// application, and the API setting a plain variable. It reports each one's p50 and p99
// and the API's as ratios to the two floors. Every request goes over loopback HTTP.
func BenchmarkAPILatency(b *testing.B) {
	s := newStack(b)
	owner := s.person(b, "bench")
	s.org(b, owner, "bench")

	api := httptest.NewServer(s.h)
	b.Cleanup(api.Close)
	bare := echo.New()
	bare.GET("/ping", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]bool{"ok": true}) })
	bareSrv := httptest.NewServer(bare)
	b.Cleanup(bareSrv.Close)
	httpc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * benchConcurrency}}
	call := func(method, url, body string) error {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+owner.token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := httpc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			return fmt.Errorf("%s %s: %d", method, url, resp.StatusCode)
		}
		return nil
	}
	kv := s.consul.KV()
	phases := []struct {
		name string
		op   func(worker, i int) error
	}{
		{"echo", func(int, int) error { return call("GET", bareSrv.URL+"/ping", "") }},
		{"consul", func(int, int) error {
			_, _, err := kv.Get("wharf/apps/bench/web", nil)
			return err
		}},
		{"read", func(int, int) error { return call("GET", api.URL+"/v1/orgs/bench/apps/web", "") }},
		{"write", func(w, i int) error {
			return call("PUT", fmt.Sprintf("%s/v1/orgs/bench/apps/web/envs/test/vars/W%d", api.URL, w), fmt.Sprintf(`{"value":"%d"}`, i))
		}},
	}

	b.Run(fmt.Sprintf("concurrency=%d", benchConcurrency), func(b *testing.B) {
		p50, p99 := map[string]float64{}, map[string]float64{}
		for _, ph := range phases {
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			var failed sync.Once
			var next int
			var mu sync.Mutex
			for w := range benchConcurrency {
				wg.Go(func() {
					for {
						mu.Lock()
						i := next
						next++
						mu.Unlock()
						if i >= b.N {
							return
						}
						start := time.Now()
						if err := ph.op(w, i); err != nil {
							failed.Do(func() { b.Errorf("%s: %v", ph.name, err) })
						}
						lat[i] = time.Since(start)
					}
				})
			}
			wg.Wait()
			slices.Sort(lat)
			p50[ph.name] = float64(lat[len(lat)*50/100].Microseconds())
			p99[ph.name] = float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())
		}
		for _, name := range []string{"echo", "consul", "read", "write"} {
			b.ReportMetric(p50[name], name+"-p50-µs")
			b.ReportMetric(p99[name], name+"-p99-µs")
		}
		ratio := func(a, b float64) float64 {
			if b == 0 {
				return 0
			}
			return a / b
		}
		for _, op := range []string{"read", "write"} {
			for _, base := range []string{"echo", "consul"} {
				b.ReportMetric(ratio(p50[op], p50[base]), op+"/"+base+"-p50-x")
				b.ReportMetric(ratio(p99[op], p99[base]), op+"/"+base+"-p99-x")
			}
		}
	})
}
