package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestRuns runs one-off commands through the real wharf CLI, wharfd, Vault, Nomad and
// PostgreSQL: the command runs in the environment's current release with its
// configuration (a secret variable and a database's credentials), its output comes back
// on the right streams, its exit code is the CLI's; a detached run is kept with its
// output; a viewer and another organisation's member can neither run nor read runs.
func TestRuns(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile)
	admin := &client{t: t, url: w.URL, token: token}
	admin.seedApp(s, "shop")
	env := "/v1/orgs/acme/apps/shop/envs/test"
	const secret = "s3cr3t-value" // 12 bytes
	admin.must(201, "PUT", env+"/vars/DB_PASSWORD", map[string]any{"value": secret, "secret": true}, nil)
	admin.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": "hello"}, nil)
	admin.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 64}}}, nil)
	admin.must(201, "POST", env+"/services", map[string]any{"name": "db"}, nil)
	admin.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)

	u := newCLIUser(t)
	u.env = append(u.env, "WHARF_ADDR="+w.URL, "WHARF_TOKEN="+token)
	u.ok("link", "shop", "--org", "acme")
	// Nothing is deployed yet: nothing to run in.
	u.fails(5, `no release yet`, nil, "run", "test", "--", "true")

	var d deploy
	admin.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = admin.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy: %s (%s)", d.Status, d.Error)
	}

	// The secret's length, a database URL's scheme, on stdout; a line on stderr; exit 3.
	r := u.runEnv("", nil, "run", "test", "--", "sh", "-c", `echo "length ${#DB_PASSWORD}"; echo "db ${DATABASE_URL%%:*}"; echo "to stderr" >&2; exit 3`)
	if r.code != 3 {
		t.Errorf("wharf run exited %d, want the command's 3", r.code)
	}
	mustContain(t, "run stdout", r.stdout, "length 12\n", "db postgresql\n")
	mustContain(t, "run stderr", r.stderr, "to stderr\n")
	if strings.Contains(r.stdout, "to stderr") || strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("stderr's line reached stdout, or the secret was printed")
	}
	// One argument is a shell command line; the run knows it is one.
	r = u.ok("run", "test", "--", `echo "$WHARF_PROCESS in $STAGE of release $WHARF_RELEASE: $GREETING"; true`)
	mustContain(t, "run of a command line", r.stdout, "run in test of release 1: hello\n")
	// Each of several arguments is passed as it is: no shell expands them.
	r = u.ok("run", "test", "--", "echo", "$GREETING", "a  b", "it's")
	mustContain(t, "run of arguments", r.stdout, "$GREETING a  b it's\n")

	// A detached run goes on; its output and exit code are kept.
	r = u.ok("run", "test", "--detach", "--", "sh", "-c", "sleep 1; echo detached done; exit 7")
	mustContain(t, "run --detach", r.stdout, "started in acme/shop test")
	id := strings.Fields(r.stdout)[1]
	var run struct {
		Status   string `json:"status"`
		ExitCode *int   `json:"exit_code"`
		Output   []struct {
			Stream, Line string
		} `json:"output"`
		CreatedBy string `json:"created_by"`
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(500 * time.Millisecond) {
		admin.must(200, "GET", env+"/runs/"+id, nil, &run)
		if run.Status != "running" || time.Now().After(deadline) {
			break
		}
	}
	if run.Status != "failed" || run.ExitCode == nil || *run.ExitCode != 7 || len(run.Output) != 1 || run.Output[0].Line != "detached done" {
		t.Errorf("the detached run ended as %+v, want failed with exit 7 and its line", run)
	}
	r = u.ok("runs", "test", id)
	mustContain(t, "runs ENV RUN", r.stdout, "detached done\n")
	mustContain(t, "runs ENV RUN", r.stderr, "exit 7")
	mustContain(t, "runs", u.ok("runs", "test").stdout, id, "exit 7", "exit 3", "exit 0")

	// A run is a Nomad job only while it runs.
	var jobs []struct{ ID string }
	if resp, err := operatorGet(s, "/v1/jobs?prefix=wharf.env.acme.shop.test.run."); err != nil {
		t.Fatal(err)
	} else {
		json.NewDecoder(resp.Body).Decode(&jobs)
		resp.Body.Close()
	}
	if len(jobs) != 0 {
		t.Errorf("run jobs left in Nomad: %+v", jobs)
	}

	t.Run("a viewer may not run nor read runs", func(t *testing.T) {
		a := isoIn(t, admin)
		vera := isoPerson(t, a, "vera")
		a.must(200, "PUT", "/v1/orgs/acme/members/vera", map[string]any{"role": "viewer"}, nil)
		vera.must(403, "POST", env+"/runs", map[string]any{"command": "true"}, nil)
		vera.must(403, "GET", env+"/runs", nil, nil)
		vera.must(403, "GET", env+"/runs/"+id, nil, nil)
		vera.must(403, "GET", env+"/runs/"+id+"/events", nil, nil)
		vera.must(403, "POST", env+"/runs/"+id+"/stop", nil, nil)
		v := newCLIUser(t)
		v.env = append(v.env, "WHARF_ADDR="+w.URL, "WHARF_TOKEN="+vera.token)
		v.fails(3, `viewer role may not`, nil, "run", "test", "--app", "shop", "--org", "acme", "--", "true")
	})

	t.Run("another organisation's member cannot run in or read the victim's environment", func(t *testing.T) {
		a := isoIn(t, admin)
		mallory := isoPerson(t, a, "mallory")
		mallory.must(201, "POST", "/v1/orgs", map[string]any{"name": "evil"}, nil)
		mallory.must(404, "POST", env+"/runs", map[string]any{"command": "env"}, nil)
		mallory.must(404, "GET", env+"/runs", nil, nil)
		mallory.must(404, "GET", env+"/runs/"+id, nil, nil)
		mallory.must(404, "GET", env+"/runs/"+id+"/events", nil, nil)
		mallory.must(404, "POST", env+"/runs/"+id+"/stop", nil, nil)
	})

	t.Run("bad input", func(t *testing.T) {
		a := isoIn(t, admin)
		a.must(400, "POST", env+"/runs", map[string]any{}, nil)
		a.must(400, "POST", env+"/runs", map[string]any{"command": "true", "args": []string{"true"}}, nil)
		a.must(400, "POST", env+"/runs", map[string]any{"command": "true", "image": "evil"}, nil)
		a.must(404, "GET", env+"/runs/no-such-run", nil, nil)
		u.fails(2, `no command given`, nil, "run", "test", "--")
	})
}
