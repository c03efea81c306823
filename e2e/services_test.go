package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
)

// dbReport is what the test application (testdata/dbapp) answers at /report.
type dbReport struct {
	Secret          string `json:"secret"`
	HasDSN          bool   `json:"has_dsn"`
	DatabaseURLSame bool   `json:"database_url_same"`
	CurrentUser     string `json:"current_user"`
	SessionUser     string `json:"session_user"`
	Database        string `json:"database"`
	Visits          int    `json:"visits"`
	Error           string `json:"error"`
}

type envService struct {
	Name            string `json:"name"`
	Prefix          string `json:"prefix"`
	State           string `json:"state"`
	Database        string `json:"database"`
	CredentialsRole string `json:"credentials_role"`
}

// TestServices attaches a PostgreSQL service instance to an environment of each of two
// applications and deploys the test application to both, through the real wharfd,
// Vault, Nomad, Docker and PostgreSQL: each reads its secret variable and uses its own
// database with the DSN it was given; the other's credentials and secrets are refused to
// it; its credentials expire and are renewed while it runs; detaching takes effect with
// the next deploy; removal needs confirmation; deleting the environment revokes its
// credentials (the PostgreSQL user is gone) and drops its database. No credential
// reaches Consul KV, wharfd's log or an API response.
func TestServices(t *testing.T) {
	s := agenttest.Stack(t)
	image := buildDBApp(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile,
		"-database-creds-ttl", "6s", "-database-creds-max-ttl", "10m", "-backup-interval", "2s",
		"-deploy-healthy-deadline", "30s", "-deploy-progress-deadline", "60s", "-log-level", "debug")
	c := &client{t: t, url: w.URL, token: token}
	var responses []string
	call := func(want int, method, path string, body any) json.RawMessage {
		t.Helper()
		var raw json.RawMessage
		if got := c.do(method, path, body, &raw); got != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
		}
		responses = append(responses, string(raw))
		return raw
	}

	var health struct {
		Components []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
		} `json:"components"`
	}
	c.do("GET", "/v1/health", nil, &health) // the details are an administrator's
	if n := len(health.Components); n == 0 || health.Components[n-1].Name != "postgres" || !health.Components[n-1].Healthy {
		t.Errorf("/v1/health does not show the PostgreSQL cluster healthy: %+v", health.Components)
	}
	call(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr})
	call(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 3, "instances_per_process": 2, "memory_mb_per_instance": 128, "service_instances": 2}})
	call(201, "POST", "/v1/orgs", map[string]any{"name": "acme"})

	secrets := map[string]string{"one": "secret-of-one-" + randomHex(t), "two": "secret-of-two-" + randomHex(t)}
	envPath := func(app string) string { return "/v1/orgs/acme/apps/" + app + "/envs/review" }
	svc := map[string]envService{}
	for _, app := range []string{"one", "two"} {
		call(201, "POST", "/v1/orgs/acme/apps", map[string]any{"name": app, "cloudspace": "local", "plan": "dev"})
		call(201, "POST", "/v1/orgs/acme/apps/"+app+"/envs", map[string]any{"name": "review"})
		env := envPath(app)
		call(201, "PUT", env+"/vars/APP_SECRET", map[string]any{"value": secrets[app], "secret": true})
		call(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 64}}})
		var sv envService
		json.Unmarshal(call(201, "POST", env+"/services", map[string]any{"name": "db"}), &sv)
		if sv.State != "attached" || sv.Prefix != "DEFAULT" || sv.Database == "" || sv.CredentialsRole == "" {
			t.Fatalf("attach %s: %+v", app, sv)
		}
		svc[app] = sv
	}
	env1, env2 := envPath("one"), envPath("two")

	t.Run("roles, plan limit, prefixes and confirmation", func(t *testing.T) {
		// A developer attaches and detaches; only an admin removes.
		call(201, "POST", "/v1/people", map[string]any{"id": "dev", "name": "Dev", "email": "dev@example.com"})
		var tok struct {
			Value string `json:"token"`
		}
		c.must(201, "POST", "/v1/people/dev/tokens", map[string]any{"name": "e2e"}, &tok)
		call(200, "PUT", "/v1/orgs/acme/members/dev", map[string]any{"role": "developer"})
		dev := &client{t: t, url: w.URL, token: tok.Value}

		call(409, "POST", env1+"/services", map[string]any{"name": "db2", "prefix": "DEFAULT"})
		call(400, "POST", env1+"/services", map[string]any{"name": "db2", "prefix": "lower"})
		var extra envService
		dev.must(201, "POST", env1+"/services", map[string]any{"name": "analytics", "prefix": "ANALYTICS"}, &extra)
		call(422, "POST", env1+"/services", map[string]any{"name": "third", "prefix": "THIRD"})
		dev.must(403, "DELETE", env1+"/services/analytics?confirm=analytics", nil, nil)
		call(400, "DELETE", env1+"/services/analytics", nil)
		call(400, "DELETE", env1+"/services/analytics?confirm=db", nil)
		call(200, "GET", env1+"/services/analytics", nil)
		call(204, "DELETE", env1+"/services/analytics?confirm=analytics", nil)
		call(404, "GET", env1+"/services/analytics", nil)
		if pgCount(t, s, "SELECT count(*) FROM pg_database WHERE datname = $1", extra.Database) != 0 {
			t.Errorf("the removed instance's database %s survives", extra.Database)
		}
	})

	for _, app := range []string{"one", "two"} {
		var d deploy
		json.Unmarshal(call(202, "POST", envPath(app)+"/deploys", map[string]any{"image": image}), &d)
		if d = c.follow(envPath(app), d.ID); d.Status != "succeeded" {
			t.Fatalf("deploy %s: %s (%s)", app, d.Status, d.Error)
		}
	}
	rel := call(200, "GET", env1+"/releases/1", nil)
	if !strings.Contains(string(rel), svc["one"].CredentialsRole) {
		t.Errorf("release 1 does not record its service instance: %s", rel)
	}

	url1, url2 := appURL(t, s, platform.Ref("acme", "one", "review").ServiceName()), appURL(t, s, platform.Ref("acme", "two", "review").ServiceName())
	r1 := report(t, url1)
	if r1.Error != "" || r1.Secret != secrets["one"] || !r1.HasDSN || !r1.DatabaseURLSame || r1.Database != svc["one"].Database || r1.CurrentUser != svc["one"].Database+"_owner" || r1.Visits < 1 {
		t.Fatalf("app one reports %+v", r1)
	}
	if r2 := report(t, url2); r2.Error != "" || r2.Secret != secrets["two"] || r2.Database != svc["two"].Database {
		t.Fatalf("app two reports %+v", r2)
	}
	dsn1, dsn2 := httpGet(t, url1+"/dsn"), httpGet(t, url2+"/dsn")

	t.Run("one application's credentials and secrets are refused to another", func(t *testing.T) {
		ctx := context.Background()
		own, err := pgx.Connect(ctx, dsn1)
		if err != nil {
			t.Fatalf("app one's DSN does not connect to its own database: %v", err)
		}
		own.Close(ctx)
		if other, err := pgx.Connect(ctx, withDatabase(t, dsn1, svc["two"].Database)); err == nil {
			other.Close(ctx)
			t.Errorf("app one's user connected to app two's database")
		}
		if other, err := pgx.Connect(ctx, withDatabase(t, dsn1, "postgres")); err == nil {
			other.Close(ctx)
			t.Errorf("app one's user connected to the cluster's postgres database")
		}
		// A token with app one's environment policy, as Nomad gives its tasks.
		root, err := s.Vault.Client()
		if err != nil {
			t.Fatal(err)
		}
		tok, err := root.Auth().Token().Create(&vaultapi.TokenCreateRequest{Policies: []string{platform.Ref("acme", "one", "review").VaultPolicy()}, TTL: "5m"})
		if err != nil {
			t.Fatal(err)
		}
		as1, _ := root.Clone()
		as1.SetToken(tok.Auth.ClientToken)
		if _, err := as1.Logical().Read("database/creds/" + svc["two"].CredentialsRole); err == nil {
			t.Errorf("app one's policy reads app two's database credentials")
		}
		if _, err := as1.Logical().Read("secret/data/wharf/_runtime/acme/two/review"); err == nil {
			t.Errorf("app one's policy reads app two's runtime configuration")
		}
		if sec, err := as1.Logical().Read("database/creds/" + svc["one"].CredentialsRole); err != nil || sec == nil {
			t.Errorf("app one's policy cannot read its own database credentials (so the refusals above prove nothing): %v", err)
		} else {
			root.Sys().Revoke(sec.LeaseID)
		}
	})

	t.Run("credentials expire and are renewed while the instance runs", func(t *testing.T) {
		user := r1.SessionUser
		first := validUntil(t, s, user)
		if time.Until(first) > time.Minute {
			t.Fatalf("%s is valid until %s: not a short-lived credential", user, first)
		}
		deadline := time.Now().Add(90 * time.Second)
		for {
			if v := validUntil(t, s, user); v.After(first) {
				t.Logf("%s: valid until %s, renewed to %s", user, first.Format(time.TimeOnly), v.Format(time.TimeOnly))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the lease of %s was never renewed (still valid until %s)", user, first)
			}
			time.Sleep(time.Second)
		}
		// Past the first expiry, the instance still works with what it holds.
		for time.Now().Before(first.Add(time.Second)) {
			time.Sleep(500 * time.Millisecond)
		}
		if r := report(t, url1); r.Error != "" || r.SessionUser != user {
			t.Errorf("after its first expiry, app one reports %+v", r)
		}
	})

	t.Run("a backup taken, data changed, then restored, gives the data back", func(t *testing.T) {
		db2 := svc["two"].Database
		before := pgCountIn(t, s, db2, "SELECT count(*) FROM visits")
		if before < 1 {
			t.Fatalf("app two's database has no visits to back up")
		}
		var bk struct {
			ID     string `json:"id"`
			Digest string `json:"digest"`
			Size   int    `json:"size"`
		}
		json.Unmarshal(call(201, "POST", env2+"/services/db/backups", nil), &bk)
		if bk.ID == "" || bk.Size == 0 || !strings.HasPrefix(bk.Digest, "sha256:") {
			t.Fatalf("backup: %+v", bk)
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		json.Unmarshal(call(200, "GET", env2+"/services/db/backups", nil), &page)
		if len(page.Items) != 1 {
			t.Errorf("%d backups listed, want 1", len(page.Items))
		}
		pgExecIn(t, s, db2, "DELETE FROM visits")
		if n := pgCountIn(t, s, db2, "SELECT count(*) FROM visits"); n != 0 {
			t.Fatalf("the data did not change: %d visits", n)
		}
		call(200, "POST", env2+"/services/db/backups/"+bk.ID+"/restore", map[string]any{})
		if n := pgCountIn(t, s, db2, "SELECT count(*) FROM visits"); n != before {
			t.Errorf("after the restore app two's database has %d visits, want %d", n, before)
		}
		// Into another application's environment of the organisation: app one's data
		// becomes app two's, owned by app one's owner role.
		call(200, "POST", env2+"/services/db/backups/"+bk.ID+"/restore", map[string]any{"app": "one", "env": "review", "service": "db"})
		db1 := svc["one"].Database
		if n := pgCountIn(t, s, db1, "SELECT count(*) FROM visits"); n != before {
			t.Errorf("after restoring app two's backup into app one, it has %d visits, want %d", n, before)
		}
		if n := pgCountIn(t, s, db1, "SELECT count(*) FROM pg_tables WHERE tablename = 'visits' AND tableowner = '"+db1+"_owner'"); n != 1 {
			t.Errorf("the restored table is not owned by app one's owner role")
		}
		if r := report(t, url1); r.Error != "" {
			t.Errorf("after the restore app one reports %+v", r)
		}

		// The daily backup is a periodic Nomad job; one run, forced, becomes a
		// scheduled backup.
		napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
		periodic := platform.Ref("acme", "two", "review").BackupsJobID("db")
		waitFor(t, "the periodic backup job", func() bool {
			job, _, err := napi.Jobs().Info(periodic, nil)
			return err == nil && job.IsPeriodic()
		})
		if _, _, err := napi.Jobs().PeriodicForce(periodic, nil); err != nil {
			t.Fatalf("force a run of %s: %v", periodic, err)
		}
		waitFor(t, "a scheduled backup", func() bool {
			var page struct {
				Items []struct {
					Trigger string `json:"trigger"`
					Size    int    `json:"size"`
				} `json:"items"`
			}
			json.Unmarshal(call(200, "GET", env2+"/services/db/backups", nil), &page)
			for _, b := range page.Items {
				if b.Trigger == "scheduled" && b.Size > 0 {
					return true
				}
			}
			return false
		})
	})

	t.Run("detaching takes effect with the next deploy", func(t *testing.T) {
		var sv envService
		json.Unmarshal(call(200, "POST", env2+"/services/db/detach", nil), &sv)
		if sv.State != "detaching" {
			t.Fatalf("detach: %+v", sv)
		}
		if r := report(t, url2); !r.HasDSN || r.Error != "" {
			t.Errorf("before the next deploy, app two reports %+v", r)
		}
		var d deploy
		json.Unmarshal(call(202, "POST", env2+"/deploys", map[string]any{"image": image}), &d)
		if d = c.follow(env2, d.ID); d.Status != "succeeded" {
			t.Fatalf("deploy: %s (%s)", d.Status, d.Error)
		}
		json.Unmarshal(call(200, "GET", env2+"/services/db", nil), &sv)
		if sv.State != "detached" {
			t.Errorf("after the deploy the instance is %s", sv.State)
		}
		if r := report(t, appURL(t, s, platform.Ref("acme", "two", "review").ServiceName())); r.HasDSN || r.Secret != secrets["two"] {
			t.Errorf("after detaching, app two reports %+v", r)
		}
		if pgCount(t, s, "SELECT count(*) FROM pg_database WHERE datname = $1", svc["two"].Database) != 1 {
			t.Errorf("detaching dropped the database")
		}
	})

	t.Run("deleting the environment revokes its credentials and drops its database", func(t *testing.T) {
		call(204, "DELETE", env1, nil)
		user := r1.SessionUser
		if n := pgCount(t, s, "SELECT count(*) FROM pg_roles WHERE rolname = $1", user); n != 0 {
			t.Errorf("the PostgreSQL user %s survives the environment", user)
		}
		if n := pgCount(t, s, "SELECT count(*) FROM pg_roles WHERE rolname LIKE $1", svc["one"].Database+"%"); n != 0 {
			t.Errorf("the owner role of %s survives", svc["one"].Database)
		}
		if n := pgCount(t, s, "SELECT count(*) FROM pg_database WHERE datname = $1", svc["one"].Database); n != 0 {
			t.Errorf("the database %s survives", svc["one"].Database)
		}
		root, _ := s.Vault.Client()
		if sec, err := root.Logical().Read("database/roles/" + svc["one"].CredentialsRole); err != nil || sec != nil {
			t.Errorf("the Vault role survives: %v %v", sec, err)
		}
		if pol, _ := root.Sys().GetPolicy(platform.Ref("acme", "one", "review").VaultPolicy()); pol != "" {
			t.Errorf("the environment's policy survives")
		}
		if _, err := pgx.Connect(context.Background(), dsn1); err == nil {
			t.Errorf("app one's DSN still connects")
		}
		napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
		waitFor(t, "app one's periodic backup job to go", func() bool {
			_, _, err := napi.Jobs().Info(platform.Ref("acme", "one", "review").BackupsJobID("db"), nil)
			return err != nil
		})
	})

	t.Run("no credential in Consul KV, wharfd's log or an API response", func(t *testing.T) {
		call(200, "GET", env2+"/services", nil)
		call(200, "GET", env2+"/releases", nil)
		call(200, "GET", env2, nil)
		pw1, pw2 := password(t, dsn1), password(t, dsn2)
		forbidden := map[string]string{
			"app one's database password": pw1, "app two's database password": pw2,
			"the PostgreSQL admin password": s.Postgres.AdminPassword,
			"app one's secret":              secrets["one"], "app two's secret": secrets["two"],
		}
		cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
		pairs, _, err := cc.KV().List("", nil)
		if err != nil || len(pairs) == 0 {
			t.Fatalf("read Consul KV: %d keys, %v", len(pairs), err)
		}
		var kv strings.Builder
		for _, p := range pairs {
			kv.WriteString(p.Key + "=" + string(p.Value) + "\n")
		}
		if !strings.Contains(kv.String(), svc["two"].Database) {
			t.Fatalf("Consul KV does not hold the service instances (so its check proves nothing)")
		}
		for what, v := range forbidden {
			if len(v) < 8 {
				t.Fatalf("%s is too short to look for: %q", what, v)
			}
			if strings.Contains(kv.String(), v) {
				t.Errorf("%s is in Consul KV", what)
			}
			if strings.Contains(w.Log(), v) {
				t.Errorf("%s is in wharfd's log", what)
			}
			for _, r := range responses {
				if strings.Contains(r, v) {
					t.Errorf("%s is in an API response: %s", what, r)
				}
			}
		}
	})
}

