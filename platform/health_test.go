package platform_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

type probe struct {
	name   string
	detail string
	err    error
	delay  time.Duration
}

func (p probe) Name() string { return p.name }

func (p probe) Probe(ctx context.Context) (string, error) {
	select {
	case <-time.After(p.delay):
		return p.detail, p.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

func TestHealthChecker(t *testing.T) {
	tests := []struct {
		name      string
		probers   []platform.Prober
		healthy   bool
		unhealthy []string
	}{
		{"all healthy", []platform.Prober{probe{name: "a", detail: "ok"}, probe{name: "b", detail: "ok"}}, true, nil},
		{"one failing", []platform.Prober{probe{name: "a"}, probe{name: "vault", err: errors.New("sealed")}}, false, []string{"vault"}},
		{"one too slow", []platform.Prober{probe{name: "slow", delay: time.Minute}, probe{name: "b"}}, false, []string{"slow"}},
		{"none", nil, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := (&platform.HealthChecker{Probers: tt.probers, Timeout: 50 * time.Millisecond}).Check(context.Background())
			if h.Healthy != tt.healthy {
				t.Errorf("Healthy = %v, want %v", h.Healthy, tt.healthy)
			}
			if got := h.Unhealthy(); !slices.Equal(got, tt.unhealthy) {
				t.Errorf("Unhealthy() = %v, want %v", got, tt.unhealthy)
			}
			for i, c := range h.Components {
				if c.Name != tt.probers[i].Name() {
					t.Errorf("component %d = %s, want the probers' order", i, c.Name)
				}
			}
		})
	}
}
