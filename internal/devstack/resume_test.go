package devstack_test

import (
	"testing"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// TestResumeKeepsData starts Consul and Vault, writes to each, stops them, starts them
// again on the same data directories (as a second `make dev` does) and reads the data
// back: Vault is unsealed again with the kept key, Consul's ACLs answer to the kept
// management token.
func TestResumeKeepsData(t *testing.T) {
	t.Parallel()
	b := agenttest.Binaries(t)
	consulDir, vaultDir := t.TempDir(), t.TempDir()
	logf := func(agent, line string) { t.Logf("%s: %s", agent, line) }

	startBoth := func() (*devstack.Consul, *devstack.Vault) {
		c, err := devstack.StartConsul(devstack.ConsulConfig{Binary: b.Consul, DataDir: consulDir, Node: "resume-test", Log: logf})
		if err != nil {
			t.Fatalf("start consul: %v", err)
		}
		v, err := devstack.StartVault(devstack.VaultConfig{Binary: b.Vault, DataDir: vaultDir, Log: logf})
		if err != nil {
			c.Stop()
			t.Fatalf("start vault: %v", err)
		}
		return c, v
	}

	c, v := startBoth()
	cc, _ := c.Client()
	if _, err := cc.KV().Put(&consulapi.KVPair{Key: "wharf/resume", Value: []byte("kept")}, nil); err != nil {
		t.Fatalf("consul put: %v", err)
	}
	vc, _ := v.Client()
	if _, err := vc.Logical().Write("secret/data/wharf/resume", map[string]any{"data": map[string]any{"v": "kept"}}); err != nil {
		t.Fatalf("vault write: %v", err)
	}
	root, consulMgmt := v.RootToken, c.ManagementToken
	if err := v.Stop(); err != nil {
		t.Error(err)
	}
	if err := c.Stop(); err != nil {
		t.Error(err)
	}

	c, v = startBoth()
	t.Cleanup(func() { v.Stop(); c.Stop() })
	if v.RootToken != root {
		t.Errorf("vault was initialised again instead of resumed")
	}
	if c.ManagementToken != consulMgmt || c.WharfdToken == "" {
		t.Errorf("consul's ACLs were not resumed with the kept management token")
	}
	cc, _ = c.Client()
	kv, _, err := cc.KV().Get("wharf/resume", nil)
	if err != nil || kv == nil || string(kv.Value) != "kept" {
		t.Errorf("consul value after restart = %v, %v", kv, err)
	}
	vc, _ = v.Client()
	s, err := vc.Logical().Read("secret/data/wharf/resume")
	if err != nil || s == nil || s.Data["data"].(map[string]any)["v"] != "kept" {
		t.Errorf("vault value after restart = %v, %v", s, err)
	}
}
