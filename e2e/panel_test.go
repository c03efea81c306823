package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

// browser is one headless Chromium tab, and where its screenshots go.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // wharfd's URL
	dir  string // screenshots
}

// newBrowser starts Debian's chromium headless (without its sandbox, as these machines
// run tests as root). A missing chromium skips the test, or fails it under
// WHARF_REQUIRE_AGENTS=1.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dir := os.Getenv("WHARF_PANEL_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return &browser{t: t, ctx: ctx, base: base, dir: dir}
}

// chromiumPath finds Debian's chromium, or ends the test through agenttest.Unavailable.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		agenttest.Unavailable(t, "chromium is not installed (scripts/deps.sh packages installs it): %v", err)
	}
	return path
}

// do runs browser steps, bounded so that a page that never shows what is waited for
// ends the test instead of hanging it.
func (b *browser) do(limit time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		b.t.Fatalf("browser at %s: %v\npage: %s", loc, err, body)
	}
}

// open navigates to a path of wharfd.
func (b *browser) open(path string) {
	b.t.Helper()
	b.do(30*time.Second, chromedp.Navigate(b.base+path))
}

// submit clicks a form's submit button and waits for the page it leads to.
func (b *browser) submit(form string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))); err != nil {
		b.t.Fatalf("submit %s: %v", form, err)
	}
}

// fill sets the named fields of a form.
func (b *browser) fill(form string, fields map[string]string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for name, v := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(form+` [name="`+name+`"]`), v))
	}
	b.do(15*time.Second, steps...)
}

// text returns the text of the first element matching a CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval evaluates a script that returns an int.
func (b *browser) count(sel string) int {
	b.t.Helper()
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func (b *browser) html() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// shoot saves full-page screenshots of the current page at a desktop width and at
// 375 px, and checks that nothing is wider than the narrow screen.
func (b *browser) shoot(name string) {
	b.t.Helper()
	for _, v := range []struct {
		suffix string
		w, h   int64
	}{{"desktop", 1280, 900}, {"375px", 375, 812}} {
		b.do(15*time.Second, chromedp.EmulateViewport(v.w, v.h))
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(b.dir, name+"-"+v.suffix+".png"), png, 0o644); err != nil {
			b.t.Fatal(err)
		}
		if v.w == 375 {
			w, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
			if err != nil {
				b.t.Fatal(err)
			}
			if w > 375 {
				b.t.Errorf("the %s page is %d px wide at a 375 px viewport", name, w)
			}
		}
	}
	b.do(15*time.Second, chromedp.EmulateViewport(1280, 900))
}

// waitDeploy waits on the deploy page until its live view shows the final result, and
// returns the status and release it shows.
func (b *browser) waitDeploy() (status, release string) {
	b.t.Helper()
	if !strings.Contains(b.location(), "/deploys/") {
		b.t.Fatalf("not on a deploy page: %s", b.location())
	}
	b.do(4*time.Minute, chromedp.WaitReady(chromedp.CSS(`#deploy[data-done="true"]`)))
	return b.text("#deploy-status"), b.text("#deploy-release")
}

func (b *browser) location() string {
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	return loc
}

