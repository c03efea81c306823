package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
	"github.com/wharf-platform/wharf/platform/vault"
)

// The model the API needs is what the platform provides.
var _ api.Model = (*platform.Service)(nil)

// stack is one real Consul and Vault with the API in front of them, shared by the
// subtests of one test function.
type stack struct {
	h      http.Handler
	consul *consulapi.Client
	// vaultVersion reads a secret and its version with Vault's root token.
	vaultVersion func(t testing.TB, path string) (map[string]any, int, bool)
	admin        client
}

func newStack(t testing.TB) *stack {
	t.Helper()
	ca := agenttest.Consul(t)
	va := agenttest.Vault(t)
	cc, err := consul.New(consul.Config{Address: ca.Addr, Token: ca.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	vc, err := vault.New(vault.Config{Address: va.Addr, Token: platform.Secret(va.WharfdToken)})
	if err != nil {
		t.Fatal(err)
	}
	model := &platform.Service{KV: cc.Store(consul.DefaultPrefix), Secrets: vc.Secrets()}
	_, token, err := model.Bootstrap(context.Background())
	if err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	if _, _, err := model.Bootstrap(context.Background()); platform.ErrorCode(err) != platform.Conflict {
		t.Fatalf("a second bootstrap = %v, want conflict", err)
	}
	raw, err := ca.Client() // the operator's, to look at everything
	if err != nil {
		t.Fatal(err)
	}
	root, err := va.Client()
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{
		h:      api.New(api.Config{Model: model, Health: fixedHealth{Healthy: true}}),
		consul: raw,
	}
	s.vaultVersion = func(t testing.TB, path string) (map[string]any, int, bool) {
		sec, err := root.KVv2("secret").Get(context.Background(), "wharf/"+path)
		if err != nil {
			return nil, 0, false
		}
		return sec.Data, sec.VersionMetadata.Version, true
	}
	s.admin = client{s: s, token: token.Reveal()}
	s.admin.do(t, 201, "POST", "/v1/cloudspaces", `{"name":"local","vendor":"on-premises","location":"Lab","tenancy":"public","region":"local","ingress_domain":"apps.local.test","registry":"127.0.0.1:15000"}`)
	s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"small","limits":{"environments":3,"instances_per_process":2,"memory_mb_per_instance":512,"service_instances":1}}`)
	s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"large","limits":{"environments":10,"instances_per_process":20,"memory_mb_per_instance":8192,"service_instances":10}}`)
	return s
}

// client calls the API as one caller.
type client struct {
	s     *stack
	token string
}

// response is one answer of the API.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

