package platform

import (
	"context"
	"encoding/json"
	"strings"
)

// Defaults of the limits plans made before them did not state.
const (
	DefaultCustomDomains = 20
	DefaultUploadMB      = 256
	MaxUploadMB          = 1024
)

// UnmarshalJSON reads limits, giving the ones the JSON leaves out their defaults.
func (l *Limits) UnmarshalJSON(b []byte) error {
	type plain Limits
	v := plain{CustomDomains: DefaultCustomDomains, UploadMB: DefaultUploadMB}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*l = Limits(v)
	return nil
}

// UnmarshalJSON reads a plan; one that does not say whether it is public is.
func (pl *Plan) UnmarshalJSON(b []byte) error {
	type plain Plan
	v := plain{Public: true, Limits: Limits{CustomDomains: DefaultCustomDomains, UploadMB: DefaultUploadMB}}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*pl = Plan(v)
	return nil
}

// The kinds of entitlement.
const (
	EntitlePlan       = "plan"       // the organisation may choose a plan that is not public
	EntitleCloudspace = "cloudspace" // the organisation may use a dedicated cloudspace
)

// Entitlement lets one organisation choose a plan that is not public, or place
// applications in a dedicated cloudspace (binding the cloudspace to it). Only platform
// administrators grant and revoke them. Revoking one leaves the applications already
// there running; their next change of plan is checked again.
type Entitlement struct {
	Org  string `json:"org"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	Meta
}

func entitlementPrefix(org string) string { return "entitlements/" + org + "/" }
func entitlementKey(org, kind, name string) string {
	return entitlementPrefix(org) + kind + "s/" + name
}

func checkEntitlementKind(kind string) error {
	if kind != EntitlePlan && kind != EntitleCloudspace {
		return Errorf(NotFound, "there are no entitlements of kind %q; plan or cloudspace", kind)
	}
	return nil
}

// ListEntitlements returns what org is entitled to beyond public plans and cloudspaces,
// by kind and name. Its members (and administrators) may read it.
func (s *Service) ListEntitlements(ctx context.Context, p Principal, org string) ([]Entitlement, error) {
	if err := s.authorize(ctx, p, org, "", ActRead); err != nil {
		return nil, err
	}
	recs, err := s.KV.List(ctx, entitlementPrefix(org))
	if err != nil {
		return nil, err
	}
	out := make([]Entitlement, 0, len(recs))
	for _, r := range recs {
		e, err := decode[Entitlement](r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// GrantEntitlement entitles org to the plan or cloudspace name; granting again changes
// nothing. Only an administrator may. It returns forbidden, not_found or conflict.
func (s *Service) GrantEntitlement(ctx context.Context, p Principal, org, kind, name string) (Entitlement, error) {
	if err := requireAdmin(p, "grant plans and cloudspaces"); err != nil {
		return Entitlement{}, err
	}
	if err := checkEntitlementKind(kind); err != nil {
		return Entitlement{}, err
	}
	o, err := load[Organisation](ctx, s.KV, orgKey(org), "organisation "+org)
	if err != nil {
		return Entitlement{}, err
	}
	target := planKey(name)
	if kind == EntitleCloudspace {
		target = cloudspaceKey(name)
	}
	r, err := s.KV.Get(ctx, target)
	if ErrorCode(err) == NotFound {
		return Entitlement{}, Errorf(NotFound, "%s %q not found", kind, name)
	} else if err != nil {
		return Entitlement{}, err
	}
	key := entitlementKey(org, kind, name)
	if e, err := load[Entitlement](ctx, s.KV, key, "entitlement"); err == nil {
		return e, nil
	} else if ErrorCode(err) != NotFound {
		return Entitlement{}, err
	}
	e := Entitlement{Org: org, Kind: kind, Name: name}
	stamp(&e.Meta, s.now())
	var t txn
	t.create(key, encode(e))
	t.check(orgKey(org), o.Index)
	t.check(target, r.Index)
	s.audit(&t, p, org, "entitlement.grant", key)
	if err := s.commit(ctx, &t, "entitlement"); err != nil {
		return Entitlement{}, err
	}
	return load[Entitlement](ctx, s.KV, key, "entitlement")
}

// RevokeEntitlement takes org's entitlement to the plan or cloudspace name away. Only an
// administrator may. It returns forbidden or not_found.
func (s *Service) RevokeEntitlement(ctx context.Context, p Principal, org, kind, name string) error {
	if err := requireAdmin(p, "revoke plans and cloudspaces"); err != nil {
		return err
	}
	if err := checkEntitlementKind(kind); err != nil {
		return err
	}
	key := entitlementKey(org, kind, name)
	e, err := load[Entitlement](ctx, s.KV, key, "entitlement of "+org+" to "+kind+" "+name)
	if err != nil {
		return err
	}
	var t txn
	t.delete(key, e.Index)
	s.audit(&t, p, org, "entitlement.revoke", key)
	return s.commit(ctx, &t, "entitlement")
}

// entitled adds to t the checks that org may choose plan and place applications in cs
// (either may be nil when not being chosen), so that a revocation racing the change
// makes it fail. It returns forbidden, naming what is missing and who can grant it.
func (s *Service) entitled(ctx context.Context, t *txn, org string, plan *Plan, cs *Cloudspace) error {
	need := func(kind, name, why string) error {
		e, err := load[Entitlement](ctx, s.KV, entitlementKey(org, kind, name), "entitlement")
		switch ErrorCode(err) {
		case "":
			t.check(entitlementKey(org, kind, name), e.Index)
			return nil
		case NotFound:
			return Errorf(Forbidden, "organisation %q may not use %s %q: %s; a platform administrator grants it", org, kind, name, why)
		}
		return err
	}
	if plan != nil && !plan.Public {
		if err := need(EntitlePlan, plan.Name, "the plan is not public"); err != nil {
			return err
		}
	}
	if cs != nil && cs.Tenancy == "dedicated" {
		if err := need(EntitleCloudspace, cs.Name, "the cloudspace is dedicated to other organisations"); err != nil {
			return err
		}
	}
	return nil
}

// revokeAll removes every organisation's entitlement to the plan or cloudspace name,
// once it is deleted, so that one made later under the same name is granted afresh.
func (s *Service) revokeAll(ctx context.Context, kind, name string) error {
	recs, err := s.KV.List(ctx, "entitlements/")
	if err != nil {
		return err
	}
	var t txn
	for _, r := range recs {
		if strings.HasSuffix(r.Key, "/"+kind+"s/"+name) {
			t.delete(r.Key, r.Index)
		}
		if len(t.ops) == 60 {
			if err := s.KV.Txn(ctx, t.ops); err != nil {
				return err
			}
			t.ops = nil
		}
	}
	if len(t.ops) == 0 {
		return nil
	}
	return s.KV.Txn(ctx, t.ops)
}

// UploadLimit authorises p to build app (the developer role) and returns the largest
// source upload the application's plan takes, in bytes: the edge asks before it reads
// a byte of an upload. It returns not_found or forbidden.
func (d *Deployer) UploadLimit(ctx context.Context, p Principal, org, app string) (int64, error) {
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return 0, err
	}
	_, plan, err := d.appAndPlan(ctx, org, app)
	if err != nil {
		return 0, err
	}
	return int64(plan.Limits.UploadMB) << 20, nil
}