// TestPanel drives the Control Panel in a real browser against the real wharfd and
// agents: sign in, cloudspace and plan, an application, variables and a secret, a deploy
// followed live to "succeeded" and its instance answering, a rollback, the audit log; a
// forged cross-site POST and a viewer's POSTs are refused; screenshots of every page.
func TestPanel(t *testing.T) {
	chromiumPath(t) // before the agents start
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	repos := t.TempDir()
	gitRepoIn(t, repos)
	gitURL := agenttest.GitServer(t, repos) // git http-backend on loopback, named to wharfd
	w := startWharfd(t, s, "-postgres-addr", s.Postgres.Addr, "-postgres-admin-password-file", s.Postgres.PasswordFile, "-build-git-local-hosts", bldHost(t, gitURL))
	api := &client{t: t, url: w.URL, token: token}
	api.must(201, "POST", "/v1/orgs", map[string]any{"name": "acme", "display_name": "Acme"}, nil)
	b := newBrowser(t, w.URL)

	// Signing in: a page asks for a token, a wrong one is refused.
	b.open("/orgs/acme")
	if loc := b.location(); !strings.HasSuffix(loc, "/signin") {
		t.Fatalf("without a session /orgs/acme led to %s, want the sign-in page", loc)
	}
	b.shoot("signin")
	b.fill("form", map[string]string{"token": "wharf_not-a-token"})
	b.submit("main form")
	if got := b.text("main p.error"); !strings.Contains(got, "not valid") {
		t.Errorf("a wrong token: %q", got)
	}
	b.fill("main form", map[string]string{"token": token})
	b.submit("main form")
	b.do(15*time.Second, chromedp.WaitVisible(chromedp.CSS(`a[href="/orgs/acme"]`)))
	if c := b.cookie(); !c.HTTPOnly || c.SameSite != "Strict" {
		t.Errorf("session cookie %+v, want HttpOnly and SameSite=Strict", c)
	}

	// An administrator adds the cloudspace and the plan.
	b.open("/admin")
	b.do(15*time.Second, chromedp.Click(chromedp.CSS(`#cs-h ~ details summary`)))
	b.fill("#cloudspace-form", map[string]string{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr})
	b.submit("#cloudspace-form")
	b.do(15*time.Second, chromedp.Click(chromedp.CSS(`#plans-h ~ details summary`)))
	b.fill("#plan-form", map[string]string{"name": "dev", "environments": "5", "instances_per_process": "3", "memory_mb_per_instance": "256", "service_instances": "2"})
	b.submit("#plan-form")
	if page := b.text("main"); !strings.Contains(page, "localhost") || !strings.Contains(page, "dev") {
		t.Fatalf("the admin page after adding a cloudspace and a plan: %s", page)
	}
	b.shoot("admin")

	// An application, its procfile, variables, a secret and its scale.
	b.open("/orgs/acme")
	b.fill("#app-form", map[string]string{"name": "shop", "cloudspace": "local", "plan": "dev"})
	b.submit("#app-form")
	if loc := b.location(); !strings.HasSuffix(loc, "/orgs/acme/apps/shop") {
		t.Fatalf("creating an application led to %s", loc)
	}
	const envPath = "/orgs/acme/apps/shop/envs/test"
	b.open(envPath)
	b.fill("#procfile-form", map[string]string{"process": "web", "command": webCommand})
	b.submit("#procfile-form")
	b.fill("#var-form", map[string]string{"name": "GREETING", "value": "hello"})
	b.submit("#var-form")
	b.fill("#var-form", map[string]string{"name": "DB_PASSWORD", "value": "s3cr3t-value"})
	b.do(5*time.Second, chromedp.Click(chromedp.CSS("#var-secret")))
	b.submit("#var-form")
	b.fill("#scale-web", map[string]string{"instances": "1", "memory_mb": "32"})
	b.submit("#scale-web")
	if got := b.text(`tr[data-var="GREETING"]`); !strings.Contains(got, "hello") {
		t.Errorf("GREETING row: %q", got)
	}
	if got := b.text(`tr[data-var="DB_PASSWORD"]`); !strings.Contains(got, "secret") {
		t.Errorf("DB_PASSWORD row: %q, want it masked as a secret", got)
	}
	if strings.Contains(b.html(), "s3cr3t-value") {
		t.Errorf("the environment page shows a secret's value")
	}

	// Deploy the image and follow the deploy view until it succeeds.
	deploy := func(wantRelease string) {
		t.Helper()
		b.open(envPath)
		b.fill("#deploy-form", map[string]string{"image": agenttest.BaseImage})
		b.submit("#deploy-form")
		if status, rel := b.waitDeploy(); status != "succeeded" || rel != wantRelease {
			t.Fatalf("the deploy view ended %q with release %q (want succeeded, %s): %s", status, rel, wantRelease, b.text("main"))
		}
	}
	deploy("1")
	if n := b.count("#events li"); n < 4 {
		t.Errorf("the deploy view lists %d events", n)
	}
	for _, p := range []string{"queued", "release_created", "registered", "rollout", "done"} {
		if b.count(`#phases li.reached[data-phase="`+p+`"]`) != 1 {
			t.Errorf("the deploy view does not show the %s phase reached", p)
		}
	}
	b.shoot("deploy")
	service := platform.Ref("acme", "shop", "test").ServiceName()
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 1" {
		t.Fatalf("release 1 serves %q", got)
	}
	b.open(envPath)
	if got := b.text("#running-release"); got != "1" {
		t.Errorf("running release shown: %q", got)
	}
	if got := b.text("#instances"); got != "1/1 healthy" {
		t.Errorf("instances shown: %q", got)
	}
	if got := b.text("#url"); !strings.HasPrefix(got, "http://") || !strings.Contains(got, "shop") {
		t.Errorf("URL shown: %q", got)
	}

	// A second release, then a rollback to the first from its button.
	b.fill("#var-form", map[string]string{"name": "GREETING", "value": "bonjour"})
	b.submit("#var-form")
	deploy("2")
	if got := serving(t, s, service); len(got) != 1 || got[0] != "bonjour release 2" {
		t.Fatalf("release 2 serves %q", got)
	}
	b.open(envPath)
	b.submit(`tr[data-release="1"] form`)
	if status, rel := b.waitDeploy(); status != "succeeded" || rel != "3" {
		t.Fatalf("the rollback ended %q with release %q: %s", status, rel, b.text("main"))
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 3" {
		t.Errorf("after the rollback the app serves %q, want release 1's configuration", got)
	}
	b.open(envPath)
	b.shoot("environment")

	// The organisation's page shows each environment at a glance.
	b.open("/orgs/acme")
	if got := b.text(`.app[data-app="shop"] .env[data-env="test"]`); !strings.Contains(got, "release 3") || !strings.Contains(got, "1/1 healthy") || !strings.Contains(got, "http://") {
		t.Errorf("the test environment at a glance: %q", got)
	}
	b.shoot("organisation")
	b.open("/orgs/acme/apps/shop")
	b.shoot("application")
	// Runtime logs: the output so far, then followed live over the event stream.
	b.open(envPath + "/logs")
	b.do(30*time.Second, chromedp.WaitReady(chromedp.CSS(`#logs[data-live="true"] span.live`)))
	if got := b.text("#logs"); !strings.Contains(got, "hello from web") {
		t.Errorf("runtime logs: %q", got)
	}
	b.shoot("logs")

	// A build of a git repository, its log followed live, then deployed from its page;
	// the deploy view shows the build's log.
	b.open("/orgs/acme/apps/shop")
	b.fill("#build-form", map[string]string{"git_url": gitURL + "/app.git", "git_ref": "v1"})
	b.submit("#build-form")
	b.do(4*time.Minute, chromedp.WaitReady(chromedp.CSS(`#build[data-done="true"]`)))
	if got := b.text("#build-status"); got != "succeeded" {
		t.Fatalf("the build page ended %q: %s", got, b.text("main"))
	}
	if got := b.text("#build-log"); !strings.Contains(got, "FROM "+agenttest.BaseImage) || !strings.Contains(got, "wharf-builder: image ") {
		t.Errorf("the build page's log lacks the build's steps: %q", got)
	}
	b.shoot("build")
	b.fill("#deploy-build", map[string]string{"env": "test"})
	b.submit("#deploy-build")
	if status, rel := b.waitDeploy(); status != "succeeded" || rel != "4" {
		t.Fatalf("the deploy of the build ended %q with release %q: %s", status, rel, b.text("main"))
	}
	if got := b.text("#build-log"); !strings.Contains(got, "wharf-builder: image ") {
		t.Errorf("the deploy view of a build lacks its log: %q", got)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "bonjour release 4" {
		t.Errorf("after deploying the build the app serves %q", got)
	}

	// A database service: attached, detached, then removed once its name is typed.
	b.open(envPath)
	b.fill("#service-form", map[string]string{"name": "db"})
	b.submit("#service-form")
	if got := b.text(`tr[data-service="db"]`); !strings.Contains(got, "attached") || !strings.Contains(got, "DEFAULT_DATABASE_DSN") {
		t.Fatalf("the attached service: %q", got)
	}
	b.submit(`tr[data-service="db"] form[action$="/services/state"]`)
	if got := b.text(`tr[data-service="db"]`); !strings.Contains(got, "detaching") {
		t.Errorf("the detached service: %q", got)
	}
	b.submit(`tr[data-service="db"] form[action$="/services/remove"]`)
	if got := b.text("p.error"); !strings.Contains(got, "repeat") {
		t.Errorf("removing without typing the name: %q", got)
	}
	b.open(envPath)
	b.fill(`tr[data-service="db"] form[action$="/services/remove"]`, map[string]string{"confirm": "db"})
	b.submit(`tr[data-service="db"] form[action$="/services/remove"]`)
	if n := b.count(`tr[data-service="db"]`); n != 0 {
		t.Errorf("the removed service is still listed")
	}

	// A storage bucket: its variables and public URL shown, then removed.
	b.fill("#service-form", map[string]string{"name": "media", "kind": "storage"})
	b.submit("#service-form")
	if got := b.text(`tr[data-service="media"]`); !strings.Contains(got, "attached") || !strings.Contains(got, "DEFAULT_STORAGE_DSN") ||
		!strings.Contains(got, s.ObjectStore.Endpoint()+"/wharf-") {
		t.Fatalf("the attached storage instance: %q", got)
	}
	b.fill(`tr[data-service="media"] form[action$="/services/remove"]`, map[string]string{"confirm": "media"})
	b.submit(`tr[data-service="media"] form[action$="/services/remove"]`)
	if n := b.count(`tr[data-service="media"]`); n != 0 {
		t.Errorf("the removed storage instance is still listed")
	}

	// A custom domain, and basic-auth protection whose password is never shown.
	b.fill("#domain-form", map[string]string{"name": "shop.example.com"})
	b.do(5*time.Second, chromedp.Click(chromedp.CSS(`#domain-form [name="primary"]`)))
	b.submit("#domain-form")
	if got := b.text(`tr[data-domain="shop.example.com"]`); !strings.Contains(got, "primary") {
		t.Errorf("the new domain: %q", got)
	}
	b.fill("#routing-form", map[string]string{"protection_user": "preview", "protection_password": "pr0tect-me"})
	b.submit("#routing-form")
	if got := b.text("#protection"); got != "basic auth as preview" {
		t.Errorf("protection shown: %q", got)
	}
	if strings.Contains(b.html(), "pr0tect-me") {
		t.Errorf("the environment page shows the protection password")
	}
	var routing struct {
		ProtectionUser string `json:"protection_user"`
	}
	api.must(200, "GET", "/v1"+envPath+"/routing", nil, &routing)
	if routing.ProtectionUser != "preview" {
		t.Errorf("routing through the API: %+v", routing)
	}

	// The audit log records what was done through the panel.
	b.open("/orgs/acme/audit")
	audit := b.text("#audit")
	for _, action := range []string{"application.create", "procfile.update", "variable.put", "environment.update", "deploy.release", "deploy.rollback", "build.create", "service."} {
		if !strings.Contains(audit, action) {
			t.Errorf("the audit log lacks %s", action)
		}
	}
	b.shoot("audit")
	b.open("/admin/audit")
	if got := b.text("#audit"); !strings.Contains(got, "cloudspace.create") || !strings.Contains(got, "plan.create") {
		t.Errorf("the platform's audit log: %q", got)
	}

	// Forged POSTs carry the session cookie (127.0.0.1 on another port is the same
	// site) but not the session's CSRF token: all are refused and change nothing.
	forged := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		csrf := ""
		if r.URL.Query().Has("csrf") {
			csrf = `<input name="csrf" value="` + r.URL.Query().Get("csrf") + `">`
		}
		fmt.Fprintf(rw, `<!doctype html><form id="f" method="post" action="%s%s/vars">%s<input name="name" value="FORGED"><input name="value" value="x"></form><script>document.getElementById("f").submit()</script>`, w.URL, envPath, csrf)
	}))
	defer forged.Close()
	for _, path := range []string{"/", "/?csrf=guessed"} {
		b.do(30*time.Second, chromedp.Navigate(forged.URL+path), chromedp.WaitVisible(chromedp.CSS(`p.error[data-code="forbidden"]`)))
	}
	// The same origin without the token: a script-made form.
	b.open(envPath)
	b.post(envPath+"/vars", map[string]string{"name": "FORGED", "value": "x"}, false)
	b.do(30*time.Second, chromedp.WaitVisible(chromedp.CSS(`p.error[data-code="forbidden"]`)))
	if got := api.do("GET", "/v1/orgs/acme/apps/shop/envs/test/vars/FORGED", nil, nil); got != 404 {
		t.Errorf("after forged POSTs the variable FORGED answers %d, want 404", got)
	}

	// A viewer sees no button it cannot use, and is refused when it posts anyway.
	// The administrator adds her, makes her token and makes her a viewer of acme.
	b.open("/admin")
	b.do(15*time.Second, chromedp.Click(chromedp.CSS(`#people details:nth-of-type(1) summary`)))
	b.fill("#person-form", map[string]string{"id": "vera", "name": "Vera", "email": "vera@example.com"})
	b.submit("#person-form")
	b.do(15*time.Second, chromedp.Click(chromedp.CSS(`#people details:nth-of-type(2) summary`)))
	b.fill("#token-form", map[string]string{"person": "vera", "name": "panel"})
	b.submit("#token-form")
	veraToken, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#new-token")))
	if err != nil || !strings.HasPrefix(veraToken, "wharf_") {
		t.Fatalf("the new token page shows %q (%v)", veraToken, err)
	}
	b.open("/orgs/acme")
	b.fill("#member-form", map[string]string{"person": "vera", "role": "viewer"})
	b.submit("#member-form")
	if got := b.text(`tr[data-member="vera"]`); !strings.Contains(got, "viewer") {
		t.Fatalf("vera's membership: %q", got)
	}
	b.submit("form.signout")
	b.fill("main form", map[string]string{"token": veraToken})
	b.submit("main form")
	for _, path := range []string{"/orgs/acme", "/orgs/acme/apps/shop", envPath} {
		b.open(path)
		if n := b.count("main form, main button"); n != 0 {
			t.Errorf("a viewer sees %d forms or buttons on %s", n, path)
		}
	}
	b.shoot("environment-viewer")
	deploysBefore := len(api.deploys(envPath))
	// Each POST carries her session's valid CSRF token: the platform refuses it, as the
	// API would (a token for someone else is "not found": people do not leak).
	for _, post := range []struct {
		path   string
		fields map[string]string
		code   string
	}{
		{envPath + "/vars", map[string]string{"name": "VIEWER", "value": "x"}, "forbidden"},
		{envPath + "/deploys", map[string]string{"image": agenttest.BaseImage}, "forbidden"},
		{envPath + "/rollback", map[string]string{"release": "2"}, "forbidden"},
		{envPath + "/scale", map[string]string{"process": "web", "instances": "2", "memory_mb": "32"}, "forbidden"},
		{"/orgs/acme/apps", map[string]string{"name": "other", "cloudspace": "local", "plan": "dev"}, "forbidden"},
		{"/orgs/acme/members", map[string]string{"person": "vera", "role": "owner"}, "forbidden"},
		{"/admin/tokens", map[string]string{"person": "admin", "name": "stolen"}, "not_found"},
	} {
		b.open(envPath)
		b.post(post.path, post.fields, true)
		b.do(30*time.Second, chromedp.WaitVisible(chromedp.CSS(`p.error[data-code="`+post.code+`"]`)))
		if msg := b.text("p.error"); strings.Contains(msg, "CSRF") {
			t.Errorf("POST %s was refused by the CSRF check, not by the platform: %s", post.path, msg)
		}
	}
	if got := api.do("GET", "/v1/orgs/acme/apps/shop/envs/test/vars/VIEWER", nil, nil); got != 404 {
		t.Errorf("the viewer's variable answers %d, want 404", got)
	}
	if n := len(api.deploys(envPath)); n != deploysBefore {
		t.Errorf("the viewer's POSTs made %d deploys", n-deploysBefore)
	}
	if got := api.do("GET", "/v1/orgs/acme/apps/other", nil, nil); got != 404 {
		t.Errorf("the viewer's application answers %d, want 404", got)
	}
	var members struct {
		Items []struct{ Person, Role string }
	}
	api.must(200, "GET", "/v1/orgs/acme/members", nil, &members)
	for _, m := range members.Items {
		if m.Person == "vera" && m.Role != "viewer" {
			t.Errorf("the viewer made herself %s", m.Role)
		}
	}
	var tokens struct{ Items []struct{ Name string } }
	api.must(200, "GET", "/v1/people/admin/tokens", nil, &tokens)
	for _, tk := range tokens.Items {
		if tk.Name == "stolen" {
			t.Errorf("the viewer made a token for the administrator")
		}
	}
	b.open("/orgs/acme/audit")
	if got := b.text("main p.error"); got == "" {
		t.Errorf("a viewer reads the audit log")
	}

	// A collaborator on one application, not a member of its organisation, finds it
	// from the home page.
	api.must(201, "POST", "/v1/people", map[string]any{"id": "cora", "name": "Cora", "email": "cora@example.com"}, nil)
	var coraToken struct{ Token string }
	api.must(201, "POST", "/v1/people/cora/tokens", map[string]any{"name": "panel"}, &coraToken)
	api.must(200, "PUT", "/v1/orgs/acme/apps/shop/collaborators/cora", map[string]any{"role": "developer"}, nil)
	b.submit("form.signout")
	b.fill("main form", map[string]string{"token": coraToken.Token})
	b.submit("main form")
	b.open("/")
	if got := b.text(`main a[href="/orgs/acme/apps/shop"]`); got != "acme/shop" {
		t.Errorf("the collaborator's home page links %q, want acme/shop", got)
	}
	b.open("/orgs/acme/apps/shop")
	if got := b.text("main h1"); !strings.Contains(got, "shop") {
		t.Errorf("the collaborator's application page: %q", got)
	}
}

