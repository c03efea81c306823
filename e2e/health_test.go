package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

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
// every component healthy gives 200; stopping Vault gives 503 problem+json naming Vault
// to an administrator, and only up or down to anyone else.
func TestHealthFollowsDependencies(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s)
	admin := &client{t: t, url: w.URL, token: token}

	// Without a token: up or down, nothing about what is behind it.
	var anon platform.Health
	if resp := w.getJSON(t, "/v1/health", &anon); resp.StatusCode != http.StatusOK || !anon.Healthy || len(anon.Components) != 0 {
		t.Errorf("health without a token = %d %+v, want 200, healthy, no components", resp.StatusCode, anon)
	}

	var h platform.Health
	if code := admin.do("GET", "/v1/health", nil, &h); code != http.StatusOK || !h.Healthy {
		t.Fatalf("health = %d %+v, want 200 and healthy", code, h)
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
	// The probes are cached for a few seconds: the change shows within them.
	var p healthProblem
	deadline := time.Now().Add(15 * time.Second)
	for {
		p = healthProblem{}
		if admin.do("GET", "/v1/health", nil, &p) == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health with vault stopped never answered 503")
		}
		time.Sleep(500 * time.Millisecond)
	}
	var anonDown healthProblem
	if resp := w.getJSON(t, "/v1/health", &anonDown); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" ||
		strings.Contains(anonDown.Detail, "vault") || len(anonDown.Components) != 0 {
		t.Errorf("health without a token with vault stopped = %d %+v, want 503 problem+json naming nothing", resp.StatusCode, anonDown)
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
