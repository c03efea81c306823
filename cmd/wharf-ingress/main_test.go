package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/ingress/pebbletest"
	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestRunRoutes runs the command against a real Consul: a route record and a passing
// instance make a host answer through it, and its admin port serves health and metrics.
func TestRunRoutes(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	client, err := c.Client() // the operator registers services and writes routes as wharfd would
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer backend.Close()
	port, _ := strconv.Atoi(backend.URL[strings.LastIndexByte(backend.URL, ':')+1:])
	if err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "web-1", Name: "web", Address: "127.0.0.1", Port: port,
		Check: &consulapi.AgentServiceCheck{TTL: "10m", Status: consulapi.HealthPassing},
	}); err != nil {
		t.Fatal(err)
	}
	host := "app-live.apps.test"
	err = consul.NewRouteStore(client, "").Put(context.Background(), ingress.Route{
		Cloudspace: "local", App: "app", Env: "live", Hosts: []string{host}, Primary: host, Service: "web",
	}, 0)
	if err != nil {
		t.Fatal(err)
	}

	addrFile := filepath.Join(t.TempDir(), "addrs.json")
	tokenFile := filepath.Join(t.TempDir(), "consul-token")
	if err := os.WriteFile(tokenFile, []byte(c.IngressToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-addr-file", addrFile, "-consul-addr", c.Addr, "-consul-token-file", tokenFile},
			nil, io.Discard, testLog{t})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited %d", code)
		}
	}()

	var addrs map[string]string
	for deadline := time.Now().Add(20 * time.Second); addrs == nil; time.Sleep(20 * time.Millisecond) {
		if b, err := os.ReadFile(addrFile); err == nil {
			json.Unmarshal(b, &addrs)
		}
		if time.Now().After(deadline) {
			t.Fatal("no address file")
		}
	}
	get := func(url, host string) (int, string) {
		req, _ := http.NewRequest("GET", url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code, body := get("http://"+addrs["http"]+"/", host); code == 200 && body == "hello" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("never routed: %d %q", code, body)
		}
	}
	if code, _ := get("http://"+addrs["admin"]+"/health", ""); code != 200 {
		t.Errorf("health %d", code)
	}
	if code, body := get("http://"+addrs["admin"]+"/metrics", ""); code != 200 || !strings.Contains(body, `wharf_ingress_requests_total{code="2xx",route="app/live"}`) {
		t.Errorf("metrics %d lack the route's requests", code)
	}
}

// TestRunHTTPS runs the command with HTTPS against a real Consul and a real Pebble: a
// route asking for HTTPS redirects plain HTTP, and its host is served over HTTPS with a
// certificate the command ordered as soon as the route appeared.
func TestRunHTTPS(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	client, err := c.Client() // the operator registers services and writes routes as wharfd would
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secure") }))
	defer backend.Close()
	port, _ := strconv.Atoi(backend.URL[strings.LastIndexByte(backend.URL, ':')+1:])
	if err := client.Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: "s-1", Name: "s-web", Address: "127.0.0.1", Port: port,
		Check: &consulapi.AgentServiceCheck{TTL: "10m", Status: consulapi.HealthPassing},
	}); err != nil {
		t.Fatal(err)
	}
	host := "s-live.apps.wharf.test"
	if err := consul.NewRouteStore(client, "").Put(context.Background(), ingress.Route{
		Cloudspace: "local", App: "s", Env: "live", Hosts: []string{host}, Primary: host, Service: "s-web", HTTPSRedirect: true,
	}, 0); err != nil {
		t.Fatal(err)
	}
	ports := pebbletest.FreePorts(t, 3)
	httpAddr, httpsAddr, adminAddr := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	pb := pebbletest.Start(t, ports[0])

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-http", httpAddr, "-https", httpsAddr, "-admin", adminAddr, "-consul-addr", c.Addr,
			"-acme-directory", pb.Directory, "-acme-ca-file", pb.CAFile},
			[]string{"WHARF_INGRESS_CACHE_KEY=" + strings.Repeat("0f", 32), "WHARF_CONSUL_TOKEN=" + c.IngressToken}, io.Discard, testLog{t})
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("run exited %d", code)
		}
	}()

	roots := pb.Roots(t)
	secure := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: host},
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", httpsAddr)
		},
	}}
	var last string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		resp, err := secure.Get("https://" + host + "/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == "secure" {
				break
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("never served over HTTPS: %s", last)
		}
	}
	plain := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/x?y=1", nil)
	req.Host = host
	resp, err := plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://"+host+"/x?y=1" {
		t.Errorf("plain HTTP: %d to %q, want 308 to https://%s/x?y=1", resp.StatusCode, resp.Header.Get("Location"), host)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