func (r response) items(t testing.TB) []map[string]any {
	t.Helper()
	var page struct {
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil {
		t.Fatalf("body is not a page: %v: %s", err, r.Body)
	}
	return page.Items
}

// send makes one request; body is sent as it is. headers are name, value pairs.
func (c client) send(method, path, body string, headers ...string) response {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	c.s.h.ServeHTTP(rec, req)
	return response{Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// do makes one request and fails the test unless it gets status.
func (c client) do(t testing.TB, status int, method, path, body string, headers ...string) response {
	t.Helper()
	r := c.send(method, path, body, headers...)
	if r.Status != status {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, r.Status, status, r.Body)
	}
	if status >= 400 {
		if ct := r.Header.Get("Content-Type"); ct != api.ProblemContentType {
			t.Fatalf("%s %s: error Content-Type %q, want problem+json", method, path, ct)
		}
	}
	return r
}

// person creates a person and returns a client holding a token of theirs.
func (s *stack) person(t testing.TB, id string) client {
	t.Helper()
	s.admin.do(t, 201, "POST", "/v1/people", fmt.Sprintf(`{"id":%q,"name":"Test %s","email":"%s@example.com"}`, id, id, id))
	r := s.admin.do(t, 201, "POST", "/v1/people/"+id+"/tokens", `{"name":"test"}`)
	return client{s: s, token: r.json(t)["token"].(string)}
}

// org creates an organisation owned by owner, with an application "web" in it.
func (s *stack) org(t testing.TB, owner client, name string) {
	t.Helper()
	owner.do(t, 201, "POST", "/v1/orgs", fmt.Sprintf(`{"name":%q}`, name))
	owner.do(t, 201, "POST", "/v1/orgs/"+name+"/apps", `{"name":"web","cloudspace":"local","plan":"small"}`)
}

// kvTree returns every key in Consul KV with its value and modify index.
func (s *stack) kvTree(t testing.TB) map[string]string {
	t.Helper()
	pairs, _, err := s.consul.KV().List("", nil)
	if err != nil {
		t.Fatal(err)
	}
	tree := map[string]string{}
	for _, p := range pairs {
		tree[p.Key] = fmt.Sprintf("%d %s", p.ModifyIndex, p.Value)
	}
	return tree
}

func problemCode(t testing.TB, r response) string {
	t.Helper()
	code, _ := r.json(t)["code"].(string)
	return code
}

func TestResources(t *testing.T) {
	s := newStack(t)

	// Invalid input runs first and alone, so that the whole KV tree can be compared
	// before and after.
	t.Run("invalid input changes nothing", func(t *testing.T) { testInvalidInput(t, s) })

	t.Run("authentication", func(t *testing.T) {
		t.Parallel()
		anon := client{s: s}
		r := anon.do(t, 401, "GET", "/v1/orgs", "")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") || problemCode(t, r) != "unauthorized" {
			t.Errorf("401 without a challenge or code: %v %s", r.Header, r.Body)
		}
		client{s: s, token: "wharf_nope"}.do(t, 401, "GET", "/v1/orgs", "")
		client{s: s, token: "nope"}.do(t, 401, "GET", "/v1/orgs", "")
		ann := s.person(t, "ann")
		tok := ann.do(t, 201, "POST", "/v1/people/me/tokens", `{"name":"laptop"}`).json(t)
		second := client{s: s, token: tok["token"].(string)}
		second.do(t, 200, "GET", "/v1/people/me", "")
		list := ann.do(t, 200, "GET", "/v1/people/ann/tokens", "")
		if strings.Contains(string(list.Body), tok["token"].(string)) || strings.Contains(string(list.Body), "hash") || len(list.items(t)) != 2 {
			t.Errorf("token list shows values or hashes, or not both tokens: %s", list.Body)
		}
		ann.do(t, 204, "DELETE", "/v1/people/me/tokens/"+tok["id"].(string), "")
		second.do(t, 401, "GET", "/v1/people/me", "")
		ann.do(t, 404, "GET", "/v1/people/admin", "")
		ann.do(t, 403, "GET", "/v1/people", "")
		ann.do(t, 403, "GET", "/v1/audit", "")
		var actions []string
		for _, ev := range s.admin.do(t, 200, "GET", "/v1/audit?limit=500", "").items(t) {
			actions = append(actions, ev["action"].(string)+" by "+ev["actor"].(string))
		}
		for _, want := range []string{"platform.bootstrap by admin", "cloudspace.create by admin", "person.create by admin", "token.create by ann", "token.delete by ann"} {
			if !slices.Contains(actions, want) {
				t.Errorf("platform audit log lacks %q: %v", want, actions)
			}
		}
	})

	t.Run("crud", func(t *testing.T) {
		t.Parallel()
		owner := s.person(t, "crud-owner")
		bob := s.person(t, "crud-bob")

		// Catalog: cloudspaces and plans.
		cs := s.admin.do(t, 201, "POST", "/v1/cloudspaces", `{"name":"eu-1","vendor":"aws","location":"Frankfurt","tenancy":"dedicated","region":"eu","node_pool":"acme","ingress_domain":"eu-1.wharf.test","registry":"registry.eu-1.wharf.test:5000"}`)
		if cs.Header.Get("Location") != "/v1/cloudspaces/eu-1" || cs.Header.Get("ETag") == "" {
			t.Errorf("create headers = %v", cs.Header)
		}
		etag := owner.do(t, 200, "GET", "/v1/cloudspaces/eu-1", "").Header.Get("ETag")
		got := s.admin.do(t, 200, "PATCH", "/v1/cloudspaces/eu-1", `{"location":"Frankfurt am Main"}`, "If-Match", etag).json(t)
		if got["location"] != "Frankfurt am Main" || got["vendor"] != "aws" {
			t.Errorf("patched cloudspace = %v", got)
		}
		s.admin.do(t, 409, "PATCH", "/v1/cloudspaces/eu-1", `{"location":"x"}`, "If-Match", etag)
		if names := names(owner.do(t, 200, "GET", "/v1/cloudspaces", "").items(t)); !slices.Contains(names, "eu-1") || !slices.Contains(names, "local") {
			t.Errorf("cloudspaces = %v", names)
		}
		s.admin.do(t, 204, "DELETE", "/v1/cloudspaces/eu-1", "")
		owner.do(t, 404, "GET", "/v1/cloudspaces/eu-1", "")

		s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"crud-plan","limits":{"environments":4,"instances_per_process":3,"memory_mb_per_instance":1024,"service_instances":2}}`)
		pl := s.admin.do(t, 200, "PATCH", "/v1/plans/crud-plan", `{"limits":{"environments":5,"instances_per_process":3,"memory_mb_per_instance":1024,"service_instances":2}}`).json(t)
		if pl["limits"].(map[string]any)["environments"] != 5.0 {
			t.Errorf("patched plan = %v", pl)
		}
		owner.do(t, 200, "GET", "/v1/plans/crud-plan", "")
		if !slices.Contains(names(owner.do(t, 200, "GET", "/v1/plans", "").items(t)), "crud-plan") {
			t.Error("plan not listed")
		}
		s.admin.do(t, 204, "DELETE", "/v1/plans/crud-plan", "")
		owner.do(t, 404, "GET", "/v1/plans/crud-plan", "")

		// Organisations and members.
		o := owner.do(t, 201, "POST", "/v1/orgs", `{"name":"crud","display_name":"CRUD Ltd"}`).json(t)
		if o["display_name"] != "CRUD Ltd" {
			t.Errorf("org = %v", o)
		}
		owner.do(t, 409, "POST", "/v1/orgs", `{"name":"crud"}`)
		owner.do(t, 200, "PATCH", "/v1/orgs/crud", `{"display_name":"CRUD GmbH"}`)
		if got := owner.do(t, 200, "GET", "/v1/orgs/crud", "").json(t)["display_name"]; got != "CRUD GmbH" {
			t.Errorf("display name = %v", got)
		}
		if got := names(owner.do(t, 200, "GET", "/v1/orgs", "").items(t)); !slices.Equal(got, []string{"crud"}) {
			t.Errorf("owner's orgs = %v", got)
		}
		owner.do(t, 200, "PUT", "/v1/orgs/crud/members/crud-bob", `{"role":"viewer"}`)
		owner.do(t, 200, "PUT", "/v1/orgs/crud/members/crud-bob", `{"role":"developer"}`)
		members := owner.do(t, 200, "GET", "/v1/orgs/crud/members", "").items(t)
		if len(members) != 2 || members[0]["person"] != "crud-bob" || members[0]["role"] != "developer" {
			t.Errorf("members = %v", members)
		}
		owner.do(t, 409, "DELETE", "/v1/orgs/crud/members/crud-owner", "")
		bob.do(t, 200, "GET", "/v1/orgs/crud", "")

		// Applications, with test and live created together.
		a := owner.do(t, 201, "POST", "/v1/orgs/crud/apps", `{"name":"shop","cloudspace":"local","plan":"small"}`).json(t)
		if !slices.Equal(anyStrings(a["environments"]), []string{"live", "test"}) {
			t.Errorf("app environments = %v", a["environments"])
		}
		owner.do(t, 409, "POST", "/v1/orgs/crud/apps", `{"name":"shop","cloudspace":"local","plan":"small"}`)
		r := owner.do(t, 400, "POST", "/v1/orgs/crud/apps", `{"name":"ghost","cloudspace":"nowhere","plan":"none"}`)
		if fields := fieldNames(t, r); !slices.Equal(fields, []string{"cloudspace", "plan"}) {
			t.Errorf("unknown cloudspace and plan: fields %v", fields)
		}
		// An application and its environments appear together or not at all: with a
		// stray record where its test environment would go, nothing of it is written.
		if _, err := s.consul.KV().Put(&consulapi.KVPair{Key: "wharf/envs/crud/half/test", Value: []byte("{}")}, nil); err != nil {
			t.Fatal(err)
		}
		owner.do(t, 409, "POST", "/v1/orgs/crud/apps", `{"name":"half","cloudspace":"local","plan":"small"}`)
		owner.do(t, 404, "GET", "/v1/orgs/crud/apps/half", "")
		if p, _, _ := s.consul.KV().Get("wharf/envs/crud/half/live", nil); p != nil {
			t.Error("the live environment of an application that failed to be created exists")
		}
		s.consul.KV().Delete("wharf/envs/crud/half/test", nil)
		if got := names(owner.do(t, 200, "GET", "/v1/orgs/crud/apps/shop/envs", "").items(t)); !slices.Equal(got, []string{"live", "test"}) {
			t.Errorf("environments = %v", got)
		}
		owner.do(t, 200, "PATCH", "/v1/orgs/crud/apps/shop", `{"plan":"large"}`)
		if got := owner.do(t, 200, "GET", "/v1/orgs/crud/apps/shop", "").json(t)["plan"]; got != "large" {
			t.Errorf("plan = %v", got)
		}

		// Environments.
		e := bob.do(t, 201, "POST", "/v1/orgs/crud/apps/shop/envs", `{"name":"staging","processes":{"web":{"instances":2}},"services":[{"name":"db","kind":"postgres"}]}`).json(t)
		if e["processes"].(map[string]any)["web"].(map[string]any)["memory_mb"] != float64(platform.DefaultMemoryMB) {
			t.Errorf("default memory not filled in: %v", e)
		}
		bob.do(t, 200, "PATCH", "/v1/orgs/crud/apps/shop/envs/staging", `{"processes":{"web":{"instances":3,"memory_mb":1024}}}`)
		env := bob.do(t, 200, "GET", "/v1/orgs/crud/apps/shop/envs/staging", "").json(t)
		if env["processes"].(map[string]any)["web"].(map[string]any)["instances"] != 3.0 || len(env["services"].([]any)) != 1 {
			t.Errorf("patched environment = %v", env)
		}
		bob.do(t, 409, "DELETE", "/v1/orgs/crud/apps/shop/envs/live", "")

		// Variables.
		v := bob.do(t, 201, "PUT", "/v1/orgs/crud/apps/shop/envs/staging/vars/DEBUG", `{"value":"1"}`).json(t)
		if v["value"] != "1" || v["version"] != 1.0 {
			t.Errorf("variable = %v", v)
		}
		v = bob.do(t, 200, "PUT", "/v1/orgs/crud/apps/shop/envs/staging/vars/DEBUG", `{"value":"0"}`).json(t)
		if v["value"] != "0" || v["version"] != 2.0 {
			t.Errorf("variable = %v", v)
		}
		bob.do(t, 201, "PUT", "/v1/orgs/crud/apps/shop/envs/staging/vars/API_KEY", `{"value":"k","secret":true}`)
		if got := names(bob.do(t, 200, "GET", "/v1/orgs/crud/apps/shop/envs/staging/vars", "").items(t)); !slices.Equal(got, []string{"API_KEY", "DEBUG"}) {
			t.Errorf("variables = %v", got)
		}
		if v := bob.do(t, 200, "PUT", "/v1/orgs/crud/apps/shop/envs/staging/vars/DEBUG", `{"value":""}`).json(t); v["value"] != "" {
			t.Errorf("an empty plain value reads as %v", v["value"])
		}
		bob.do(t, 204, "DELETE", "/v1/orgs/crud/apps/shop/envs/staging/vars/DEBUG", "")
		bob.do(t, 404, "GET", "/v1/orgs/crud/apps/shop/envs/staging/vars/DEBUG", "")

		// Collaborators.
		carl := s.person(t, "crud-carl")
		owner.do(t, 200, "PUT", "/v1/orgs/crud/apps/shop/collaborators/crud-carl", `{"role":"developer"}`)
		carl.do(t, 200, "GET", "/v1/orgs/crud/apps/shop", "")
		carl.do(t, 201, "PUT", "/v1/orgs/crud/apps/shop/envs/test/vars/FROM_CARL", `{"value":"hi"}`)
		carl.do(t, 404, "GET", "/v1/orgs/crud", "")
		if got := owner.do(t, 200, "GET", "/v1/orgs/crud/apps/shop/collaborators", "").items(t); len(got) != 1 || got[0]["person"] != "crud-carl" {
			t.Errorf("collaborators = %v", got)
		}
		s.admin.do(t, 409, "DELETE", "/v1/people/crud-carl", "")
		owner.do(t, 204, "DELETE", "/v1/orgs/crud/apps/shop/collaborators/crud-carl", "")
		carl.do(t, 404, "GET", "/v1/orgs/crud/apps/shop", "")
		s.admin.do(t, 204, "DELETE", "/v1/people/crud-carl", "")
		carl.do(t, 401, "GET", "/v1/people/me", "")

		// Deletion: environment (and its secrets), application, member, organisation.
		bob.do(t, 204, "DELETE", "/v1/orgs/crud/apps/shop/envs/staging", "")
		if _, ok := s.vault(t, "crud/shop/staging/API_KEY"); ok {
			t.Error("the secret outlived its environment")
		}
		if got := anyStrings(owner.do(t, 200, "GET", "/v1/orgs/crud/apps/shop", "").json(t)["environments"]); !slices.Equal(got, []string{"live", "test"}) {
			t.Errorf("environments after delete = %v", got)
		}
		owner.do(t, 409, "DELETE", "/v1/orgs/crud", "")
		owner.do(t, 204, "DELETE", "/v1/orgs/crud/apps/shop", "")
		owner.do(t, 404, "GET", "/v1/orgs/crud/apps/shop/envs/test", "")
		s.admin.do(t, 409, "DELETE", "/v1/people/crud-bob", "")
		owner.do(t, 204, "DELETE", "/v1/orgs/crud/members/crud-bob", "")
		bob.do(t, 404, "GET", "/v1/orgs/crud", "")
		if got := bob.do(t, 200, "PATCH", "/v1/people/me", `{"name":"Bob B."}`).json(t); got["name"] != "Bob B." || got["email"] != "crud-bob@example.com" {
			t.Errorf("patched person = %v", got)
		}
		bob.do(t, 403, "PATCH", "/v1/people/me", `{"admin":true}`)
		s.admin.do(t, 409, "PATCH", "/v1/people/me", `{"admin":false}`)
		s.admin.do(t, 409, "DELETE", "/v1/people/me", "")
		s.admin.do(t, 204, "DELETE", "/v1/people/crud-bob", "")
		bob.do(t, 401, "GET", "/v1/people/me", "")
		s.admin.do(t, 404, "GET", "/v1/people/crud-bob", "")

		// The audit log saw every change, by whom.
		events := owner.do(t, 200, "GET", "/v1/orgs/crud/audit?limit=500", "").items(t)
		var actions []string
		for _, ev := range events {
			actions = append(actions, ev["action"].(string)+" by "+ev["actor"].(string))
		}
		for _, want := range []string{"organisation.create by crud-owner", "application.create by crud-owner", "environment.create by crud-bob", "variable.put by crud-carl", "application.delete by crud-owner", "member.delete by crud-owner"} {
			if !slices.Contains(actions, want) {
				t.Errorf("audit log lacks %q: %v", want, actions)
			}
		}
		owner.do(t, 204, "DELETE", "/v1/orgs/crud", "")
		owner.do(t, 404, "GET", "/v1/orgs/crud", "")
	})

	t.Run("pagination", func(t *testing.T) {
		t.Parallel()
		owner := s.person(t, "pager")
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"pages"}`)
		var want []string
		for i := range 7 {
			name := fmt.Sprintf("app-%d", i)
			want = append(want, name)
			owner.do(t, 201, "POST", "/v1/orgs/pages/apps", fmt.Sprintf(`{"name":%q,"cloudspace":"local","plan":"small"}`, name))
		}
		var got []string
		path := "/v1/orgs/pages/apps?limit=3"
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("more pages than items allow")
			}
			r := owner.do(t, 200, "GET", path, "").json(t)
			for _, it := range r["items"].([]any) {
				got = append(got, it.(map[string]any)["name"].(string))
			}
			next, _ := r["next_cursor"].(string)
			if next == "" {
				break
			}
			path = "/v1/orgs/pages/apps?limit=3&cursor=" + next
		}
		if !slices.Equal(got, want) {
			t.Errorf("paged = %v, want %v", got, want)
		}
		owner.do(t, 400, "GET", "/v1/orgs/pages/apps?limit=0", "")
		owner.do(t, 400, "GET", "/v1/orgs/pages/apps?limit=x", "")
		owner.do(t, 400, "GET", "/v1/orgs/pages/apps?cursor=!!", "")
	})

	t.Run("role matrix", func(t *testing.T) { t.Parallel(); testRoleMatrix(t, s) })
	t.Run("cross-organisation isolation", func(t *testing.T) { t.Parallel(); testIsolation(t, s) })
	t.Run("plan limits", func(t *testing.T) { t.Parallel(); testPlanLimits(t, s) })
	t.Run("concurrent updates", func(t *testing.T) { t.Parallel(); testConcurrentUpdates(t, s) })
	t.Run("secret variables", func(t *testing.T) { t.Parallel(); testSecrets(t, s) })
}

