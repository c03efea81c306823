package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
)

// TestGitPushDeploys makes an environment track the main branch of a repository on a
// real git server on loopback, and posts push events to its hook as GitHub, Gitea and
// GitLab would: a signed push to main builds the pushed commit and deploys it; unsigned,
// forged, replayed and other-branch pushes deploy nothing, each with its reason in the
// audit log; another organisation's member cannot read or replace the hook.
func TestGitPushDeploys(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	repos := t.TempDir()
	repoDir := gitRepoIn(t, repos)
	gitURL := agenttest.GitServer(t, repos)
	w := startWharfd(t, s, "-build-git-local-hosts", bldHost(t, gitURL))
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "shop")
	const env = "/v1/orgs/acme/apps/shop/envs/test"
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	c.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": serveWWW}}}, nil)

	c.must(400, "PUT", env+"/git-hook", map[string]string{"repo_url": "file:///etc", "branch": "main"}, nil)
	var hook struct {
		ID, URL, Secret, Branch string
	}
	c.must(200, "PUT", env+"/git-hook", map[string]string{"repo_url": gitURL + "/app.git", "branch": "main"}, &hook)
	if hook.Secret == "" || !strings.HasPrefix(hook.URL, "/v1/hooks/git/") {
		t.Fatalf("the hook = %+v", hook)
	}
	var shown map[string]any
	c.must(200, "GET", env+"/git-hook", nil, &shown)
	if _, ok := shown["secret"]; ok || shown["branch"] != "main" {
		t.Errorf("GET of the hook shows %v; want its branch and never its secret", shown)
	}
	head := gitRev(t, repoDir, "main")
	payload := func(ref string) []byte {
		b, _ := json.Marshal(map[string]any{"ref": ref, "before": strings.Repeat("0", 40), "after": head,
			"repository": map[string]string{"clone_url": gitURL + "/app.git"}})
		return b
	}
	sign := func(secret string, body []byte) string {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		return hex.EncodeToString(m.Sum(nil))
	}
	post := func(headers map[string]string, body []byte) (int, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+hook.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deploys := func() int {
		var page struct{ Items []deploy }
		c.must(200, "GET", env+"/deploys", nil, &page)
		return len(page.Items)
	}
	main := payload("refs/heads/main")

	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    []byte
		want    int
		says    string
	}{
		{"unsigned", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-unsigned"}, main, 401, "unsigned"},
		{"forged (GitHub)", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-forged", "X-Hub-Signature-256": "sha256=" + sign("not-the-secret", main)}, main, 401, "wrong signature"},
		{"signed, another body (GitHub)", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-tampered", "X-Hub-Signature-256": "sha256=" + sign(hook.Secret, payload("refs/heads/other"))}, main, 401, "wrong signature"},
		{"forged (Gitea)", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-gitea-forged", "X-Gitea-Signature": sign("nope", main)}, main, 401, "wrong signature"},
		{"wrong token (GitLab)", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "d-gitlab-forged", "X-Gitlab-Token": "nope"}, main, 401, "wrong token"},
		{"another branch (Gitea, signed)", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-feature", "X-Gitea-Signature": sign(hook.Secret, payload("refs/heads/feature"))}, payload("refs/heads/feature"), 200, "not to main"},
		{"no delivery id (GitLab, signed)", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": hook.Secret}, main, 400, "no delivery id"},
	} {
		if got, body := post(tc.headers, tc.body); got != tc.want || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, got, body, tc.want, tc.says)
		}
	}
	c.must(404, "POST", "/v1/hooks/git/"+strings.Repeat("0", 32), map[string]string{}, nil)
	if n := deploys(); n != 0 {
		t.Fatalf("%d deploys after pushes that should deploy nothing", n)
	}

	// The signed push to main: its commit is built and deployed.
	signed := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958", "X-Hub-Signature-256": "sha256=" + sign(hook.Secret, main)}
	code, body := post(signed, main)
	var res struct{ Outcome, Commit, Build, Deploy string }
	json.Unmarshal([]byte(body), &res)
	if code != 202 || res.Outcome != "deployed" || res.Commit != head || res.Deploy == "" {
		t.Fatalf("the signed push: %d %s", code, body)
	}
	d := c.follow(env, res.Deploy)
	if d.Status != "succeeded" {
		t.Fatalf("the push's deploy: %s (%s)", d.Status, d.Error)
	}
	var rel struct {
		GitCommit string `json:"git_commit"`
	}
	c.must(200, "GET", env+"/releases/1", nil, &rel)
	if rel.GitCommit != head {
		t.Errorf("release 1 records commit %q, want the pushed %s", rel.GitCommit, head)
	}
	if got := serving(t, s, platform.Ref("acme", "shop", "test").ServiceName()); len(got) != 1 || got[0] != "version two" {
		t.Errorf("test serves %q after the push, want main's page", got)
	}
	// The same delivery again is a replay.
	if got, body := post(signed, main); got != 409 || !strings.Contains(body, "replay") {
		t.Errorf("the replayed push: %d %s", got, body)
	}
	if n := deploys(); n != 1 {
		t.Errorf("%d deploys, want the signed push's only", n)
	}

	// Each refusal and ignored push is audited, with its reason.
	var audit struct {
		Items []struct{ Actor, Action, Target string }
	}
	c.must(200, "GET", "/v1/orgs/acme/audit?limit=500", nil, &audit)
	reasons := map[string]int{}
	for _, ev := range audit.Items {
		if strings.HasPrefix(ev.Action, "git-push.") {
			reasons[ev.Action]++
			t.Logf("audit: %s %s %s", ev.Actor, ev.Action, ev.Target)
		}
	}
	if reasons["git-push.refused"] != 7 || reasons["git-push.ignored"] != 1 || reasons["git-push.deploy"] != 1 {
		t.Errorf("audited pushes %v, want 7 refused (5 unsigned or forged, 1 without a delivery id, 1 replay), 1 ignored, 1 deployed", reasons)
	}

	t.Run("another organisation's member cannot read or replace the hook", func(t *testing.T) {
		a := isoIn(t, c)
		mallory := isoPerson(t, a, "mallory")
		mallory.must(201, "POST", "/v1/orgs", map[string]any{"name": "evil"}, nil)
		mallory.must(404, "GET", env+"/git-hook", nil, nil)
		mallory.must(404, "PUT", env+"/git-hook", map[string]string{"repo_url": gitURL + "/app.git", "branch": "main"}, nil)
		mallory.must(404, "DELETE", env+"/git-hook", nil, nil)
		c.must(200, "GET", env+"/git-hook", nil, nil)
	})
}
