package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/jackc/pgx/v5"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/objectstore"
	"github.com/wharf-platform/wharf/platform/registry"
	"github.com/wharf-platform/wharf/terraform/provider"
)

// providerVersion is the version the test installs terraform-provider-wharf under in
// its filesystem mirror.
const providerVersion = "0.1.0"

// tofu runs the real OpenTofu in one working directory, with the provider built from
// this checkout installed in a filesystem mirror (as a user installs it: no registry is
// reachable), against one wharfd.
type tofu struct {
	t    *testing.T
	bin  string
	dir  string
	env  []string
	vars []string
}

// newTofuTree copies terraform/ (modules and examples) into a temporary directory,
// installs the provider in a mirror there, and returns the tree's root and the
// environment tofu runs with.
func newTofuTree(t *testing.T, wharfURL, token string) (string, []string) {
	t.Helper()
	root := t.TempDir()
	src, _ := filepath.Abs("../terraform")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(root, rel), 0o755)
		}
		if !strings.HasSuffix(p, ".tf") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(root, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(root, "mirror")
	host, typ := strings.SplitN(provider.Address, "/", 2)[0], strings.SplitN(provider.Address, "/", 2)[1]
	pdir := filepath.Join(mirror, host, typ, providerVersion, "linux_amd64")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(binDir, "terraform-provider-wharf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "terraform-provider-wharf_v"+providerVersion), b, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(root, "tofurc")
	os.WriteFile(rc, []byte(fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path    = %q\n    include = [%q]\n  }\n}\n", mirror, provider.Address)), 0o644)
	home := filepath.Join(root, "home")
	os.MkdirAll(home, 0o700)
	env := append(os.Environ(), "TF_CLI_CONFIG_FILE="+rc, "HOME="+home, "TF_IN_AUTOMATION=1", "TF_INPUT=0",
		"CHECKPOINT_DISABLE=1", "WHARF_TOKEN="+token, "TF_VAR_wharf_addr="+wharfURL)
	return root, env
}

// run runs tofu with args (and the directory's variables for the commands that take
// them) and returns its output and exit code.
func (tf *tofu) run(args ...string) (string, int) {
	tf.t.Helper()
	if len(args) > 0 {
		switch args[0] {
		case "plan", "apply", "destroy", "import":
			args = append(append([]string{args[0]}, tf.vars...), args[1:]...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tf.bin, append([]string{"-chdir=" + tf.dir}, args...)...)
	cmd.Env = tf.env
	out, err := cmd.CombinedOutput()
	tf.t.Logf("tofu %s:\n%s", strings.Join(args, " "), out)
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	if err != nil {
		tf.t.Fatalf("tofu %s: %v", strings.Join(args, " "), err)
	}
	return string(out), 0
}

// ok runs tofu and fails the test when it does not succeed.
func (tf *tofu) ok(args ...string) string {
	tf.t.Helper()
	out, code := tf.run(args...)
	if code != 0 {
		tf.t.Fatalf("tofu %s exited %d", strings.Join(args, " "), code)
	}
	return out
}

// planExit runs `tofu plan -detailed-exitcode`: 0 when nothing would change, 2 when
// something would.
func (tf *tofu) planExit() (string, int) {
	tf.t.Helper()
	out, code := tf.run("plan", "-detailed-exitcode", "-no-color")
	if code != 0 && code != 2 {
		tf.t.Fatalf("tofu plan exited %d", code)
	}
	return out, code
}

// state is the working directory's state file as it is on disk.
func (tf *tofu) state() string {
	b, err := os.ReadFile(filepath.Join(tf.dir, "terraform.tfstate"))
	if err != nil {
		tf.t.Fatal(err)
	}
	return string(b)
}

// managed returns the address and import id of every managed resource in the state.
func (tf *tofu) managed() map[string]string {
	tf.t.Helper()
	var show struct {
		Values struct {
			Root tfModule `json:"root_module"`
		} `json:"values"`
	}
	if err := json.Unmarshal([]byte(tf.ok("show", "-json")), &show); err != nil {
		tf.t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(m tfModule)
	walk = func(m tfModule) {
		for _, r := range m.Resources {
			if r.Mode == "managed" && strings.HasPrefix(r.Type, "wharf_") {
				out[r.Address], _ = r.Values["id"].(string)
			}
		}
		for _, c := range m.Children {
			walk(c)
		}
	}
	walk(show.Values.Root)
	return out
}

type tfModule struct {
	Resources []struct {
		Address string         `json:"address"`
		Mode    string         `json:"mode"`
		Type    string         `json:"type"`
		Values  map[string]any `json:"values"`
	} `json:"resources"`
	Children []tfModule `json:"child_modules"`
}

// ingressGet asks the ingress for path of host, with basic-auth credentials
// "user:password" when given.
func ingressGet(ing, host, path, creds string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ing+path, nil)
	req.Host = host
	if user, pass, ok := strings.Cut(creds, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitIngress waits until the ingress serves want (a line) at path of host.
func waitIngress(t *testing.T, ing, host, path, creds, want string) {
	t.Helper()
	waitIngressFor(t, 30*time.Second, ing, host, path, creds, want)
}

// waitIngressFor is waitIngress for up to d.
func waitIngressFor(t *testing.T, d time.Duration, ing, host, path, creds, want string) {
	t.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = ingressGet(ing, host, path, creds); code == 200 && body == want {
			return
		}
	}
	t.Fatalf("%s%s through the ingress = %d %q, want %q", host, path, code, body, want)
}

// ingressImage builds wharf-ingress from this tree (static) into a FROM scratch image,
// removed after the test, and returns its tag.
func ingressImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "wharf-ingress"), "../cmd/wharf-ingress")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wharf-ingress: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY wharf-ingress /wharf-ingress\nENTRYPOINT [\"/wharf-ingress\"]\n"), 0o644)
	tag := fmt.Sprintf("wharf-e2e/ingress:%d", os.Getpid())
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// tfExtra is what the test adds to terraform/examples/application so that every
// resource and data source of the provider is applied, imported and destroyed: a custom
// environment protected by basic auth, with a database, deployed with a command the
// test can break; a member; the test environment's status.
const tfExtra = `
variable "review_command" {
  type    = string
  default = "mkdir -p /www && echo \"review $${DATABASE_URL:+with a database}$${MEDIA_STORAGE_DSN:+ and storage}\" > /www/index.html && exec httpd -f -p \"$PORT\" -h /www"
}

variable "qa_password" {
  type      = string
  sensitive = true
}

variable "git_url" {
  type = string
}

# live runs a build of a git repository.
resource "wharf_deploy" "live" {
  org        = wharf_organisation.this.name
  app        = "shop"
  env        = "live"
  git_url    = var.git_url
  git_ref    = "v1"
  depends_on = [module.shop]
}

variable "review_https" {
  type    = bool
  default = false
}

variable "dana_role" {
  type    = string
  default = "developer"
}

resource "wharf_member" "dana" {
  org    = wharf_organisation.this.name
  person = "dana"
  role   = var.dana_role
}

resource "wharf_environment" "review" {
  org        = wharf_organisation.this.name
  app        = "shop"
  name       = "review"
  depends_on = [module.shop]
}

resource "wharf_routing" "review" {
  org                            = wharf_organisation.this.name
  app                            = "shop"
  env                            = wharf_environment.review.name
  https_redirect                 = var.review_https
  protection_user                = "qa"
  protection_password_wo         = var.qa_password
  protection_password_wo_version = 1
}

resource "wharf_process" "review_web" {
  org       = wharf_organisation.this.name
  app       = "shop"
  env       = wharf_environment.review.name
  name      = "web"
  command   = var.review_command
  memory_mb = 32
}

resource "wharf_database" "review" {
  org  = wharf_organisation.this.name
  app  = "shop"
  env  = wharf_environment.review.name
  name = "db"
}

resource "wharf_storage" "review" {
  org    = wharf_organisation.this.name
  app    = "shop"
  env    = wharf_environment.review.name
  name   = "media"
  prefix = "MEDIA"
}

resource "wharf_deploy" "review" {
  org        = wharf_organisation.this.name
  app        = "shop"
  env        = wharf_environment.review.name
  image      = "wharf/busybox:1"
  triggers   = { web = wharf_process.review_web.command, db = wharf_database.review.database, media = wharf_storage.review.bucket }
  depends_on = [wharf_routing.review]
}

data "wharf_environment_status" "test" {
  org        = wharf_organisation.this.name
  app        = "shop"
  env        = "test"
  depends_on = [module.shop]
}

data "wharf_cloudspaces" "all" {}

data "wharf_plans" "all" {}

output "catalog" {
  value = { cloudspaces = data.wharf_cloudspaces.all.names, plans = data.wharf_plans.all.names }
}

output "test_status" {
  value = { release = data.wharf_environment_status.test.release, url = data.wharf_environment_status.test.url }
}
`

// TestTerraform applies terraform/examples (with terraform/modules) through the real
// OpenTofu and the provider built from this checkout against a real wharfd on real
// agents: an operator's cloudspace and plan, with wharf-ingress run as the Nomad job of
// jobspecs/ingress.nomad.hcl; then an application answering through both ingresses; a
// second plan is empty; the state holds no secret; variables changed with the CLI show
// as drift and are put back; an update of every kind of resource (a new release, scale,
// roles, routing, the cloudspace) lands; a failing deploy is an error naming why; every
// resource is imported and the plan after it only records what the API cannot tell; a
// hostile tenant's provider can do no more than its token; destroy leaves nothing in
// wharfd, Nomad, Consul, Vault, PostgreSQL or the object store, and stops the ingress job.
func TestTerraform(t *testing.T) {
	tofuBin := agenttest.Tofu(t)
	s := agenttest.Stack(t)
	agenttest.RequireDocker(t)
	token := bootstrap(t, s)
	repos := t.TempDir()
	repo := gitRepoIn(t, repos)
	gitURL := agenttest.GitServer(t, repos)
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile,
		"-build-git-local-hosts", bldHost(t, gitURL))
	ing := startIngress(t, s)
	c := &client{t: t, url: w.URL, token: token}
	c.must(201, "POST", "/v1/people", map[string]any{"id": "dana", "name": "Dana", "email": "dana@example.test"}, nil)

	root, env := newTofuTree(t, w.URL, token)
	// The operator's module runs wharf-ingress as the Nomad job of
	// jobspecs/ingress.nomad.hcl with the nomad CLI, as an operator would.
	pathDir := filepath.Join(root, "bin")
	os.MkdirAll(pathDir, 0o755)
	if err := os.Symlink(agenttest.Binaries(t).Nomad, filepath.Join(pathDir, "nomad")); err != nil {
		t.Fatal(err)
	}
	opsEnv := append(append([]string(nil), env...), "PATH="+pathDir+":"+os.Getenv("PATH"),
		"NOMAD_ADDR="+s.Nomad.Addr, "NOMAD_TOKEN="+s.Nomad.ManagementToken)
	jobspec, _ := filepath.Abs("../jobspecs/ingress.nomad.hcl")
	ports := make([]int, 2)
	for i := range ports {
		p, err := devstack.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	jobIngress := fmt.Sprintf("127.0.0.1:%d", ports[0])
	ingressVar := fmt.Sprintf(`-var=ingress={jobspec = %q, image = %q, consul_address = %q, http_port = %d, https_port = 0, admin_port = %d}`,
		jobspec, ingressImage(t), s.Consul.Addr, ports[0], ports[1])
	ops := &tofu{t: t, bin: tofuBin, dir: filepath.Join(root, "examples/cloudspace"), env: opsEnv,
		vars: []string{"-var=name=local", "-var=region=" + s.Nomad.Region, "-var=registry=" + s.Registry.Addr, "-var=ingress_port=0", ingressVar}}
	const secret, qaPassword = "s3cr3t-terraform-value", "qa-basic-auth-password"
	// The modules and examples are formatted as tofu fmt would.
	fmtCheck := &tofu{t: t, bin: tofuBin, dir: root, env: env}
	if out, code := fmtCheck.run("fmt", "-check", "-recursive", "-no-color"); code != 0 {
		t.Errorf("terraform/ is not formatted (tofu fmt): %s", out)
	}
	appDir := filepath.Join(root, "examples/application")
	if err := os.WriteFile(filepath.Join(appDir, "e2e_extra.tf"), []byte(tfExtra), 0o644); err != nil {
		t.Fatal(err)
	}
	appVars := func(extra ...string) []string {
		return append([]string{"-var=plan=local-small", "-var=greeting=hello", "-var=db_password=" + secret, "-var=qa_password=" + qaPassword, "-var=media=true",
			"-var=git_url=" + gitURL + "/app.git"}, extra...)
	}
	app := &tofu{t: t, bin: tofuBin, dir: appDir, env: env, vars: appVars()}
	// The test environment's primary domain is shop.example.test: its generated host
	// redirects there.
	const host, generated, review = "shop.example.test", "test.shop.acme.localhost", "review.shop.acme.localhost"
	testRef, reviewRef := platform.Ref("acme", "shop", "test"), platform.Ref("acme", "shop", "review")

	// The operator registers the cloudspace and its plan.
	ops.ok("init", "-no-color")
	ops.ok("apply", "-auto-approve", "-no-color")
	var cs map[string]any
	c.must(200, "GET", "/v1/cloudspaces/local", nil, &cs)
	if cs["region"] != s.Nomad.Region || cs["registry"] != s.Registry.Addr {
		t.Fatalf("cloudspace local = %v", cs)
	}
	c.must(200, "GET", "/v1/plans/local-small", nil, nil)
	if _, code := ops.planExit(); code != 0 {
		t.Fatalf("the operator's second plan is not empty")
	}

	// The application: live through the ingress, with its secret and database.
	app.ok("init", "-no-color")
	app.ok("apply", "-auto-approve", "-no-color")
	waitIngress(t, ing, host, "/", "", "hello from release 1\n")
	if code, loc := redirectOf(ing, generated); code/100 != 3 || !strings.Contains(loc, host) {
		t.Errorf("%s = %d to %q, want a redirect to its primary domain %s", generated, code, loc, host)
	}
	if code, body := ingressGet(ing, host, "/secret", ""); code != 200 || body != secret {
		t.Fatalf("the secret through the ingress = %d %q", code, body)
	}
	// The ingress the cloudspace module runs as a Nomad job routes it too.
	waitIngressFor(t, 3*time.Minute, jobIngress, host, "/", "", "hello from release 1\n")
	waitStatus(t, ing, review, "", http.StatusUnauthorized)
	waitIngress(t, ing, review, "/", "qa:"+qaPassword, "review with a database and storage\n")
	// The module attached media storage to test, and its release uses it.
	var testMedia struct {
		State  string `json:"state"`
		Bucket string `json:"bucket"`
	}
	c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/services/media", nil, &testMedia)
	var rel1 struct {
		Config struct {
			Services []struct {
				Name string `json:"name"`
			} `json:"services"`
		} `json:"config"`
	}
	c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/releases/1", nil, &rel1)
	if testMedia.State != "attached" || testMedia.Bucket == "" || !strings.Contains(fmt.Sprint(rel1.Config.Services), "media") {
		t.Errorf("test's media storage = %+v, release 1's services %+v", testMedia, rel1.Config.Services)
	}
	// live runs the image built from the repository at v1.
	var builds struct {
		Items []struct {
			Status, Image, Commit string
		} `json:"items"`
	}
	c.must(200, "GET", "/v1/orgs/acme/apps/shop/builds", nil, &builds)
	var live struct {
		Image string `json:"image"`
	}
	c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/live/releases/1", nil, &live)
	if len(builds.Items) != 1 || builds.Items[0].Status != "succeeded" || builds.Items[0].Commit != gitRev(t, repo, "v1") || live.Image != builds.Items[0].Image {
		t.Errorf("live's release 1 runs %q; builds %+v", live.Image, builds.Items)
	}
	var member struct {
		Items []map[string]any `json:"items"`
	}
	c.must(200, "GET", "/v1/orgs/acme/members", nil, &member)
	if !strings.Contains(fmt.Sprint(member.Items), "dana") {
		t.Fatalf("dana is not a member: %v", member.Items)
	}
	if out := app.ok("output", "-json", "catalog"); !strings.Contains(out, `"local"`) || !strings.Contains(out, `"local-small"`) {
		t.Errorf("the cloudspaces and plans data sources do not list local and local-small: %s", out)
	}
	if out := app.ok("output", "-json", "test_status"); !strings.Contains(out, `"release":1`) && !strings.Contains(out, `"release": 1`) {
		t.Errorf("the status data source does not show release 1: %s", out)
	}

	t.Run("a second plan is empty", func(t *testing.T) {
		if _, code := app.planExit(); code != 0 {
			t.Fatalf("plan after apply wants changes")
		}
	})

	t.Run("no secret in the state", func(t *testing.T) {
		st := app.state()
		if !strings.Contains(st, `"wharf_variable"`) || !strings.Contains(st, "DB_PASSWORD") || !strings.Contains(st, `"wharf_routing"`) {
			t.Fatalf("the state holds no secret variable or routing, so this proves nothing:\n%s", st)
		}
		for what, v := range map[string]string{"the secret variable's value": secret, "the basic-auth password": qaPassword, "the API token": token} {
			if strings.Contains(st, v) {
				t.Errorf("%s is in the state file", what)
			}
		}
	})

	t.Run("variables changed with the CLI show as drift", func(t *testing.T) {
		cli := func(stdin string, args ...string) {
			cmd := exec.Command(filepath.Join(binDir, "wharf"), args...)
			cmd.Env = append(os.Environ(), "WHARF_ADDR="+w.URL, "WHARF_TOKEN="+token, "HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
			cmd.Stdin = strings.NewReader(stdin)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("wharf %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		cli("", "env", "set", "test", "GREETING=changed-outside", "--app", "acme/shop")
		cli("changed-secret-outside", "env", "set", "test", "DB_PASSWORD", "--secret", "--app", "acme/shop")
		out, code := app.planExit()
		if code != 2 {
			t.Fatalf("plan after changes outside = %d, want 2 (changes)", code)
		}
		for _, want := range []string{
			`module.shop.wharf_variable.plain["test/GREETING"] will be updated in-place`,
			`"changed-outside" -> "hello"`,
			`module.shop.wharf_variable.secret["test/DB_PASSWORD"] will be updated in-place`,
			`module.shop.wharf_deploy.this["test"] will be updated in-place`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the plan does not say %q", want)
			}
		}
		if strings.Contains(out, "changed-secret-outside") {
			t.Errorf("the plan shows the secret changed outside")
		}
		app.ok("apply", "-auto-approve", "-no-color")
		waitIngress(t, ing, host, "/", "", "hello from release 2\n")
		if code, body := ingressGet(ing, host, "/secret", ""); code != 200 || body != secret {
			t.Fatalf("the secret through the ingress = %d %q, want the configured one again", code, body)
		}
		if _, code := app.planExit(); code != 0 {
			t.Fatalf("plan after putting the drift back wants changes")
		}
	})

	t.Run("an update ships a new release", func(t *testing.T) {
		updated := []string{"-var=greeting=bonjour", "-var=dana_role=viewer", "-var=web_instances=2", "-var=display_name=ACME Corp", "-var=review_https=true"}
		app.vars = appVars(updated...)
		app.ok("apply", "-auto-approve", "-no-color")
		waitIngress(t, ing, host, "/", "", "bonjour from release 3\n")
		c.must(200, "GET", "/v1/orgs/acme/members", nil, &member)
		if !strings.Contains(fmt.Sprint(member.Items), "viewer") {
			t.Errorf("dana's role did not change: %v", member.Items)
		}
		var org struct {
			DisplayName string `json:"display_name"`
		}
		c.must(200, "GET", "/v1/orgs/acme", nil, &org)
		var rt struct {
			HTTPSRedirect bool `json:"https_redirect"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/review/routing", nil, &rt)
		// Two instances of web, once the old release's have gone.
		healthy := 0
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			var st struct {
				Instances []struct {
					Process string `json:"process"`
					Healthy *bool  `json:"healthy"`
				} `json:"instances"`
			}
			c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/status", nil, &st)
			healthy = 0
			for _, in := range st.Instances {
				if in.Process == "web" && in.Healthy != nil && *in.Healthy {
					healthy++
				}
			}
			if healthy == 2 {
				break
			}
		}
		if org.DisplayName != "ACME Corp" || !rt.HTTPSRedirect || healthy != 2 {
			t.Errorf("after the update: display name %q, review's https redirect %v, %d healthy web instances (want ACME Corp, true, 2)",
				org.DisplayName, rt.HTTPSRedirect, healthy)
		}
		ops.vars = append(ops.vars, "-var=location=the rack by the window")
		ops.ok("apply", "-auto-approve", "-no-color")
		c.must(200, "GET", "/v1/cloudspaces/local", nil, &cs)
		if cs["location"] != "the rack by the window" {
			t.Errorf("the cloudspace's location = %v", cs["location"])
		}
		for _, tf := range []*tofu{app, ops} {
			if _, code := tf.planExit(); code != 0 {
				t.Fatalf("plan after the update wants changes")
			}
		}
	})

	t.Run("a failing deploy is an error naming why", func(t *testing.T) {
		updated := []string{"-var=greeting=bonjour", "-var=dana_role=viewer", "-var=web_instances=2", "-var=display_name=ACME Corp", "-var=review_https=true"}
		app.vars = appVars(append(updated, `-var=review_command=echo broken-on-purpose >&2; exit 3`)...)
		out, code := app.run("apply", "-auto-approve", "-no-color")
		if code == 0 {
			t.Fatalf("apply of a release that cannot start succeeded")
		}
		for _, want := range []string{"Could not deploy", "failed"} {
			if !strings.Contains(out, want) {
				t.Errorf("the apply's output does not say %q", want)
			}
		}
		// The environment keeps what it ran.
		if code, body := ingressGet(ing, review, "/", "qa:"+qaPassword); !(code == 200 && body == "review with a database and storage\n") && code/100 != 3 {
			t.Errorf("review after the failed deploy = %d %q, want its page (or its redirect to HTTPS)", code, body)
		}
		app.vars = appVars(updated...)
		app.ok("apply", "-auto-approve", "-no-color")
		if _, code := app.planExit(); code != 0 {
			t.Fatalf("plan after the repair wants changes")
		}
	})

	t.Run("every resource imports", func(t *testing.T) {
		var before struct {
			Release int `json:"release"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/status", nil, &before)
		var secretBefore struct {
			Version int `json:"version"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/vars/DB_PASSWORD", nil, &secretBefore)
		resources := app.managed()
		if len(resources) < 14 {
			t.Fatalf("only %d resources in the state: %v", len(resources), resources)
		}
		for addr := range resources {
			app.ok("state", "rm", addr)
		}
		for addr, id := range resources {
			if id == "" {
				t.Fatalf("%s has no id to import", addr)
			}
			app.ok("import", "-no-color", addr, id)
		}
		out, code := app.planExit()
		if code == 0 {
			t.Fatalf("the plan after import records nothing (value_wo_version, triggers)")
		}
		// Only what the API cannot tell (versions of write-only values, triggers) is
		// recorded: updates in place, nothing replaced.
		if !strings.Contains(out, " 0 to add, ") || !strings.Contains(out, " 0 to destroy") {
			t.Fatalf("the plan after import adds or destroys")
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "will be updated in-place") &&
				!strings.Contains(line, "wharf_variable.secret") && !strings.Contains(line, "wharf_deploy") && !strings.Contains(line, "wharf_routing") {
				t.Errorf("after import: %s", line)
			}
		}
		app.ok("apply", "-auto-approve", "-no-color")
		if _, code := app.planExit(); code != 0 {
			t.Fatalf("plan after import and apply wants changes")
		}
		var after struct {
			Release int `json:"release"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/status", nil, &after)
		var secretAfter struct {
			Version int `json:"version"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/vars/DB_PASSWORD", nil, &secretAfter)
		if after.Release != before.Release || secretAfter.Version != secretBefore.Version {
			t.Errorf("recording the import redeployed (release %d -> %d) or rewrote the secret (version %d -> %d)",
				before.Release, after.Release, secretBefore.Version, secretAfter.Version)
		}
	})

	t.Run("a hostile tenant's provider can do no more than its token", func(t *testing.T) {
		c.must(201, "POST", "/v1/people", map[string]any{"id": "mallory", "name": "Mallory", "email": "mallory@example.test"}, nil)
		var tok struct {
			Token string `json:"token"`
		}
		c.must(201, "POST", "/v1/people/mallory/tokens", map[string]any{"name": "terraform"}, &tok)
		dir := filepath.Join(root, "hostile")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "main.tf"), []byte(`
terraform {
  required_providers {
    wharf = { source = "wharf-platform/wharf" }
  }
}
variable "wharf_addr" { type = string }
provider "wharf" { address = var.wharf_addr }
resource "wharf_variable" "overwrite" {
  org   = "acme"
  app   = "shop"
  env   = "test"
  name  = "GREETING"
  value = "pwned"
}
resource "wharf_cloudspace" "mine" {
  name           = "evil"
  vendor         = "on-premises"
  location       = "x"
  region         = "local"
  ingress_domain = "evil.test"
  registry       = "127.0.0.1:1"
}
resource "wharf_variable" "steal" {
  org      = "acme"
  app      = "shop"
  env      = "test"
  name     = "DB_PASSWORD"
  value_wo = "x"
}
`), 0o644)
		hostile := &tofu{t: t, bin: tofuBin, dir: dir, env: append(append([]string(nil), env...), "WHARF_TOKEN="+tok.Token)}
		hostile.ok("init", "-no-color")
		if out, code := hostile.run("import", "-no-color", "wharf_variable.steal", "acme/shop/test/DB_PASSWORD"); code == 0 || strings.Contains(out, "Import successful") {
			t.Errorf("mallory imported acme's secret variable")
		}
		out, code := hostile.run("apply", "-auto-approve", "-no-color")
		if code == 0 {
			t.Fatalf("mallory's apply succeeded")
		}
		if !strings.Contains(out, "not found") || !strings.Contains(out, "Could not create the cloudspace") {
			t.Errorf("mallory's apply failed without naming why (not found, forbidden)")
		}
		var v struct {
			Value string `json:"value"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/test/vars/GREETING", nil, &v)
		if v.Value != "bonjour" {
			t.Errorf("acme's GREETING = %q after mallory's apply", v.Value)
		}
		if code := c.do("GET", "/v1/cloudspaces/evil", nil, nil); code != 404 {
			t.Errorf("mallory's cloudspace exists: %d", code)
		}
		if st, err := os.ReadFile(filepath.Join(dir, "terraform.tfstate")); err == nil && strings.Contains(string(st), "DB_PASSWORD") {
			t.Errorf("mallory's state holds acme's variable")
		}
	})

	t.Run("an application's plan and a domain's primary change in place", func(t *testing.T) {
		dir := filepath.Join(root, "e2e-inplace")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tfInPlace), 0o644); err != nil {
			t.Fatal(err)
		}
		c.must(201, "POST", "/v1/plans", map[string]any{"name": "inplace-big", "public": true, "limits": map[string]int{"environments": 5,
			"instances_per_process": 3, "memory_mb_per_instance": 512, "service_instances": 2, "custom_domains": 5, "upload_mb": 64}}, nil)
		tf := &tofu{t: t, bin: tofuBin, dir: dir, env: env, vars: []string{"-var=plan=local-small", "-var=primary=a.inplace.test"}}
		tf.ok("init", "-no-color")
		tf.ok("apply", "-auto-approve", "-no-color")
		tf.vars = []string{"-var=plan=inplace-big", "-var=primary=b.inplace.test"}
		if out := tf.ok("apply", "-auto-approve", "-no-color"); !strings.Contains(out, "0 added, 3 changed, 0 destroyed") {
			t.Errorf("the change was not made in place (want 3 changed): %s", out)
		}
		var a struct {
			Plan string `json:"plan"`
		}
		c.must(200, "GET", "/v1/orgs/inplace/apps/shop", nil, &a)
		var doms struct {
			Items []struct {
				Name    string `json:"name"`
				Primary bool   `json:"primary"`
			} `json:"items"`
		}
		c.must(200, "GET", "/v1/orgs/inplace/apps/shop/envs/test/domains", nil, &doms)
		primary := ""
		for _, d := range doms.Items {
			if d.Primary {
				primary += d.Name
			}
		}
		if a.Plan != "inplace-big" || primary != "b.inplace.test" {
			t.Errorf("after the update: plan %q, primary %q; want inplace-big, b.inplace.test", a.Plan, primary)
		}
		if _, code := tf.planExit(); code != 0 {
			t.Errorf("the plan after the in-place update is not empty")
		}
		tf.ok("destroy", "-auto-approve", "-no-color")
		if code := c.do("GET", "/v1/orgs/inplace", nil, nil); code != 404 {
			t.Errorf("organisation inplace after destroy = %d", code)
		}
	})

	t.Run("destroy leaves nothing", func(t *testing.T) {
		var db struct {
			Database string `json:"database"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/review/services/db", nil, &db)
		var media struct {
			Bucket string `json:"bucket"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/review/services/media", nil, &media)
		// The image live's build pushed, looked up with a token of wharfd's own.
		var live struct {
			Image string `json:"image"`
		}
		c.must(200, "GET", "/v1/orgs/acme/apps/shop/envs/live/releases/1", nil, &live)
		_, digest, _ := strings.Cut(live.Image, "@")
		iss, err := registry.LoadIssuer(s.Registry.TokenKeyFile, "wharfd", "wharf-registry")
		if err != nil {
			t.Fatal(err)
		}
		reg := registry.New(s.Registry.Addr, nil).WithIssuer(iss)
		if ok, err := reg.HasManifest(context.Background(), "acme/shop", digest); err != nil || !ok {
			t.Fatalf("live's image %s is not in the registry before destroy (%v)", live.Image, err)
		}
		app.ok("destroy", "-auto-approve", "-no-color")
		if ok, err := reg.HasManifest(context.Background(), "acme/shop", digest); err != nil || ok {
			t.Errorf("the registry keeps live's image %s after destroy (%v)", live.Image, err)
		}
		if code := c.do("GET", "/v1/orgs/acme", nil, nil); code != 404 {
			t.Errorf("organisation acme after destroy = %d", code)
		}
		waitGone(t, s, testRef.ServiceName())
		waitGone(t, s, reviewRef.ServiceName())
		napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
		for _, ref := range []platform.EnvRef{testRef, reviewRef} {
			if job, _, err := napi.Jobs().Info(ref.JobID(), nil); err == nil && (job.Stop == nil || !*job.Stop) && *job.Status != "dead" {
				t.Errorf("job %s is still %s", ref.JobID(), *job.Status)
			}
		}
		cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
		pairs, _, err := cc.KV().List("wharf/", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pairs {
			if strings.Contains(p.Key, "/acme/shop") || strings.Contains(p.Key, "acme.shop") || strings.HasSuffix(p.Key, "/acme") {
				t.Errorf("Consul KV keeps %s", p.Key)
			}
		}
		root, _ := s.Vault.Client()
		for _, p := range []string{"secret/data/wharf/" + testRef.SecretPath("DB_PASSWORD"), "secret/data/" + testRef.RuntimePath()} {
			if sec, err := root.Logical().Read(p); err != nil || (sec != nil && sec.Data["data"] != nil) {
				t.Errorf("Vault keeps %s: %v", p, err)
			}
		}
		if pol, _ := root.Sys().GetPolicy(reviewRef.VaultPolicy()); pol != "" {
			t.Errorf("Vault keeps the policy %s", reviewRef.VaultPolicy())
		}
		root3 := objectstore.Client(s.ObjectStore.Endpoint(), s.ObjectStore.Region, s.ObjectStore.AccessKey, s.ObjectStore.SecretKey, http.DefaultClient)
		for _, b := range []string{media.Bucket, testMedia.Bucket} {
			if b == "" {
				t.Errorf("no bucket name was read before destroy")
			} else if _, err := root3.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(b)}); err == nil {
				t.Errorf("the object store keeps the bucket %s", b)
			}
		}
		if db.Database == "" {
			t.Fatalf("no database name was read before destroy")
		}
		conn, err := pgx.Connect(context.Background(), s.Postgres.URL("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var n int
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", db.Database).Scan(&n); err != nil || n != 0 {
			t.Errorf("PostgreSQL keeps the database %s (%d, %v)", db.Database, n, err)
		}

		ops.ok("destroy", "-auto-approve", "-no-color")
		if code := c.do("GET", "/v1/cloudspaces/local", nil, nil); code != 404 {
			t.Errorf("cloudspace local after destroy = %d", code)
		}
		if _, _, err := napi.Jobs().Info("wharf-ingress", nil); err == nil {
			t.Errorf("the ingress job survives the cloudspace's destroy")
		}
	})
}

// tfInPlace is an organisation, an application and two custom domains whose plan and
// primary domain the test changes in place.
const tfInPlace = `terraform {
  required_providers {
    wharf = { source = "wharf-platform/wharf" }
  }
}

variable "wharf_addr" { type = string }
variable "plan" { type = string }
variable "primary" { type = string }

provider "wharf" {
  address = var.wharf_addr
}

resource "wharf_organisation" "o" {
  name = "inplace"
}

resource "wharf_application" "a" {
  org        = wharf_organisation.o.name
  name       = "shop"
  cloudspace = "local"
  plan       = var.plan
}

resource "wharf_domain" "d" {
  for_each = toset(["a.inplace.test", "b.inplace.test"])
  org      = wharf_organisation.o.name
  app      = wharf_application.a.name
  env      = "test"
  name     = each.key
  primary  = each.key == var.primary
}
`
