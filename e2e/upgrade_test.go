package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// legacyCommit is the last commit whose wharfd named everything with "-"-joined,
// ambiguous names (before platform/identity.go).
const legacyCommit = "ca8c846d140325ab1a559faa8388f36ecfb927d7"

// buildLegacyWharfd builds legacyCommit's wharfd from this repository's history, once per
// machine (kept beside the agents). A clone without that commit (a shallow one) skips.
func buildLegacyWharfd(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("git", "-C", "..", "cat-file", "-e", legacyCommit+"^{commit}").CombinedOutput(); err != nil {
		agenttest.Unavailable(t, "commit %s is not in this clone (shallow?), so its wharfd cannot be built: %v %s", legacyCommit[:7], err, out)
	}
	dir := os.Getenv("WHARF_BIN_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "wharf", "bin")
	}
	bin := filepath.Join(dir, "wharfd-"+legacyCommit[:12])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	src := t.TempDir()
	archive := exec.Command("sh", "-c", fmt.Sprintf("git -C .. archive %s | tar -x -C %s", legacyCommit, src))
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", legacyCommit[:7], err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-o", bin+".tmp", "./cmd/wharfd")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s's wharfd: %v\n%s", legacyCommit[:7], err, out)
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

// startLegacyWharfd runs legacyCommit's wharfd on the stack. It predates the agents' ACLs,
// so it is given the operator's tokens, as its cloudspace gave it whatever it needed.
func startLegacyWharfd(t *testing.T, s *devstack.Stack, bin string) *wharfd {
	t.Helper()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addr")
	p, err := devstack.StartProcess("wharfd-legacy", func(_, line string) { t.Logf("legacy wharfd: %s", line) }, bin, []string{
		"-listen", "127.0.0.1:0", "-addr-file", addrFile,
		"-consul-addr", s.Consul.Addr, "-nomad-addr", s.Nomad.Addr, "-nomad-region", s.Nomad.Region,
		"-vault-addr", s.Vault.Addr, "-registry-addr", s.Registry.Addr, "-nomad-network-mode", "host",
		"-deploy-min-healthy-time", "2s", "-deploy-healthy-deadline", "20s", "-deploy-progress-deadline", "40s",
	}, []string{"WHARF_CONSUL_TOKEN=" + s.Consul.ManagementToken, "WHARF_NOMAD_TOKEN=" + s.Nomad.ManagementToken,
		"WHARF_VAULT_TOKEN=" + s.Vault.RootToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(20 * time.Second) })
	return &wharfd{URL: "http://" + listening(t, p, addrFile), proc: p, log: &logBuffer{}}
}

