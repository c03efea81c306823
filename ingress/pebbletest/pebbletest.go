// Package pebbletest starts Let's Encrypt's ACME test server Pebble for a test, built
// from the Go module proxy by scripts/pebble.sh (which it runs when the binaries are
// missing), so TLS tests order certificates from a real ACME server on loopback.
package pebbletest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// Version must match scripts/pebble.sh.
const Version = "2.10.3"

// Server is a running Pebble (with pebble-challtestsrv as its DNS server, answering
// 127.0.0.1 for every name) whose HTTP-01 validations go to 127.0.0.1:httpPort.
type Server struct {
	Directory  string       // the ACME directory URL
	Management string       // Pebble's management API (roots)
	CAFile     string       // PEM of the CA that signed Pebble's API certificate
	Client     *http.Client // trusts Pebble's API certificate
}

// FreePorts returns n distinct free loopback ports: every listener stays open until
// all are chosen, so no port is handed out twice.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

// pebbleDir returns the directory of Pebble's binaries and certificates, building them
// with scripts/pebble.sh when they are missing.
func pebbleDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("WHARF_BIN_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "wharf", "bin")
	}
	if _, err := os.Stat(filepath.Join(dir, "pebble-"+Version)); err != nil {
		_, self, _, _ := runtime.Caller(0)
		script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "pebble.sh")
		out, err := exec.Command(script).CombinedOutput()
		if err != nil {
			agenttest.Unavailable(t, "pebble could not be built: %v: %s", err, out)
		}
	}
	return dir
}

// Start starts Pebble for the test, validating HTTP-01 challenges on 127.0.0.1:httpPort,
// and stops it at cleanup.
func Start(t testing.TB, httpPort int) *Server {
	t.Helper()
	dir := pebbleDir(t)
	certs := filepath.Join(dir, "pebble-"+Version+"-certs")
	ports := FreePorts(t, 5)
	dnsPort, mgmtPort, apiPort, pebbleMgmt, tlsPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	run(t, "challtestsrv", filepath.Join(dir, "pebble-challtestsrv-"+Version), nil,
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-management", fmt.Sprintf("127.0.0.1:%d", mgmtPort), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")

	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", apiPort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", pebbleMgmt),
		"certificate":                    filepath.Join(certs, "cert.pem"),
		"privateKey":                     filepath.Join(certs, "key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort, // nothing listens: TLS-ALPN-01 fails, HTTP-01 must do
		"externalAccountBindingRequired": false,
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}}
	b, _ := json.Marshal(cfg)
	conf := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "pebble", filepath.Join(dir, "pebble-"+Version),
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", conf, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))

	ca, err := os.ReadFile(filepath.Join(certs, "pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	p := &Server{
		Directory:  fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		Management: fmt.Sprintf("https://127.0.0.1:%d", pebbleMgmt),
		CAFile:     filepath.Join(certs, "pebble.minica.pem"),
		Client:     &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}},
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := p.Client.Get(p.Directory)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble never answered: %v", err)
		}
	}
	return p
}

// Roots returns the pool of Pebble's issuing root, which signs what it issues.
func (p *Server) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.Client.Get(p.Management + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble's root is not PEM: %q", b)
	}
	return pool
}

// run starts a helper process whose output goes to t.Log until it is killed at cleanup.
func run(t testing.TB, name, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		s := bufio.NewScanner(out)
		for s.Scan() {
			t.Logf("%s: %s", name, s.Text())
		}
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-logged
		cmd.Wait()
	})
}
