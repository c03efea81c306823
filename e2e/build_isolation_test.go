package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

// bldHost is a URL's host:port.
func bldHost(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Host
}

// bldDo sends a request and returns its status and body.
func bldDo(c *client, method, path string, body any) (int, string) {
	c.t.Helper()
	var raw json.RawMessage
	got := c.do(method, path, body, &raw)
	return got, string(raw)
}

// bldEntry is one entry of a hostile archive.
type bldEntry struct {
	name, link, body string
	typ              byte
}

// bldArchive writes entries, in order, as a tar.gz.
func bldArchive(t *testing.T, entries ...bldEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// bldEscapeChain is the attack: `a/up -> ..`, `a/up/e0 -> ..`, `e0/u -> ..`,
// `e0/u/u -> ..`, … enough levels to reach / from any build directory, then a regular
// file at target (an absolute path) written through them.
func bldEscapeChain(target string) []bldEntry {
	es := []bldEntry{
		{name: "Dockerfile", body: "FROM " + agenttest.BaseImage + "\n", typ: tar.TypeReg},
		{name: "a/up", link: "..", typ: tar.TypeSymlink},
		{name: "a/up/e0", link: "..", typ: tar.TypeSymlink},
	}
	p := "e0"
	for range 40 {
		p += "/u"
		es = append(es, bldEntry{name: p, link: "..", typ: tar.TypeSymlink})
	}
	return append(es, bldEntry{name: p + target, body: "* * * * * root touch /pwned\n", typ: tar.TypeReg})
}

// TestBuildIsolation has a hostile organisation (evil) attack a victim's (acme) builds
// and images through the real wharfd, Nomad, builder and Docker engine: its tarball that
// writes through its own links fails with a clear error and leaves no file outside its
// build directory on the node; its deploy of the victim's image is refused; its
// Dockerfile's ADD of the local Consul fails, and so do its FROM of the victim's image
// and a cache mount (none is shared between tenants), and the same RUN step as the
// victim's is built again rather than taken from the victim's cache; its git_url of file://, ssh:// and the
// node's own addresses is refused. The victim's build from git (over http from a git
// server the operator names) and its deploys keep working, and no builder credential
// reaches its build.
func TestBuildIsolation(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	repos := t.TempDir()
	gitRepoIn(t, repos)
	gitURL := agenttest.GitServer(t, repos)
	w := startWharfd(t, s, "-build-git-local-hosts", bldHost(t, gitURL))
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "shop")
	c.must(201, "POST", "/v1/orgs", map[string]any{"name": "evil"}, nil)
	c.must(201, "POST", "/v1/orgs/evil/apps", map[string]any{"name": "app", "cloudspace": "local", "plan": "dev"}, nil)
	const victim, evil = "/v1/orgs/acme/apps/shop", "/v1/orgs/evil/apps/app"
	for _, app := range []string{victim, evil} {
		c.must(200, "POST", app+"/envs/test/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
		c.must(200, "PUT", app+"/envs/test/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": serveWWW}}}, nil)
	}

	// The victim builds from git over http from the named git server, and deploys.
	var b build
	c.must(202, "POST", victim+"/builds", map[string]string{"git_url": gitURL + "/app.git", "git_ref": "v1"}, &b)
	lines, b := c.followBuild(victim, b.ID)
	if b.Status != "succeeded" || !strings.Contains(b.Image, "@sha256:") {
		t.Fatalf("the victim's git build = %+v (log %q)", b, lines)
	}
	var d deploy
	c.must(202, "POST", victim+"/envs/test/deploys", map[string]string{"build": b.ID}, &d)
	if d = c.follow(victim+"/envs/test", d.ID); d.Status != "succeeded" {
		t.Fatalf("the victim's deploy = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "version one" {
		t.Errorf("the victim serves %q", got)
	}
	victimImage := b.Image

	// (1) A tarball writing through its own links: refused, nothing outside.
	outside, err := os.MkdirTemp("", "wharf-bld-outside-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(outside) })
	os.Chmod(outside, 0o777) // writable even by the unpacking user: os.Root alone must stop it
	target := filepath.Join(outside, "cron.d", "x")
	var hostile build
	if got := c.upload(evil+"/builds", bldArchive(t, bldEscapeChain(target)...), &hostile); got != 202 {
		t.Fatalf("upload of the hostile tarball = %d", got)
	}
	lines, hostile = c.followBuild(evil, hostile.ID)
	if hostile.Status != "failed" || !containsLine(lines, "would be written outside the source") {
		t.Errorf("the hostile tarball's build = %+v, log %q", hostile, lines)
	}
	t.Logf("the hostile tarball's build %s: %q", hostile.Status, lines)
	if _, err := os.Lstat(target); err == nil {
		t.Errorf("the hostile tarball wrote %s on the node", target)
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("the hostile tarball left %v beside the build", left)
	}
	for _, p := range []string{"/e0", "/u", "/a", "/cron.d/x", "/tmp/e0"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s appeared on the node", p)
		}
	}

	// (2) A deploy of the victim's image, by its name and by another name of the
	// registry: refused with the reason.
	for _, image := range []string{victimImage, strings.Replace(victimImage, "127.0.0.1:", "localhost:", 1)} {
		if got, body := bldDo(c, "POST", evil+"/envs/test/deploys", map[string]string{"image": image}); got != 403 || !strings.Contains(body, "organisation") {
			t.Errorf("the hostile deploy of %s = %d %s, want 403 with the reason", image, got, body)
		} else {
			t.Logf("the hostile deploy of %s: %d %s", image, got, body)
		}
	}

	// (4) A Dockerfile ADD of the local Consul: the build fails, saying why.
	var add build
	addSrc := bldArchive(t, bldEntry{name: "Dockerfile", typ: tar.TypeReg,
		body: "FROM " + agenttest.BaseImage + "\nADD http://" + s.Consul.Addr + "/v1/kv/?recurse /kv\n"})
	c.upload(evil+"/builds", addSrc, &add)
	lines, add = c.followBuild(evil, add.ID)
	if add.Status != "failed" || !containsLine(lines, "remote sources") {
		t.Errorf("the build with ADD of the local Consul = %+v, log %q", add, lines)
	}
	t.Logf("the build with ADD of the local Consul %s: %q", add.Status, lines)
	// …and the victim's repository as a base image.
	var from build
	c.upload(evil+"/builds", bldArchive(t, bldEntry{name: "Dockerfile", typ: tar.TypeReg, body: "FROM " + victimImage + "\n"}), &from)
	if lines, from = c.followBuild(evil, from.ID); from.Status != "failed" || !containsLine(lines, "own images") {
		t.Errorf("the build FROM the victim's image = %+v, log %q", from, lines)
	}
	t.Logf("the build FROM the victim's image %s: %q", from.Status, lines)

	// (4) No cache shared between tenants' builds: the classic builder has no cache
	// mounts.
	var mount build
	c.upload(evil+"/builds", bldArchive(t, bldEntry{name: "Dockerfile", typ: tar.TypeReg,
		body: "FROM " + agenttest.BaseImage + "\nRUN --mount=type=cache,target=/cache ls /cache\n"}), &mount)
	if lines, mount = c.followBuild(evil, mount.ID); mount.Status != "failed" || !containsLine(lines, "--mount option requires BuildKit") {
		t.Errorf("the build with a cache mount = %+v, log %q", mount, lines)
	}

	// (4) Nor is the node's layer cache shared: the same RUN step on the same base,
	// built by the victim, is built again for evil ("Using cache" never shows), while
	// the victim's second build of it reuses its own layer.
	step := fmt.Sprintf("RUN echo cache-%d > /cached.txt\n", time.Now().UnixNano())
	cached := func(c *client, app, page string) []string {
		var cb build
		c.upload(app+"/builds", tarball(t, map[string]string{
			"Dockerfile": "FROM " + agenttest.BaseImage + "\n" + step + "COPY www /www\n", "www/index.html": page,
		}), &cb)
		lines, cb := c.followBuild(app, cb.ID)
		if cb.Status != "succeeded" {
			t.Fatalf("the build of %s = %+v (log %q)", app, cb, lines)
		}
		return lines
	}
	// The classic builder prints " ---> Using cache" right after a step it reuses.
	reused := func(lines []string) bool {
		for i, l := range lines {
			if strings.Contains(l, ": RUN echo cache-") {
				return i+1 < len(lines) && strings.Contains(lines[i+1], "Using cache")
			}
		}
		t.Fatalf("no RUN step in the log: %q", lines)
		return false
	}
	cached(c, victim, "first\n")
	if lines := cached(c, evil, "evil's\n"); reused(lines) {
		t.Errorf("evil's build reused the victim's cached layer: %q", lines)
	}
	if lines := cached(c, victim, "second\n"); !reused(lines) {
		t.Errorf("the victim's second build did not reuse its own layer: %q", lines)
	}

	// (4) git URLs on the node: refused before any build.
	for _, u := range []string{"file://" + repos + "/app.git", repos + "/app.git", "ssh://git@127.0.0.1/app.git",
		"git://127.0.0.1/app.git", "https://" + s.Consul.Addr + "/v1/kv", "http://" + s.Consul.Addr + "/v1/kv", "--upload-pack=touch /tmp/x"} {
		if got, body := bldDo(c, "POST", evil+"/builds", map[string]string{"git_url": u}); got != 400 || !strings.Contains(body, "git_url") {
			t.Errorf("git_url %q = %d %s, want 400 naming git_url", u, got, body)
		} else {
			t.Logf("git_url %q: %d %s", u, got, body)
		}
	}

	// The victim keeps working: a tarball builds (its RUN step sees no builder
	// credential) and deploys; its own image deploys by name.
	var vb build
	c.upload(victim+"/builds", tarball(t, map[string]string{
		// A step of its own, so the node's layer cache cannot answer it.
		"Dockerfile":     dockerfile(fmt.Sprintf("RUN echo run %d >/dev/null && env | sed 's/^/env: /'\n", time.Now().UnixNano())),
		"www/index.html": "the victim's tarball\n",
	}), &vb)
	if lines, vb = c.followBuild(victim, vb.ID); vb.Status != "succeeded" {
		t.Fatalf("the victim's tarball build = %+v (log %q)", vb, lines)
	} else if !containsLine(lines, "env: PATH=") || containsLine(lines, "env: NOMAD_") || containsLine(lines, "env: VAULT_") || containsLine(lines, "env: CONSUL_") {
		t.Errorf("the build's RUN step saw the builder's environment: %q", lines)
	}
	c.must(202, "POST", victim+"/envs/test/deploys", map[string]string{"image": vb.Image}, &d)
	if d = c.follow(victim+"/envs/test", d.ID); d.Status != "succeeded" {
		t.Fatalf("the victim's deploy of its own image by name = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "the victim's tarball" {
		t.Errorf("the victim serves %q", got)
	}
}
