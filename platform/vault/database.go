package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// dbMount is where Vault's database secrets engine is mounted.
const dbMount = "database"

// Names Wharf gives database roles (one per service instance, with a connection of the
// same name), databases and their owner roles. They reach policies and SQL statements,
// so nothing else is accepted.
var (
	rolePattern     = regexp.MustCompile(`^wharf-[0-9a-f]{16}$`)
	databasePattern = regexp.MustCompile(`^wharf_[0-9a-f]{16}$`)
)

// DatabaseConfig says how Vault reaches the cloudspace's PostgreSQL cluster and how long
// the credentials it issues live.
type DatabaseConfig struct {
	Address       string // host:port
	AdminUser     string
	AdminPassword platform.Secret
	TTL, MaxTTL   string // durations, as "1h"
}

// Databases configures Vault's database secrets engine: one connection and one role per
// database service instance. The role issues login users that hold the instance's owner
// role and act as it (so every object they make belongs to the owner), and drops them
// when their lease ends or is revoked.
type Databases struct {
	api *vaultapi.Client
	cfg DatabaseConfig
}

// Databases returns the database credentials manager.
func (c *Client) Databases(cfg DatabaseConfig) *Databases { return &Databases{api: c.api, cfg: cfg} }

var _ platform.DatabaseCredentials = (*Databases)(nil)

// ensureMount mounts the database engine at database/ unless it is.
func (d *Databases) ensureMount(ctx context.Context) error {
	if _, err := d.api.Logical().ReadWithContext(ctx, "sys/mounts/"+dbMount); err == nil {
		return nil
	}
	err := d.api.Sys().MountWithContext(ctx, dbMount, &vaultapi.MountInput{Type: "database"})
	if err != nil {
		// Another replica may have mounted it meanwhile.
		if _, rerr := d.api.Logical().ReadWithContext(ctx, "sys/mounts/"+dbMount); rerr == nil {
			return nil
		}
		return translate(err, "mount the database secrets engine")
	}
	return nil
}

// ConfigureDatabase writes the connection to db (as the cluster's admin) and the role
// issuing its users.
func (d *Databases) ConfigureDatabase(ctx context.Context, role, db, owner string) error {
	if !rolePattern.MatchString(role) || !databasePattern.MatchString(db) || owner != platform.DatabaseOwner(db) {
		return platform.Errorf(platform.Invalid, "database names %q, %q, %q are not Wharf's", role, db, owner)
	}
	if err := d.ensureMount(ctx); err != nil {
		return err
	}
	if _, err := d.api.Logical().WriteWithContext(ctx, dbMount+"/config/"+role, map[string]any{
		"plugin_name":       "postgresql-database-plugin",
		"connection_url":    "postgresql://{{username}}:{{password}}@" + d.cfg.Address + "/" + db + "?sslmode=disable",
		"username":          d.cfg.AdminUser,
		"password":          d.cfg.AdminPassword.Reveal(),
		"allowed_roles":     []string{role},
		"verify_connection": true,
		// Each instance's connection is its own: few, short-lived connections.
		"max_open_connections": 2,
		"max_idle_connections": 0,
	}); err != nil {
		return translate(err, "configure the database connection")
	}
	q := func(s string) string { return `"` + s + `"` }
	if _, err := d.api.Logical().WriteWithContext(ctx, dbMount+"/roles/"+role, map[string]any{
		"db_name": role,
		"creation_statements": []string{
			`CREATE ROLE "{{name}}" WITH LOGIN INHERIT PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ` + q(owner) + `;`,
			// Sessions act as the owner, so what they make outlives the user.
			`ALTER ROLE "{{name}}" SET role = ` + q(owner) + `;`,
		},
		"renew_statements": []string{
			`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`,
		},
		"revocation_statements": []string{
			`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';`,
			`REASSIGN OWNED BY "{{name}}" TO ` + q(owner) + `;`,
			`DROP OWNED BY "{{name}}";`,
			`DROP ROLE IF EXISTS "{{name}}";`,
		},
		"default_ttl": d.cfg.TTL,
		"max_ttl":     d.cfg.MaxTTL,
	}); err != nil {
		return translate(err, "write the database role")
	}
	return nil
}

// backupPolicy names the policy of an instance's backup and restore jobs.
func backupPolicy(role string) string { return platform.BackupPolicy(role) }

// PutBackupPolicy writes the policy an instance's backup and restore jobs run under:
// read the instance's credentials and the registry tokens of its restores, nothing
// else. It returns the policy's name.
func (d *Databases) PutBackupPolicy(ctx context.Context, role string) (string, error) {
	if !rolePattern.MatchString(role) {
		return "", platform.Errorf(platform.Invalid, "database role %q is not one of Wharf's", role)
	}
	policy := fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", dbMount+"/creds/"+role)
	// A restore's registry token (a pull of the one dump's repository) waits here.
	policy += fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", kvMount+"/data/"+platform.RestoreTokenPath(role, "*"))
	if err := d.api.Sys().PutPolicyWithContext(ctx, backupPolicy(role), policy); err != nil {
		return "", translate(err, "write the backup policy")
	}
	return backupPolicy(role), nil
}

var _ platform.BackupPolicies = (*Databases)(nil)

// RemoveDatabase revokes every lease the role issued (running its revocation statements,
// so their users are gone when it returns), then deletes the role, its connection and
// its backup policy.
func (d *Databases) RemoveDatabase(ctx context.Context, role string) error {
	if !rolePattern.MatchString(role) {
		return platform.Errorf(platform.Invalid, "database role %q is not one of Wharf's", role)
	}
	if _, err := d.api.Logical().WriteWithContext(ctx, "sys/leases/revoke-prefix/"+dbMount+"/creds/"+role, nil); err != nil && !missingMount(err) {
		return translate(err, "revoke the database credentials")
	}
	if _, err := d.api.Logical().DeleteWithContext(ctx, dbMount+"/roles/"+role); err != nil && !missingMount(err) {
		return translate(err, "delete the database role")
	}
	if _, err := d.api.Logical().DeleteWithContext(ctx, dbMount+"/config/"+role); err != nil && !missingMount(err) {
		return translate(err, "delete the database connection")
	}
	if err := d.api.Sys().DeletePolicyWithContext(ctx, backupPolicy(role)); err != nil {
		return translate(err, "delete the backup policy")
	}
	return nil
}

// missingMount reports an error of a path under a mount that does not exist (nothing
// was ever configured there).
func missingMount(err error) bool {
	var re *vaultapi.ResponseError
	return errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.StatusCode == http.StatusBadRequest && strings.Contains(fmt.Sprint(re.Errors), "no handler for route"))
}
