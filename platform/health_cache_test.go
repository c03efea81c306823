package platform_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// countingProbe counts its probes, each taking delay.
type countingProbe struct {
	n     *atomic.Int32
	delay time.Duration
}

func (countingProbe) Name() string { return "postgres" }

func (p countingProbe) Probe(ctx context.Context) (string, error) {
	p.n.Add(1)
	time.Sleep(p.delay)
	return "ok", nil
}

// TestHealthCheckerCaches holds the checker to one round of probes per MaxAge, however
// many callers ask at once: /v1/health needs no token, so it must not log in to
// PostgreSQL on every request.
func TestHealthCheckerCaches(t *testing.T) {
	var n atomic.Int32
	h := &platform.HealthChecker{Probers: []platform.Prober{countingProbe{n: &n, delay: 20 * time.Millisecond}}, MaxAge: time.Hour}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if !h.Check(context.Background()).Healthy {
				t.Error("unhealthy")
			}
		})
	}
	wg.Wait()
	h.Check(context.Background())
	if got := n.Load(); got != 1 {
		t.Errorf("%d probes for 21 checks within MaxAge, want 1", got)
	}

	n.Store(0)
	fresh := &platform.HealthChecker{Probers: []platform.Prober{countingProbe{n: &n}}}
	fresh.Check(context.Background())
	fresh.Check(context.Background())
	if got := n.Load(); got != 2 {
		t.Errorf("without MaxAge: %d probes for 2 checks, want 2", got)
	}
}
