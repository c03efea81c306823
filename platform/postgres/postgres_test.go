package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/postgres"
	"github.com/wharf-platform/wharf/platform/vault"
)

// TestDatabaseCredentials runs the cluster adapter and Vault's database engine together
// against real PostgreSQL and Vault: an issued user connects to its own database (and
// what it makes belongs to the owner role), not to another instance's; revoking drops
// the user; dropping removes the database and owner; every step can be repeated.
func TestDatabaseCredentials(t *testing.T) {
	pg := agenttest.Postgres(t)
	v := agenttest.Vault(t)
	ctx := context.Background()
	cluster := postgres.New(postgres.Config{Address: pg.Addr, AdminUser: pg.AdminUser, AdminPassword: platform.Secret(pg.AdminPassword)})
	vc, err := vault.New(vault.Config{Address: v.Addr, Token: platform.Secret(v.WharfdToken)})
	if err != nil {
		t.Fatal(err)
	}
	creds := vc.Databases(vault.DatabaseConfig{Address: pg.Addr, AdminUser: pg.AdminUser, AdminPassword: platform.Secret(pg.AdminPassword), TTL: "1m", MaxTTL: "10m"})
	if _, err := cluster.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}

	const a, b = "wharf_00000000000000aa", "wharf_00000000000000bb"
	for _, db := range []string{a, b} {
		for range 2 { // repeatable
			if err := cluster.CreateDatabase(ctx, db, db+"_owner"); err != nil {
				t.Fatalf("create %s: %v", db, err)
			}
			if err := creds.ConfigureDatabase(ctx, role(db), db, db+"_owner"); err != nil {
				t.Fatalf("configure %s: %v", db, err)
			}
		}
	}
	if err := cluster.CreateDatabase(ctx, `x"; DROP TABLE y; --`, "x_owner"); platform.ErrorCode(err) != platform.Invalid {
		t.Errorf("a name that is not Wharf's: err = %v, want invalid", err)
	}

	root, _ := v.Client()
	sec, err := root.Logical().Read("database/creds/" + role(a))
	if err != nil {
		t.Fatalf("read creds: %v", err)
	}
	user, pass := sec.Data["username"].(string), sec.Data["password"].(string)
	dsn := func(db string) string {
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, pass, pg.Addr, db)
	}
	conn, err := pgx.Connect(ctx, dsn(a))
	if err != nil {
		t.Fatalf("the issued user cannot connect to its database: %v", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept')"); err != nil {
		t.Fatalf("create a table: %v", err)
	}
	var owner string
	if err := conn.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE tablename = 'notes'").Scan(&owner); err != nil || owner != a+"_owner" {
		t.Errorf("the table's owner = %q (%v), want %s_owner", owner, err, a)
	}
	conn.Close(ctx)
	if c, err := pgx.Connect(ctx, dsn(b)); err == nil {
		c.Close(ctx)
		t.Errorf("a user of %s connected to %s", a, b)
	}
	if c, err := pgx.Connect(ctx, dsn("postgres")); err == nil {
		c.Close(ctx)
		t.Errorf("a user of %s connected to the postgres database", a)
	}

	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	count := func(q, arg string) int {
		var n int
		if err := admin.QueryRow(ctx, q, arg).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for range 2 {
		if err := creds.RemoveDatabase(ctx, role(a)); err != nil {
			t.Fatalf("remove: %v", err)
		}
	}
	if n := count("SELECT count(*) FROM pg_roles WHERE rolname = $1", user); n != 0 {
		t.Errorf("the issued user survives revocation")
	}
	var kept string
	if c, err := pgx.Connect(ctx, pg.URL(a)); err != nil {
		t.Fatal(err)
	} else {
		if err := c.QueryRow(ctx, "SELECT body FROM notes").Scan(&kept); err != nil || kept != "kept" {
			t.Errorf("data made by a revoked user: %q %v", kept, err)
		}
		c.Close(ctx)
	}
	for range 2 {
		if err := cluster.DropDatabase(ctx, a, a+"_owner"); err != nil {
			t.Fatalf("drop: %v", err)
		}
	}
	if n := count("SELECT count(*) FROM pg_database WHERE datname = $1", a); n != 0 {
		t.Errorf("database %s survives", a)
	}
	if n := count("SELECT count(*) FROM pg_roles WHERE rolname = $1", a+"_owner"); n != 0 {
		t.Errorf("owner role of %s survives", a)
	}
}

func role(db string) string { return "wharf-" + db[len("wharf_"):] }
