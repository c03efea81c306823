package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

// namesCommand serves $GREETING and writes a log line naming it.
const namesCommand = `mkdir -p /www && echo "$GREETING" > /www/index.html && echo "log of $GREETING" && exec httpd -f -p "$PORT" -h /www`

// namesDeploy configures env (a path under /v1) to serve greeting and deploys it.
func namesDeploy(t *testing.T, c *client, env, greeting string) {
	t.Helper()
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	c.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": greeting}, nil)
	c.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": namesCommand}}}, nil)
	var d deploy
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy of %s = %s (%s)", env, d.Status, d.Error)
	}
}

// namesEnvPath is the API path of ref.
func namesEnvPath(ref platform.EnvRef) string {
	return "/v1/orgs/" + ref.Org + "/apps/" + ref.App + "/envs/" + ref.Env
}

// TestIsolationNames is issue 12's attacks on names, by a hostile second tenant through
// the real wharfd, agents and ingress: a victim (org acme, app my-shop) and mallory, who
// may create organisations. Each attack failed on ca8c846 (same job, service, policy and
// route for acme/my-shop and acme-my/shop; a backup policy equal to org backup/app
// wharf's environment policy; a host or custom domain taken from another tenant) and must
// fail now, while the victim's application answers through the ingress throughout.
func TestIsolationNames(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile,
		"-backup-interval", "2s", "-deploy-healthy-deadline", "30s", "-deploy-progress-deadline", "60s")
	ing := startIngress(t, s)
	admin := &client{t: t, url: w.URL, token: token}
	admin.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr}, nil)
	admin.must(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 5, "instances_per_process": 2, "memory_mb_per_instance": 128, "service_instances": 2}}, nil)

	// The victim: acme/my-shop, live, with a database service instance.
	victim := platform.Ref("acme", "my-shop", "live")
	vEnv := namesEnvPath(victim)
	admin.must(201, "POST", "/v1/orgs", map[string]any{"name": "acme"}, nil)
	admin.must(201, "POST", "/v1/orgs/acme/apps", map[string]any{"name": "my-shop", "cloudspace": "local", "plan": "dev"}, nil)
	var vdb envService
	admin.must(201, "POST", vEnv+"/services", map[string]any{"name": "db"}, &vdb)
	namesDeploy(t, admin, vEnv, "victim")
	vHost := victim.Host("localhost")
	waitPage(t, ing, vHost, "victim")

	// The victim's application is asked for its page through the ingress until the end.
	var served, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			code, body := get(ing, vHost)
			if code == 200 && body == "victim\n" {
				served.Add(1)
			} else {
				failed.Add(1)
				mu.Lock()
				if len(failures) < 10 {
					failures = append(failures, fmt.Sprintf("%d %.80q", code, body))
				}
				mu.Unlock()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		stop()
		wg.Wait()
		if failed.Load() > 0 || served.Load() == 0 {
			t.Errorf("the victim's application answered %d requests and failed %d: %q", served.Load(), failed.Load(), failures)
		} else {
			t.Logf("the victim's application answered all %d requests through the ingress", served.Load())
		}
	}()

	// Mallory, a tenant like any other.
	admin.must(201, "POST", "/v1/people", map[string]any{"id": "mallory", "name": "Mallory", "email": "mallory@example.com"}, nil)
	var tok struct {
		Value string `json:"token"`
	}
	admin.must(201, "POST", "/v1/people/mallory/tokens", map[string]any{"name": "e2e"}, &tok)
	mallory := &client{t: t, url: w.URL, token: tok.Value}
	attacker := platform.Ref("acme-my", "shop", "live")
	aEnv := namesEnvPath(attacker)
	mallory.must(201, "POST", "/v1/orgs", map[string]any{"name": "acme-my"}, nil)
	mallory.must(201, "POST", "/v1/orgs/acme-my/apps", map[string]any{"name": "shop", "cloudspace": "local", "plan": "dev"}, nil)
	namesDeploy(t, mallory, aEnv, "attacker")
	waitPage(t, ing, attacker.Host("localhost"), "attacker")

	napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	root, err := s.Vault.Client()
	if err != nil {
		t.Fatal(err)
	}
	jobRunning := func(id string) bool {
		job, _, err := napi.Jobs().Info(id, nil)
		return err == nil && !*job.Stop
	}
	routeKey := func(ref platform.EnvRef) string { return "wharf/routes/local/" + ref.RouteApp() + "/" + ref.Env }
	routeExists := func(ref platform.EnvRef) bool {
		kv, _, err := cc.KV().Get(routeKey(ref), nil)
		return err == nil && kv != nil
	}
	policy := func(name string) string {
		p, err := root.Sys().GetPolicy(name)
		if err != nil {
			t.Fatalf("read policy %s: %v", name, err)
		}
		return p
	}

	t.Run("attack 1: acme/my-shop and acme-my/shop share no name", func(t *testing.T) {
		for _, pair := range [][3]string{
			{"job", victim.JobID(), attacker.JobID()},
			{"service", victim.ServiceName(), attacker.ServiceName()},
			{"policy", victim.VaultPolicy(), attacker.VaultPolicy()},
			{"route", routeKey(victim), routeKey(attacker)},
			{"host", vHost, attacker.Host("localhost")},
		} {
			if pair[1] == pair[2] {
				t.Errorf("victim and attacker share the %s %q", pair[0], pair[1])
			}
		}
		for _, ref := range []platform.EnvRef{victim, attacker} {
			if !jobRunning(ref.JobID()) || !routeExists(ref) || policy(ref.VaultPolicy()) == "" {
				t.Errorf("%s: job running %v, route %v, policy %q", ref, jobRunning(ref.JobID()), routeExists(ref), policy(ref.VaultPolicy()))
			}
		}
		if got := serving(t, s, victim.ServiceName()); len(got) != 1 || got[0] != "victim" {
			t.Errorf("the victim's Consul service serves %q", got)
		}
		if got := serving(t, s, attacker.ServiceName()); len(got) != 1 || got[0] != "attacker" {
			t.Errorf("the attacker's Consul service serves %q", got)
		}

		// The attacker's log stream is the attacker's own.
		var own int
		for _, l := range logs(t, mallory, aEnv+"/logs?process=web") {
			if strings.Contains(l.Line, "victim") {
				t.Errorf("the attacker's logs show the victim's line %q", l.Line)
			}
			if strings.Contains(l.Line, "log of attacker") {
				own++
			}
		}
		if own == 0 {
			t.Error("the attacker's logs lack its own lines, so the check above proves nothing")
		}
		if code := mallory.do("GET", vEnv+"/logs?process=web", nil, nil); code != 403 && code != 404 {
			t.Errorf("the attacker reading the victim's logs = %d, want 403 or 404", code)
		}
	})

	t.Run("attack 3: hosts and custom domains cannot be taken", func(t *testing.T) {
		// The victim's generated host, or any name under the ingress domain, is refused.
		for _, name := range []string{vHost, "my-shop-live.localhost", "anything.localhost", "localhost.localhost"} {
			var problem map[string]any
			if code := mallory.do("PUT", aEnv+"/domains/"+name, map[string]any{"primary": true}, &problem); code != 400 && code != 422 {
				t.Errorf("the attacker adding %s = %d, want 400 or 422", name, code)
			} else if !strings.Contains(fmt.Sprint(problem), "ingress domain") {
				t.Errorf("the refusal of %s does not say why: %v", name, problem)
			}
		}
		// An environment may add its own generated host (to make it primary again).
		admin.must(200, "PUT", vEnv+"/domains/"+vHost, map[string]any{"primary": true}, nil)
		admin.must(204, "DELETE", vEnv+"/domains/"+vHost, nil, nil)

		// A custom domain has one claimant: the second is refused, even when both race.
		admin.must(200, "PUT", vEnv+"/domains/www.victim.test", map[string]any{}, nil)
		mallory.must(409, "PUT", aEnv+"/domains/www.victim.test", map[string]any{}, nil)
		// It routes to the victim: a custom domain that is not primary redirects to the
		// primary, the victim's generated host.
		waitFor(t, "www.victim.test to route to the victim", func() bool {
			code, loc := redirectOf(ing, "www.victim.test")
			return code == 308 && loc == "http://"+vHost+"/"
		})
		for i := range 5 {
			name := fmt.Sprintf("race-%d.test", i)
			codes := make([]int, 2)
			var race sync.WaitGroup
			for j, c := range []*client{admin, mallory} {
				race.Add(1)
				go func() {
					defer race.Done()
					codes[j] = c.do("PUT", []string{vEnv, aEnv}[j]+"/domains/"+name, map[string]any{}, nil)
				}()
			}
			race.Wait()
			if !(codes[0] == 200 && codes[1] == 409 || codes[0] == 409 && codes[1] == 200) {
				t.Errorf("two environments adding %s at once = %v, want one 200 and one 409", name, codes)
			}
		}
		if code, body := get(ing, vHost); code != 200 || body != "victim\n" {
			t.Errorf("the victim's host = %d %q", code, body)
		}
	})

	t.Run("attack 2: a backup policy is no environment's policy", func(t *testing.T) {
		role := vdb.CredentialsRole
		backupPolicy := platform.BackupPolicy(role)
		waitFor(t, "the victim's backup policy", func() bool { p, _ := root.Sys().GetPolicy(backupPolicy); return p != "" })
		before := policy(backupPolicy)
		if !strings.Contains(before, fmt.Sprintf("path %q {", "database/creds/"+role)) {
			t.Fatalf("the victim's backup policy %q does not read its credentials", before)
		}
		hexID := strings.TrimPrefix(role, "wharf-")
		evil := platform.Ref("backup", "wharf", hexID)
		mallory.must(201, "POST", "/v1/orgs", map[string]any{"name": "backup"}, nil)
		mallory.must(201, "POST", "/v1/orgs/backup/apps", map[string]any{"name": "wharf", "cloudspace": "local", "plan": "dev"}, nil)
		mallory.must(201, "POST", "/v1/orgs/backup/apps/wharf/envs", map[string]any{"name": hexID}, nil)
		namesDeploy(t, mallory, namesEnvPath(evil), "evil")
		if evil.VaultPolicy() == backupPolicy {
			t.Fatalf("the environment %s has the victim's backup policy %s", evil, backupPolicy)
		}
		time.Sleep(5 * time.Second) // more than two rounds of the backup scheduler
		if got, want := policy(backupPolicy), before; got != want {
			t.Errorf("the victim's backup policy is now %q, want %q", got, want)
		}
		if got := policy(evil.VaultPolicy()); got == "" || strings.Contains(got, role) {
			t.Errorf("the attacker's environment policy %q names the victim's credentials", got)
		}
		tk, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{evil.VaultPolicy()}, TTL: "5m"})
		if err != nil {
			t.Fatal(err)
		}
		as, _ := root.Clone()
		as.SetToken(tk.Auth.ClientToken)
		if _, err := as.Logical().Read("database/creds/" + role); err == nil {
			t.Error("the attacker's environment policy reads the victim's database credentials")
		}
		if _, err := as.Logical().Read("secret/data/" + victim.RuntimePath()); err == nil {
			t.Error("the attacker's environment policy reads the victim's runtime configuration")
		}
	})

	t.Run("attack 1: deleting the attacker's application leaves the victim's", func(t *testing.T) {
		mallory.must(204, "DELETE", "/v1/orgs/acme-my/apps/shop", nil, nil)
		waitFor(t, "the attacker's job to go", func() bool {
			_, _, err := napi.Jobs().Info(attacker.JobID(), nil)
			return err != nil
		})
		if !jobRunning(victim.JobID()) {
			t.Error("the victim's job stopped with the attacker's application")
		}
		if !routeExists(victim) || routeExists(attacker) {
			t.Errorf("after the delete: victim's route %v (want true), attacker's %v (want false)", routeExists(victim), routeExists(attacker))
		}
		if policy(victim.VaultPolicy()) == "" || policy(attacker.VaultPolicy()) != "" {
			t.Error("the delete removed the victim's policy, or kept the attacker's")
		}
		if code := mallory.do("DELETE", "/v1/orgs/acme/apps/my-shop", nil, nil); code != 403 && code != 404 {
			t.Errorf("the attacker deleting the victim's application = %d, want 403 or 404", code)
		}
		time.Sleep(2 * time.Second) // the ingress has seen the delete
		if code, body := get(ing, vHost); code != 200 || body != "victim\n" {
			t.Errorf("the victim's host after the attacker's delete = %d %q", code, body)
		}
	})
}
