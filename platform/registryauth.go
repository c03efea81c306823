package platform

import (
	"context"
	"slices"
	"strings"
	"time"
)

// The cloudspace's registry answers only with a bearer token that wharfd signed (the
// Docker registry's token authentication; docs/security.md "The registry"). Who asks
// for one presents a credential wharfd made: a build's (made when its job is
// submitted, handed to the builder through Vault, valid while the build runs) or a
// node's (kept 0600 on the node for its Docker engine's pulls). wharfd itself signs
// its own tokens. This file decides what each may do.

// RegistryAccess is what a registry token grants on one resource: the distribution
// token specification's "access" entry ("repository", "org/app", ["pull","push"]).
type RegistryAccess struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Credential kinds.
const (
	CredentialBuild = "build" // a build's: Org, App, Build
	CredentialNode  = "node"  // a node's: Region, Node (its Nomad name)
)

// RegistryCredential is the holder of a registry credential.
type RegistryCredential struct {
	Kind   string `json:"kind"`
	Org    string `json:"org,omitempty"`
	App    string `json:"app,omitempty"`
	Build  string `json:"build,omitempty"`
	Region string `json:"region,omitempty"`
	Node   string `json:"node,omitempty"`
}

// Subject names the holder in tokens and logs: "build:<org>/<app>/<build>",
// "node:<region>/<node>".
func (c RegistryCredential) Subject() string {
	if c.Kind == CredentialBuild {
		return c.Kind + ":" + c.Org + "/" + c.App + "/" + c.Build
	}
	return c.Kind + ":" + c.Region + "/" + c.Node
}

// RegistryIssuer signs registry tokens and credentials, and verifies credentials
// (platform/registry.Issuer).
type RegistryIssuer interface {
	// Credential makes a credential for holder, valid for ttl.
	Credential(holder RegistryCredential, ttl time.Duration) (Secret, error)
	// Verify returns a credential's holder. Errors: unauthorized.
	Verify(credential string) (RegistryCredential, error)
	// Token signs a registry token granting access to account, valid for ttl.
	Token(account string, access []RegistryAccess, ttl time.Duration) (string, error)
	// Service is the registry's service name.
	Service() string
}

// NodeImages tells which images a node is about to run or runs (platform/nomad).
type NodeImages interface {
	// NodeImages returns the images of the allocations on the node named node in
	// region that are to run and are pending or running. Errors: not_found (no such
	// node), unavailable.
	NodeImages(ctx context.Context, region, node string) ([]string, error)
}

// BuildCredentials hands a build's registry credential to its job through Vault
// (platform/vault), never through the job's specification.
type BuildCredentials interface {
	// PutBuildCredential stores the credential where only the build's policy reads it
	// and returns that policy and the path (KV v2, below the mount).
	// Errors: unavailable.
	PutBuildCredential(ctx context.Context, a AppRef, build string, credential Secret) (policy, path string, err error)
	// DeleteBuildCredential removes the credential and its policy; nothing there is no
	// error. Errors: unavailable.
	DeleteBuildCredential(ctx context.Context, a AppRef, build string) error
}

// CacheScopes gives each organisation a secret scope for the builders' layer cache
// (platform/registry.Issuer, from wharfd's key): a RUN step reuses only layers built
// with its organisation's scope, and no tenant can name another's.
type CacheScopes interface {
	CacheScope(org string) string
}

// RegistryTokenTTL is how long a registry token is valid.
const RegistryTokenTTL = 5 * time.Minute

// RegistryToken is a signed token and its lifetime, as the token endpoint answers.
type RegistryToken struct {
	Token     string    `json:"token"`
	ExpiresIn int       `json:"expires_in"`
	IssuedAt  time.Time `json:"issued_at"`
}

