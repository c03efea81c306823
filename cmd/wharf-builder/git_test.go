package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// bareRepo makes dir/name.git from files (name → content; a content starting with
// "-> " is a symbolic link), committed and tagged v1.
func bareRepo(t *testing.T, dir, name string, files map[string]string) {
	t.Helper()
	work := t.TempDir()
	git := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git(work, "init", "-q", "-b", "main")
	for n, content := range files {
		p := filepath.Join(work, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			os.Symlink(target, p)
		} else {
			os.WriteFile(p, []byte(content), 0o644)
		}
	}
	git(work, "add", ".")
	git(work, "commit", "-q", "-m", "one")
	git(work, "tag", "v1")
	git(work, "clone", "-q", "--bare", work, filepath.Join(dir, name+".git"))
}

func TestGitCheckout(t *testing.T) {
	repos := t.TempDir()
	bareRepo(t, repos, "app", map[string]string{"Dockerfile": "FROM x\n", "www/index.html": "one\n"})
	bareRepo(t, repos, "evil", map[string]string{"Dockerfile": "-> /etc/passwd"})
	url := agenttest.GitServer(t, repos)
	ctx := context.Background()

	dir, cleanup, err := gitCheckout(ctx, url+"/app.git", "v1", filepath.Join(t.TempDir(), "work", "src"))
	defer cleanup()
	if err != nil {
		t.Fatalf("clone over http from the loopback git server: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "www/index.html")); err != nil || string(b) != "one\n" {
		t.Errorf("checkout has %q, %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "www/index.html")); err == nil && os.Getuid() == 0 {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody {
			t.Errorf("as root, git ran as %d, not nobody", st.Uid)
		}
	}
	cleanup()
	if _, err := os.Stat(dir); err == nil && dir != "" && os.Getuid() == 0 {
		t.Errorf("cleanup left %s", dir)
	}

	if err := tryCheckout(ctx, url+"/evil.git", "v1"); err == nil || !strings.Contains(err.Error(), "points outside") {
		t.Errorf("checkout with a Dockerfile linked to /etc/passwd = %v, want refused", err)
	}
	for _, bad := range []string{"file://" + repos + "/app.git", repos + "/app.git", "ext::sh -c true", "ssh://git@127.0.0.1/app.git", "git://127.0.0.1/app.git"} {
		if err := tryCheckout(ctx, bad, ""); err == nil {
			t.Errorf("gitCheckout(%q) cloned", bad)
		}
	}
	// A redirect is not followed: it could lead to the node's agents.
	redirect := httptest.NewServer(http.RedirectHandler(url+"/app.git/info/refs?service=git-upload-pack", http.StatusFound))
	defer redirect.Close()
	if err := tryCheckout(ctx, redirect.URL+"/app.git", ""); err == nil {
		t.Errorf("a clone followed a redirect")
	}
}

// tryCheckout checks out url at ref into a directory of its own, cleaned up at once.
func tryCheckout(ctx context.Context, url, ref string) error {
	dir, err := os.MkdirTemp("", "wharf-git-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	_, cleanup, err := gitCheckout(ctx, url, ref, filepath.Join(dir, "src"))
	cleanup()
	return err
}
