package api_test

import (
	"testing"

	consulapi "github.com/hashicorp/consul/api"
)

// TestEntitlements holds applications to what platform administrators entitle their
// organisation to: a plan that is not public and a dedicated cloudspace are refused
// (403, naming what is missing) until granted, to that organisation only; an
// organisation's owner cannot grant them; a plan stored before plans could be
// restricted stays public.
func TestEntitlements(t *testing.T) {
	s := newStack(t)
	victim := s.person(t, "ent-victim")
	hostile := s.person(t, "ent-hostile")
	victim.do(t, 201, "POST", "/v1/orgs", `{"name":"ent-v"}`)
	hostile.do(t, 201, "POST", "/v1/orgs", `{"name":"ent-h"}`)
	s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"gold","public":false,"limits":{"environments":5,"instances_per_process":5,"memory_mb_per_instance":1024,"service_instances":2}}`)
	s.admin.do(t, 201, "POST", "/v1/cloudspaces", `{"name":"ded","vendor":"on-premises","location":"Lab","tenancy":"dedicated","region":"local","node_pool":"victim","ingress_domain":"ded.local.test","registry":"127.0.0.1:15000"}`)

	for _, c := range []struct {
		who  client
		org  string
		body string
	}{
		{victim, "ent-v", `{"name":"a","cloudspace":"local","plan":"gold"}`},
		{victim, "ent-v", `{"name":"a","cloudspace":"ded","plan":"small"}`},
	} {
		if r := c.who.do(t, 403, "POST", "/v1/orgs/"+c.org+"/apps", c.body); problemCode(t, r) != "forbidden" {
			t.Errorf("%s: %s", c.body, r.Body)
		}
	}
	// An organisation's owner cannot entitle it.
	victim.do(t, 403, "PUT", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	victim.do(t, 403, "PUT", "/v1/orgs/ent-v/entitlements/cloudspaces/ded", "")
	s.admin.do(t, 404, "PUT", "/v1/orgs/ent-v/entitlements/plans/nope", "")
	s.admin.do(t, 200, "PUT", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	s.admin.do(t, 200, "PUT", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	s.admin.do(t, 200, "PUT", "/v1/orgs/ent-v/entitlements/cloudspaces/ded", "")
	victim.do(t, 201, "POST", "/v1/orgs/ent-v/apps", `{"name":"a","cloudspace":"ded","plan":"gold"}`)
	victim.do(t, 201, "POST", "/v1/orgs/ent-v/apps", `{"name":"b","cloudspace":"local","plan":"small"}`)
	victim.do(t, 200, "PATCH", "/v1/orgs/ent-v/apps/b", `{"plan":"gold"}`)
	if got := victim.do(t, 200, "GET", "/v1/orgs/ent-v/entitlements", "").items(t); len(got) != 2 {
		t.Errorf("entitlements of ent-v = %v", got)
	}

	// The hostile organisation gets neither, and cannot read the victim's.
	hostile.do(t, 403, "POST", "/v1/orgs/ent-h/apps", `{"name":"a","cloudspace":"ded","plan":"small"}`)
	hostile.do(t, 403, "POST", "/v1/orgs/ent-h/apps", `{"name":"a","cloudspace":"local","plan":"gold"}`)
	hostile.do(t, 201, "POST", "/v1/orgs/ent-h/apps", `{"name":"a","cloudspace":"local","plan":"small"}`)
	hostile.do(t, 403, "PATCH", "/v1/orgs/ent-h/apps/a", `{"plan":"gold"}`)
	hostile.do(t, 404, "GET", "/v1/orgs/ent-v/entitlements", "")
	hostile.do(t, 403, "DELETE", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	if got := hostile.do(t, 200, "GET", "/v1/orgs/ent-h/entitlements", "").items(t); len(got) != 0 {
		t.Errorf("entitlements of ent-h = %v", got)
	}

	// Revoked: what runs stays, a new choice is refused again.
	s.admin.do(t, 204, "DELETE", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	s.admin.do(t, 404, "DELETE", "/v1/orgs/ent-v/entitlements/plans/gold", "")
	victim.do(t, 200, "GET", "/v1/orgs/ent-v/apps/a", "")
	victim.do(t, 403, "POST", "/v1/orgs/ent-v/apps", `{"name":"c","cloudspace":"local","plan":"gold"}`)
	// Making the plan public opens it to everyone.
	s.admin.do(t, 200, "PATCH", "/v1/plans/gold", `{"public":true}`)
	hostile.do(t, 200, "PATCH", "/v1/orgs/ent-h/apps/a", `{"plan":"gold"}`)

	// A plan stored before plans had "public" (or the newer limits) is public, with
	// the default limits.
	old := `{"schema":1,"data":{"name":"old","limits":{"environments":3,"instances_per_process":2,"memory_mb_per_instance":512,"service_instances":1},"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z"}}`
	if _, err := s.consul.KV().Put(&consulapi.KVPair{Key: "wharf/plans/old", Value: []byte(old)}, nil); err != nil {
		t.Fatal(err)
	}
	got := hostile.do(t, 200, "GET", "/v1/plans/old", "").json(t)
	limits, _ := got["limits"].(map[string]any)
	if got["public"] != true || limits["custom_domains"] != 20.0 || limits["upload_mb"] != 256.0 {
		t.Errorf("a plan from before = %v", got)
	}
	hostile.do(t, 201, "POST", "/v1/orgs/ent-h/apps", `{"name":"b","cloudspace":"local","plan":"old"}`)

	// An organisation deleted and made again under its name is entitled afresh.
	s.admin.do(t, 200, "PUT", "/v1/orgs/ent-h/entitlements/cloudspaces/ded", "")
	hostile.do(t, 204, "DELETE", "/v1/orgs/ent-h/apps/a", "")
	hostile.do(t, 204, "DELETE", "/v1/orgs/ent-h/apps/b", "")
	hostile.do(t, 204, "DELETE", "/v1/orgs/ent-h", "")
	victim.do(t, 201, "POST", "/v1/orgs", `{"name":"ent-h"}`)
	if got := victim.do(t, 200, "GET", "/v1/orgs/ent-h/entitlements", "").items(t); len(got) != 0 {
		t.Errorf("a new ent-h inherited %v", got)
	}
}
