package vault_test

import (
	"context"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/vault"
)

// TestRunConfig holds the run configuration to its contract against a real Vault with
// wharfd's token: a run's copy of a release's runtime configuration is written as a new
// version, and a task of the environment (its policy's token) reads it while another
// environment's cannot; a policy written before runs existed gains the run path once.
func TestRunConfig(t *testing.T) {
	agent := agenttest.Vault(t)
	c, err := vault.New(vault.Config{Address: agent.Addr, Token: platform.Secret(agent.WharfdToken)})
	if err != nil {
		t.Fatal(err)
	}
	rt := c.Runtime()
	ctx := context.Background()
	tg := platform.Target{EnvRef: platform.Ref("acme", "shop", "live")}
	other := platform.Target{EnvRef: platform.Ref("acme", "shop", "test")}
	if err := rt.AllowRuns(ctx, tg); platform.ErrorCode(err) != platform.NotFound {
		t.Errorf("AllowRuns without a policy = %v, want not_found", err)
	}
	v, err := rt.WriteRuntime(ctx, tg, map[string]platform.Secret{"A": "1", "SECRET": "s3cr3t"})
	if err != nil {
		t.Fatal(err)
	}
	values, err := rt.ReadRuntime(ctx, tg, v)
	if err != nil || values["SECRET"] != "s3cr3t" || len(values) != 2 {
		t.Fatalf("ReadRuntime = %v, %v", values, err)
	}
	values[platform.RunVariable] = "echo hi"
	rv, err := rt.WriteRunConfig(ctx, tg, values)
	if err != nil || rv != 1 {
		t.Fatalf("WriteRunConfig = %d, %v", rv, err)
	}

	root, err := agent.Client()
	if err != nil {
		t.Fatal(err)
	}
	// A policy as an older wharfd wrote it: the runtime configuration only.
	old := `path "secret/data/` + tg.RuntimePath() + `" {
  capabilities = ["read"]
}
`
	if err := root.Sys().PutPolicy(tg.VaultPolicy(), old); err != nil {
		t.Fatal(err)
	}
	if err := rt.PutEnvPolicy(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second changes nothing
		if err := rt.AllowRuns(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	p, err := root.Sys().GetPolicy(tg.VaultPolicy())
	if err != nil || !strings.HasPrefix(p, old) || strings.Count(p, tg.RunsPath()) != 1 {
		t.Fatalf("the policy after AllowRuns:\n%s (%v)", p, err)
	}
	read := func(policy string) error {
		sec, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{policy}, NoDefaultPolicy: true})
		if err != nil {
			t.Fatal(err)
		}
		task, _ := root.Clone()
		task.SetToken(sec.Auth.ClientToken)
		_, err = task.KVv2("secret").GetVersion(ctx, tg.RunsPath(), rv)
		return err
	}
	if err := read(tg.VaultPolicy()); err != nil {
		t.Errorf("the environment's task cannot read its run configuration: %v", err)
	}
	if err := read(other.VaultPolicy()); err == nil {
		t.Errorf("another environment's task reads this one's run configuration")
	}
}