// TestUpgradeFromLegacyNames runs the previous naming's wharfd, deploys an environment
// with a custom domain and a cron entry, then replaces wharfd with this one: it moves the
// environment's route, job, service, cron job and Vault policy to the new names while the
// environment answers every request, at its custom domain and at its legacy generated
// host, and the operator's token and the environment keep working afterwards.
func TestUpgradeFromLegacyNames(t *testing.T) {
	legacy := buildLegacyWharfd(t)
	s := agenttest.Stack(t)
	ctx := context.Background()

	// The older cloudspace's token role granted its environments' legacy policies.
	vc, err := s.Vault.Client()
	if err != nil {
		t.Fatal(err)
	}
	role, err := vc.Logical().Read("auth/token/roles/nomad-cluster")
	if err != nil || role == nil {
		t.Fatalf("read the token role: %v", err)
	}
	globs, _ := role.Data["allowed_policies_glob"].([]any)
	role.Data["allowed_policies_glob"] = append(globs, "wharf-env-*")
	if _, err := vc.Logical().Write("auth/token/roles/nomad-cluster", role.Data); err != nil {
		t.Fatal(err)
	}

	boot := exec.Command(legacy, "bootstrap", "-consul-addr", s.Consul.Addr)
	boot.Env = append(os.Environ(), "WHARF_CONSUL_TOKEN="+s.Consul.ManagementToken)
	out, err := boot.Output()
	if err != nil {
		t.Fatalf("legacy wharfd bootstrap: %v", err)
	}
	token := strings.TrimSpace(string(out))
	old := startLegacyWharfd(t, s, legacy)
	ing := startIngress(t, s)
	c := &client{t: t, url: old.URL, token: token}
	c.seedApp(s, "shop")
	const env = "/v1/orgs/acme/apps/shop/envs/live"
	const custom, legacyHost, newHost = "www.shop.test", "shop-live.localhost", "live.shop.acme.localhost"
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 2, "memory_mb": 32}}}, nil)
	c.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": "hello"}, nil)
	c.must(200, "PUT", env+"/procfile", map[string]any{
		"processes": map[string]any{"web": map[string]string{"command": webCommand}},
		"cron":      []map[string]string{{"name": "tick", "schedule": "0 0 1 1 *", "command": "true"}},
	}, nil)
	c.must(200, "PUT", env+"/domains/"+custom, map[string]any{"primary": true}, nil)
	var d deploy
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy by the legacy wharfd = %s (%s)", d.Status, d.Error)
	}
	waitPage(t, ing, custom, "hello release 1")
	// The generated hosts redirect to the primary domain, the custom one.
	redirects := func(host string) bool {
		code, loc := redirectOf(ing, host)
		return code == http.StatusPermanentRedirect && loc == "http://"+custom+"/"
	}
	if !redirects(legacyHost) {
		t.Fatalf("the legacy generated host %s does not redirect to %s", legacyHost, custom)
	}

	nc, err := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	jobIDs := func() map[string]bool {
		stubs, _, err := nc.Jobs().List(nil)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, s := range stubs {
			if s.ParentID == "" && !s.Stop && s.Status != "dead" {
				ids[s.ID] = true
			}
		}
		return ids
	}
	if ids := jobIDs(); !ids["wharf-acme-shop-live"] || !ids["wharf-acme-shop-live-cron-tick"] {
		t.Fatalf("the legacy wharfd's jobs are not the legacy names this test upgrades: %v", ids)
	}

	// Requests to the custom domain (answered) and to the legacy generated host
	// (redirected to it), all through the switch of binaries and the move.
	var answered, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, host := range []string{custom, legacyHost} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				code, body := get(ing, host)
				if host == legacyHost {
					code, body = redirectOf(ing, host)
				}
				if (code == http.StatusOK && strings.HasPrefix(body, "hello release")) ||
					(code == http.StatusPermanentRedirect && body == "http://"+custom+"/") {
					answered.Add(1)
				} else {
					failed.Add(1)
					mu.Lock()
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("%s: %d %.80q", host, code, body))
					}
					mu.Unlock()
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}

	if err := old.proc.Stop(20 * time.Second); err != nil {
		t.Errorf("the legacy wharfd did not stop: %v", err)
	}
	w := startWharfd(t, s)
	c.url = w.URL

	cc, err := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	var ids map[string]bool
	for deadline := time.Now().Add(4 * time.Minute); ; time.Sleep(time.Second) {
		done, _, err := cc.KV().Get("wharf/upgrades/names", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = jobIDs()
		if done != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade did not end within 4 minutes; jobs %v", ids)
		}
	}
	time.Sleep(5 * time.Second) // the legacy instances' shutdown, under load
	stopLoad()
	wg.Wait()
	t.Logf("through the ingress during the upgrade: %d answered, %d did not", answered.Load(), failed.Load())
	if failed.Load() > 0 || answered.Load() == 0 {
		t.Errorf("%d requests failed during the upgrade (of %d); first: %q", failed.Load(), answered.Load()+failed.Load(), failures)
	}

	// Everything under its new name, nothing under the legacy ones.
	for _, id := range []string{"wharf-acme-shop-live", "wharf-acme-shop-live-cron-tick"} {
		if ids[id] {
			t.Errorf("legacy job %s still runs", id)
		}
	}
	for _, id := range []string{"wharf.env.acme.shop.live.service", "wharf.env.acme.shop.live.cron.tick"} {
		if !ids[id] {
			t.Errorf("job %s does not run; jobs %v", id, ids)
		}
	}
	if p, _, _ := cc.KV().Get("wharf/routes/local/acme-shop/live", nil); p != nil {
		t.Error("the legacy route record is still there")
	}
	if p, _, _ := cc.KV().Get("wharf/routes/local/acme.shop/live", nil); p == nil || !strings.Contains(string(p.Value), `"wharf-acme-shop-live-`) {
		t.Errorf("the route record under the new key does not name the new service: %v", p)
	}
	if pol, err := vc.Sys().GetPolicy("wharf-env-acme-shop-live"); err != nil || pol != "" {
		t.Errorf("the legacy Vault policy is still there (%v)", err)
	}
	if pol, err := vc.Sys().GetPolicy("wharf-env.acme.shop.live"); err != nil || pol == "" {
		t.Errorf("the new Vault policy is missing (%v)", err)
	}
	waitPage(t, ing, custom, "hello release 1")
	for _, host := range []string{newHost, legacyHost} {
		if !redirects(host) {
			t.Errorf("generated host %s does not redirect to %s after the upgrade", host, custom)
		}
	}

	// The operator's token of the legacy wharfd works, and so does the next deploy.
	c.must(200, "PUT", env+"/vars/GREETING", map[string]any{"value": "bonjour"}, nil)
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy after the upgrade = %s (%s)", d.Status, d.Error)
	}
	waitPage(t, ing, custom, "bonjour release 2")
}
