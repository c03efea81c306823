package platform

import (
	"context"
	"time"
)

// Role is a person's standing in an organisation, or on one application. Each role may
// do what the roles below it may.
type Role string

// The roles, from least to most powerful.
const (
	RoleViewer    Role = "viewer"    // reads everything, changes nothing
	RoleDeveloper Role = "developer" // also configures applications, environments and variables
	RoleAdmin     Role = "admin"     // also creates and deletes applications, manages members and collaborators
	RoleOwner     Role = "owner"     // also changes and deletes the organisation, grants ownership
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleDeveloper:
		return 2
	case RoleAdmin:
		return 3
	case RoleOwner:
		return 4
	}
	return 0
}

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Organisation owns applications and has members.
type Organisation struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Meta
}

// OrganisationPatch changes an organisation; nil fields are left alone.
type OrganisationPatch struct {
	DisplayName *string `json:"display_name"`
}

// Member is a person's role in an organisation.
type Member struct {
	Org    string `json:"org"`
	Person string `json:"person"`
	Role   Role   `json:"role"`
	Meta
}

// Collaborator is a person's role on one application, granted without (or beyond) a
// membership of its organisation.
type Collaborator struct {
	Org    string `json:"org"`
	App    string `json:"app"`
	Person string `json:"person"`
	Role   Role   `json:"role"`
	Meta
}

// Person is someone who uses Wharf. Admin marks a platform operator, who may manage
// cloudspaces, plans and people and acts as an owner of every organisation.
type Person struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Admin bool   `json:"admin"`
	Meta
}

// PersonPatch changes a person; nil fields are left alone. Only an administrator may
// change Admin.
type PersonPatch struct {
	Name  *string `json:"name"`
	Email *string `json:"email"`
	Admin *bool   `json:"admin"`
}

// Token is an API token's public description. Its value is shown once, when created;
// only its SHA-256 hash is stored.
type Token struct {
	ID     string `json:"id"`
	Person string `json:"person"`
	Name   string `json:"name"`
	// ExpiresAt is when the token stops being accepted; nil for a token that does
	// not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Meta
}

// tokenRecord is a token as stored: keyed by its hash for authentication, and by its id
// under its person for listing and revocation.
type tokenRecord struct {
	Token
	Hash string `json:"hash"`
}

// Application is a named collection of processes, services and environments in an
// organisation, running in one cloudspace under one plan. Environments lists its
// environments' names; it changes in the same transaction as they do, so the plan's
// limit on environments holds under concurrent requests.
type Application struct {
	Org          string   `json:"org"`
	Name         string   `json:"name"`
	Cloudspace   string   `json:"cloudspace"`
	Plan         string   `json:"plan"`
	Environments []string `json:"environments"`
	Meta
}

// ApplicationPatch changes an application; nil fields are left alone.
type ApplicationPatch struct {
	Plan *string `json:"plan"`
}

// The environments every application is created with.
const (
	EnvTest = "test"
	EnvLive = "live"
)

// ProcessScale is how one process of an environment runs.
type ProcessScale struct {
	Instances int `json:"instances"`
	MemoryMB  int `json:"memory_mb"`
}