// buildDBApp builds testdata/dbapp into an image FROM scratch and returns its reference.
func buildDBApp(t *testing.T) string { return buildStaticImage(t, "dbapp") }

// buildStaticImage builds the Go program testdata/<name> (static) into an image FROM
// scratch in the local Docker engine, removed after the test, and returns its reference.
func buildStaticImage(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, name), "./testdata/"+name)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY "+name+" /"+name+"\nENTRYPOINT [\"/"+name+"\"]\n"), 0o644)
	image := fmt.Sprintf("wharf-e2e/%s:%d", name, os.Getpid())
	if out, err := exec.Command("docker", "build", "-q", "-t", image, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })
	return image
}

// appURL waits for a healthy instance of the service and returns its base URL.
func appURL(t *testing.T, s *devstack.Stack, service string) string {
	t.Helper()
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	deadline := time.Now().Add(time.Minute)
	for {
		entries, _, err := cc.Health().Service(service, "", true, nil)
		if err == nil && len(entries) == 1 {
			return fmt.Sprintf("http://%s:%d", entries[0].Service.Address, entries[0].Service.Port)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no single healthy instance: %d, %v", service, len(entries), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s: %s", u, resp.Status, b)
	}
	return string(b)
}

func report(t *testing.T, base string) dbReport {
	t.Helper()
	var r dbReport
	if err := json.Unmarshal([]byte(httpGet(t, base+"/report")), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func withDatabase(t *testing.T, dsn, db string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("the DSN does not parse: %v", err)
	}
	u.Path = "/" + db
	return u.String()
}

func password(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	return pw
}

// pgCount runs a count query as the cluster's admin.
func pgCount(t *testing.T, s *devstack.Stack, q, arg string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Postgres.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, q, arg).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// pgCountIn runs a count query (without arguments) as the cluster's admin in database db.
func pgCountIn(t *testing.T, s *devstack.Stack, db, q string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Postgres.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s in %s: %v", q, db, err)
	}
	return n
}

// pgExecIn runs a statement as the cluster's admin in database db.
func pgExecIn(t *testing.T, s *devstack.Stack, db, q string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Postgres.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, q); err != nil {
		t.Fatalf("%s in %s: %v", q, db, err)
	}
}

// waitFor polls cond until it holds, for at most two minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited two minutes for %s", what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// validUntil is when the PostgreSQL role's password expires.
func validUntil(t *testing.T, s *devstack.Stack, role string) time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.Postgres.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v *time.Time
	if err := conn.QueryRow(ctx, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1", role).Scan(&v); err != nil {
		t.Fatalf("role %s: %v", role, err)
	}
	if v == nil {
		t.Fatalf("role %s never expires", role)
	}
	return *v
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