// vault reads a secret with Vault's root token.
func (s *stack) vault(t testing.TB, path string) (map[string]any, bool) {
	data, _, ok := s.vaultVersion(t, path)
	return data, ok
}

func names(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		n, _ := it["name"].(string)
		if n == "" {
			n, _ = it["id"].(string)
		}
		out = append(out, n)
	}
	return out
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func fieldNames(t testing.TB, r response) []string {
	t.Helper()
	var p api.Problem
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	return out
}

func testRoleMatrix(t *testing.T, s *stack) {
	owner := s.person(t, "mx-founder")
	s.org(t, owner, "matrix")
	roles := []platform.Role{platform.RoleViewer, platform.RoleDeveloper, platform.RoleAdmin, platform.RoleOwner}
	callers := map[string]client{}
	for _, r := range roles {
		callers[string(r)] = s.person(t, "mx-"+string(r))
		owner.do(t, 200, "PUT", "/v1/orgs/matrix/members/mx-"+string(r), fmt.Sprintf(`{"role":%q}`, r))
	}
	callers["outsider"] = s.person(t, "mx-outsider")

	// Each kind of action, with the least role it needs. %s is the caller's name, so
	// that callers do not trip over each other's changes.
	actions := []struct {
		kind         string
		least        platform.Role
		method, path string
		body         string
		ok           int
	}{
		{"read", platform.RoleViewer, "GET", "/v1/orgs/matrix/apps/web/envs/test", "", 200},
		{"list", platform.RoleViewer, "GET", "/v1/orgs/matrix/apps", "", 200},
		{"configure", platform.RoleDeveloper, "PUT", "/v1/orgs/matrix/apps/web/envs/test/vars/BY_%s", `{"value":"v"}`, 201},
		{"scale", platform.RoleDeveloper, "PATCH", "/v1/orgs/matrix/apps/web/envs/live", `{"processes":{"web":{"instances":1}}}`, 200},
		{"manage applications", platform.RoleAdmin, "POST", "/v1/orgs/matrix/apps", `{"name":"app-%s","cloudspace":"local","plan":"small"}`, 201},
		{"manage access", platform.RoleAdmin, "PUT", "/v1/orgs/matrix/apps/web/collaborators/mx-outsider", `{"role":"viewer"}`, 200},
		{"read audit", platform.RoleAdmin, "GET", "/v1/orgs/matrix/audit", "", 200},
		{"own", platform.RoleOwner, "PATCH", "/v1/orgs/matrix", `{"display_name":"by %s"}`, 200},
	}
	for _, a := range actions {
		for _, who := range []string{"viewer", "developer", "admin", "owner", "outsider"} {
			t.Run(a.kind+" as "+who, func(t *testing.T) {
				path, body := a.path, a.body
				if strings.Contains(path, "%s") {
					path = fmt.Sprintf(path, strings.ToUpper(who))
				}
				if strings.Contains(body, "%s") {
					body = fmt.Sprintf(body, who)
				}
				want := a.ok
				switch {
				case who == "outsider":
					want = 404
				case platform.Role(who) == a.least, roleAtLeast(platform.Role(who), a.least):
				default:
					want = 403
				}
				r := callers[who].do(t, want, a.method, path, body)
				if want == 403 && problemCode(t, r) != "forbidden" || want == 404 && problemCode(t, r) != "not_found" {
					t.Errorf("problem = %s", r.Body)
				}
			})
		}
	}
	// Operator-only resources are refused to every organisation role.
	callers["owner"].do(t, 403, "POST", "/v1/cloudspaces", `{"name":"mine","vendor":"gcp","location":"x","tenancy":"public","region":"x","ingress_domain":"x.test","registry":"x.test"}`)
	callers["owner"].do(t, 403, "PATCH", "/v1/plans/small", `{"limits":{"environments":100,"instances_per_process":100,"memory_mb_per_instance":100000,"service_instances":100}}`)
	// Admins may not make owners; owners may.
	callers["admin"].do(t, 403, "PUT", "/v1/orgs/matrix/members/mx-outsider", `{"role":"owner"}`)
	callers["admin"].do(t, 200, "PUT", "/v1/orgs/matrix/members/mx-outsider", `{"role":"viewer"}`)
	callers["owner"].do(t, 200, "PUT", "/v1/orgs/matrix/members/mx-outsider", `{"role":"owner"}`)
}