// post submits a form that a script builds on the current page, with the session's
// CSRF token (read from the sign-out form) when withToken is set.
func (b *browser) post(path string, fields map[string]string, withToken bool) {
	b.t.Helper()
	var js strings.Builder
	fmt.Fprintf(&js, `(function(){var f=document.createElement("form");f.method="post";f.action=%q;`, path)
	add := func(k, v string) {
		fmt.Fprintf(&js, `var i=document.createElement("input");i.type="hidden";i.name=%q;i.value=%q;f.appendChild(i);`, k, v)
	}
	for k, v := range fields {
		add(k, v)
	}
	if withToken {
		js.WriteString(`var c=document.querySelector('form.signout input[name=csrf]');var t=document.createElement("input");t.type="hidden";t.name="csrf";t.value=c.value;f.appendChild(t);`)
	}
	js.WriteString(`document.body.appendChild(f);f.submit();return 0})()`)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Evaluate[chromedp.Void](js.String()))); err != nil {
		b.t.Fatalf("post %s: %v", path, err)
	}
}

// sessionCookie is what the browser holds for wharfd's session.
type sessionCookie struct {
	HTTPOnly bool
	SameSite string
}

func (b *browser) cookie() sessionCookie {
	b.t.Helper()
	c, err := chromedp.Run(b.ctx, chromedp.Action[sessionCookie](func(ctx context.Context, t *chromedp.Target) (sessionCookie, error) {
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{})
		if err != nil {
			return sessionCookie{}, err
		}
		for _, c := range r.Cookies {
			if c.Name == "wharf_session" {
				return sessionCookie{HTTPOnly: c.HTTPOnly, SameSite: c.SameSite.String()}, nil
			}
		}
		return sessionCookie{}, fmt.Errorf("no wharf_session cookie")
	}))
	if err != nil {
		b.t.Fatal(err)
	}
	return c
}

// deploys lists an environment's deploys through the API.
func (c *client) deploys(envPath string) []deploy {
	var page struct{ Items []deploy }
	c.must(200, "GET", "/v1"+envPath+"/deploys?limit=500", nil, &page)
	return page.Items
}
