package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// startIngress runs the real wharf-ingress against the stack's Consul with the
// ingress's own token, and returns its plain HTTP address.
func startIngress(t testing.TB, s *devstack.Stack) string {
	t.Helper()
	return startIngressAddrs(t, s)["http"]
}

// startIngressAddrs runs the real wharf-ingress for the cloudspace "local" and returns
// its addresses: "http", "admin" (its /metrics and /health) and, with a task bridge,
// "tasks-http", on the bridge's gateway and let through its fence, where the stack's
// tasks reach other applications.
func startIngressAddrs(t testing.TB, s *devstack.Stack) map[string]string {
	t.Helper()
	dir := t.TempDir()
	addrFile := filepath.Join(dir, "addrs.json")
	args := append([]string{"-cloudspace", "local", "-http", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-addr-file", addrFile,
		"-consul-addr", s.Consul.Addr, "-consul-token-file", writeToken(t, dir, "consul-token", s.Consul.IngressToken)}, agentTLSArgs(s, "consul")...)
	if s.Bridge != nil {
		args = append(args, "-tasks-http", net.JoinHostPort(s.Bridge.Gateway.String(), "0"))
	}
	p, err := devstack.StartProcess("ingress", func(_, line string) { t.Logf("ingress: %s", line) },
		filepath.Join(binDir, "wharf-ingress"), args, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("wharf-ingress: %v", err)
		}
	})
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var addrs map[string]string
		if b, err := os.ReadFile(addrFile); err == nil && json.Unmarshal(b, &addrs) == nil && addrs["http"] != "" {
			if tasks := addrs["tasks-http"]; tasks != "" {
				_, port, _ := net.SplitHostPort(tasks)
				n, _ := strconv.Atoi(port)
				if err := s.Bridge.Allow(n); err != nil {
					t.Fatal(err)
				}
			}
			return addrs
		}
	}
	t.Fatal("wharf-ingress did not listen")
	return nil
}