func roleAtLeast(r, least platform.Role) bool {
	rank := map[platform.Role]int{platform.RoleViewer: 1, platform.RoleDeveloper: 2, platform.RoleAdmin: 3, platform.RoleOwner: 4}
	return rank[r] >= rank[least]
}

func testIsolation(t *testing.T, s *stack) {
	alice, mallory := s.person(t, "iso-alice"), s.person(t, "iso-mallory")
	s.org(t, alice, "iso-a")
	s.org(t, mallory, "iso-m")
	alice.do(t, 201, "PUT", "/v1/orgs/iso-a/apps/web/envs/live/vars/TOKEN", `{"value":"alice's"}`)
	before := s.kvTree(t)

	// Everything of alice's organisation answers mallory exactly as something that
	// does not exist does.
	for _, tt := range []struct{ method, path, body string }{
		{"GET", "/v1/orgs/iso-a", ""},
		{"PATCH", "/v1/orgs/iso-a", `{"display_name":"pwned"}`},
		{"DELETE", "/v1/orgs/iso-a", ""},
		{"GET", "/v1/orgs/iso-a/members", ""},
		{"PUT", "/v1/orgs/iso-a/members/iso-mallory", `{"role":"owner"}`},
		{"GET", "/v1/orgs/iso-a/audit", ""},
		{"GET", "/v1/orgs/iso-a/apps", ""},
		{"POST", "/v1/orgs/iso-a/apps", `{"name":"x","cloudspace":"local","plan":"small"}`},
		{"GET", "/v1/orgs/iso-a/apps/web", ""},
		{"DELETE", "/v1/orgs/iso-a/apps/web", ""},
		{"PUT", "/v1/orgs/iso-a/apps/web/collaborators/iso-mallory", `{"role":"developer"}`},
		{"GET", "/v1/orgs/iso-a/apps/web/envs", ""},
		{"PATCH", "/v1/orgs/iso-a/apps/web/envs/live", `{"processes":{}}`},
		{"GET", "/v1/orgs/iso-a/apps/web/envs/live/vars", ""},
		{"GET", "/v1/orgs/iso-a/apps/web/envs/live/vars/TOKEN", ""},
		{"PUT", "/v1/orgs/iso-a/apps/web/envs/live/vars/TOKEN", `{"value":"mallory's"}`},
		{"GET", "/v1/people/iso-alice", ""},
		{"GET", "/v1/people/iso-alice/tokens", ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := mallory.do(t, 404, tt.method, tt.path, tt.body)
			ghost := mallory.do(t, 404, tt.method, strings.Replace(strings.Replace(tt.path, "iso-a", "iso-none", 1), "iso-alice", "iso-none", 1), tt.body)
			if problemCode(t, r) != problemCode(t, ghost) {
				t.Errorf("an existing resource answers %s, a missing one %s", r.Body, ghost.Body)
			}
		})
	}
	if got := names(mallory.do(t, 200, "GET", "/v1/orgs", "").items(t)); !slices.Equal(got, []string{"iso-m"}) {
		t.Errorf("mallory lists %v", got)
	}
	after := s.kvTree(t)
	for k, v := range before {
		if strings.Contains(k, "iso-a") && after[k] != v {
			t.Errorf("mallory changed %s", k)
		}
	}
	for k := range after {
		if strings.Contains(k, "iso-a") && strings.Contains(k, "mallory") {
			t.Errorf("mallory wrote %s", k)
		}
	}
}

