package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
)

// cliUser runs the real wharf binary as one person would: their own home (so their own
// stored token) and working directory.
type cliUser struct {
	t   *testing.T
	dir string   // the working directory
	env []string // the process environment
}

func newCLIUser(t *testing.T) *cliUser {
	home := t.TempDir()
	dir := filepath.Join(home, "shop")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &cliUser{t: t, dir: dir, env: []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}}
}

// cliResult is what one wharf command did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// command makes the command for args, with extra environment variables.
func (u *cliUser) command(stdin string, extraEnv []string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(binDir, "wharf"), args...)
	cmd.Dir = u.dir
	cmd.Env = append(append([]string(nil), u.env...), extraEnv...)
	cmd.Stdin = strings.NewReader(stdin)
	return cmd
}

// runEnv runs wharf and returns its exit code and output.
func (u *cliUser) runEnv(stdin string, extraEnv []string, args ...string) cliResult {
	u.t.Helper()
	cmd := u.command(stdin, extraEnv, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		u.t.Fatalf("wharf %s: %v", strings.Join(args, " "), err)
	}
	u.t.Logf("$ wharf %s  → %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// ok runs wharf, which must succeed.
func (u *cliUser) ok(args ...string) cliResult {
	u.t.Helper()
	return u.okIn("", args...)
}

// okIn runs wharf with stdin, which must succeed.
func (u *cliUser) okIn(stdin string, args ...string) cliResult {
	u.t.Helper()
	r := u.runEnv(stdin, nil, args...)
	if r.code != 0 {
		u.t.Fatalf("wharf %s exited %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fails runs wharf, which must exit with code and say so in one line on stderr that
// matches want.
func (u *cliUser) fails(code int, want string, extraEnv []string, args ...string) cliResult {
	u.t.Helper()
	return u.failsIn("", code, want, extraEnv, args...)
}

// failsIn is fails with stdin.
func (u *cliUser) failsIn(stdin string, code int, want string, extraEnv []string, args ...string) cliResult {
	u.t.Helper()
	r := u.runEnv(stdin, extraEnv, args...)
	if r.code != code {
		u.t.Errorf("wharf %s exited %d, want %d", strings.Join(args, " "), r.code, code)
	}
	line := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(line, "\n") || !strings.HasPrefix(line, "wharf: ") {
		u.t.Errorf("wharf %s: stderr is not one line starting with \"wharf: \": %q", strings.Join(args, " "), r.stderr)
	}
	if !regexp.MustCompile(want).MatchString(line) {
		u.t.Errorf("wharf %s: stderr %q does not match %q", strings.Join(args, " "), line, want)
	}
	if r.stdout != "" {
		u.t.Errorf("wharf %s: a failure wrote to stdout: %q", strings.Join(args, " "), r.stdout)
	}
	return r
}

// jsonOut runs a read command with --output json and decodes what it prints.
func (u *cliUser) jsonOut(v any, args ...string) {
	u.t.Helper()
	r := u.ok(append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		u.t.Fatalf("wharf %s -o json printed no JSON: %v: %q", strings.Join(args, " "), err, r.stdout)
	}
}

// interrupt starts wharf, waits until a line of its stderr (or stdout, when fromStdout)
// contains marker, sends it SIGINT and returns how it ended.
func (u *cliUser) interrupt(marker string, fromStdout bool, args ...string) cliResult {
	u.t.Helper()
	cmd := u.command("", nil, args...)
	var rest bytes.Buffer
	var pipe io.ReadCloser
	var err error
	if fromStdout {
		cmd.Stderr = &rest
		pipe, err = cmd.StdoutPipe()
	} else {
		cmd.Stdout = &rest
		pipe, err = cmd.StderrPipe()
	}
	if err != nil {
		u.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		u.t.Fatal(err)
	}
	var seen bytes.Buffer
	found := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pipe)
		signalled := false
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), marker) {
				signalled = true
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-readDone:
		u.t.Fatalf("wharf %s ended before it printed %q: %s", strings.Join(args, " "), marker, seen.String())
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		u.t.Fatalf("wharf %s printed no %q", strings.Join(args, " "), marker)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		u.t.Fatal(err)
	}
	<-readDone
	err = cmd.Wait()
	r := cliResult{}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		u.t.Fatal(err)
	}
	if fromStdout {
		r.stdout, r.stderr = seen.String(), rest.String()
	} else {
		r.stdout, r.stderr = rest.String(), seen.String()
	}
	u.t.Logf("$ wharf %s (interrupted) → %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// fetchEach returns the status each healthy instance of service answers for path.
func fetchEach(t *testing.T, s *devstack.Stack, service, path string) []int {
	t.Helper()
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	entries, _, err := cc.Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d%s", e.Service.Address, e.Service.Port, path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		out = append(out, resp.StatusCode)
	}
	return out
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// TestCLI is a new user's session with the real wharf binary against the real wharfd
// and agents: log in, create an application, configure it, deploy, read logs, scale,
// roll back and delete it, with every class of error along the way.
func TestCLI(t *testing.T) {
	s := agenttest.Stack(t)
	admin := bootstrap(t, s)
	w := startWharfd(t, s)
	api := &client{t: t, url: w.URL, token: admin}
	// The operator's part: a cloudspace and a plan, which the CLI does not manage.
	api.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr}, nil)
	api.must(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 5, "instances_per_process": 3, "memory_mb_per_instance": 256, "service_instances": 2}}, nil)

	u := newCLIUser(t)
	service := platform.Ref("acme", "shop", "test").ServiceName()

	// Logging in.
	u.fails(3, `not logged in: run .wharf login.`, nil, "orgs")
	u.fails(2, `no token given`, nil, "login", "--addr", w.URL)
	u.failsIn("wharf_wrong\n", 3, `refused the token`, nil, "login", "--addr", w.URL)
	r := u.okIn(admin+"\n", "login", "--addr", w.URL)
	mustContain(t, "login", r.stdout, "Logged in to "+w.URL)
	cfgPath := filepath.Join(strings.TrimPrefix(u.env[0], "HOME="), ".config", "wharf", "config.json")
	if fi, err := os.Stat(cfgPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("stored configuration %s: %v, mode %v; want 0600", cfgPath, err, fi.Mode())
	}
	// The token typed is not stored: a new one of the same person that expires is.
	if b, _ := os.ReadFile(cfgPath); strings.Contains(string(b), admin) || !strings.Contains(string(b), `"wharf_`) || strings.Contains(r.stdout+r.stderr, admin) {
		t.Errorf("the token typed is stored or printed, or no expiring token is stored")
	}
	mustContain(t, "login", r.stdout, " until ")
	u.failsIn("wharf_wrong\n", 3, `refused the token`, nil, "login", "--addr", w.URL) // a failed login ...
	u.ok("orgs")                                                                      // ... keeps the stored token

	// An organisation and an application.
	u.ok("orgs", "create", "acme", "--display-name", "Acme Corp")
	mustContain(t, "orgs", u.ok("orgs").stdout, "NAME", "acme", "Acme Corp")
	mustContain(t, "cloudspaces", u.ok("cloudspaces").stdout, "local", "on-premises", "localhost")
	r = u.ok("apps", "create", "shop", "--cloudspace", "local", "--plan", "dev")
	mustContain(t, "apps create", r.stdout, "Created acme/shop", "Linked this directory to acme/shop")
	var link struct{ Org, App string }
	if b, err := os.ReadFile(filepath.Join(u.dir, ".wharf")); err != nil || json.Unmarshal(b, &link) != nil || link.Org != "acme" || link.App != "shop" {
		t.Fatalf(".wharf = %+v, %v", link, err)
	}
	mustContain(t, "apps", u.ok("apps").stdout, "shop", "local", "dev", "live,test")
	var app struct {
		Name         string   `json:"name"`
		Environments []string `json:"environments"`
	}
	u.jsonOut(&app, "apps", "show")
	if app.Name != "shop" || len(app.Environments) != 2 {
		t.Errorf("apps show -o json = %+v", app)
	}
	if got := u.ok("__complete", "deploy", "").stdout; !strings.HasPrefix(got, "live\ntest\n") {
		t.Errorf("shell completion of deploy's ENV = %q, want the environments", got)
	}
	var envs []struct{ Name string }
	u.jsonOut(&envs, "envs")
	if len(envs) != 2 {
		t.Errorf("envs -o json = %+v, want test and live", envs)
	}

	// Configuration: variables (one secret, from standard input), scale, a Procfile.
	u.ok("env", "set", "test", "GREETING=hello", "STAGE=test")
	u.okIn("s3cr3t-value\n", "env", "set", "test", "DB_PASSWORD", "--secret")
	r = u.ok("env", "list", "test")
	mustContain(t, "env list", r.stdout, "GREETING", "hello", "DB_PASSWORD", "(secret)")
	if strings.Contains(r.stdout, "s3cr3t-value") {
		t.Errorf("env list shows a secret value")
	}
	mustContain(t, "scale before a deploy", u.ok("scale", "test", "web=1:32").stdout, "applies with the first deploy")
	procfile := "web: " + webCommand + "\nrelease: echo \"migrating $STAGE\"\ncron tick */5 * * * *: echo tick\n"
	if err := os.WriteFile(filepath.Join(u.dir, "Procfile"), []byte(procfile), 0o644); err != nil {
		t.Fatal(err)
	}
	u.ok("procfile", "set", "test")
	if got := u.ok("procfile", "show", "test").stdout; got != procfile {
		t.Errorf("procfile show = %q, want what was set: %q", got, procfile)
	}

	// The first deploy, followed live to the URL.
	r = u.ok("deploy", "test", "--image", agenttest.BaseImage)
	mustContain(t, "deploy progress", r.stderr, "queued", "release_command", "stdout: migrating test", "rollout", "done")
	if strings.Contains(r.stdout+r.stderr, "s3cr3t-value") {
		t.Errorf("deploy output shows a secret value")
	}
	var st struct {
		Release   int    `json:"release"`
		Deploying string `json:"deploying"`
		URL       string `json:"url"`
		Instances []struct {
			Process string `json:"process"`
		} `json:"instances"`
	}
	u.jsonOut(&st, "status", "test")
	if st.Release != 1 || st.URL == "" {
		t.Fatalf("status after the first deploy = %+v", st)
	}
	if got, want := lastLine(r.stdout), "release 1 of acme/shop test is live at "+st.URL; !strings.HasSuffix(got, want) {
		t.Errorf("deploy's last line = %q, want it to end %q", got, want)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 1" {
		t.Fatalf("release 1 serves %q", got)
	}
	mustContain(t, "status", u.ok("status", "test").stdout, "acme/shop test", "v1", "running", st.URL, "web.0", "true")
	if got := u.ok("open", "test").stdout; got != st.URL+"\n" {
		t.Errorf("open (not a terminal) printed %q, want the URL", got)
	}
	mustContain(t, "releases", u.ok("releases").stdout, "RELEASE", "v1", agenttest.BaseImage)

	// Logs: the web process said hello; following them ends cleanly on Ctrl-C.
	mustContain(t, "logs", u.ok("logs", "test", "--process", "web").stdout, "[web.0] hello from web 0")
	r = u.interrupt("hello from web", true, "logs", "test", "-f")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("logs -f interrupted: exit %d, stderr %q; want 0 and nothing", r.code, r.stderr)
	}

	// A second release with a changed variable.
	u.ok("env", "set", "test", "GREETING=bonjour")
	r = u.ok("deploy", "--image", agenttest.BaseImage) // test by default
	mustContain(t, "second deploy", lastLine(r.stdout), "release 2 of acme/shop test is live")
	if got := serving(t, s, service); len(got) != 1 || got[0] != "bonjour release 2" {
		t.Errorf("release 2 serves %q", got)
	}

	// Ctrl-C while following a deploy stops following; the deploy goes on.
	r = u.interrupt("queued", false, "restart", "test")
	if r.code != 130 || !regexp.MustCompile("^wharf: stopped following deploy \\S+; it goes on on the server: `wharf status test` shows it$").MatchString(lastLine(r.stderr)) {
		t.Errorf("restart interrupted: exit %d, stderr %q", r.code, r.stderr)
	}
	id := regexp.MustCompile(`Deploy (\S+) \(restart\)`).FindStringSubmatch(r.stderr)
	if id == nil {
		t.Fatalf("the interrupted restart named no deploy: %q", r.stderr)
	}
	u.jsonOut(&st, "status", "test")
	var d deploy
	api.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/deploys/"+id[1], nil, &d)
	if d.Status == "succeeded" || d.Status == "failed" {
		t.Logf("the restart ended before status was asked")
	} else if st.Deploying != id[1] {
		t.Errorf("status while the restart runs shows deploying %q, want %q", st.Deploying, id[1])
	}
	if d = api.follow("/v1/orgs/acme/apps/shop/envs/test", id[1]); d.Status != "succeeded" {
		t.Errorf("the interrupted restart = %s (%s), want it to go on and succeed", d.Status, d.Error)
	}

	// Scale out, then roll back to release 1.
	r = u.ok("scale", "test", "web=2")
	mustContain(t, "scale", lastLine(r.stdout), "succeeded", "live at "+st.URL)
	if got := serving(t, s, service); len(got) != 2 {
		t.Errorf("after scaling to 2: %d healthy instances (%q)", len(got), got)
	}
	r = u.ok("rollback", "test", "v1")
	mustContain(t, "rollback", lastLine(r.stdout), "release 3 (a rollback) of acme/shop test is live")
	if got := serving(t, s, service); len(got) != 2 || got[0] != "hello release 3" {
		t.Errorf("after the rollback the app serves %q, want release 1's configuration", got)
	}
	var rels []struct {
		Number     int `json:"number"`
		RollbackOf int `json:"rollback_of"`
	}
	u.jsonOut(&rels, "releases", "test")
	if len(rels) != 3 || rels[2].Number != 3 || rels[2].RollbackOf != 1 {
		t.Errorf("releases -o json = %+v, want 3 with the last a rollback of 1", rels)
	}
	mustContain(t, "releases", u.ok("releases", "test").stdout, "rollback to release 1")

	// Deploying the directory's source: packed without what .dockerignore excludes,
	// uploaded, built (its log shown live) and deployed.
	for name, content := range map[string]string{
		"Dockerfile":     "FROM " + agenttest.BaseImage + "\nCOPY www /www\n",
		".dockerignore":  "**/*.log\n.wharf\n",
		"www/index.html": "built from source\n",
		"www/debug.log":  "not for the image\n",
		"Procfile":       "web: exec httpd -f -p \"$PORT\" -h /www\n",
	} {
		os.MkdirAll(filepath.Join(u.dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(u.dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	u.ok("procfile", "set", "test")
	r = u.ok("deploy")
	mustContain(t, "deploy from source", r.stderr, "Packed", "2 paths left out by .dockerignore", "Uploading:", "(100%)",
		"| Step 1/2 : FROM "+agenttest.BaseImage, "Built ", "@sha256:", "rollout")
	mustContain(t, "deploy from source", lastLine(r.stdout), "release 4 of acme/shop test is live at "+st.URL)
	if got := serving(t, s, service); len(got) != 2 || got[0] != "built from source" {
		t.Errorf("after the deploy from source the app serves %q", got)
	}
	if got := fetchEach(t, s, service, "/debug.log"); len(got) != 2 || got[0] != 404 {
		t.Errorf("an excluded file reached the image: GET /debug.log = %v", got)
	}

	// A failing release command fails the deploy: exit 1, and the old release serves.
	if err := os.WriteFile(filepath.Join(u.dir, "Procfile"), []byte("web: exec httpd -f -p \"$PORT\" -h /www\nrelease: echo broken >&2; exit 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	u.ok("procfile", "set", "test")
	r = u.runEnv("", nil, "deploy", "test", "--image", agenttest.BaseImage)
	if r.code != 1 || !regexp.MustCompile(`^wharf: deploy \S+ failed: .*release command`).MatchString(lastLine(r.stderr)) {
		t.Errorf("failing deploy: exit %d, last line %q", r.code, lastLine(r.stderr))
	}
	mustContain(t, "failing deploy", r.stderr, "stderr: broken")
	if got := serving(t, s, service); len(got) != 2 || got[0] != "built from source" {
		t.Errorf("after the failed deploy the app serves %q", got)
	}

	// Every class of error: its exit code and one readable line.
	u.fails(2, `unknown command "frobnicate"`, nil, "frobnicate")
	u.fails(2, `unknown flag: --bogus`, nil, "apps", "--bogus")
	u.fails(2, `accepts 1 arg\(s\), received 0; usage: wharf status ENV`, nil, "status")
	u.fails(2, `"web=lots": instances must be a whole number`, nil, "scale", "test", "web=lots")
	u.fails(2, `--output must be table or json`, nil, "apps", "-o", "yaml")
	u.fails(2, `invalid request: name must`, nil, "env", "set", "test", "1BAD=x") // the API's invalid
	u.fails(2, `confirm with --confirm shop`, nil, "apps", "delete", "shop")
	u.fails(3, `log in again with .wharf login.`, []string{"WHARF_TOKEN=wharf_not-a-token"}, "apps")
	u.fails(4, `not found`, nil, "status", "staging")
	u.fails(4, `not found`, nil, "apps", "show", "nope")
	u.fails(5, `(exists|already)`, nil, "apps", "create", "shop", "--cloudspace", "local", "--plan", "dev", "--no-link")
	u.fails(5, `plan.*limit`, nil, "scale", "test", "web=9") // beyond the plan
	u.fails(6, `cannot reach wharfd at http://127.0.0.1:1`, []string{"WHARF_ADDR=http://127.0.0.1:1"}, "apps")
	// This wharfd has no PostgreSQL cluster: a database service is unavailable. It has an
	// object store: a storage bucket is added, listed and removed.
	mustContain(t, "services list", u.ok("services", "list", "test").stdout, "No service instances in acme/shop test.")
	u.fails(6, `PostgreSQL`, nil, "services", "add", "test", "db")
	mustContain(t, "services add storage", u.ok("services", "add", "test", "media", "--kind", "storage").stdout,
		"Added media (storage, attached) to acme/shop test: deploy to give the app DEFAULT_STORAGE_DSN", "Objects under public/ are served to anyone at "+s.ObjectStore.Endpoint()+"/wharf-")
	mustContain(t, "services list storage", u.ok("services", "list", "test").stdout, "media", "storage", "DEFAULT_STORAGE_DSN", "attached", "wharf-")
	u.fails(2, `confirm with --confirm media`, nil, "services", "remove", "test", "media")
	mustContain(t, "services remove storage", u.ok("services", "remove", "test", "media", "--confirm", "media").stdout, "Removed media from acme/shop test")
	u.fails(2, `kind must be postgres or storage`, nil, "services", "add", "test", "x", "--kind", "nfs")
	mustContain(t, "completion", u.ok("completion", "bash").stdout, "bash completion")

	// Custom domains.
	mustContain(t, "domains add", u.ok("domains", "add", "test", "www.shop.test", "--primary").stdout, "Added www.shop.test to acme/shop test")
	mustContain(t, "domains list", u.ok("domains", "list", "test").stdout, "www.shop.test", "yes")
	u.fails(2, `name must be a lower-case DNS name`, nil, "domains", "add", "test", "localhost")
	u.ok("domains", "remove", "test", "www.shop.test")
	mustContain(t, "domains list", u.ok("domains", "list", "test").stdout, "No custom domains in acme/shop test.")

	// Removing a variable, then the application.
	u.ok("env", "unset", "test", "STAGE")
	if strings.Contains(u.ok("env", "list", "test").stdout, "STAGE") {
		t.Errorf("STAGE is still listed after env unset")
	}
	mustContain(t, "apps delete", u.ok("apps", "delete", "shop", "--confirm", "shop").stdout, "Deleted acme/shop")
	mustContain(t, "apps after delete", u.ok("apps").stdout, "No applications in acme.")
	u.fails(4, `not found`, nil, "status", "test")
	u.ok("logout")
	u.fails(3, `not logged in`, nil, "apps")
}
