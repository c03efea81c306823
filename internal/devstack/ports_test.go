package devstack_test

import (
	"errors"
	"net"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// TestPortTakenIsReported gives Consul a port another listener holds: the start fails
// with ErrPortTaken, which tells agenttest to start again on other ports.
func TestPortTakenIsReported(t *testing.T) {
	t.Parallel()
	b := agenttest.Binaries(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := devstack.StartConsul(devstack.ConsulConfig{
		Binary: b.Consul, DataDir: t.TempDir(), Node: "port-taken",
		HTTPPort: l.Addr().(*net.TCPAddr).Port,
		Log:      func(agent, line string) { t.Logf("%s: %s", agent, line) },
	})
	if err == nil {
		c.Stop()
		t.Fatal("consul started on a port another listener holds")
	}
	if !errors.Is(err, devstack.ErrPortTaken) {
		t.Errorf("err = %v, want ErrPortTaken", err)
	}
}