func testPlanLimits(t *testing.T, s *stack) {
	owner := s.person(t, "lim-owner")
	s.org(t, owner, "limits") // web is on "small": 3 environments, 2 instances, 512 MB, 1 service
	const app = "/v1/orgs/limits/apps/web"
	owner.do(t, 201, "POST", app+"/envs", `{"name":"staging"}`)
	tests := []struct {
		name, method, path, body string
		fields                   []string
	}{
		{"a fourth environment", "POST", app + "/envs", `{"name":"qa"}`, nil},
		{"too many instances", "PATCH", app + "/envs/live", `{"processes":{"web":{"instances":3}}}`, []string{"processes.web.instances"}},
		{"too much memory", "PATCH", app + "/envs/live", `{"processes":{"web":{"instances":1,"memory_mb":1024}}}`, []string{"processes.web.memory_mb"}},
		{"too many services", "PATCH", app + "/envs/test", `{"services":[{"name":"db","kind":"postgres"},{"name":"media","kind":"storage"}]}`, []string{"services"}},
		{"over the limit at creation", "POST", app + "/envs", `{"name":"big","processes":{"worker":{"instances":5}}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.kvTree(t)
			r := owner.do(t, 422, tt.method, tt.path, tt.body)
			p := r.json(t)
			if p["code"] != "limit_exceeded" || !strings.Contains(p["detail"].(string), "small") {
				t.Errorf("problem = %s, want limit_exceeded naming the plan", r.Body)
			}
			if tt.fields != nil && !slices.Equal(fieldNames(t, r), tt.fields) {
				t.Errorf("fields = %v, want %v", fieldNames(t, r), tt.fields)
			}
			after := s.kvTree(t)
			for k, v := range before {
				if strings.Contains(k, "limits") && after[k] != v {
					t.Errorf("a refused request changed %s", k)
				}
			}
		})
	}
	// Within the limits all is well; a smaller plan is refused while it does not fit.
	owner.do(t, 200, "PATCH", app+"/envs/live", `{"processes":{"web":{"instances":2,"memory_mb":512}},"services":[{"name":"db","kind":"postgres"}]}`)
	s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"lim-tiny","limits":{"environments":2,"instances_per_process":1,"memory_mb_per_instance":256,"service_instances":0}}`)
	owner.do(t, 422, "PATCH", app, `{"plan":"lim-tiny"}`)
}

func testConcurrentUpdates(t *testing.T, s *stack) {
	owner := s.person(t, "cc-owner")
	s.org(t, owner, "race")
	const n = 8
	tests := []struct {
		name   string
		setup  func() string // returns the ETag to race on, or ""
		method string
		path   string
		body   func(i int) string
	}{
		{"environment with If-Match", func() string {
			return owner.do(t, 200, "GET", "/v1/orgs/race/apps/web/envs/live", "").Header.Get("ETag")
		}, "PATCH", "/v1/orgs/race/apps/web/envs/live", func(i int) string {
			return fmt.Sprintf(`{"processes":{"web":{"instances":%d}}}`, i%2+1)
		}},
		{"organisation with If-Match", func() string {
			return owner.do(t, 200, "GET", "/v1/orgs/race", "").Header.Get("ETag")
		}, "PATCH", "/v1/orgs/race", func(i int) string { return fmt.Sprintf(`{"display_name":"writer %d"}`, i) }},
		{"plain variable with If-Match", func() string {
			return owner.do(t, 201, "PUT", "/v1/orgs/race/apps/web/envs/test/vars/V", `{"value":"0"}`).Header.Get("ETag")
		}, "PUT", "/v1/orgs/race/apps/web/envs/test/vars/V", func(i int) string { return fmt.Sprintf(`{"value":"%d"}`, i) }},
		{"secret variable with If-Match", func() string {
			return owner.do(t, 201, "PUT", "/v1/orgs/race/apps/web/envs/test/vars/S", `{"value":"0","secret":true}`).Header.Get("ETag")
		}, "PUT", "/v1/orgs/race/apps/web/envs/test/vars/S", func(i int) string { return fmt.Sprintf(`{"value":"s%d","secret":true}`, i) }},
		{"creating one application", func() string { return "" }, "POST", "/v1/orgs/race/apps", func(int) string {
			return `{"name":"only-one","cloudspace":"local","plan":"small"}`
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			etag := tt.setup()
			var headers []string
			if etag != "" {
				headers = []string{"If-Match", etag}
			}
			statuses := make([]int, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-start
					statuses[i] = owner.send(tt.method, tt.path, tt.body(i), headers...).Status
				})
			}
			close(start)
			wg.Wait()
			won, lost := 0, 0
			for _, st := range statuses {
				switch {
				case st < 300:
					won++
				case st == 409:
					lost++
				}
			}
			if won != 1 || lost != n-1 {
				t.Errorf("statuses = %v, want exactly one success and %d conflicts", statuses, n-1)
			}
		})
	}
	// Writers without a precondition may each win in turn, but never leave the API's
	// version of a secret behind Vault's.
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i] = owner.send("PUT", "/v1/orgs/race/apps/web/envs/live/vars/NEW_SECRET", fmt.Sprintf(`{"value":"n%d","secret":true}`, i)).Status
		})
	}
	wg.Wait()
	won := 0
	for _, st := range statuses {
		if st < 300 {
			won++
		} else if st != 409 {
			t.Errorf("racing secret writers: status %d", st)
		}
	}
	v := owner.do(t, 200, "GET", "/v1/orgs/race/apps/web/envs/live/vars/NEW_SECRET", "").json(t)
	if _, version, ok := s.vaultVersion(t, "race/web/live/NEW_SECRET"); !ok || v["version"] != float64(version) || won == 0 {
		t.Errorf("after %d of %d racing writers won: API version %v, Vault version %d", won, n, v["version"], version)
	}

	// The secret's winner is the value Vault holds, at the version the API reports.
	v = owner.do(t, 200, "GET", "/v1/orgs/race/apps/web/envs/test/vars/S", "").json(t)
	data, ok := s.vault(t, "race/web/test/S")
	if !ok || v["version"] != 2.0 || !strings.HasPrefix(fmt.Sprint(data["value"]), "s") {
		t.Errorf("after the race: API %v, Vault %v", v, data)
	}
}

