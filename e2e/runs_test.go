package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
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

	t.Run("exec", func(t *testing.T) { testExec(t, s, admin, u) })

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
		v.fails(3, `viewer role may not`, nil, "run", "--app", "shop", "--org", "acme", "test", "--", "true")
		vera.must(403, "GET", env+"/instances/web.0/exec", nil, nil)
		v.fails(3, `viewer role may not`, nil, "exec", "--app", "shop", "--org", "acme", "test", "web.0", "--", "true")
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
		mallory.must(404, "GET", env+"/instances/web.0/exec", nil, nil)
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

// testExec runs commands in the environment's web.0 through wharf exec: one with a
// command and piped standard input, and one interactive session under a terminal (a
// tmux pane the test types into), whose size reaches the instance; each exit code is
// the CLI's, and each session is in the audit log.
func testExec(t *testing.T, s *devstack.Stack, admin *client, u *cliUser) {
	r := u.runEnv("", nil, "exec", "test", "web.0", "--", "sh", "-c", "ls /; echo to-stderr >&2; exit 4")
	if r.code != 4 {
		t.Errorf("wharf exec exited %d, want the command's 4", r.code)
	}
	mustContain(t, "exec stdout", r.stdout, "bin\n", "www\n")
	mustContain(t, "exec stderr", r.stderr, "to-stderr\n")
	r = u.runEnv("piped through\n", nil, "exec", "test", "--", "cat")
	if r.code != 0 || r.stdout != "piped through\n" {
		t.Errorf("wharf exec -- cat with standard input = %d %q", r.code, r.stdout)
	}
	u.fails(4, `instance web.7 of environment "test" is not running`, nil, "exec", "test", "web.7", "--", "true")

	// An interactive session in a terminal: tmux gives wharf one, 100×30.
	if _, err := exec.LookPath("tmux"); err != nil {
		agenttest.Unavailable(t, "tmux is needed to drive a terminal session (scripts/deps.sh packages installs it): %v", err)
	}
	dir := t.TempDir()
	sock, done := filepath.Join(dir, "tmux.sock"), filepath.Join(dir, "done")
	tmux := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("tmux", append([]string{"-S", sock}, args...)...)
		cmd.Env, cmd.Dir = u.env, u.dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	script := fmt.Sprintf("%s exec test web.0; echo \"exit=$?\" > %s", filepath.Join(binDir, "wharf"), done)
	tmux("new-session", "-d", "-x", "100", "-y", "30", "sh", "-c", script)
	t.Cleanup(func() { exec.Command("tmux", "-S", sock, "kill-server").Run() })
	screen := func(want string) string {
		t.Helper()
		var got string
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if got = tmux("capture-pane", "-p", "-t", "0"); strings.Contains(got, want) {
				return got
			}
		}
		t.Fatalf("the terminal never showed %q; it shows:\n%s", want, got)
		return ""
	}
	screen("/ #") // the instance's shell prompts
	tmux("send-keys", "-t", "0", "stty size; ls /; echo marker-$((6*7))", "Enter")
	got := screen("marker-42")
	mustContain(t, "the terminal session", got, "30 100", "www")
	tmux("send-keys", "-t", "0", "exit 5", "Enter")
	var ended []byte
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ended, _ = os.ReadFile(done); len(ended) > 0 {
			break
		}
	}
	if strings.TrimSpace(string(ended)) != "exit=5" {
		t.Errorf("the terminal session ended with %q, want exit=5", ended)
	}

	// Each session is audited: who, which instance; never what was typed.
	var audit struct {
		Items []struct {
			Actor, Action, Target string
		} `json:"items"`
	}
	admin.must(200, "GET", "/v1/orgs/acme/audit?limit=500", nil, &audit)
	sessions := 0
	for _, ev := range audit.Items {
		if ev.Action == "exec" {
			sessions++
			if !strings.HasPrefix(ev.Target, "shop/test web.0 (") || ev.Actor == "" || strings.Contains(ev.Target, "ls") {
				t.Errorf("exec audit event %+v", ev)
			}
		}
	}
	if sessions != 3 { // the command, cat, the terminal session
		t.Errorf("%d exec sessions audited, want 3: %+v", sessions, audit.Items)
	}
}
