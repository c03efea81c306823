package api_test

import (
	"testing"
)

// TestExactKeys removes records of names that are prefixes of other names (org keys-a
// and keys-a-b, application shop and shopx) and checks that the other name's records
// stay: a delete by Consul prefix removed them, so a person later given the same id
// inherited a role in the other organisation or application.
func TestExactKeys(t *testing.T) {
	s := newStack(t)
	owner := s.person(t, "keys-owner")
	alex := s.person(t, "keys-alex")
	has := func(t *testing.T, key string) bool {
		t.Helper()
		_, ok := s.kvTree(t)["wharf/"+key]
		return ok
	}

	t.Run("removing a member keeps their membership of an organisation the name begins", func(t *testing.T) {
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"keys-a"}`)
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"keys-a-b"}`)
		owner.do(t, 200, "PUT", "/v1/orgs/keys-a/members/keys-alex", `{"role":"developer"}`)
		owner.do(t, 200, "PUT", "/v1/orgs/keys-a-b/members/keys-alex", `{"role":"viewer"}`)
		owner.do(t, 204, "DELETE", "/v1/orgs/keys-a/members/keys-alex", "")
		if has(t, "memberships/keys-alex/keys-a") || !has(t, "memberships/keys-alex/keys-a-b") {
			t.Errorf("memberships after removing keys-alex from keys-a: %v", s.kvTree(t))
		}
		orgs := names(alex.do(t, 200, "GET", "/v1/orgs", "").items(t))
		if len(orgs) != 1 || orgs[0] != "keys-a-b" {
			t.Errorf("keys-alex's organisations = %v, want [keys-a-b]", orgs)
		}
	})

	t.Run("deleting an organisation keeps memberships of one its name begins", func(t *testing.T) {
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"keys-o"}`)
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"keys-o2"}`)
		owner.do(t, 200, "PUT", "/v1/orgs/keys-o/members/keys-alex", `{"role":"admin"}`)
		owner.do(t, 200, "PUT", "/v1/orgs/keys-o2/members/keys-alex", `{"role":"viewer"}`)
		owner.do(t, 204, "DELETE", "/v1/orgs/keys-o", "")
		for _, key := range []string{"memberships/keys-owner/keys-o2", "memberships/keys-alex/keys-o2"} {
			if !has(t, key) {
				t.Errorf("%s went with organisation keys-o", key)
			}
		}
		alex.do(t, 200, "GET", "/v1/orgs/keys-o2", "")
	})

	t.Run("collaborators of an application whose name another begins", func(t *testing.T) {
		owner.do(t, 201, "POST", "/v1/orgs", `{"name":"keys-c"}`)
		owner.do(t, 201, "POST", "/v1/orgs/keys-c/apps", `{"name":"shop","cloudspace":"local","plan":"small"}`)
		owner.do(t, 201, "POST", "/v1/orgs/keys-c/apps", `{"name":"shopx","cloudspace":"local","plan":"small"}`)
		for _, app := range []string{"shop", "shopx"} {
			owner.do(t, 200, "PUT", "/v1/orgs/keys-c/apps/"+app+"/collaborators/keys-alex", `{"role":"developer"}`)
		}
		owner.do(t, 204, "DELETE", "/v1/orgs/keys-c/apps/shop/collaborators/keys-alex", "")
		if has(t, "collaborations/keys-alex/keys-c/shop") || !has(t, "collaborations/keys-alex/keys-c/shopx") {
			t.Errorf("collaborations after removing keys-alex from shop: %v", s.kvTree(t))
		}
		alex.do(t, 200, "GET", "/v1/orgs/keys-c/apps/shopx", "")
		alex.do(t, 404, "GET", "/v1/orgs/keys-c/apps/shop", "")

		owner.do(t, 200, "PUT", "/v1/orgs/keys-c/apps/shop/collaborators/keys-alex", `{"role":"developer"}`)
		owner.do(t, 204, "DELETE", "/v1/orgs/keys-c/apps/shop", "")
		if has(t, "collaborations/keys-alex/keys-c/shop") || !has(t, "collaborations/keys-alex/keys-c/shopx") {
			t.Errorf("collaborations after deleting shop: %v", s.kvTree(t))
		}
		alex.do(t, 200, "GET", "/v1/orgs/keys-c/apps/shopx", "")
	})
}
