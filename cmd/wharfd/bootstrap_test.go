package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestBootstrapAndServe runs `wharfd bootstrap` against a real Consul (once, then again),
// then wharfd itself, and uses the printed token to create an organisation and a secret
// variable through the API.
func TestBootstrapAndServe(t *testing.T) {
	consul := agenttest.Consul(t)
	vault := agenttest.Vault(t)
	ctx := context.Background()
	env := []string{"WHARF_CONSUL_ADDR=" + consul.Addr, "WHARF_CONSUL_TOKEN=" + consul.WharfdToken, "WHARF_VAULT_ADDR=" + vault.Addr, "WHARF_VAULT_TOKEN=" + vault.WharfdToken}

	var out, errOut bytes.Buffer
	// Consul's ACLs refuse anonymous requests: without its token wharfd can do nothing.
	if code := run(ctx, []string{"bootstrap", "-consul-addr", consul.Addr}, nil, &out, &errOut); code != exitBootstrapFailed || out.Len() != 0 {
		t.Fatalf("bootstrap without a Consul token: exit %d, stdout %q, stderr %s", code, out.String(), errOut.String())
	}
	errOut.Reset()
	if code := run(ctx, []string{"bootstrap"}, env, &out, &errOut); code != exitBootstrapped {
		t.Fatalf("bootstrap exit %d: %s", code, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	if !strings.HasPrefix(token, "wharf_") || strings.Contains(token, "\n") {
		t.Fatalf("bootstrap printed %q, want one token", out.String())
	}
	if strings.Contains(errOut.String(), token) {
		t.Error("the token reached stderr")
	}

	out.Reset()
	errOut.Reset()
	tokenFile := filepath.Join(t.TempDir(), "consul-token")
	if err := os.WriteFile(tokenFile, []byte(consul.WharfdToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run(ctx, []string{"bootstrap", "-consul-addr", consul.Addr, "-consul-token-file", tokenFile}, nil, &out, &errOut); code != exitAlreadyBootstrapped || out.Len() != 0 {
		t.Fatalf("second bootstrap: exit %d, stdout %q, stderr %s", code, out.String(), errOut.String())
	}
	if code := run(ctx, []string{"bootstrap", "-consul-addr", "127.0.0.1:1"}, nil, &out, &errOut); code != exitBootstrapFailed {
		t.Fatalf("bootstrap against no Consul: exit %d", code)
	}

	addrFile := filepath.Join(t.TempDir(), "addr")
	sctx, stop := context.WithCancel(ctx)
	done := make(chan int)
	go func() {
		done <- run(sctx, []string{"-listen", "127.0.0.1:0", "-addr-file", addrFile}, env, &out, &bytes.Buffer{})
	}()
	defer func() {
		stop()
		if code := <-done; code != 0 {
			t.Errorf("wharfd exit %d", code)
		}
	}()
	var addr []byte
	for i := 0; i < 500 && len(addr) == 0; i++ {
		addr, _ = os.ReadFile(addrFile)
		if len(addr) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if len(addr) == 0 {
		t.Fatal("wharfd never wrote its address")
	}
	base := "http://" + string(addr)
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != want {
			t.Fatalf("%s %s = %d, want %d: %v", method, path, resp.StatusCode, want, m)
		}
		return m
	}
	call("POST", "/v1/cloudspaces", `{"name":"local","vendor":"on-premises","location":"here","tenancy":"public","region":"local","ingress_domain":"local.test","registry":"127.0.0.1:5000"}`, 201)
	call("POST", "/v1/plans", `{"name":"dev","limits":{"environments":5,"instances_per_process":3,"memory_mb_per_instance":1024,"service_instances":2}}`, 201)
	call("POST", "/v1/orgs", `{"name":"acme"}`, 201)
	call("POST", "/v1/orgs/acme/apps", `{"name":"web","cloudspace":"local","plan":"dev"}`, 201)
	v := call("PUT", "/v1/orgs/acme/apps/web/envs/live/vars/SECRET_KEY", `{"value":"k","secret":true}`, 201)
	if v["value"] != nil || v["version"] != 1.0 {
		t.Errorf("secret variable = %v", v)
	}
}
