// Package postgres adapts Wharf's platform to a cloudspace's PostgreSQL cluster: it makes
// and drops the databases of database service instances, with their owner roles, as the
// cluster's admin. It translates errors into platform.Error codes; nothing above it
// imports the PostgreSQL driver. Credentials for applications are not made here but by
// Vault's database secrets engine (platform/vault).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/wharf-platform/wharf/platform"
)

// Config locates the cluster and its admin.
type Config struct {
	Address       string // host:port
	AdminUser     string
	AdminPassword platform.Secret
}

// Cluster is the cloudspace's PostgreSQL cluster. It keeps no connection open: each call
// makes its own.
type Cluster struct {
	cfg Config
}

// New returns the cluster at cfg.Address. It does not connect.
func New(cfg Config) *Cluster { return &Cluster{cfg: cfg} }

var _ platform.DatabaseCluster = (*Cluster)(nil)

// Address is the cluster's host:port.
func (c *Cluster) Address() string { return c.cfg.Address }

// Name is the component's name in health reports.
func (c *Cluster) Name() string { return "postgres" }

// Probe reports whether the admin can log in.
func (c *Cluster) Probe(ctx context.Context) (string, error) {
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "", translate(err, "read the server version")
	}
	return "version " + v, nil
}

var _ platform.Prober = (*Cluster)(nil)

// Database names are Wharf's own, checked before they reach SQL, and quoted all the same.
var namePattern = regexp.MustCompile(`^wharf_[0-9a-f]{16}(_owner)?$`)

func checkNames(db, owner string) error {
	if !namePattern.MatchString(db) || owner != db+"_owner" {
		return platform.Errorf(platform.Invalid, "database %q and owner %q are not names Wharf gives", db, owner)
	}
	return nil
}

func (c *Cluster) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(c.cfg.AdminUser, c.cfg.AdminPassword.Reveal()), Host: c.cfg.Address, Path: "/" + db, RawQuery: "sslmode=disable&connect_timeout=10"}
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, translate(err, "connect to the postgres cluster")
	}
	return conn, nil
}

// CreateDatabase makes the owner role (NOLOGIN) and the database it owns, and revokes
// the database's privileges from PUBLIC, so only the owner's members may connect (nor may
// they connect to the cluster's own databases). It can be repeated.
func (c *Cluster) CreateDatabase(ctx context.Context, db, owner string) error {
	if err := checkNames(db, owner); err != nil {
		return err
	}
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	qdb, qowner := pgx.Identifier{db}.Sanitize(), pgx.Identifier{owner}.Sanitize()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_roles WHERE rolname = $1", owner).Scan(&n); err != nil {
		return translate(err, "look up the owner role")
	}
	if n == 0 {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+qowner+" NOLOGIN"); err != nil {
			return translate(err, "create the owner role")
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", db).Scan(&n); err != nil {
		return translate(err, "look up the database")
	}
	if n == 0 {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+qdb+" OWNER "+qowner+" ENCODING 'UTF8'"); err != nil {
			return translate(err, "create the database")
		}
	}
	for _, stmt := range []string{
		"REVOKE ALL ON DATABASE " + qdb + " FROM PUBLIC",
		"GRANT CONNECT, TEMPORARY ON DATABASE " + qdb + " TO " + qowner,
		// Applications' users have no business in the cluster's own databases either.
		"REVOKE CONNECT ON DATABASE postgres FROM PUBLIC",
		"REVOKE CONNECT ON DATABASE template1 FROM PUBLIC",
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return translate(err, "restrict the database")
		}
	}
	return nil
}

// DropDatabase drops the database (ending its sessions) and its owner role. It can be
// repeated.
func (c *Cluster) DropDatabase(ctx context.Context, db, owner string) error {
	if err := checkNames(db, owner); err != nil {
		return err
	}
	conn, err := c.connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{
		"DROP DATABASE IF EXISTS " + pgx.Identifier{db}.Sanitize() + " WITH (FORCE)",
		"DROP ROLE IF EXISTS " + pgx.Identifier{owner}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return translate(err, "drop the database")
		}
	}
	return nil
}

// translate turns a driver error into a platform error: a refused or unreachable server
// is unavailable; anything PostgreSQL itself refuses is internal (the names are Wharf's).
func translate(err error, what string) error {
	var pe *pgconn.PgError
	var ne net.Error
	var ce *pgconn.ConnectError
	switch {
	case errors.As(err, &pe):
		return platform.Wrap(platform.Internal, err, fmt.Sprintf("postgres refused to %s (%s)", what, pe.Code))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return platform.Wrap(platform.Unavailable, err, "postgres did not answer in time")
	case errors.As(err, &ce), errors.As(err, &ne):
		return platform.Wrap(platform.Unavailable, err, "postgres unreachable")
	}
	return platform.Wrap(platform.Internal, err, "postgres: "+what)
}
