package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// LimitExceeded is the code of a request that a plan's limits refuse.
const LimitExceeded Code = "limit_exceeded"

// Service is the control plane's model: every change to organisations, people, tokens,
// applications, environments, variables, cloudspaces and plans goes through it. It
// checks the caller's role and the plan's limits, validates input, writes each change
// and its audit event in one transaction, and keeps secret values in the secret store
// only. It holds no state: several may share a store.
type Service struct {
	KV      KV
	Secrets SecretStore
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// Principal is the authenticated caller of a request.
type Principal struct {
	Person string
	Admin  bool
	Token  string // the token's id
	// ExpiresAt is when the caller's token expires; nil when it does not.
	ExpiresAt *time.Time
}

// Action is a kind of thing a caller does in an organisation; each needs a least role.
type Action int

// The kinds of action, and the least role each needs.
const (
	ActRead      Action = iota // viewer: read anything
	ActConfigure               // developer: change applications, environments, variables
	ActManage                  // admin: create and delete applications, manage people's access
	ActOwn                     // owner: change or delete the organisation, grant ownership
)

var leastRole = map[Action]Role{ActRead: RoleViewer, ActConfigure: RoleDeveloper, ActManage: RoleAdmin, ActOwn: RoleOwner}

var actionText = map[Action]string{ActRead: "read", ActConfigure: "change configuration", ActManage: "manage applications and access", ActOwn: "change the organisation itself"}

// Keys of the store. Every list is a flat prefix, so listing one never reads another's
// records.
func orgKey(org string) string                 { return "orgs/" + org }
func memberPrefix(org string) string           { return "members/" + org + "/" }
func memberKey(org, person string) string      { return memberPrefix(org) + person }
func membershipPrefix(person string) string    { return "memberships/" + person + "/" }
func membershipKey(person, org string) string  { return membershipPrefix(person) + org }
func appPrefix(org string) string              { return "apps/" + org + "/" }
func appKey(org, app string) string            { return appPrefix(org) + app }
func collabPrefix(org, app string) string      { return "collaborators/" + org + "/" + app + "/" }
func collabKey(org, app, person string) string { return collabPrefix(org, app) + person }
func collaborationPrefix(person string) string { return "collaborations/" + person + "/" }
func collaborationKey(person, org, app string) string {
	return collaborationPrefix(person) + org + "/" + app
}
func envPrefix(org, app string) string             { return "envs/" + org + "/" + app + "/" }
func envKey(org, app, env string) string           { return envPrefix(org, app) + env }
func varPrefix(org, app, env string) string        { return "vars/" + org + "/" + app + "/" + env + "/" }
func varKey(org, app, env, name string) string     { return varPrefix(org, app, env) + name }
func secretPath(org, app, env, name string) string { return Ref(org, app, env).SecretPath(name) }
func auditPrefix(org string) string                { return "audit/" + org + "/" }
func personKey(id string) string                   { return "people/" + id }
func tokenKey(hash string) string                  { return "tokens/" + hash }
func personTokenPrefix(person string) string       { return "person-tokens/" + person + "/" }
func personTokenKey(person, id string) string      { return personTokenPrefix(person) + id }
func cloudspaceKey(name string) string             { return "cloudspaces/" + name }
func planKey(name string) string                   { return "plans/" + name }

const bootstrapKey = "bootstrap"

// authorize returns nil when p may do act in org (on app, when app is not empty). A
// caller who is neither a member of org nor a collaborator on app learns only that it
// was not found, whether or not it exists: existence does not leak across
// organisations. It returns not_found or forbidden.
func (s *Service) authorize(ctx context.Context, p Principal, org, app string, act Action) error {
	notFound := Errorf(NotFound, "organisation %q not found", org)
	if app != "" {
		notFound = Errorf(NotFound, "application %q not found in organisation %q", app, org)
	}
	if p.Admin {
		ok, err := exists(ctx, s.KV, orgKey(org))
		if err != nil {
			return err
		}
		if !ok {
			return notFound
		}
		return nil
	}
	var role Role
	m, err := load[Member](ctx, s.KV, memberKey(org, p.Person), "member")
	switch ErrorCode(err) {
	case "":
		role = m.Role
	case NotFound:
	default:
		return err
	}
	// A collaborator's role on app matters only when the membership is not enough.
	if app != "" && role.rank() < leastRole[act].rank() {
		c, err := load[Collaborator](ctx, s.KV, collabKey(org, app, p.Person), "collaborator")
		switch ErrorCode(err) {
		case "":
			if c.Role.rank() > role.rank() {
				role = c.Role
			}
		case NotFound:
		default:
			return err
		}
	}
	if role == "" {
		return notFound
	}
	if role.rank() < leastRole[act].rank() {
		return Errorf(Forbidden, "the %s role may not %s", role, actionText[act])
	}
	return nil
}

// requireAdmin returns forbidden unless p is a platform operator.
func requireAdmin(p Principal, what string) error {
	if !p.Admin {
		return Errorf(Forbidden, "only a platform administrator may %s", what)
	}
	return nil
}

// audit adds the event of a change to t.
func (s *Service) audit(t *txn, p Principal, org, action, target string) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	now := s.now()
	id := fmt.Sprintf("%020d-%s", now.UnixNano(), hex.EncodeToString(b[:]))
	t.create(auditPrefix(org)+id, encode(AuditEvent{
		ID: id, Org: org, At: now, Actor: p.Person, Action: action, Target: target,
		Meta: Meta{CreatedAt: now, UpdatedAt: now},
	}))
}

// commit runs t, translating a failed check into a conflict that says what raced.
func (s *Service) commit(ctx context.Context, t *txn, what string) error {
	err := s.KV.Txn(ctx, t.ops)
	if ErrorCode(err) == Conflict {
		return Wrap(Conflict, err, what+" was changed by another request; read it again and retry")
	}
	return err
}

// casIndex is the index an update must match: the caller's If-Match when given, the
// index read otherwise.
func casIndex(read, ifMatch uint64) uint64 {
	if ifMatch != 0 {
		return ifMatch
	}
	return read
}

func stamp(m *Meta, now time.Time) {
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	m.UpdatedAt = now
}

// ListPlatformAudit returns a page of the audit log of changes to people, tokens,
// cloudspaces and plans, oldest first. Only an administrator may read it.
func (s *Service) ListPlatformAudit(ctx context.Context, p Principal, pr PageRequest) (Page[AuditEvent], error) {
	if err := requireAdmin(p, "read the platform's audit log"); err != nil {
		return Page[AuditEvent]{}, err
	}
	return loadPage[AuditEvent](ctx, s.KV, auditPrefix(""), pr)
}

// ListAudit returns a page of org's audit log, oldest first. It needs the admin role.
func (s *Service) ListAudit(ctx context.Context, p Principal, org string, pr PageRequest) (Page[AuditEvent], error) {
	if err := s.authorize(ctx, p, org, "", ActManage); err != nil {
		return Page[AuditEvent]{}, err
	}
	return loadPage[AuditEvent](ctx, s.KV, auditPrefix(org), pr)
}
