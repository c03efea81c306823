package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

// tarball makes a tar.gz of files (name → content).
func tarball(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// upload POSTs a tar.gz and decodes the answer.
func (c *client) upload(path string, tgz []byte, out any) int {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.url+path, bytes.NewReader(tgz))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/gzip")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	if resp.StatusCode != http.StatusAccepted {
		c.t.Logf("POST %s = %d: %s", path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type build struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Image      string `json:"image"`
	Commit     string `json:"commit"`
	Error      string `json:"error"`
	ReusedFrom string `json:"reused_from"`
}

// followBuild reads a build's events until done, returning its log and the build.
func (c *client) followBuild(app, id string) ([]string, build) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+app+"/builds/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var lines []string
	var event string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "event: "):
			event = strings.TrimPrefix(l, "event: ")
		case strings.HasPrefix(l, "data: ") && event == "log":
			var s string
			json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &s)
			lines = append(lines, s)
		case strings.HasPrefix(l, "data: ") && event == "done":
			var b build
			json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &b)
			return lines, b
		}
	}
	c.t.Fatalf("build %s: the event stream ended without done", id)
	return nil, build{}
}

func containsLine(lines []string, s string) bool {
	for _, l := range lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

const serveWWW = `exec httpd -f -p "$PORT" -h /www`

func dockerfile(extra string) string {
	return "FROM " + agenttest.BaseImage + "\nCOPY www /www\n" + extra
}

// TestBuilds builds codebases through wharfd, Nomad, the Docker engine and the registry:
// a tarball builds, is pushed and deploys; the same source deployed again reuses the
// image; a git repository builds at a ref; a broken Dockerfile fails with Docker's error
// in the kept log and the running release untouched; a build past its time limit is
// stopped; a cancelled build stops its job; two builds at once keep their logs apart.
func TestBuilds(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	repos := t.TempDir()
	repoDir := gitRepoIn(t, repos)
	gitURL := agenttest.GitServer(t, repos) // git http-backend on loopback, named to wharfd
	w := startWharfd(t, s, "-build-time-limit", "40s", "-build-git-local-hosts", bldHost(t, gitURL))
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "shop")
	const app = "/v1/orgs/acme/apps/shop"
	for _, env := range []string{"test", "live"} {
		c.must(200, "POST", app+"/envs/"+env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
		c.must(200, "PUT", app+"/envs/"+env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": serveWWW}}}, nil)
	}

	// A tarball: built, pushed, deployed.
	src := tarball(t, map[string]string{"Dockerfile": dockerfile(""), "www/index.html": "built from a tarball\n"})
	var d deploy
	if got := c.upload(app+"/envs/test/deploys/source", src, &d); got != 202 {
		t.Fatalf("deploy from source = %d", got)
	}
	if d = c.follow(app+"/envs/test", d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy from a tarball = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "built from a tarball" {
		t.Errorf("test serves %q", got)
	}
	var builds struct{ Items []build }
	c.must(200, "GET", app+"/builds", nil, &builds)
	if len(builds.Items) != 1 || builds.Items[0].Status != "succeeded" || !strings.Contains(builds.Items[0].Image, "@sha256:") {
		t.Fatalf("builds = %+v", builds.Items)
	}
	first := builds.Items[0]
	repo, digest, _ := strings.Cut(strings.TrimPrefix(first.Image, s.Registry.Addr+"/"), "@")
	req, _ := http.NewRequest(http.MethodHead, "http://"+s.Registry.Addr+"/v2/"+repo+"/manifests/"+digest, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json")
	if resp := operatorRegistry(t, s, req, platform.RegistryAccess{Type: "repository", Name: repo, Actions: []string{"pull"}}); resp.StatusCode != 200 {
		t.Errorf("the registry does not list %s by digest: %v", first.Image, resp.Status)
	}
	var logResp struct{ Lines []string }
	c.must(200, "GET", app+"/builds/"+first.ID+"/log", nil, &logResp)
	if !containsLine(logResp.Lines, "FROM "+agenttest.BaseImage) || !containsLine(logResp.Lines, "wharf-builder: image ") {
		t.Errorf("the kept build log lacks the build's steps: %q", logResp.Lines)
	}

	// The same source for live: the image is reused, not built again.
	if got := c.upload(app+"/envs/live/deploys/source", src, &d); got != 202 {
		t.Fatalf("deploy to live = %d", got)
	}
	if d = c.follow(app+"/envs/live", d.ID); d.Status != "succeeded" || !eventContains(d, "reuses the image of build "+first.ID) {
		t.Errorf("deploy of the same source to live = %s (%s), reused: %v", d.Status, d.Error, eventContains(d, "reuses"))
	}

	// A git repository at a ref, over http from a git server on loopback.
	var b build
	c.must(202, "POST", app+"/builds", map[string]string{"git_url": gitURL + "/app.git", "git_ref": "v1"}, &b)
	lines, b := c.followBuild(app, b.ID)
	if b.Status != "succeeded" || b.Commit != gitRev(t, repoDir, "v1") {
		t.Fatalf("git build = %+v (log %q)", b, lines)
	}
	c.must(202, "POST", app+"/envs/test/deploys", map[string]string{"build": b.ID}, &d)
	if d = c.follow(app+"/envs/test", d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy of the git build = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "version one" {
		t.Errorf("test serves %q after the git build, want the v1 tag's page", got)
	}

	// A broken Dockerfile: the deploy fails with the build; the log keeps Docker's error.
	broken := tarball(t, map[string]string{"Dockerfile": dockerfile("RUN echo about to fail && exit 3\n"), "www/index.html": "never\n"})
	c.upload(app+"/envs/test/deploys/source", broken, &d)
	if d = c.follow(app+"/envs/test", d.ID); d.Status != "failed" || !strings.Contains(d.Error, "build") {
		t.Errorf("deploy of a broken Dockerfile = %s (%s)", d.Status, d.Error)
	}
	c.must(200, "GET", app+"/builds", nil, &builds)
	failed := builds.Items[len(builds.Items)-1]
	c.must(200, "GET", app+"/builds/"+failed.ID+"/log", nil, &logResp)
	if failed.Status != "failed" || !containsLine(logResp.Lines, "returned a non-zero code: 3") {
		t.Errorf("broken build = %+v, log %q", failed, logResp.Lines)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "version one" {
		t.Errorf("after the failed build test serves %q", got)
	}

	// Two builds at once, one past its time limit and one cancelled; their logs stay
	// apart.
	slow := func(marker string) []byte {
		return tarball(t, map[string]string{"Dockerfile": dockerfile("RUN echo " + marker + " && sleep 300\n"), "www/index.html": marker})
	}
	var timed, cancelled build
	c.upload(app+"/builds", slow("marker-timed"), &timed)
	c.upload(app+"/builds", slow("marker-cancelled"), &cancelled)
	waitBuildLog(t, c, app, cancelled.ID, "marker-cancelled")
	c.must(202, "POST", app+"/builds/"+cancelled.ID+"/cancel", nil, nil)
	cancelledLog, cb := c.followBuild(app, cancelled.ID)
	timedLog, tb := c.followBuild(app, timed.ID)
	if cb.Status != "cancelled" {
		t.Errorf("cancelled build = %+v", cb)
	}
	if tb.Status != "failed" || !strings.Contains(tb.Error, "time limit") {
		t.Errorf("build past its time limit = %+v", tb)
	}
	if containsLine(cancelledLog, "marker-timed") || containsLine(timedLog, "marker-cancelled") || !containsLine(timedLog, "marker-timed") {
		t.Errorf("the two builds' logs mixed:\ncancelled: %q\ntimed: %q", cancelledLog, timedLog)
	}
	for _, id := range []string{cancelled.ID, timed.ID} {
		resp, err := operatorGet(s, "/v1/job/"+platform.AppRef{Org: "acme", App: "shop"}.BuildJobID(id))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("build job of %s still in Nomad (%d)", id, resp.StatusCode)
			}
		}
	}
}

// waitBuildLog waits until the build's log has a line containing s.
func waitBuildLog(t *testing.T, c *client, app, id, s string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		var l struct{ Lines []string }
		c.must(200, "GET", app+"/builds/"+id+"/log", nil, &l)
		if containsLine(l.Lines, s) {
			return
		}
	}
	t.Fatalf("build %s never logged %q", id, s)
}

// gitRepoIn makes the bare repository dir/app.git with a tag v1 ("version one") and a
// later commit on main ("version two"), and returns its path.
func gitRepoIn(t *testing.T, dir string) string {
	t.Helper()
	work, bare := t.TempDir(), filepath.Join(dir, "app.git")
	git := func(dir string, args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	write := func(name, content string) {
		os.MkdirAll(filepath.Dir(filepath.Join(work, name)), 0o755)
		os.WriteFile(filepath.Join(work, name), []byte(content), 0o644)
	}
	git(work, "init", "-q", "-b", "main")
	write("Dockerfile", dockerfile(""))
	write("www/index.html", "version one\n")
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "one")
	git(work, "tag", "v1")
	write("www/index.html", "version two\n")
	git(work, "commit", "-q", "-am", "two")
	git(work, "clone", "-q", "--bare", work, bare)
	return bare
}

func gitRev(t *testing.T, repo, ref string) string {
	out, err := exec.Command("git", "--git-dir", repo, "rev-parse", ref+"^{commit}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
