// Package e2e runs Wharf's real binaries against real agents, on free loopback ports, as
// a user or an operator would.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/registry"
)

// binDir holds the binaries TestMain built from this checkout.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wharf-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := exec.Command("go", "build", "-o", dir+"/", "../cmd/...").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build binaries: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// wharfd is a running wharfd process.
type wharfd struct {
	URL  string // http://127.0.0.1:port
	proc *devstack.Process
	log  *logBuffer
}

// Log returns what wharfd has logged so far.
func (w *wharfd) Log() string { return w.log.String() }

// logBuffer collects a process's log lines as they come.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// writeToken writes a token to a 0600 file in dir and returns its path.
func writeToken(t testing.TB, dir, name, token string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// agentTLSArgs are the flags that make a command speak TLS to the named agents of a
// stack with TLS (devstack.Config.TLS): the stack's authority, and its certificate as
// the client's own; none for a stack without.
func agentTLSArgs(s *devstack.Stack, agents ...string) []string {
	if s.TLS == nil {
		return nil
	}
	var args []string
	for _, a := range agents {
		args = append(args, "-"+a+"-ca-file", s.TLS.CAFile, "-"+a+"-cert-file", s.TLS.CertFile, "-"+a+"-key-file", s.TLS.KeyFile)
	}
	return args
}

// operatorGet GETs a path of the stack's Nomad API with the operator's (management)
// token, to look at what wharfd did.
func operatorGet(s *devstack.Stack, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, s.Nomad.Addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Nomad-Token", s.Nomad.ManagementToken)
	return http.DefaultClient.Do(req)
}

// operatorRegistry makes a request of the stack's registry as wharfd does: with a
// token signed with wharfd's key, granting access.
func operatorRegistry(t testing.TB, s *devstack.Stack, req *http.Request, access ...platform.RegistryAccess) *http.Response {
	t.Helper()
	iss, err := registry.LoadIssuer(s.Registry.TokenKeyFile, devstack.RegistryTokenIssuer, devstack.RegistryTokenService)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Token("operator", access, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// startWharfd runs the real wharfd against the stack at the stack's wharfd address
// (the registry's token realm; so one at a time per stack) as the registry's token
// issuer, with its own
// Consul, Nomad and Vault tokens in files, and stops it (and checks that it stopped
// cleanly, and that it never logged a token) when the test ends. Later arguments in
// extraArgs win over the defaults.
func startWharfd(t testing.TB, s *devstack.Stack, extraArgs ...string) *wharfd {
	t.Helper()
	dir := t.TempDir()
	tokenFile := writeToken(t, dir, "vault-token", s.Vault.WharfdToken)
	addrFile := filepath.Join(dir, "addr")
	args := append([]string{
		"-listen", s.WharfdAddr, "-addr-file", addrFile, // the registry's token realm
		"-registry-token-key-file", s.Registry.TokenKeyFile,
		"-registry-token-issuer", devstack.RegistryTokenIssuer, "-registry-token-service", devstack.RegistryTokenService,
		"-consul-addr", s.Consul.Addr, "-consul-token-file", writeToken(t, dir, "consul-token", s.Consul.WharfdToken),
		"-nomad-addr", s.Nomad.Addr, "-nomad-region", s.Nomad.Region, "-nomad-token-file", writeToken(t, dir, "nomad-token", s.Nomad.WharfdToken),
		"-vault-addr", s.Vault.Addr, "-vault-token-file", tokenFile, "-registry-addr", s.Registry.Addr,
		"-nomad-network-mode", "bridge", "-builder", filepath.Join(binDir, "wharf-builder"),
		"-deploy-min-healthy-time", "2s", "-deploy-healthy-deadline", "20s", "-deploy-progress-deadline", "40s",
		"-allowed-images", "wharf/busybox,wharf-e2e", // local images the tests deploy by name
		"-object-store-endpoint", s.ObjectStore.Endpoint(), "-object-store-region", s.ObjectStore.Region,
		"-object-store-access-key", s.ObjectStore.AccessKey, "-object-store-secret-key-file", s.ObjectStore.SecretKeyFile,
	}, append(agentTLSArgs(s, "consul", "nomad", "vault"), extraArgs...)...)
	logged := &logBuffer{}
	p, err := devstack.StartProcess("wharfd", func(_, line string) {
		t.Logf("wharfd: %s", line)
		logged.add(line)
	}, filepath.Join(binDir, "wharfd"), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(20 * time.Second); err != nil {
			t.Errorf("wharfd did not shut down on SIGINT: %v", err)
		}
		for name, token := range map[string]string{"Vault": s.Vault.WharfdToken, "Consul": s.Consul.WharfdToken, "Nomad": s.Nomad.WharfdToken} {
			if strings.Contains(logged.String(), token) {
				t.Errorf("wharfd logged its %s token", name)
			}
		}
	})
	return &wharfd{URL: "http://" + listening(t, p, addrFile), proc: p, log: logged}
}

// listening waits for a started wharfd (p) to write the address it listens on to
// addrFile, and returns it; it fails the test when wharfd exits first or takes 30 s.
func listening(t testing.TB, p *devstack.Process, addrFile string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(b) > 0 {
			return string(b)
		}
		select {
		case <-p.Exited():
			t.Fatal("wharfd exited before it listened")
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("wharfd did not listen within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// getJSON GETs path from wharfd and decodes the body; it returns the response.
func (w *wharfd) getJSON(t testing.TB, path string, v any) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", path, err)
	}
	return resp
}