// ServiceInstance is a database or media storage attached to an environment.
type ServiceInstance struct {
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// The kinds of service instance.
const (
	ServicePostgres = "postgres"
	ServiceStorage  = "storage"
)

// Environment is one deployment target of an application (test, live or a custom one)
// with its own scale and services; its variables are stored beside it.
type Environment struct {
	Org       string                  `json:"org"`
	App       string                  `json:"app"`
	Name      string                  `json:"name"`
	Processes map[string]ProcessScale `json:"processes"`
	Services  []ServiceInstance       `json:"services"`
	Meta
}

// EnvironmentPatch changes an environment; nil fields are left alone, others replace
// the whole value.
type EnvironmentPatch struct {
	Processes *map[string]ProcessScale `json:"processes"`
	Services  *[]ServiceInstance       `json:"services"`
}

// Variable is an environment variable. A plain one holds its value here; a secret one's
// value is in Vault, and Value is always nil. Version counts the value's changes (for
// a secret, it is Vault's version).
type Variable struct {
	Name    string  `json:"name"`
	Secret  bool    `json:"secret"`
	Value   *string `json:"value,omitempty"`
	Version int     `json:"version"`
	Meta
}

// VariableInput sets a variable's value.
type VariableInput struct {
	Value  string `json:"value"`
	Secret bool   `json:"secret"`
}

// MaxVariableValue is the largest variable value, in bytes.
const MaxVariableValue = 32 << 10

// Cloudspace is a physical location on a vendor's infrastructure: a Nomad region, or a
// node pool inside one for a dedicated cloudspace.
type Cloudspace struct {
	Name          string `json:"name"`
	Vendor        string `json:"vendor"`
	Location      string `json:"location"`
	Tenancy       string `json:"tenancy"`
	Region        string `json:"region"`
	NodePool      string `json:"node_pool"`
	IngressDomain string `json:"ingress_domain"`
	// IngressPort is the port the cloudspace's ingress answers HTTP on, when it is not 80
	// (the local cloudspace's is 18000); the URLs Wharf shows include it.
	IngressPort int    `json:"ingress_port,omitempty"`
	Registry    string `json:"registry"`
	Meta
}

// CloudspacePatch changes a cloudspace; nil fields are left alone.
type CloudspacePatch struct {
	Vendor        *string `json:"vendor"`
	Location      *string `json:"location"`
	Tenancy       *string `json:"tenancy"`
	Region        *string `json:"region"`
	NodePool      *string `json:"node_pool"`
	IngressDomain *string `json:"ingress_domain"`
	IngressPort   *int    `json:"ingress_port"`
	Registry      *string `json:"registry"`
}

// The vendors and tenancies of cloudspaces.
var (
	Vendors   = []string{"aws", "azure", "gcp", "on-premises"}
	Tenancies = []string{"public", "dedicated"}
)

// Limits are what a plan allows one application. CustomDomains and UploadMB, when
// absent from a plan's JSON (plans made before they existed), take their defaults.
type Limits struct {
	Environments        int `json:"environments"`
	InstancesPerProcess int `json:"instances_per_process"`
	MemoryMBPerInstance int `json:"memory_mb_per_instance"`
	ServiceInstances    int `json:"service_instances"`
	// CustomDomains is how many custom domains each environment may have.
	CustomDomains int `json:"custom_domains"`
	// UploadMB is the largest source upload (tar.gz) a build takes, in MiB.
	UploadMB int `json:"upload_mb"`
}

// Plan is a subscription level: the limits the API enforces on applications under it.
// A public plan may be chosen by every organisation; any other only by the
// organisations a platform administrator entitles to it. A plan stored before plans
// could be restricted is public, as it was.
type Plan struct {
	Name   string `json:"name"`
	Public bool   `json:"public"`
	Limits Limits `json:"limits"`
	Meta
}

// PlanPatch changes a plan; nil fields are left alone.
type PlanPatch struct {
	Public *bool   `json:"public"`
	Limits *Limits `json:"limits"`
}

// AuditEvent records one change: who made it, what it was, and when.
type AuditEvent struct {
	ID     string    `json:"id"`
	Org    string    `json:"org"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Meta
}

// SecretStore keeps secret variable values: Vault KV v2 under secret/data/wharf/, in
// production. Paths are relative to that prefix.
//
// SecretVersion returns the current version of path, 0 when there is none.
// PutSecret writes value only if path's current version is expect (0: path must not
// exist) and returns the new version; a mismatch is a conflict. DeleteSecret removes
// every version; a missing path is not an error. All return unavailable when the store
// cannot be reached.
type SecretStore interface {
	SecretVersion(ctx context.Context, path string) (int, error)
	PutSecret(ctx context.Context, path string, value Secret, expect int) (int, error)
	DeleteSecret(ctx context.Context, path string) error
}