func testSecrets(t *testing.T, s *stack) {
	owner := s.person(t, "sec-owner")
	s.org(t, owner, "secrets")
	const value = "sup3r-s3cret-value-8d1f"
	const path = "/v1/orgs/secrets/apps/web/envs/live/vars/DATABASE_PASSWORD"
	responses := []response{
		owner.do(t, 201, "PUT", path, `{"value":"`+value+`","secret":true}`),
		owner.do(t, 200, "GET", path, ""),
		owner.do(t, 200, "GET", "/v1/orgs/secrets/apps/web/envs/live/vars", ""),
		owner.do(t, 200, "GET", "/v1/orgs/secrets/audit", ""),
	}
	for _, r := range responses {
		if bytes.Contains(r.Body, []byte(value)) {
			t.Errorf("the API returned the secret: %s", r.Body)
		}
	}
	got := responses[1].json(t)
	if got["secret"] != true || got["version"] != 1.0 || got["updated_at"] == "" || got["value"] != nil {
		t.Errorf("secret variable reads as %v; want name, secret, version and time, no value", got)
	}
	data, ok := s.vault(t, "secrets/web/live/DATABASE_PASSWORD")
	if !ok || data["value"] != value {
		t.Fatalf("Vault holds %v", data)
	}
	for k, v := range s.kvTree(t) {
		if strings.Contains(v, value) || strings.Contains(k, value) {
			t.Errorf("Consul KV %s holds the secret", k)
		}
	}
	// A new value makes a new version; turning it plain removes it from Vault.
	if v := owner.do(t, 200, "PUT", path, `{"value":"other","secret":true}`).json(t); v["version"] != 2.0 {
		t.Errorf("second version = %v", v)
	}
	owner.do(t, 200, "PUT", path, `{"value":"now-plain"}`)
	if _, ok := s.vault(t, "secrets/web/live/DATABASE_PASSWORD"); ok {
		t.Error("a variable made plain left its secret in Vault")
	}
	owner.do(t, 200, "PUT", path, `{"value":"`+value+`","secret":true}`)
	owner.do(t, 204, "DELETE", path, "")
	if _, ok := s.vault(t, "secrets/web/live/DATABASE_PASSWORD"); ok {
		t.Error("a deleted variable left its secret in Vault")
	}
}

