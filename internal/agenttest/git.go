package agenttest

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitServer serves the bare repositories under dir over smart HTTP on loopback (git's
// own http-backend behind net/http/cgi), as a tenant's git host would, until the test
// ends, and returns its URL. Without git it ends the test through Unavailable.
func GitServer(t testing.TB, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		Unavailable(t, "git unavailable: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		Unavailable(t, "git http-backend unavailable: %v", err)
	}
	srv := httptest.NewServer(&cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + dir, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	return srv.URL
}
