package devstack_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// TestPostgres starts PostgreSQL as the stack does: the superuser logs in with its
// generated password over TCP, a wrong password is refused, and Stop removes the
// cluster's files.
func TestPostgres(t *testing.T) {
	b := agenttest.Binaries(t)
	pg, err := devstack.StartPostgres(devstack.PostgresConfig{BinDir: b.Postgres, DataDir: t.TempDir(), Log: func(_, line string) { t.Log("postgres: " + line) }})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			pg.Stop()
		}
	})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatalf("superuser login: %v", err)
	}
	var super bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Errorf("current user is superuser = %v (%v)", super, err)
	}
	conn.Close(ctx)
	if c, err := pgx.Connect(ctx, strings.Replace(pg.URL("postgres"), pg.AdminPassword, "wrong", 1)); err == nil {
		c.Close(ctx)
		t.Error("a wrong password was accepted")
	}
	if fi, err := os.Stat(pg.PasswordFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v %v", fi, err)
	}
	stopped = true
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := pgx.Connect(ctx, pg.URL("postgres")); err == nil {
		t.Error("postgres still answers after Stop")
	}
}