func testInvalidInput(t *testing.T, s *stack) {
	owner := s.person(t, "inv-owner")
	s.org(t, owner, "inv")
	long := strings.Repeat("a", 64)
	huge := `{"value":"` + strings.Repeat("x", 2<<20) + `"}`
	tests := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		fields                   []string
	}{
		{"org name with capitals", "POST", "/v1/orgs", `{"name":"Acme"}`, nil, 400, []string{"name"}},
		{"org name with underscore", "POST", "/v1/orgs", `{"name":"ac_me"}`, nil, 400, []string{"name"}},
		{"org name too long", "POST", "/v1/orgs", `{"name":"` + long + `"}`, nil, 400, []string{"name"}},
		{"org name empty", "POST", "/v1/orgs", `{}`, nil, 400, []string{"name"}},
		{"app name with leading hyphen", "POST", "/v1/orgs/inv/apps", `{"name":"-web","cloudspace":"local","plan":"small"}`, nil, 400, []string{"name"}},
		{"app name with a dot", "POST", "/v1/orgs/inv/apps", `{"name":"a.b","cloudspace":"local","plan":"small"}`, nil, 400, []string{"name"}},
		{"env name unicode", "POST", "/v1/orgs/inv/apps/web/envs", `{"name":"tést"}`, nil, 400, []string{"name"}},
		{"variable name", "PUT", "/v1/orgs/inv/apps/web/envs/test/vars/1BAD", `{"value":"x"}`, nil, 400, []string{"name"}},
		{"unknown field", "POST", "/v1/orgs", `{"name":"fine","owner":"me"}`, nil, 400, []string{"owner"}},
		{"unknown nested field", "PATCH", "/v1/orgs/inv/apps/web/envs/test", `{"processes":{"web":{"instances":1,"cpu":2}}}`, nil, 400, []string{"cpu"}},
		{"read-only field", "POST", "/v1/orgs/inv/apps", `{"name":"x","cloudspace":"local","plan":"small","environments":["a"]}`, nil, 400, []string{"environments"}},
		{"wrong type", "POST", "/v1/orgs", `{"name":5}`, nil, 400, []string{"name"}},
		{"wrong nested type", "PATCH", "/v1/orgs/inv/apps/web/envs/test", `{"processes":{"web":{"instances":"two"}}}`, nil, 400, []string{"processes.instances"}},
		{"array for object", "POST", "/v1/orgs", `["inv2"]`, nil, 400, nil},
		{"malformed JSON", "POST", "/v1/orgs", `{"name":"x"`, nil, 400, nil},
		{"not JSON", "POST", "/v1/orgs", `name=x`, nil, 400, nil},
		{"two values", "POST", "/v1/orgs", `{"name":"x"}{"name":"y"}`, nil, 400, nil},
		{"empty body", "POST", "/v1/orgs", ``, nil, 400, nil},
		{"negative instances", "PATCH", "/v1/orgs/inv/apps/web/envs/test", `{"processes":{"web":{"instances":-1}}}`, nil, 400, []string{"processes.web.instances"}},
		{"bad service kind", "PATCH", "/v1/orgs/inv/apps/web/envs/test", `{"services":[{"name":"db","kind":"mysql"}]}`, nil, 400, []string{"services[0].kind"}},
		{"bad role", "PUT", "/v1/orgs/inv/members/inv-owner", `{"role":"god"}`, nil, 400, []string{"role"}},
		{"bad cloudspace", "POST", "/v1/cloudspaces", `{"name":"x","vendor":"ibm","location":"","tenancy":"shared","region":"R","ingress_domain":"-.x","registry":"x:99999"}`, nil, 400, []string{"vendor", "location", "tenancy", "region", "ingress_domain", "registry"}},
		{"bad plan", "POST", "/v1/plans", `{"name":"p","limits":{"environments":1}}`, nil, 400, []string{"limits.environments", "limits.instances_per_process", "limits.memory_mb_per_instance"}},
		{"oversized body", "PUT", "/v1/orgs/inv/apps/web/envs/test/vars/BIG", huge, nil, 413, nil},
		{"value over 32 KiB", "PUT", "/v1/orgs/inv/apps/web/envs/test/vars/BIG", `{"value":"` + strings.Repeat("x", 33<<10) + `"}`, nil, 400, []string{"value"}},
		{"wrong content type", "POST", "/v1/orgs", `{"name":"x"}`, []string{"Content-Type", "text/plain"}, 415, nil},
		{"bad If-Match", "PATCH", "/v1/orgs/inv", `{"display_name":"x"}`, []string{"If-Match", "yesterday"}, 400, []string{"If-Match"}},
		{"stale If-Match", "PATCH", "/v1/orgs/inv", `{"display_name":"x"}`, []string{"If-Match", `"1"`}, 409, nil},
		{"name that cannot exist in a path", "GET", "/v1/orgs/Not_A_Label", "", nil, 404, nil},
	}
	before := s.kvTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.admin.do(t, tt.status, tt.method, tt.path, tt.body, tt.headers...)
			p := r.json(t)
			if p["request_id"] == "" || p["detail"] == "" {
				t.Errorf("problem lacks request id or detail: %s", r.Body)
			}
			if tt.fields != nil {
				if got := fieldNames(t, r); !slices.Equal(got, tt.fields) {
					t.Errorf("fields = %v, want %v: %s", got, tt.fields, r.Body)
				}
			}
		})
	}
	after := s.kvTree(t)
	if len(before) != len(after) {
		t.Errorf("invalid requests changed the number of keys from %d to %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("invalid requests changed %s", k)
		}
	}
}
