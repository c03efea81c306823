package consul_test

import (
	"bufio"
	"context"
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
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/internal/agenttest"
)

// pebbleVersion must match scripts/pebble.sh.
const pebbleVersion = "2.10.3"

// pebble is a running Pebble (with pebble-challtestsrv as its DNS server, answering
// 127.0.0.1 for every name) whose HTTP-01 validations go to 127.0.0.1:httpPort.
type pebble struct {
	directory  string
	management string
	client     *http.Client // trusts Pebble's own API certificate
}

// freePorts returns n distinct free loopback ports: every listener stays open until
// all are chosen, so no port is handed out twice.
func freePorts(t *testing.T, n int) []int {
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
func pebbleDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("WHARF_BIN_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "wharf", "bin")
	}
	if _, err := os.Stat(filepath.Join(dir, "pebble-"+pebbleVersion)); err != nil {
		out, err := exec.Command("../../scripts/pebble.sh").CombinedOutput()
		if err != nil {
			agenttest.Unavailable(t, "pebble could not be built: %v: %s", err, out)
		}
	}
	return dir
}

func startPebble(t *testing.T, httpPort int) *pebble {
	t.Helper()
	dir := pebbleDir(t)
	certs := filepath.Join(dir, "pebble-"+pebbleVersion+"-certs")
	ports := freePorts(t, 5)
	dnsPort, mgmtPort, apiPort, pebbleMgmt, tlsPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	run(t, "challtestsrv", filepath.Join(dir, "pebble-challtestsrv-"+pebbleVersion), nil,
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
	run(t, "pebble", filepath.Join(dir, "pebble-"+pebbleVersion),
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		"-config", conf, "-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort))

	ca, err := os.ReadFile(filepath.Join(certs, "pebble.minica.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	p := &pebble{
		directory:  fmt.Sprintf("https://127.0.0.1:%d/dir", apiPort),
		management: fmt.Sprintf("https://127.0.0.1:%d", pebbleMgmt),
		client:     &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}},
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := p.client.Get(p.directory)
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

// roots returns the pool of Pebble's issuing root, which signs what it issues.
func (p *pebble) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := p.client.Get(p.management + "/roots/0")
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
func run(t *testing.T, name, bin string, env []string, args ...string) {
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

// replica is one ingress replica's TLS side: plain HTTP (ACME challenges, then the
// proxy) and HTTPS, on its own listeners.
type replica struct {
	httpsAddr string
	certs     *ingress.Certs
}

func startReplica(t *testing.T, client *consulapi.Client, p *ingress.Proxy, httpListener net.Listener, acmeURL string, acmeClient *http.Client, key []byte) *replica {
	t.Helper()
	sealed, err := ingress.NewSealedCache(consul.NewCertCache(client, ""), key)
	if err != nil {
		t.Fatal(err)
	}
	certs := ingress.NewCerts(ingress.CertsConfig{
		DirectoryURL: acmeURL, Cache: sealed, Locker: consul.NewLocker(client, ""), Routed: p.Routed, HTTPClient: acmeClient,
	})
	plain := &http.Server{Handler: certs.HTTPHandler(p)}
	go plain.Serve(httpListener)
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure := &http.Server{Handler: p, TLSConfig: certs.TLSConfig()}
	go secure.ServeTLS(tl, "", "")
	t.Cleanup(func() { plain.Close(); secure.Close() })
	return &replica{httpsAddr: tl.Addr().String(), certs: certs}
}

// TestCertificateFromPebble: a routed host gets a certificate from a real ACME server
// over HTTP-01 (ordered ahead by one replica) and is served over HTTPS; a second replica
// sharing the Consul cache serves the same certificate without ordering another; the
// cache holds no private key in the clear.
func TestCertificateFromPebble(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	host := "secure-live.apps.wharf.test"
	r.instance(t, "secure-live-web", backend(t, "secure hello"), consulapi.HealthPassing)
	putRoute(t, r, ingress.Route{App: "secure", Env: "live", Hosts: []string{host}, Service: "secure-live-web", HTTPSRedirect: true})
	r.await(t, host, 308, "")

	// Pebble validates on one port: replica A's HTTP listener. Replica B answers no
	// challenge; it must find A's certificate in Consul.
	la, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pb := startPebble(t, la.Addr().(*net.TCPAddr).Port)
	key := []byte("0123456789abcdef0123456789abcdef")
	a := startReplica(t, r.consul, r.proxy, la, pb.directory, pb.client, key)
	b := startReplica(t, r.consul, r.proxy, lb, pb.directory, pb.client, key)
	roots := pb.roots(t)

	get := func(rep *replica) (*http.Response, string) {
		t.Helper()
		c := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", rep.httpsAddr)
			},
		}}
		resp, err := c.Get("https://" + host + "/")
		if err != nil {
			t.Fatalf("GET over HTTPS: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	// Replica A orders ahead of any visitor, as it does for every new route.
	a.certs.Prefetch([]string{host})
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if p, _, err := r.consul.KV().Get(consul.DefaultCertPrefix+"certs/"+host, nil); err == nil && p != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("replica A never stored a certificate in Consul")
		}
	}
	respB, body := get(b)
	if respB.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("HTTPS through replica B: %d %q", respB.StatusCode, body)
	}
	respA, body := get(a)
	if respA.StatusCode != 200 || body != "secure hello" {
		t.Fatalf("HTTPS through replica A: %d %q", respA.StatusCode, body)
	}
	serialA, serialB := respA.TLS.PeerCertificates[0].SerialNumber, respB.TLS.PeerCertificates[0].SerialNumber
	if serialB.Cmp(serialA) != 0 {
		t.Errorf("replica B serves certificate %v, replica A %v: B ordered its own", serialB, serialA)
	}
	// Plain HTTP redirects to HTTPS, as the route asks.
	if a, err := r.get(host, "", ""); err != nil || a.status != 308 || a.location != "https://"+host+"/" {
		t.Errorf("plain HTTP: %d to %q (%v), want 308 to https://%s/", a.status, a.location, err, host)
	}

	// An unrouted name gets no certificate.
	conn, err := tls.Dial("tcp", a.httpsAddr, &tls.Config{RootCAs: roots, ServerName: "unrouted.wharf.test"})
	if err == nil {
		conn.Close()
		t.Error("a handshake for an unrouted host succeeded")
	}

	pairs, _, err := r.consul.KV().List(consul.DefaultCertPrefix+"certs/", nil)
	if err != nil || len(pairs) == 0 {
		t.Fatalf("no certificate cache in Consul: %v", err)
	}
	for _, p := range pairs {
		if strings.Contains(string(p.Value), "PRIVATE KEY") {
			t.Errorf("%s holds a private key in the clear", p.Key)
		}
	}
}
