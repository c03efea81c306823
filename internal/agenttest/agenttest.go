// Package agenttest starts real Consul, Vault, Nomad, registry, object store and PostgreSQL processes for a test,
// on free loopback ports with their data in the test's temporary directory, wired the
// same way `make dev` wires them (both go through internal/devstack). Each agent's output
// goes to t.Log; each is stopped, and its data removed, in t.Cleanup.
//
// When an agent binary or the Docker engine is missing, a test skips, unless
// WHARF_REQUIRE_AGENTS=1 is set (as CI sets it), in which case it fails: a test that
// silently skips in CI proves nothing.
package agenttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// Required reports whether missing agents fail tests instead of skipping them.
func Required() bool { return os.Getenv("WHARF_REQUIRE_AGENTS") == "1" }

// Unavailable skips the test, or fails it when agents are required, with the reason.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if Required() {
		t.Fatalf("WHARF_REQUIRE_AGENTS=1 but "+format, args...)
	}
	t.Skipf(format+" (run make deps)", args...)
}

// Binaries returns the agent binaries, from WHARF_BIN_DIR or ~/.cache/wharf/bin, or ends
// the test through Unavailable when one is missing.
func Binaries(t testing.TB) devstack.Binaries {
	t.Helper()
	b := devstack.DefaultBinaries(os.Getenv("WHARF_BIN_DIR"))
	if missing := b.Missing(); len(missing) > 0 {
		Unavailable(t, "agent binaries missing: %s", strings.Join(missing, ", "))
	}
	return b
}

// RequireDocker ends the test through Unavailable when the Docker engine does not
// answer or the local base image is absent.
func RequireDocker(t testing.TB) {
	t.Helper()
	if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", BaseImage).CombinedOutput(); err != nil {
		Unavailable(t, "docker engine or base image %s unavailable: %v: %s", BaseImage, err, strings.TrimSpace(string(out)))
	}
}

// BaseImage is the local base image scripts/deps.sh builds: scratch plus Debian's
// static busybox. Its tag is not "latest" because Nomad's docker driver always pulls an
// image tagged latest, and no image can be pulled here.
const BaseImage = "wharf/busybox:1"

// logTo returns a LogFunc that writes to t.Log until the test's cleanup has stopped the
// agents.
func logTo(t testing.TB) devstack.LogFunc {
	return func(agent, line string) { t.Logf("%s: %s", agent, line) }
}

var stacks atomic.Int64

// uniqueName names one stack, unique on this machine while this process runs; it names
// the Nomad cgroup parent, so two test processes must not share it.
func uniqueName() string {
	return fmt.Sprintf("wharftest-%d-%d", os.Getpid(), stacks.Add(1))
}

// Consul starts a Consul server for the test.
func Consul(t testing.TB) *devstack.Consul {
	t.Helper()
	b := Binaries(t)
	c, err := withFreePorts(t, func() (*devstack.Consul, error) {
		return devstack.StartConsul(devstack.ConsulConfig{
			Binary: b.Consul, DataDir: t.TempDir(), Node: uniqueName(), Log: logTo(t),
		})
	})
	if err != nil {
		t.Fatalf("start consul: %v", err)
	}
	t.Cleanup(func() { logStop(t, "consul", c.Stop()) })
	return c
}

// Vault starts an initialised, unsealed and configured Vault server for the test.
func Vault(t testing.TB) *devstack.Vault {
	t.Helper()
	b := Binaries(t)
	v, err := withFreePorts(t, func() (*devstack.Vault, error) {
		return devstack.StartVault(devstack.VaultConfig{Binary: b.Vault, DataDir: t.TempDir(), Log: logTo(t)})
	})
	if err != nil {
		t.Fatalf("start vault: %v", err)
	}
	t.Cleanup(func() { logStop(t, "vault", v.Stop()) })
	return v
}

// Postgres starts a PostgreSQL server for the test (as the postgres user when the test
// runs as root), with its files removed afterwards.
func Postgres(t testing.TB) *devstack.Postgres {
	t.Helper()
	b := Binaries(t)
	pg, err := withFreePorts(t, func() (*devstack.Postgres, error) {
		return devstack.StartPostgres(devstack.PostgresConfig{BinDir: b.Postgres, DataDir: t.TempDir(), Log: logTo(t)})
	})
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() { logStop(t, "postgres", pg.Stop()) })
	return pg
}

// ObjectStore starts the cloudspace's S3-compatible object store (versitygw) for the
// test, with its buckets and accounts removed afterwards. It needs only that binary.
func ObjectStore(t testing.TB) *devstack.ObjectStore {
	t.Helper()
	b := devstack.DefaultBinaries(os.Getenv("WHARF_BIN_DIR"))
	if fi, err := os.Stat(b.ObjectStore); err != nil || fi.Mode()&0o111 == 0 {
		Unavailable(t, "object store binary missing: %s", b.ObjectStore)
	}
	o, err := withFreePorts(t, func() (*devstack.ObjectStore, error) {
		return devstack.StartObjectStore(devstack.ObjectStoreConfig{Binary: b.ObjectStore, DataDir: t.TempDir(), Log: logTo(t)})
	})
	if err != nil {
		t.Fatalf("start object store: %v", err)
	}
	t.Cleanup(func() { logStop(t, "objectstore", o.Stop()) })
	return o
}

// Stack starts a whole local cloudspace (Consul, Vault, the registry, PostgreSQL, and Nomad with
// the docker driver) for the test. Jobs the test leaves behind are stopped with it.
func Stack(t testing.TB) *devstack.Stack {
	t.Helper()
	return stack(t, false)
}

// StackTLS is Stack with Consul's and Nomad's APIs over HTTPS and their RPC over mutual
// TLS (devstack.Config.TLS).
func StackTLS(t testing.TB) *devstack.Stack {
	t.Helper()
	return stack(t, true)
}

func stack(t testing.TB, tls bool) *devstack.Stack {
	t.Helper()
	b := Binaries(t)
	RequireDocker(t)
	s, err := withFreePorts(t, func() (*devstack.Stack, error) {
		return devstack.Start(devstack.Config{
			Binaries: b, DataDir: t.TempDir(), Name: uniqueName(), Log: logTo(t), TLS: tls,
		})
	})
	if err != nil {
		t.Fatalf("start local cloudspace: %v", err)
	}
	t.Cleanup(func() { logStop(t, "stack", s.Stop()) })
	return s
}

// withFreePorts starts something on free ports, and starts it again, on other free ports
// and in a fresh directory, when another process took one of its ports between their
// choice and its bind (test packages run in parallel processes).
func withFreePorts[T any](t testing.TB, start func() (T, error)) (T, error) {
	var v T
	var err error
	for try := 1; try <= 3; try++ {
		if v, err = start(); !errors.Is(err, devstack.ErrPortTaken) {
			return v, err
		}
		t.Logf("a port was taken by another process; starting again (try %d of 3)", try)
	}
	return v, err
}

func logStop(t testing.TB, what string, err error) {
	if err != nil {
		t.Errorf("stop %s: %v", what, err)
	}
}