// ParseRegistryScope reads a scope ("repository:acme/shop:pull,push",
// "registry:catalog:*"). Errors: invalid.
func ParseRegistryScope(scope string) (RegistryAccess, error) {
	typ, rest, ok1 := strings.Cut(scope, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok1 || i <= 0 || typ == "" {
		return RegistryAccess{}, Errorf(Invalid, "scope %q is not type:name:actions", scope)
	}
	a := RegistryAccess{Type: typ, Name: rest[:i]}
	for _, act := range strings.Split(rest[i+1:], ",") {
		if act != "" && !slices.Contains(a.Actions, act) {
			a.Actions = append(a.Actions, act)
		}
	}
	return a, nil
}

// RegistryToken answers the registry's token endpoint: it verifies the credential
// (the password; the user name must be its kind), grants of the scopes asked for what
// the holder may do (RegistryGrants; nothing is an empty grant, as the token
// specification has it) and signs the token. Errors: unauthorized (no, or no longer, a
// valid credential), invalid (a scope or service that is not the registry's),
// unavailable.
func (d *Deployer) RegistryToken(ctx context.Context, user, password, service string, scopes []string) (RegistryToken, error) {
	if d.Registry == nil {
		return RegistryToken{}, Errorf(Unavailable, "the registry's token issuer is not configured")
	}
	if service != "" && service != d.Registry.Service() {
		return RegistryToken{}, Errorf(Invalid, "service %q is not this issuer's registry", service)
	}
	cred, err := d.Registry.Verify(password)
	if err != nil {
		return RegistryToken{}, err
	}
	if user != cred.Kind {
		return RegistryToken{}, Errorf(Unauthorized, "the registry credential is not valid")
	}
	var asked []RegistryAccess
	for _, s := range scopes {
		a, err := ParseRegistryScope(s)
		if err != nil {
			return RegistryToken{}, err
		}
		asked = append(asked, a)
	}
	granted, err := d.RegistryGrants(ctx, cred, asked)
	if err != nil {
		return RegistryToken{}, err
	}
	now := d.now()
	tok, err := d.Registry.Token(cred.Subject(), granted, RegistryTokenTTL)
	if err != nil {
		return RegistryToken{}, Wrap(Internal, err, "sign a registry token")
	}
	return RegistryToken{Token: tok, ExpiresIn: int(RegistryTokenTTL / time.Second), IssuedAt: now}, nil
}

// RegistryGrants decides what of asked the credential's holder may do:
//
//   - a build, while it has not ended: push and pull on its application's image
//     repository, pull on its organisation's other image repositories (its
//     Dockerfile's FROM) and on its application's sources (spec and tarball);
//   - a node: pull on an image repository of the cloudspace's registry when an
//     allocation on that node, to run and pending or running, has its image there
//     (Nomad says which), so a node pulls only what it is placing or runs.
//
// Nothing else, to anyone: no catalog, no deletes, no backups (wharfd's own tokens,
// signed without asking, do those). Errors: unauthorized (a build that has ended),
// unavailable.
func (d *Deployer) RegistryGrants(ctx context.Context, cred RegistryCredential, asked []RegistryAccess) ([]RegistryAccess, error) {
	var allow func(a RegistryAccess) []string
	switch cred.Kind {
	case CredentialBuild:
		b, err := d.getBuild(ctx, cred.Org, cred.App, cred.Build)
		if ErrorCode(err) == NotFound || err == nil && b.Done() {
			return nil, Errorf(Unauthorized, "the build's registry credential ended with the build")
		}
		if err != nil {
			return nil, err
		}
		own := AppRef{Org: cred.Org, App: cred.App}
		allow = func(a RegistryAccess) []string {
			if a.Type != "repository" {
				return nil
			}
			switch a.Name {
			case own.ImageRepo():
				return []string{"pull", "push"}
			case own.SourceRepo():
				return []string{"pull"}
			}
			if r, ok := ParseImageRepo(a.Name); ok && r.Org == cred.Org {
				return []string{"pull"}
			}
			return nil
		}
	case CredentialNode:
		if d.Nodes == nil {
			return nil, Errorf(Unavailable, "no scheduler to ask which images the node runs")
		}
		images, err := d.Nodes.NodeImages(ctx, cred.Region, cred.Node)
		if err != nil && ErrorCode(err) != NotFound { // a node Nomad does not know runs nothing
			return nil, err
		}
		host := d.registryHost()
		allow = func(a RegistryAccess) []string {
			if _, ok := ParseImageRepo(a.Name); !ok || a.Type != "repository" {
				return nil
			}
			for _, img := range images {
				if h, repo := splitImage(img); h == host && repo == a.Name {
					return []string{"pull"}
				}
			}
			return nil
		}
	default:
		return nil, Errorf(Unauthorized, "the registry credential is not valid")
	}
	granted := []RegistryAccess{}
	for _, a := range asked {
		may := allow(a)
		g := RegistryAccess{Type: a.Type, Name: a.Name}
		for _, act := range a.Actions {
			if slices.Contains(may, act) {
				g.Actions = append(g.Actions, act)
			}
		}
		if len(g.Actions) > 0 {
			granted = append(granted, g)
		}
	}
	return granted, nil
}

// buildCredentialTTL is how long past the build's time limit its credential is
// valid; the token endpoint refuses it as soon as the build has ended anyway.
const buildCredentialTTL = 10 * time.Minute

// buildCredential makes the build's registry credential and stores it for its job. It
// returns the job's part (policy and path; empty without an issuer) and a cleanup that
// removes the credential.
func (d *Deployer) buildCredential(ctx context.Context, t Target, build string) (policy, path string, cleanup func(), err error) {
	cleanup = func() {}
	if d.Registry == nil || d.BuildCredentials == nil {
		return "", "", cleanup, nil
	}
	cred, err := d.Registry.Credential(RegistryCredential{Kind: CredentialBuild, Org: t.Org, App: t.App, Build: build}, d.buildLimit()+buildCredentialTTL)
	if err != nil {
		return "", "", cleanup, Wrap(Internal, err, "sign the build's registry credential")
	}
	policy, path, err = d.BuildCredentials.PutBuildCredential(ctx, t.AppRef(), build, cred)
	cleanup = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := d.BuildCredentials.DeleteBuildCredential(cctx, t.AppRef(), build); err != nil {
			d.log().Warn("remove a build's registry credential", "build", build, "error", err)
		}
	}
	if err != nil {
		cleanup()
		return "", "", func() {}, err
	}
	return policy, path, cleanup, nil
}
