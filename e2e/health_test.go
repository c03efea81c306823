package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

type healthProblem struct {
	Status     int                        `json:"status"`
	Code       string                     `json:"code"`
	Detail     string                     `json:"detail"`
	RequestID  string                     `json:"request_id"`
	Components []platform.ComponentStatus `json:"components"`
}

// TestHealthFollowsDependencies runs the real wharfd against a real local cloudspace:
// every component healthy gives 200; stopping Vault gives 503 problem+json naming Vault.
func TestHealthFollowsDependencies(t *testing.T) {
	s := agenttest.Stack(t)
	w := startWharfd(t, s)

	var h platform.Health
	resp := w.getJSON(t, "/v1/health", &h)
	if resp.StatusCode != http.StatusOK || !h.Healthy {
		t.Fatalf("health = %d %+v, want 200 and healthy", resp.StatusCode, h)
	}
	names := map[string]bool{}
	for _, c := range h.Components {
		names[c.Name] = c.Healthy
		t.Logf("%s: %s", c.Name, c.Detail)
	}
	for _, want := range []string{"consul", "nomad", "vault", "registry"} {
		if !names[want] {
			t.Errorf("component %s missing or unhealthy in %+v", want, h.Components)
		}
	}

	var v struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version"`
	}
	if resp := w.getJSON(t, "/v1/version", &v); resp.StatusCode != http.StatusOK || v.GoVersion == "" {
		t.Errorf("version = %d %+v", resp.StatusCode, v)
	}

	if err := s.Vault.Stop(); err != nil {
		t.Fatalf("stop vault: %v", err)
	}
	var p healthProblem
	resp = w.getJSON(t, "/v1/health", &p)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("health with vault stopped = %d, want 503", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if p.Code != "unavailable" || !strings.Contains(p.Detail, "vault") || p.RequestID == "" {
		t.Errorf("problem = %+v, want code unavailable naming vault, with a request id", p)
	}
	for _, c := range p.Components {
		if c.Healthy == (c.Name == "vault") {
			t.Errorf("component %s healthy=%v with only vault stopped", c.Name, c.Healthy)
		}
	}
}
