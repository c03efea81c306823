package platform

import (
	"context"
	"net"
	"sort"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// Domain is a custom domain of an environment. One of an environment's names is its
// primary: requests for the others are redirected to it. A domain belongs to one
// environment in the whole platform.
type Domain struct {
	Org     string `json:"org"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Name    string `json:"name"`
	Primary bool   `json:"primary"`
	Meta
}

// Routing is how the ingress treats an environment beyond its names: whether plain HTTP
// is redirected to HTTPS, and the basic-auth protection of a non-live environment (its
// password kept only as a bcrypt hash, never returned).
type Routing struct {
	Org           string `json:"org"`
	App           string `json:"app"`
	Env           string `json:"env"`
	HTTPSRedirect bool   `json:"https_redirect"`
	// ProtectionUser is the basic-auth user name; empty when unprotected.
	ProtectionUser string `json:"protection_user,omitempty"`
	ProtectionHash string `json:"-"`
	Meta
}

// routingRecord is Routing as stored, hash included.
type routingRecord struct {
	Routing
	Hash string `json:"protection_hash,omitempty"`
}

// RoutingInput changes an environment's routing; nil fields are left alone. An empty
// ProtectionUser removes the protection.
type RoutingInput struct {
	HTTPSRedirect      *bool
	ProtectionUser     *string
	ProtectionPassword *Secret
}

// RouteSpec is everything the ingress needs of an environment: its names, its primary
// name, and its routing.
type RouteSpec struct {
	Hosts          []string
	Primary        string
	HTTPSRedirect  bool
	ProtectionUser string
	ProtectionHash string
}

func domainPrefix(org, app, env string) string { return "domains/" + org + "/" + app + "/" + env + "/" }
func domainKey(org, app, env, name string) string {
	return domainPrefix(org, app, env) + name
}
func domainClaimKey(name string) string      { return "domain-claims/" + name }
func routingKey(org, app, env string) string { return "routing/" + org + "/" + app + "/" + env }
func (d Domain) claim() deployLock           { return deployLock{Deploy: d.Org + "/" + d.App + "/" + d.Env} }
func bcryptHash(s Secret) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(s.Reveal()), 12)
	return string(h), err
}

// CheckDomainName reports why s is not a lower-case DNS name a domain may have, or "".
func CheckDomainName(s string) string {
	if s == "" || len(s) > 253 || net.ParseIP(s) != nil || !strings.Contains(s, ".") || strings.HasSuffix(s, ".") {
		return "must be a lower-case DNS name with at least two labels"
	}
	for _, label := range strings.Split(s, ".") {
		if msg := CheckName(label); msg != "" {
			return "has a label that " + msg
		}
	}
	return ""
}

// ListDomains returns the environment's custom domains, by name.
func (d *Deployer) ListDomains(ctx context.Context, p Principal, ref EnvRef) ([]Domain, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return nil, err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return nil, err
	}
	return loadAll[Domain](ctx, d.KV, domainPrefix(org, app, env))
}

// PutDomain adds a custom domain to the environment (or changes whether it is primary;
// making one primary makes the others not). A domain another environment has is a
// conflict. The route changes at once when the environment runs. It needs the developer
// role.
func (d *Deployer) PutDomain(ctx context.Context, p Principal, ref EnvRef, name string, primary bool) (Domain, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Domain{}, err
	}
	var fe FieldErrors
	fe.Check("name", CheckDomainName(name))
	if err := fe.Err(); err != nil {
		return Domain{}, err
	}
	e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment")
	if err != nil {
		return Domain{}, err
	}
	if err := d.checkCustomDomain(ctx, Ref(org, app, env), name); err != nil {
		return Domain{}, err
	}
	current, err := loadAll[Domain](ctx, d.KV, domainPrefix(org, app, env))
	if err != nil {
		return Domain{}, err
	}
	dom := Domain{Org: org, App: app, Env: env, Name: name, Primary: primary}
	t := &txn{}
	found := false
	for _, c := range current {
		switch {
		case c.Name == name:
			found = true
			dom.Meta = c.Meta
			stamp(&dom.Meta, d.now())
			t.update(domainKey(org, app, env, name), encode(dom), c.Index)
		case primary && c.Primary:
			c.Primary = false
			stamp(&c.Meta, d.now())
			t.update(domainKey(org, app, env, c.Name), encode(c), c.Index)
		}
	}
	if found {
		t.check(envKey(org, app, env), e.Index)
	} else {
		// Each domain may order a certificate: the plan limits how many there are.
		_, plan, err := d.appAndPlan(ctx, org, app)
		if err != nil {
			return Domain{}, err
		}
		if len(current) >= plan.Limits.CustomDomains {
			return Domain{}, Errorf(LimitExceeded, "environment %q has %d custom domains, as many as plan %q allows", env, len(current), plan.Name)
		}
		t.check(planKey(plan.Name), plan.Index)
		// The environment's record is rewritten at the index it was read, not merely
		// checked: two domains added at once each saw room for one more, and a check
		// alone lets both through; the rewrite makes the second meet a conflict.
		e.UpdatedAt = d.now()
		t.update(envKey(org, app, env), encode(e), e.Index)
		// The claim is created with check-and-set (index 0) in the same transaction as
		// the domain: of two environments adding one name, the second meets a conflict.
		if _, err := load[deployLock](ctx, d.KV, domainClaimKey(name), "domain"); err == nil {
			return Domain{}, Errorf(Conflict, "domain %s belongs to another environment", name)
		} else if ErrorCode(err) != NotFound {
			return Domain{}, err
		}
		stamp(&dom.Meta, d.now())
		t.create(domainKey(org, app, env, name), encode(dom))
		t.create(domainClaimKey(name), encode(dom.claim()))
	}
	d.audit(t, p, org, "domain.put", app+"/"+env+" "+name)
	if err := d.commit(ctx, t, "domain "+name); err != nil {
		return Domain{}, err
	}
	if err := d.republish(ctx, org, app, env); err != nil {
		return Domain{}, err
	}
	return load[Domain](ctx, d.KV, domainKey(org, app, env, name), "domain "+name)
}

// checkCustomDomain refuses (invalid) a custom domain at or under any cloudspace's
// ingress domain, where Wharf generates hosts (EnvRef.Host), unless it is the
// environment's own generated host: no tenant can take another's generated host, or one
// an environment made later would get.
func (d *Deployer) checkCustomDomain(ctx context.Context, ref EnvRef, name string) error {
	t, err := d.target(ctx, ref.Org, ref.App, ref.Env)
	if err != nil {
		return err
	}
	if name == t.DefaultDomain() {
		return nil
	}
	css, err := loadAll[Cloudspace](ctx, d.KV, cloudspaceKey(""))
	if err != nil {
		return err
	}
	for _, cs := range css {
		if dom := cs.IngressDomain; dom != "" && (name == dom || strings.HasSuffix(name, "."+dom)) {
			var fe FieldErrors
			fe.Add("name", "is under %s, the ingress domain of cloudspace %s, where Wharf generates hosts; of those only the environment's own, %s, may be added",
				dom, cs.Name, t.DefaultDomain())
			return fe.Err()
		}
	}
	return nil
}

// DeleteDomain removes a custom domain from the environment. It needs the developer
// role.
func (d *Deployer) DeleteDomain(ctx context.Context, p Principal, ref EnvRef, name string) error {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return err
	}
	dom, err := load[Domain](ctx, d.KV, domainKey(org, app, env, name), "domain "+name)
	if err != nil {
		return err
	}
	claim, err := load[deployLock](ctx, d.KV, domainClaimKey(name), "domain")
	if err != nil {
		return err
	}
	t := &txn{}
	t.delete(domainKey(org, app, env, name), dom.Index)
	t.delete(domainClaimKey(name), claim.Index)
	d.audit(t, p, org, "domain.delete", app+"/"+env+" "+name)
	if err := d.commit(ctx, t, "domain "+name); err != nil {
		return err
	}
	return d.republish(ctx, org, app, env)
}

// GetRouting returns the environment's routing.
func (d *Deployer) GetRouting(ctx context.Context, p Principal, ref EnvRef) (Routing, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Routing{}, err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return Routing{}, err
	}
	r, err := d.routing(ctx, org, app, env)
	return r.Routing, err
}

func (d *Deployer) routing(ctx context.Context, org, app, env string) (routingRecord, error) {
	r, err := load[routingRecord](ctx, d.KV, routingKey(org, app, env), "routing")
	if ErrorCode(err) == NotFound {
		return routingRecord{Routing: Routing{Org: org, App: app, Env: env}}, nil
	}
	r.ProtectionHash = r.Hash
	return r, err
}

// SetRouting changes the environment's HTTPS redirect and basic-auth protection. Only
// non-live environments can be protected. It needs the developer role.
func (d *Deployer) SetRouting(ctx context.Context, p Principal, ref EnvRef, in RoutingInput, ifMatch uint64) (Routing, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Routing{}, err
	}
	e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment")
	if err != nil {
		return Routing{}, err
	}
	cur, err := d.routing(ctx, org, app, env)
	if err != nil {
		return Routing{}, err
	}
	next := cur
	var fe FieldErrors
	if in.HTTPSRedirect != nil {
		next.HTTPSRedirect = *in.HTTPSRedirect
	}
	if in.ProtectionUser != nil {
		switch user := *in.ProtectionUser; {
		case user == "":
			next.ProtectionUser, next.Hash = "", ""
		case env == EnvLive:
			fe.Add("protection_user", "the live environment is public; protect test or custom environments")
		case len(user) > 64 || strings.ContainsAny(user, ": \t\r\n"):
			fe.Add("protection_user", "must be at most 64 characters, without colons or spaces")
		case in.ProtectionPassword == nil || len(in.ProtectionPassword.Reveal()) < 8 || len(in.ProtectionPassword.Reveal()) > 72:
			fe.Add("protection_password", "must be 8 to 72 bytes")
		default:
			hash, err := bcryptHash(*in.ProtectionPassword)
			if err != nil {
				return Routing{}, Wrap(Internal, err, "hash the password")
			}
			next.ProtectionUser, next.Hash = user, hash
		}
	} else if in.ProtectionPassword != nil {
		fe.Add("protection_user", "is required with a password")
	}
	if err := fe.Err(); err != nil {
		return Routing{}, err
	}
	stamp(&next.Meta, d.now())
	t := &txn{}
	t.check(envKey(org, app, env), e.Index)
	if cur.Index == 0 {
		t.create(routingKey(org, app, env), encode(next))
	} else {
		t.update(routingKey(org, app, env), encode(next), casIndex(cur.Index, ifMatch))
	}
	d.audit(t, p, org, "routing.update", app+"/"+env)
	if err := d.commit(ctx, t, "the routing"); err != nil {
		return Routing{}, err
	}
	if err := d.republish(ctx, org, app, env); err != nil {
		return Routing{}, err
	}
	return d.GetRouting(ctx, p, Ref(org, app, env))
}

// RouteSpec returns what the ingress needs of the environment: its generated domain and
// custom domains, the primary one, and its routing.
func (d *Deployer) RouteSpec(ctx context.Context, t Target) (RouteSpec, error) {
	doms, err := loadAll[Domain](ctx, d.KV, domainPrefix(t.Org, t.App, t.Env))
	if err != nil {
		return RouteSpec{}, err
	}
	r, err := d.routing(ctx, t.Org, t.App, t.Env)
	if err != nil {
		return RouteSpec{}, err
	}
	spec := RouteSpec{Hosts: []string{t.DefaultDomain()}, Primary: t.DefaultDomain(),
		HTTPSRedirect: r.HTTPSRedirect, ProtectionUser: r.ProtectionUser, ProtectionHash: r.Hash}
	// An environment moved from legacy names keeps answering at its legacy generated
	// host, so links to it keep working. No one can claim that host: it is one label
	// under the ingress domain, where custom domains are refused and generated hosts
	// have three.
	if up, err := d.upgraded(ctx, t.EnvRef); err != nil {
		return RouteSpec{}, err
	} else if up && t.Cloudspace.IngressDomain != "" {
		spec.Hosts = append(spec.Hosts, t.LegacyHost(t.Cloudspace.IngressDomain))
	}
	sort.Slice(doms, func(i, j int) bool { return doms[i].Name < doms[j].Name })
	for _, dom := range doms {
		if dom.Name != t.DefaultDomain() { // the generated host, added to be primary
			spec.Hosts = append(spec.Hosts, dom.Name)
		}
		if dom.Primary {
			spec.Primary = dom.Name
		}
	}
	return spec, nil
}

// republish rewrites the environment's route when it is running, so a change of
// domains or routing reaches the ingress without a deploy.
func (d *Deployer) republish(ctx context.Context, org, app, env string) error {
	if d.Routes == nil {
		return nil
	}
	st, err := d.envState(ctx, org, app, env)
	if err != nil || st.Release == 0 {
		return err
	}
	t, err := d.target(ctx, org, app, env)
	if err != nil {
		return err
	}
	return d.publish(ctx, t)
}

// publish writes the environment's route.
func (d *Deployer) publish(ctx context.Context, t Target) error {
	spec, err := d.RouteSpec(ctx, t)
	if err != nil {
		return err
	}
	return d.Routes.PublishRoute(ctx, t, spec)
}
