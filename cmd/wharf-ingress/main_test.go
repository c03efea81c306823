package main

import (
	"context"
	"encoding/json"
	"io"
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
	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestRunRoutes runs the command against a real Consul: a route record and a passing
// instance make a host answer through it, and its admin port serves health and metrics.
func TestRunRoutes(t *testing.T) {
	t.Parallel()
	c := agenttest.Consul(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: c.Addr})
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
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-addr-file", addrFile, "-consul-addr", c.Addr},
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

type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
