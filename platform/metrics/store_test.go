package metrics

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// TestStoreEnvMetrics stores samples as the collector does and reads them back as an
// environment's series: gauges per instance, counters as rates summed over ingresses
// (one of which restarts), mean and 95th percentile latency, totals, OOM kills, and
// nothing of another environment's.
func TestStoreEnvMetrics(t *testing.T) {
	s, err := Open(t.TempDir(), platform.MetricsRetention, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	ref, other := platform.Ref("acme", "shop", "live"), platform.Ref("acme", "shop", "test")
	lab := func(r platform.EnvRef, kv ...string) map[string]string {
		l := map[string]string{"org": r.Org, "app": r.App, "env": r.Env}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	step := 10 * time.Second
	for i := 0; i <= 6; i++ {
		at := t0.Add(time.Duration(i) * step)
		ing1 := float64(100 * i) // 10 req/s through ingress 0
		ing2 := float64(50 * i)  // 5 req/s through ingress 1, which restarts at i=4
		if i >= 4 {
			ing2 = float64(50 * (i - 4))
		}
		oom := 0.0
		if i >= 3 {
			oom = 1
		}
		samples := []Sample{
			{seriesCPU, lab(ref, "instance", "web.0"), float64(10 * i)},
			{seriesMemory, lab(ref, "instance", "web.0"), 64 << 20},
			{seriesOOM, lab(ref, "instance", "web.0"), oom},
			{seriesRequests, lab(ref, "ingress", "0", "code", "2xx"), ing1},
			{seriesRequests, lab(ref, "ingress", "0", "code", "5xx"), float64(i)},
			{seriesRequests, lab(ref, "ingress", "1", "code", "2xx"), ing2},
			{seriesDurSum, lab(ref, "ingress", "0"), 0.02 * float64(100*i+i)},
			{seriesDurCount, lab(ref, "ingress", "0"), float64(100*i + i)},
			{seriesDurBkt, lab(ref, "ingress", "0", "le", "0.01"), 0},
			{seriesDurBkt, lab(ref, "ingress", "0", "le", "0.025"), float64(100*i + i)},
			{seriesDurBkt, lab(ref, "ingress", "0", "le", "+Inf"), float64(100*i + i)},
			{seriesCPU, lab(other, "instance", "web.0"), 99},
			{seriesRequests, lab(other, "ingress", "0", "code", "2xx"), 1e6 * float64(i)},
		}
		if err := s.Append(ctx, at, samples); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.EnvMetrics(ctx, ref, t0, t0.Add(6*step), step)
	if err != nil {
		t.Fatal(err)
	}
	get := func(name, instance string) []float64 {
		t.Helper()
		for _, sr := range m.Series {
			if sr.Name == name && sr.Instance == instance {
				var out []float64
				for _, p := range sr.Points {
					if p.Value == nil {
						out = append(out, math.NaN())
					} else {
						out = append(out, *p.Value)
					}
				}
				return out
			}
		}
		t.Fatalf("no series %s %s in %+v", name, instance, m.Series)
		return nil
	}
	eq := func(what string, got, want []float64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				t.Errorf("%s = %v, want %v", what, got, want)
				return
			}
		}
	}
	eq("cpu", get(platform.MetricCPU, "web.0"), []float64{10, 20, 30, 40, 50, 60})
	eq("memory", get(platform.MetricMemory, "web.0"), []float64{64, 64, 64, 64, 64, 64})
	// 10 + 5 + 0.1 req/s; at i=4 ingress 1 restarted and counted 0 since.
	eq("requests", get(platform.MetricRequests, ""), []float64{15.1, 15.1, 15.1, 10.1, 15.1, 15.1})
	eq("errors", get(platform.MetricErrors, ""), []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1})
	eq("latency", get(platform.MetricLatency, ""), []float64{20, 20, 20, 20, 20, 20})
	// Every request in (10ms, 25ms]: the 95th percentile is 95% of the way through it.
	eq("p95", get(platform.MetricLatency95, ""), []float64{24.25, 24.25, 24.25, 24.25, 24.25, 24.25})
	if want := 600.0 + 6 + 250; m.Requests != want || m.Errors != 6 {
		t.Errorf("totals = %v requests, %v errors; want %v and 6", m.Requests, m.Errors, want)
	}
	if len(m.Events) != 1 || m.Events[0].Kind != "oom_killed" || m.Events[0].Instance != "web.0" || !m.Events[0].At.Equal(t0.Add(3*step)) {
		t.Errorf("events = %+v, want web.0's OOM kill at the fourth sample", m.Events)
	}
	for _, sr := range m.Series {
		for _, p := range sr.Points {
			if p.Value != nil && *p.Value >= 99 {
				t.Errorf("%s shows another environment's value %v", sr.Name, *p.Value)
			}
		}
	}
}