// get asks the ingress for host's page.
func get(ingress, host string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ingress+"/", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestIngressFollowsDeploys deploys through wharfd and reaches the application through
// wharf-ingress by its generated domain: routed once deployed, with no failed request
// while it is redeployed and scaled down, and gone (404) once the application is deleted.
func TestIngressFollowsDeploys(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s)
	ing := startIngress(t, s)
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "shop")
	const env = "/v1/orgs/acme/apps/shop/envs/test"
	const host = "test.shop.acme.localhost"
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 3, "memory_mb": 32}}}, nil)
	c.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": "hello"}, nil)
	c.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)
	if code, _ := get(ing, host); code != http.StatusNotFound {
		t.Errorf("before any deploy %s = %d, want 404", host, code)
	}

	var d deploy
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy = %s (%s)", d.Status, d.Error)
	}
	waitPage(t, ing, host, "hello release 1")

	// The URL wharfd shows (status, deploys, the CLI, the panel) is the one that answers:
	// with the cloudspace's ingress port when that is not 80, as under make dev.
	_, port, _ := net.SplitHostPort(ing)
	portNumber, _ := strconv.Atoi(port)
	c.must(200, "PATCH", "/v1/cloudspaces/local", map[string]any{"ingress_port": portNumber}, nil)
	var st struct {
		URL string `json:"url"`
	}
	c.must(200, "GET", env+"/status", nil, &st)
	if want := "http://" + host + ":" + port + "/"; st.URL != want {
		t.Errorf("status URL = %q, want %q", st.URL, want)
	} else if u, err := url.Parse(st.URL); err != nil {
		t.Error(err)
	} else if code, body := get("127.0.0.1:"+u.Port(), u.Hostname()); code != 200 || !strings.Contains(body, "hello release 1") {
		t.Errorf("the status URL %s answers %d %q", st.URL, code, body)
	}

	// A custom domain made primary routes at once, and the generated name redirects to
	// it; basic auth guards the test environment, and the live one cannot be guarded.
	c.must(200, "PUT", env+"/domains/www.shop.test", map[string]any{"primary": true}, nil)
	waitPage(t, ing, "www.shop.test", "hello release 1")
	if code, loc := redirectOf(ing, host); code != http.StatusPermanentRedirect || loc != "http://www.shop.test/" {
		t.Errorf("the generated name answers %d to %q, want 308 to the primary domain", code, loc)
	}
	c.must(409, "PUT", "/v1/orgs/acme/apps/shop/envs/live/domains/www.shop.test", map[string]any{}, nil)
	c.must(200, "PATCH", env+"/routing", map[string]any{"protection_user": "preview", "protection_password": "let-me-in-please"}, nil)
	var routing map[string]any
	c.must(200, "GET", env+"/routing", nil, &routing)
	if routing["protection_user"] != "preview" || containsValue(routing, "let-me-in-please") {
		t.Errorf("routing = %v", routing)
	}
	waitStatus(t, ing, "www.shop.test", "", http.StatusUnauthorized)
	waitStatus(t, ing, "www.shop.test", "preview:let-me-in-please", http.StatusOK)
	if code := c.do("PATCH", "/v1/orgs/acme/apps/shop/envs/live/routing", map[string]any{"protection_user": "x", "protection_password": "long-enough"}, nil); code != 400 && code != 422 {
		t.Errorf("protecting live = %d, want a 4xx", code)
	}
	c.must(200, "PATCH", env+"/routing", map[string]any{"protection_user": ""}, nil)
	c.must(204, "DELETE", env+"/domains/www.shop.test", nil, nil)
	waitPage(t, ing, host, "hello release 1")

	// A constant stream of requests while the app is redeployed, then scaled down.
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && n < 100000; n++ {
				code, body := get(ing, host)
				if code >= 200 && code < 300 {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				mu.Lock()
				if len(failures) < 10 {
					failures = append(failures, fmt.Sprintf("%d %.80q", code, body))
				}
				mu.Unlock()
			}
		}()
	}
	c.must(200, "PUT", env+"/vars/GREETING", map[string]any{"value": "bonjour"}, nil)
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Errorf("redeploy = %s (%s)", d.Status, d.Error)
	}
	c.must(202, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Errorf("scale down = %s (%s)", d.Status, d.Error)
	}
	time.Sleep(5 * time.Second) // the old instances' shutdown delay, under load
	stop()
	wg.Wait()
	t.Logf("through the ingress during a redeploy and a scale-down: %d answered 2xx, %d did not", ok.Load(), failed.Load())
	if failed.Load() > 0 || ok.Load() == 0 {
		t.Errorf("%d requests were not answered 2xx (of %d); first: %q", failed.Load(), ok.Load()+failed.Load(), failures)
	}
	waitPage(t, ing, host, "bonjour release 2") // scaling makes no release

	c.must(204, "DELETE", "/v1/orgs/acme/apps/shop", nil, nil)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code, _ := get(ing, host); code == http.StatusNotFound {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d after the application was deleted", host, code)
		}
	}
}

// redirectOf asks the ingress for host's page without following redirects.
func redirectOf(ing, host string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+ing+"/", nil)
	req.Host = host
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// waitStatus waits until the ingress answers host with status, with basic-auth
// credentials "user:password" when given.
func waitStatus(t *testing.T, ing, host, creds string, status int) {
	t.Helper()
	code := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ing+"/", nil)
		req.Host = host
		if user, pass, ok := strings.Cut(creds, ":"); ok {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		resp.Body.Close()
		if code = resp.StatusCode; code == status {
			return
		}
	}
	t.Fatalf("%s (credentials %v) = %d, want %d", host, creds != "", code, status)
}

func containsValue(m map[string]any, s string) bool {
	for _, v := range m {
		if fmt.Sprint(v) == s {
			return true
		}
	}
	return false
}

// waitPage waits until the ingress serves want for host.
func waitPage(t *testing.T, ing, host, want string) {
	t.Helper()
	var code int
	var body string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if code, body = get(ing, host); code == 200 && body == want+"\n" {
			return
		}
	}
	t.Fatalf("%s through the ingress = %d %q, want %q", host, code, body, want)
}
