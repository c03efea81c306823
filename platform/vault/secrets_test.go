package vault_test

import (
	"context"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/vault"
)

// TestSecrets holds the secret store to its contract against a real Vault, with the
// token and policy wharfd has.
func TestSecrets(t *testing.T) {
	agent := agenttest.Vault(t)
	c, err := vault.New(vault.Config{Address: agent.Addr, Token: platform.Secret(agent.WharfdToken)})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Secrets()
	ctx := context.Background()
	const path = "o/a/e/KEY"

	if v, err := s.SecretVersion(ctx, path); err != nil || v != 0 {
		t.Fatalf("SecretVersion of nothing = %d, %v", v, err)
	}
	if v, err := s.PutSecret(ctx, path, "one", 0); err != nil || v != 1 {
		t.Fatalf("first put = %d, %v", v, err)
	}
	if _, err := s.PutSecret(ctx, path, "again", 0); platform.ErrorCode(err) != platform.Conflict {
		t.Errorf("put expecting no secret = %v, want conflict", err)
	}
	if v, err := s.PutSecret(ctx, path, "two", 1); err != nil || v != 2 {
		t.Errorf("second put = %d, %v", v, err)
	}
	root, err := agent.Client()
	if err != nil {
		t.Fatal(err)
	}
	got, err := root.KVv2("secret").Get(ctx, "wharf/"+path)
	if err != nil || got.Data["value"] != "two" {
		t.Fatalf("Vault holds %v, %v", got, err)
	}
	if err := s.DeleteSecret(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSecret(ctx, path); err != nil {
		t.Errorf("deleting nothing: %v", err)
	}
	if v, err := s.SecretVersion(ctx, path); err != nil || v != 0 {
		t.Errorf("after delete: version %d, %v", v, err)
	}
}

func TestSecretsUnavailable(t *testing.T) {
	c, err := vault.New(vault.Config{Address: "http://127.0.0.1:1", Token: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Secrets().PutSecret(context.Background(), "a", "b", 0); platform.ErrorCode(err) != platform.Unavailable {
		t.Errorf("PutSecret = %v, want unavailable", err)
	}
}
