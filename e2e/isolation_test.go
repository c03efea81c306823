package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// isoTenant is one tenant of the platform: a person with a token of their own.
type isoTenant struct {
	*client
	id string
}

// isoPerson makes a person through the administrator and returns them with a token.
func isoPerson(t *testing.T, admin *client, id string) isoTenant {
	t.Helper()
	admin.must(201, "POST", "/v1/people", map[string]any{"id": id, "name": "Tenant " + id, "email": id + "@example.com"}, nil)
	var tok struct {
		Token string `json:"token"`
	}
	admin.must(201, "POST", "/v1/people/"+id+"/tokens", map[string]any{"name": "e2e"}, &tok)
	return isoTenant{client: &client{t: t, url: admin.url, token: tok.Token}, id: id}
}

// isoIn returns tenants' clients that report to t, a subtest's, rather than the test's.
func isoIn(t *testing.T, admin *client, tenants ...*isoTenant) *client {
	for _, tn := range tenants {
		c := *tn.client
		c.t = t
		tn.client = &c
	}
	a := *admin
	a.t = t
	return &a
}

// isoProblemCode is the code of a problem+json body.
func isoProblemCode(raw json.RawMessage) string {
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(raw, &p)
	return p.Code
}

// TestIsolation is a victim and a hostile tenant on one platform, through the real
// wharfd, Consul, Vault, Nomad and PostgreSQL: each attack of the hostile tenant (issue
// 12's attacks 4 to 7; attacks 1 to 3 are in isolation_names_test.go) is refused with
// the right status or changes nothing of the victim's.
func TestIsolation(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile)
	admin := &client{t: t, url: w.URL, token: token}
	admin.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr}, nil)
	admin.must(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 4, "instances_per_process": 2,
		"memory_mb_per_instance": 128, "service_instances": 1, "custom_domains": 2, "upload_mb": 1}}, nil)
	victim := isoPerson(t, admin, "iso-victim")
	hostile := isoPerson(t, admin, "iso-hostile")

	// Attack 4: a delete by Consul prefix removed keys of names the deleted one begins.
	t.Run("exact keys", func(t *testing.T) {
		victim, hostile := victim, hostile
		admin := isoIn(t, admin, &victim, &hostile)
		// The hostile tenant owns "iso4"; the victim owns "iso4-v", where alex is a
		// member. Removing alex from "iso4" took alex's index of "iso4-v" with it, so
		// alex could be deleted and a new "alex" inherit the role.
		alex := isoPerson(t, admin, "iso-alex")
		hostile.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso4"}, nil)
		victim.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso4-v"}, nil)
		victim.must(200, "PUT", "/v1/orgs/iso4-v/members/iso-alex", map[string]any{"role": "developer"}, nil)
		hostile.must(200, "PUT", "/v1/orgs/iso4/members/iso-alex", map[string]any{"role": "viewer"}, nil)
		hostile.must(204, "DELETE", "/v1/orgs/iso4/members/iso-alex", nil, nil)
		var orgs struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		}
		alex.must(200, "GET", "/v1/orgs", nil, &orgs)
		if len(orgs.Items) != 1 || orgs.Items[0].Name != "iso4-v" {
			t.Errorf("alex's organisations after the hostile removal: %+v, want iso4-v", orgs.Items)
		}
		// alex still belongs somewhere, so alex cannot be deleted and the id reused.
		admin.must(409, "DELETE", "/v1/people/iso-alex", nil, nil)

		// The victim's custom domain shop.com; the hostile tenant's shop.co, in an
		// environment it then deletes. The delete took the claim of shop.com too, so
		// the hostile tenant could then take the victim's domain.
		victim.must(201, "POST", "/v1/orgs/iso4-v/apps", map[string]any{"name": "shop", "cloudspace": "local", "plan": "dev"}, nil)
		victim.must(200, "PUT", "/v1/orgs/iso4-v/apps/shop/envs/live/domains/iso-shop.com", map[string]any{"primary": true}, nil)
		hostile.must(201, "POST", "/v1/orgs/iso4/apps", map[string]any{"name": "shop", "cloudspace": "local", "plan": "dev"}, nil)
		hostile.must(201, "POST", "/v1/orgs/iso4/apps/shop/envs", map[string]any{"name": "grab"}, nil)
		hostile.must(200, "PUT", "/v1/orgs/iso4/apps/shop/envs/grab/domains/iso-shop.co", map[string]any{}, nil)
		hostile.must(204, "DELETE", "/v1/orgs/iso4/apps/shop/envs/grab", nil, nil)
		var raw json.RawMessage
		if code := hostile.do("PUT", "/v1/orgs/iso4/apps/shop/envs/live/domains/iso-shop.com", map[string]any{}, &raw); code != http.StatusConflict {
			t.Errorf("the hostile tenant claims the victim's iso-shop.com: %d %s, want 409", code, raw)
		}
		var doms struct {
			Items []struct {
				Name string `json:"name"`
			} `json:"items"`
		}
		victim.must(200, "GET", "/v1/orgs/iso4-v/apps/shop/envs/live/domains", nil, &doms)
		if len(doms.Items) != 1 || doms.Items[0].Name != "iso-shop.com" {
			t.Errorf("the victim's domains: %+v", doms.Items)
		}
	})

	// Attack 5: a viewer of one application copied its database into another where
	// they are a developer, and read it there.
	t.Run("restore needs developer on the source", func(t *testing.T) {
		victim, hostile := victim, hostile
		admin := isoIn(t, admin, &victim, &hostile)
		victim.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso5"}, nil)
		for _, app := range []string{"payroll", "sandbox"} {
			victim.must(201, "POST", "/v1/orgs/iso5/apps", map[string]any{"name": app, "cloudspace": "local", "plan": "dev"}, nil)
			victim.must(201, "POST", "/v1/orgs/iso5/apps/"+app+"/envs/test/services", map[string]any{"name": "db"}, nil)
		}
		mallory := isoPerson(t, admin, "iso-mallory")
		victim.must(200, "PUT", "/v1/orgs/iso5/members/iso-mallory", map[string]any{"role": "viewer"}, nil)
		victim.must(200, "PUT", "/v1/orgs/iso5/apps/sandbox/collaborators/iso-mallory", map[string]any{"role": "developer"}, nil)
		// A real backup of payroll's database, taken by the victim.
		var bk struct {
			ID string `json:"id"`
		}
		victim.must(201, "POST", "/v1/orgs/iso5/apps/payroll/envs/test/services/db/backups", nil, &bk)
		restore := "/v1/orgs/iso5/apps/payroll/envs/test/services/db/backups/" + bk.ID + "/restore"
		into := map[string]any{"app": "sandbox", "env": "test", "service": "db"}
		var raw json.RawMessage
		if code := mallory.do("POST", restore, into, &raw); code != http.StatusForbidden {
			t.Errorf("a viewer of payroll restores it into sandbox: %d %s, want 403", code, raw)
		}
		// Nobody outside the organisation learns it exists.
		if code := hostile.do("POST", restore, into, &raw); code != http.StatusNotFound {
			t.Errorf("the hostile tenant restores: %d %s, want 404", code, raw)
		}
		if code := hostile.do("POST", "/v1/orgs/iso5/apps/payroll/envs/test/services/db/backups", nil, &raw); code != http.StatusNotFound {
			t.Errorf("the hostile tenant takes a backup of the victim's database: %d %s, want 404", code, raw)
		}
		// A developer on both restores it.
		victim.must(200, "POST", restore, into, nil)
	})

	// Attack 6: any organisation admin chose any plan and any dedicated cloudspace.
	t.Run("entitlements", func(t *testing.T) {
		victim, hostile := victim, hostile
		admin := isoIn(t, admin, &victim, &hostile)
		admin.must(201, "POST", "/v1/plans", map[string]any{"name": "gold", "public": false, "limits": map[string]int{"environments": 10, "instances_per_process": 10,
			"memory_mb_per_instance": 1024, "service_instances": 5}}, nil)
		admin.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "iso-dedicated", "vendor": "on-premises", "location": "test", "tenancy": "dedicated",
			"region": s.Nomad.Region, "node_pool": "victim", "ingress_domain": "victim.localhost", "registry": s.Registry.Addr}, nil)
		victim.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso6-v"}, nil)
		hostile.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso6-h"}, nil)
		admin.must(200, "PUT", "/v1/orgs/iso6-v/entitlements/plans/gold", nil, nil)
		admin.must(200, "PUT", "/v1/orgs/iso6-v/entitlements/cloudspaces/iso-dedicated", nil, nil)
		victim.must(201, "POST", "/v1/orgs/iso6-v/apps", map[string]any{"name": "shop", "cloudspace": "iso-dedicated", "plan": "gold"}, nil)

		var raw json.RawMessage
		for _, body := range []map[string]any{
			{"name": "shop", "cloudspace": "iso-dedicated", "plan": "dev"},
			{"name": "shop", "cloudspace": "local", "plan": "gold"},
		} {
			if code := hostile.do("POST", "/v1/orgs/iso6-h/apps", body, &raw); code != http.StatusForbidden || isoProblemCode(raw) != "forbidden" {
				t.Errorf("the hostile tenant creates %v: %d %s, want 403 forbidden", body, code, raw)
			}
		}
		hostile.must(201, "POST", "/v1/orgs/iso6-h/apps", map[string]any{"name": "shop", "cloudspace": "local", "plan": "dev"}, nil)
		if code := hostile.do("PATCH", "/v1/orgs/iso6-h/apps/shop", map[string]any{"plan": "gold"}, &raw); code != http.StatusForbidden {
			t.Errorf("the hostile tenant moves to gold: %d %s, want 403", code, raw)
		}
		for _, path := range []string{"/v1/orgs/iso6-h/entitlements/plans/gold", "/v1/orgs/iso6-h/entitlements/cloudspaces/iso-dedicated"} {
			if code := hostile.do("PUT", path, nil, &raw); code != http.StatusForbidden {
				t.Errorf("the hostile tenant grants itself %s: %d %s, want 403", path, code, raw)
			}
		}
		if code := hostile.do("GET", "/v1/orgs/iso6-v/entitlements", nil, &raw); code != http.StatusNotFound {
			t.Errorf("the hostile tenant reads the victim's entitlements: %d %s, want 404", code, raw)
		}
	})

	// Attack 7: the edges.
	t.Run("edges", func(t *testing.T) {
		victim, hostile := victim, hostile
		isoIn(t, admin, &victim, &hostile)
		victim.must(201, "POST", "/v1/orgs", map[string]any{"name": "iso7"}, nil)
		victim.must(201, "POST", "/v1/orgs/iso7/apps", map[string]any{"name": "shop", "cloudspace": "local", "plan": "dev"}, nil)

		// An upload is answered before it is read: the body here never ends, so a
		// server that read it first would never answer.
		upload := func(c *client, path string, length int64) int {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			pr, pw := io.Pipe()
			go pw.Write([]byte{0x1f, 0x8b}) // a gzip header, and then nothing
			go func() {
				<-ctx.Done() // the transport waits for the body's writer to give up
				pw.CloseWithError(ctx.Err())
			}()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+path, pr)
			req.ContentLength = length
			req.Header.Set("Content-Type", "application/gzip")
			req.Header.Set("Authorization", "Bearer "+c.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("upload to %s: no answer before the body: %v", path, err)
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := upload(hostile.client, "/v1/orgs/iso7/apps/shop/builds", 200<<20); code != http.StatusNotFound {
			t.Errorf("the hostile tenant uploads to the victim's application: %d, want 404", code)
		}
		if code := upload(victim.client, "/v1/orgs/iso7/apps/shop/envs/test/deploys/source", 200<<20); code != http.StatusRequestEntityTooLarge {
			t.Errorf("an upload beyond the plan's 1 MiB: %d, want 413", code)
		}

		// Health without a token: up or down, no addresses.
		resp, err := http.Get(w.URL + "/v1/health")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "consul") {
			t.Errorf("health without a token = %d %s, want 200 without details", resp.StatusCode, body)
		}

		// Tokens expire.
		var tok struct {
			Token string `json:"token"`
		}
		hostile.must(201, "POST", "/v1/people/me/tokens", map[string]any{"name": "short", "expires_in": 2}, &tok)
		short := &client{t: t, url: w.URL, token: tok.Token}
		short.must(200, "GET", "/v1/orgs", nil, nil)
		time.Sleep(2100 * time.Millisecond)
		short.must(401, "GET", "/v1/orgs", nil, nil)

		// Custom domains are limited by the plan (2 here).
		env := "/v1/orgs/iso7/apps/shop/envs/test/domains/"
		victim.must(200, "PUT", env+"iso-a.example", map[string]any{}, nil)
		victim.must(200, "PUT", env+"iso-b.example", map[string]any{}, nil)
		var raw json.RawMessage
		if code := victim.do("PUT", env+"iso-c.example", map[string]any{}, &raw); code != http.StatusUnprocessableEntity || isoProblemCode(raw) != "limit_exceeded" {
			t.Errorf("a third custom domain: %d %s, want 422 limit_exceeded", code, raw)
		}
	})
}
