package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestAgentsTLS runs wharfd and wharf-ingress against a cloudspace whose Consul, Nomad
// and Vault speak HTTPS only (Consul's and Nomad's RPC mutual TLS), as a real
// cloudspace's documented configuration does: bootstrap, a deploy (jobs, deployment and
// allocations through Nomad, runtime configuration through Vault, state and routes
// through Consul), the page through the ingress (its routes and health from Consul), and
// wharfd's health naming each agent up. The agents answer no plain HTTP (TestStackTLS),
// so each step that succeeds spoke TLS.
func TestAgentsTLS(t *testing.T) {
	s := agenttest.StackTLS(t)
	for _, addr := range []string{s.Nomad.Addr, s.Vault.Addr, s.Consul.URL()} {
		if !strings.HasPrefix(addr, "https://") {
			t.Fatalf("the stack's agent at %s is not HTTPS", addr)
		}
	}
	token := bootstrap(t, s)
	w := startWharfd(t, s)
	ing := startIngress(t, s)
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "shop")
	const env = "/v1/orgs/acme/apps/shop/envs/test"
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	c.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": "over tls"}, nil)
	c.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)
	var d deploy
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy = %s (%s)", d.Status, d.Error)
	}
	waitPage(t, ing, "test.shop.acme.localhost", "over tls release 1")

	var health struct {
		Components []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
		} `json:"components"`
	}
	c.must(http.StatusOK, "GET", "/v1/health", nil, &health)
	up := map[string]bool{}
	for _, comp := range health.Components {
		up[comp.Name] = comp.Healthy
	}
	for _, agent := range []string{"consul", "nomad", "vault"} {
		if !up[agent] {
			t.Errorf("wharfd's health: %s is not up: %+v", agent, health)
		}
	}
}
