package agenttest

import (
	"os"
	"testing"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// Tofu returns the OpenTofu binary scripts/deps.sh built (WHARF_BIN_DIR or
// ~/.cache/wharf/bin), or ends the test through Unavailable when it is missing.
func Tofu(t testing.TB) string {
	t.Helper()
	p := devstack.TofuBinary(os.Getenv("WHARF_BIN_DIR"))
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		Unavailable(t, "OpenTofu missing: %s", p)
	}
	return p
}
