package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"slices"
)

// DatabaseCluster is a cloudspace's PostgreSQL cluster, where database service instances
// live (platform/postgres). Errors: unavailable, internal.
type DatabaseCluster interface {
	// Address is the cluster's host:port, as tasks reach it.
	Address() string
	// CreateDatabase makes database db owned by owner, a role that cannot log in, and
	// lets no one else connect to it. It can be repeated.
	CreateDatabase(ctx context.Context, db, owner string) error
	// DropDatabase drops db and its owner role. It can be repeated.
	DropDatabase(ctx context.Context, db, owner string) error
}

// DatabaseCredentials issues database credentials to an environment's tasks through
// Vault's database secrets engine (platform/vault). Errors: unavailable, internal.
type DatabaseCredentials interface {
	// ConfigureDatabase makes role issue short-lived login users of db holding its
	// owner role. It can be repeated.
	ConfigureDatabase(ctx context.Context, role, db, owner string) error
	// RemoveDatabase revokes every credential role issued (dropping their users) and
	// removes the role and its connection. It can be repeated.
	RemoveDatabase(ctx context.Context, role string) error
}

// The states of a service instance. Attaching and detaching take effect with the next
// deploy: a release runs with the instances attached when it was made.
const (
	ServiceProvisioning = "provisioning" // its database or bucket is being made
	ServiceAttached     = "attached"     // the next release hands its credentials to the environment
	ServiceDetaching    = "detaching"    // the running release may still use it; the next will not
	ServiceDetached     = "detached"     // no release made since uses it; its data is kept
	// Removal drops the data and forgets the instance: a removed instance is no longer
	// listed.
)

// DefaultServicePrefix is the prefix of a service instance attached without one: a
// database's variables are DEFAULT_DATABASE_DSN and DATABASE_URL, a storage instance's
// DEFAULT_STORAGE_DSN and the AWS_* and S3_* variables.
const DefaultServicePrefix = "DEFAULT"

// EnvService is a service instance attached to an environment: a PostgreSQL database
// whose credentials its tasks receive as <Prefix>_DATABASE_DSN (and DATABASE_URL for the
// default prefix), or (kind storage) a bucket of the cloudspace's object store whose keys
// they receive as <Prefix>_STORAGE_DSN (and AWS_*, S3_* for the default prefix). It holds
// names only, never a credential.
type EnvService struct {
	Org    string `json:"org"`
	App    string `json:"app"`
	Env    string `json:"env"`
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Prefix string `json:"prefix"`
	State  string `json:"state"`
	// Database is the PostgreSQL database, owned by the role Database+"_owner".
	Database string `json:"database"`
	// CredentialsRole is the Vault database role that issues the instance's users; for a
	// storage instance, it names the instance's keys in Vault (StorageCredentialsPath).
	CredentialsRole string `json:"credentials_role"`
	// Address is the cluster's host:port.
	Address string `json:"address,omitempty"`
	// Bucket, Endpoint (URL) and Region locate a storage instance's bucket; PublicURL is
	// where its objects under StoragePublicPrefix are served to anyone.
	Bucket    string `json:"bucket,omitempty"`
	Endpoint  string `json:"endpoint,omitempty"`
	Region    string `json:"region,omitempty"`
	PublicURL string `json:"public_url,omitempty"`
	// Error says why provisioning failed, when it did.
	Error string `json:"error,omitempty"`
	Meta
}

// Owner is the role that owns the instance's database and every object in it.
func (s EnvService) Owner() string { return DatabaseOwner(s.Database) }

// ServiceInput asks to attach a new service instance.
type ServiceInput struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Prefix string `json:"prefix"`
}

// ServiceBinding is a service instance as a release uses it.
type ServiceBinding struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Prefix          string `json:"prefix"`
	Database        string `json:"database,omitempty"`
	CredentialsRole string `json:"credentials_role"`
	Address         string `json:"address,omitempty"`
	Bucket          string `json:"bucket,omitempty"`
	Endpoint        string `json:"endpoint,omitempty"`
	Region          string `json:"region,omitempty"`
	PublicURL       string `json:"public_url,omitempty"`
}

var (
	servicePrefixPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,29}$`)
	serviceNamePattern   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
)

func servicePrefix(org, app, env string) string {
	return "services/" + org + "/" + app + "/" + env + "/"
}
func serviceKey(org, app, env, name string) string {
	return servicePrefix(org, app, env) + name
}
func (s EnvService) key() string { return serviceKey(s.Org, s.App, s.Env, s.Name) }

func (d *Deployer) databases() error {
	if d.Databases == nil || d.DatabaseCreds == nil {
		return Errorf(Unavailable, "this cloudspace has no PostgreSQL cluster for database services")
	}
	return nil
}

// ListServices lists the environment's service instances.
func (d *Deployer) ListServices(ctx context.Context, p Principal, ref EnvRef, pr PageRequest) (Page[EnvService], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[EnvService]{}, err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return Page[EnvService]{}, err
	}
	return loadPage[EnvService](ctx, d.KV, servicePrefix(org, app, env), pr)
}

// GetService returns one of the environment's service instances.
func (d *Deployer) GetService(ctx context.Context, p Principal, ref EnvRef, name string) (EnvService, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return EnvService{}, err
	}
	return load[EnvService](ctx, d.KV, serviceKey(org, app, env, name), "service instance "+name)
}

// AttachService provisions a new service instance and attaches it to the environment
// under its prefix: a PostgreSQL database (a database and its owner role, and a Vault
// role issuing users of it), or a storage bucket (an object store account reaching only
// that bucket, its keys kept in Vault). The next deploy hands its credentials to the
// environment's tasks. It needs the developer role, and the plan's limit on service
// instances (of both kinds together) holds under concurrent requests. Errors: invalid,
// not_found, conflict, forbidden, limit_exceeded, unavailable.
func (d *Deployer) AttachService(ctx context.Context, p Principal, ref EnvRef, in ServiceInput) (EnvService, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return EnvService{}, err
	}
	if in.Kind == "" {
		in.Kind = ServicePostgres
	}
	if in.Prefix == "" {
		in.Prefix = DefaultServicePrefix
	}
	var fe FieldErrors
	if !serviceNamePattern.MatchString(in.Name) {
		fe.Add("name", "must be a lower-case name of letters, digits and dashes, starting with a letter")
	}
	if in.Kind != ServicePostgres && in.Kind != ServiceStorage {
		fe.Add("kind", "must be %s or %s", ServicePostgres, ServiceStorage)
	}
	if !servicePrefixPattern.MatchString(in.Prefix) {
		fe.Add("prefix", "must be upper-case letters, digits and underscores, starting with a letter")
	}
	if err := fe.Err(); err != nil {
		return EnvService{}, err
	}
	if err := d.kindReady(in.Kind); err != nil {
		return EnvService{}, err
	}
	e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment")
	if err != nil {
		return EnvService{}, err
	}
	_, plan, err := d.appAndPlan(ctx, org, app)
	if err != nil {
		return EnvService{}, err
	}
	existing, err := loadAll[EnvService](ctx, d.KV, servicePrefix(org, app, env))
	if err != nil {
		return EnvService{}, err
	}
	for _, s := range existing {
		switch {
		case s.Name == in.Name:
			return EnvService{}, Errorf(Conflict, "service instance %q exists in environment %q", in.Name, env)
		case s.Prefix == in.Prefix && s.Kind == in.Kind:
			return EnvService{}, Errorf(Conflict, "service instance %q already uses the prefix %s", s.Name, in.Prefix)
		}
	}
	if n := max(len(existing), len(e.Services)); n >= plan.Limits.ServiceInstances {
		return EnvService{}, Errorf(LimitExceeded, "plan %q allows %d service instances per environment, and %q has them all", plan.Name, plan.Limits.ServiceInstances, env)
	}
	svc := EnvService{Org: org, App: app, Env: env, Name: in.Name, Kind: in.Kind, Prefix: in.Prefix, State: ServiceProvisioning}
	if in.Kind == ServiceStorage {
		if err := d.newStorageService(&svc); err != nil {
			return EnvService{}, err
		}
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return EnvService{}, Wrap(Internal, err, "generate a database name")
		}
		names := DatabaseNames(hex.EncodeToString(b[:]))
		svc.Database, svc.CredentialsRole, svc.Address = names.Database, names.CredentialsRole, d.Databases.Address()
	}
	stamp(&svc.Meta, d.now())
	e.Services = append(slices.DeleteFunc(e.Services, func(s ServiceInstance) bool { return s.Name == in.Name }), ServiceInstance{Name: in.Name, Kind: in.Kind})
	stamp(&e.Meta, d.now())
	t := &txn{}
	t.update(envKey(org, app, env), encode(e), e.Index)
	t.create(svc.key(), encode(svc))
	d.audit(t, p, org, "service.attach", app+"/"+env+"/"+in.Name)
	if err := d.commit(ctx, t, "the environment"); err != nil {
		return EnvService{}, err
	}
	if err := d.provision(ctx, svc); err != nil {
		svc, _ = load[EnvService](ctx, d.KV, svc.key(), "service instance")
		svc.Error = ErrorMessage(err)
		stamp(&svc.Meta, d.now())
		_ = d.KV.Txn(ctx, []Op{{Kind: OpUpdate, Key: svc.key(), Value: encode(svc), Index: svc.Index}})
		return EnvService{}, err
	}
	return d.setServiceState(ctx, org, app, env, in.Name, func(s *EnvService) error {
		s.State, s.Error = ServiceAttached, ""
		return nil
	})
}

func (d *Deployer) provision(ctx context.Context, s EnvService) error {
	if s.Kind == ServiceStorage {
		return d.provisionStorage(ctx, s)
	}
	if err := d.Databases.CreateDatabase(ctx, s.Database, s.Owner()); err != nil {
		return err
	}
	return d.DatabaseCreds.ConfigureDatabase(ctx, s.CredentialsRole, s.Database, s.Owner())
}

// setServiceState changes a service instance with change, under check-and-set.
func (d *Deployer) setServiceState(ctx context.Context, org, app, env, name string, change func(*EnvService) error) (EnvService, error) {
	s, err := load[EnvService](ctx, d.KV, serviceKey(org, app, env, name), "service instance "+name)
	if err != nil {
		return EnvService{}, err
	}
	if err := change(&s); err != nil {
		return EnvService{}, err
	}
	stamp(&s.Meta, d.now())
	if err := d.commit(ctx, &txn{ops: []Op{{Kind: OpUpdate, Key: s.key(), Value: encode(s), Index: s.Index}}}, "the service instance"); err != nil {
		return EnvService{}, err
	}
	return load[EnvService](ctx, d.KV, s.key(), "service instance "+name)
}

// DetachService detaches a service instance from the environment: the next deploy's
// release no longer receives its credentials. Its data is kept. It needs the developer
// role. Errors: not_found, conflict, forbidden.
func (d *Deployer) DetachService(ctx context.Context, p Principal, ref EnvRef, name string) (EnvService, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return EnvService{}, err
	}
	return d.setServiceState(ctx, org, app, env, name, func(s *EnvService) error {
		switch s.State {
		case ServiceAttached:
			s.State = ServiceDetaching
		case ServiceDetaching, ServiceDetached:
		default:
			return Errorf(Conflict, "service instance %q is %s; only an attached one can be detached", name, s.State)
		}
		return nil
	})
}

// ReattachService attaches a detached service instance again, from the next deploy. It
// needs the developer role. Errors: not_found, conflict, forbidden.
func (d *Deployer) ReattachService(ctx context.Context, p Principal, ref EnvRef, name string) (EnvService, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return EnvService{}, err
	}
	return d.setServiceState(ctx, org, app, env, name, func(s *EnvService) error {
		switch s.State {
		case ServiceDetaching, ServiceDetached, ServiceAttached:
			s.State = ServiceAttached
		default:
			return Errorf(Conflict, "service instance %q is %s; only a detached one can be attached", name, s.State)
		}
		return nil
	})
}

// RemoveService removes a service instance for good: every credential it issued is
// revoked (their users dropped), its database and owner role are dropped and its Vault
// role removed; a storage instance's objects, bucket, account and keys are deleted.
// confirm must repeat the instance's name. It needs the admin role.
// Errors: invalid, not_found, forbidden, unavailable.
func (d *Deployer) RemoveService(ctx context.Context, p Principal, ref EnvRef, name, confirm string) error {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActManage); err != nil {
		return err
	}
	s, err := load[EnvService](ctx, d.KV, serviceKey(org, app, env, name), "service instance "+name)
	if err != nil {
		return err
	}
	if confirm != name {
		var fe FieldErrors
		fe.Add("confirm", "must repeat the service instance's name: removing it deletes its data and every credential")
		return fe.Err()
	}
	if err := d.kindReady(s.Kind); err != nil {
		return err
	}
	if err := d.deprovision(ctx, s); err != nil {
		return err
	}
	d.forgetArchives(ctx, s)
	t := &txn{}
	t.delete(s.key(), s.Index)
	t.deleteTree(backupPrefix(org, app, env, name)) // its dumps go with its database
	if e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err == nil {
		e.Services = slices.DeleteFunc(e.Services, func(si ServiceInstance) bool { return si.Name == name })
		stamp(&e.Meta, d.now())
		t.update(envKey(org, app, env), encode(e), e.Index)
	}
	d.audit(t, p, org, "service.remove", app+"/"+env+"/"+name)
	return d.commit(ctx, t, "the service instance")
}

// deprovision revokes an instance's credentials, then drops its database (or deletes
// its bucket, then its keys).
func (d *Deployer) deprovision(ctx context.Context, s EnvService) error {
	if s.Kind == ServiceStorage {
		return d.deprovisionStorage(ctx, s)
	}
	if err := d.DatabaseCreds.RemoveDatabase(ctx, s.CredentialsRole); err != nil {
		return err
	}
	return d.Databases.DropDatabase(ctx, s.Database, s.Owner())
}

// removeServices deprovisions every service instance of an environment being deleted.
func (d *Deployer) removeServices(ctx context.Context, org, app, env string) error {
	svcs, err := loadAll[EnvService](ctx, d.KV, servicePrefix(org, app, env))
	if err != nil || len(svcs) == 0 {
		return err
	}
	for _, s := range svcs {
		if err := d.kindReady(s.Kind); err != nil {
			return err
		}
		if err := d.deprovision(ctx, s); err != nil {
			return err
		}
		d.forgetArchives(ctx, s)
	}
	t := &txn{}
	t.deleteTree(envBackupsPrefix(org, app, env))
	return d.KV.Txn(ctx, t.ops)
}

// releaseServices returns the bindings of the environment's attached instances, for a
// new release.
func (d *Deployer) releaseServices(ctx context.Context, org, app, env string) ([]ServiceBinding, error) {
	svcs, err := loadAll[EnvService](ctx, d.KV, servicePrefix(org, app, env))
	if err != nil {
		return nil, err
	}
	out := []ServiceBinding{}
	for _, s := range svcs {
		if s.State == ServiceAttached {
			out = append(out, s.binding())
		}
	}
	return out, nil
}

// existingServices keeps the bindings whose instances still exist, for a rollback to a
// release made before some were removed.
func (d *Deployer) existingServices(ctx context.Context, org, app, env string, bs []ServiceBinding) ([]ServiceBinding, error) {
	out := []ServiceBinding{}
	for _, b := range bs {
		s, err := load[EnvService](ctx, d.KV, serviceKey(org, app, env, b.Name), "service instance")
		switch {
		case ErrorCode(err) == NotFound:
		case err != nil:
			return nil, err
		case s.CredentialsRole == b.CredentialsRole:
			out = append(out, b)
		}
	}
	return out, nil
}

// settleDetached marks the detaching instances that rel, now rolled out, does not use as
// detached.
func (d *Deployer) settleDetached(ctx context.Context, org, app, env string, rel Release) {
	used := map[string]bool{}
	for _, b := range rel.Config.Services {
		used[b.CredentialsRole] = true
	}
	svcs, err := loadAll[EnvService](ctx, d.KV, servicePrefix(org, app, env))
	if err != nil {
		return
	}
	for _, s := range svcs {
		if s.State == ServiceDetaching && !used[s.CredentialsRole] {
			_, _ = d.setServiceState(ctx, org, app, env, s.Name, func(s *EnvService) error {
				if s.State == ServiceDetaching {
					s.State = ServiceDetached
				}
				return nil
			})
		}
	}
}

func (s EnvService) binding() ServiceBinding {
	return ServiceBinding{Name: s.Name, Kind: s.Kind, Prefix: s.Prefix, Database: s.Database, CredentialsRole: s.CredentialsRole, Address: s.Address,
		Bucket: s.Bucket, Endpoint: s.Endpoint, Region: s.Region, PublicURL: s.PublicURL}
}

// kindReady says whether this cloudspace serves service instances of kind.
func (d *Deployer) kindReady(kind string) error {
	if kind == ServiceStorage {
		return d.objectStore()
	}
	return d.databases()
}
