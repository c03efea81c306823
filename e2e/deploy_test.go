package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
)

// client speaks to a wharfd's API with a token.
type client struct {
	t     testing.TB
	url   string
	token string
}

// sendJSON sends a JSON request (body, when not nil) with the token to base+path and
// returns the answer's status and body; err is set only when no answer came.
func sendJSON(base, token, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, nil
}

// do sends a JSON request and decodes a JSON answer into out (when not nil); it returns
// the status.
func (c *client) do(method, path string, body, out any) int {
	c.t.Helper()
	code, b, err := sendJSON(c.url, c.token, method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %d: decode %q: %v", method, path, code, b, err)
		}
	}
	return code
}

// must sends a request that must answer want.
func (c *client) must(want int, method, path string, body, out any) {
	c.t.Helper()
	var raw json.RawMessage
	if got := c.do(method, path, body, &raw); got != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
	}
	if out != nil {
		json.Unmarshal(raw, out)
	}
}

type deployEvent struct {
	Phase   string `json:"phase"`
	Message string `json:"message"`
}

type deploy struct {
	ID      string        `json:"id"`
	Status  string        `json:"status"`
	Phase   string        `json:"phase"`
	Release int           `json:"release"`
	Error   string        `json:"error"`
	Events  []deployEvent `json:"events"`
}

// seedApp registers the stack as the cloudspace "local" (ingress domain localhost), a
// plan "dev", the organisation "acme" and its application app (with test and live).
func (c *client) seedApp(s *devstack.Stack, app string) {
	c.t.Helper()
	c.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr}, nil)
	c.must(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 5, "instances_per_process": 3, "memory_mb_per_instance": 256, "service_instances": 2}}, nil)
	c.must(201, "POST", "/v1/orgs", map[string]any{"name": "acme"}, nil)
	c.must(201, "POST", "/v1/orgs/acme/apps", map[string]any{"name": app, "cloudspace": "local", "plan": "dev"}, nil)
}

// follow reads a deploy's server-sent events until its "done" event and returns the
// deploy it carries.
func (c *client) follow(env, id string) deploy {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+env+"/deploys/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("follow deploy %s: %v", id, err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		c.t.Fatalf("follow deploy %s: %d %s", id, resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "progress":
			var ev deployEvent
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev)
			c.t.Logf("deploy %s: [%s] %s", id[len(id)-6:], ev.Phase, ev.Message)
		case strings.HasPrefix(line, "data: ") && event == "done":
			var d deploy
			json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d)
			return d
		}
	}
	c.t.Fatalf("deploy %s: the event stream ended without a done event (%v)", id, sc.Err())
	return deploy{}
}

// bootstrap runs `wharfd bootstrap` against the stack's Consul and returns the token.
func bootstrap(t testing.TB, s *devstack.Stack) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "wharfd"), append([]string{"bootstrap", "-consul-addr", s.Consul.Addr}, agentTLSArgs(s, "consul")...)...)
	cmd.Env = append(os.Environ(), "WHARF_CONSUL_TOKEN="+s.Consul.WharfdToken)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("wharfd bootstrap: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// serving returns what each healthy instance of the environment answers at /.
func serving(t *testing.T, s *devstack.Stack, service string) []string {
	t.Helper()
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	entries, _, err := cc.Health().Service(service, "", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/", e.Service.Address, e.Service.Port))
		if err != nil {
			out = append(out, "error: "+err.Error())
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, strings.TrimSpace(string(b)))
	}
	return out
}

// webCommand serves "$GREETING release $WHARF_RELEASE" and the secret, and says hello.
const webCommand = `mkdir -p /www && echo "$GREETING release $WHARF_RELEASE" > /www/index.html && printf '%s' "$DB_PASSWORD" > /www/secret && echo "hello from $WHARF_PROCESS $NOMAD_ALLOC_INDEX" && exec httpd -f -p "$PORT" -h /www`

// TestDeploys drives the application controller through the real wharfd: deploys, a
// zero-downtime replacement, rollback, a failing release command, a never-healthy
// release, scale, logs, cron, one deploy at a time, and a wharfd killed mid-deploy.
func TestDeploys(t *testing.T) {
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s)
	c := &client{t: t, url: w.URL, token: token}

	c.seedApp(s, "shop")
	const env = "/v1/orgs/acme/apps/shop/envs/test"
	ref := platform.Ref("acme", "shop", "test")
	service := ref.ServiceName()
	c.must(201, "PUT", env+"/vars/GREETING", map[string]any{"value": "hello"}, nil)
	c.must(201, "PUT", env+"/vars/DB_PASSWORD", map[string]any{"value": "s3cr3t-value", "secret": true}, nil)
	c.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	procfile := map[string]any{
		"processes":       map[string]any{"web": map[string]string{"command": webCommand}},
		"release_command": `echo "migrating $STAGE"`,
		"cron":            []map[string]string{{"name": "tick", "schedule": "*/5 * * * *", "command": "echo tick"}},
	}
	c.must(200, "PUT", env+"/procfile", procfile, nil)

	// Release 1.
	var d deploy
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	d = c.follow(env, d.ID)
	if d.Status != "succeeded" || d.Release != 1 {
		t.Fatalf("deploy 1 = %s (%s), release %d", d.Status, d.Error, d.Release)
	}
	phases := map[string]bool{}
	for _, e := range d.Events {
		phases[e.Phase] = true
		if strings.Contains(e.Message, "s3cr3t-value") {
			t.Errorf("a secret value reached a deploy event: %q", e.Message)
		}
	}
	for _, p := range []string{"queued", "release_created", "release_command", "registered", "rollout", "done"} {
		if !phases[p] {
			t.Errorf("deploy 1 has no %s phase among its events", p)
		}
	}
	if !eventContains(d, "stdout: migrating test") {
		t.Errorf("deploy 1's events lack the release command's output")
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 1" {
		t.Fatalf("release 1 serves %q", got)
	}

	// Release 2 with a changed variable replaces it; Consul shows a healthy instance
	// at every moment.
	c.must(200, "PUT", env+"/vars/GREETING", map[string]any{"value": "bonjour"}, nil)
	minHealthy := watchHealthy(t, s, service, func() {
		c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
		if d = c.follow(env, d.ID); d.Status != "succeeded" || d.Release != 2 {
			t.Fatalf("deploy 2 = %s (%s)", d.Status, d.Error)
		}
	})
	if minHealthy < 1 {
		t.Errorf("during deploy 2 there was a moment with %d healthy instances", minHealthy)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "bonjour release 2" {
		t.Errorf("release 2 serves %q", got)
	}

	// One deploy at a time.
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	var problem struct{ Code, Detail string }
	if got := c.do("POST", env+"/restart", nil, &problem); got != 409 || !strings.Contains(problem.Detail, d.ID) {
		t.Errorf("a second deploy while one runs = %d %+v, want 409 naming %s", got, problem, d.ID)
	}
	c.follow(env, d.ID) // release 3

	// Rollback to release 1: its image and configuration, as a new release.
	c.must(202, "POST", env+"/rollback", map[string]any{"release": 1}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" || d.Release != 4 {
		t.Fatalf("rollback = %s (%s), release %d", d.Status, d.Error, d.Release)
	}
	var rel struct {
		RollbackOf int    `json:"rollback_of"`
		Image      string `json:"image"`
	}
	c.must(200, "GET", env+"/releases/4", nil, &rel)
	if rel.RollbackOf != 1 || rel.Image != agenttest.BaseImage {
		t.Errorf("release 4 = %+v, want a rollback of release 1", rel)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 4" {
		t.Errorf("after the rollback the app serves %q, want release 1's configuration", got)
	}

	// A failing release command fails the deploy; release 4 keeps serving.
	procfile["release_command"] = `echo "migration failed" >&2; exit 4`
	c.must(200, "PUT", env+"/procfile", procfile, nil)
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "failed" || !strings.Contains(d.Error, "release command") || !eventContains(d, "stderr: migration failed") {
		t.Errorf("deploy with a failing release command = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 4" {
		t.Errorf("after the failed release command the app serves %q", got)
	}

	// A release that never becomes healthy is reverted and reported failed.
	procfile["release_command"] = ""
	procfile["processes"] = map[string]any{"web": map[string]string{"command": "exec sleep 3600"}}
	c.must(200, "PUT", env+"/procfile", procfile, nil)
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "failed" || !strings.Contains(d.Error, "reverted") {
		t.Errorf("never-healthy deploy = %s (%s), want failed and reverted", d.Status, d.Error)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 4" {
		t.Errorf("after the reverted deploy the app serves %q", got)
	}
	// A release that crashes at start is failed once Nomad stops restarting it, not at
	// the progress deadline, and its exit code and last lines are in the deploy's events.
	procfile["processes"] = map[string]any{"web": map[string]string{"command": `echo "boot failed: no DATABASE_URL" >&2; exit 9`}}
	c.must(200, "PUT", env+"/procfile", procfile, nil)
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(env, d.ID); d.Status != "failed" || !strings.Contains(d.Error, "reverted") ||
		!eventContains(d, "exited with code 9") || !eventContains(d, "web.0 stderr: boot failed: no DATABASE_URL") {
		t.Errorf("crashing deploy = %s (%s), want failed and reverted with the exit code and last lines in its events", d.Status, d.Error)
	}
	if got := serving(t, s, service); len(got) != 1 || got[0] != "hello release 4" {
		t.Errorf("after the crashing deploy the app serves %q", got)
	}
	var st struct {
		Release   int `json:"release"`
		Instances []struct {
			Healthy *bool `json:"healthy"`
		} `json:"instances"`
	}
	c.must(200, "GET", env+"/status", nil, &st)
	if st.Release != 4 {
		t.Errorf("status release = %d, want 4", st.Release)
	}

	procfile["processes"] = map[string]any{"web": map[string]string{"command": webCommand}}
	c.must(200, "PUT", env+"/procfile", procfile, nil)

	// Scale to three, within the plan; beyond it is refused.
	if got := c.do("POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 9, "memory_mb": 32}}}, &problem); got < 400 || got >= 500 {
		t.Errorf("scale beyond the plan = %d, want a 4xx", got)
	}
	c.must(202, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 3, "memory_mb": 32}}}, &d)
	if d = c.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("scale = %s (%s)", d.Status, d.Error)
	}
	if got := serving(t, s, service); len(got) != 3 {
		t.Errorf("after scaling to 3: %d healthy instances (%q)", len(got), got)
	}

	// Logs from every instance, tagged.
	lines := logs(t, c, env+"/logs?process=web")
	seen := map[string]bool{}
	for _, l := range lines {
		if strings.HasPrefix(l.Line, "hello from web") {
			seen[l.Instance] = true
		}
	}
	if !seen["web.0"] || !seen["web.1"] || !seen["web.2"] {
		t.Errorf("log lines came from %v, want web.0, web.1 and web.2", seen)
	}

	// The cron entry is a periodic job in Nomad.
	resp, err := operatorGet(s, "/v1/job/"+ref.CronJobID("tick"))
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("cron job: %v %v", resp, err)
	} else {
		var job struct{ Periodic struct{ Spec string } }
		json.NewDecoder(resp.Body).Decode(&job)
		resp.Body.Close()
		if job.Periodic.Spec != "*/5 * * * *" {
			t.Errorf("cron job schedule = %q", job.Periodic.Spec)
		}
	}

	// wharfd killed in the middle of a deploy: the next wharfd finishes it.
	c.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	waitPhase(t, c, env, d.ID, "rollout")
	if err := syscall.Kill(w.proc.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-w.proc.Exited()
	w2 := startWharfd(t, s)
	c2 := &client{t: t, url: w2.URL, token: token}
	if d = c2.follow(env, d.ID); d.Status != "succeeded" || !eventContains(d, "resumed by the controller") {
		t.Errorf("deploy after wharfd was killed = %s (%s); resumed: %v", d.Status, d.Error, eventContains(d, "resumed"))
	}
	c2.must(202, "POST", env+"/restart", nil, &d)
	if d = c2.follow(env, d.ID); d.Status != "succeeded" {
		t.Errorf("a deploy after the resumed one = %s (%s)", d.Status, d.Error)
	}

	// Deleting the application stops what it runs and removes its Vault policy.
	c2.must(204, "DELETE", "/v1/orgs/acme/apps/shop", nil, nil)
	if resp, err := operatorGet(s, "/v1/job/"+ref.JobID()); err == nil {
		var job struct{ Stop bool }
		json.NewDecoder(resp.Body).Decode(&job)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("the environment's job is still in Nomad after the application was deleted (stopped: %v)", job.Stop)
		}
	}
	vc, _ := s.Vault.Client()
	if pol, err := vc.Sys().GetPolicy(ref.VaultPolicy()); err != nil || pol != "" {
		t.Errorf("the environment's Vault policy survived the application: %q %v", pol, err)
	}
	waitGone(t, s, service)
}

// waitGone waits until no instance of service is registered.
func waitGone(t *testing.T, s *devstack.Stack, service string) {
	t.Helper()
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	deadline := time.Now().Add(time.Minute)
	for {
		entries, _, err := cc.Health().Service(service, "", false, nil)
		if err == nil && len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d instances of %s still registered", len(entries), service)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func eventContains(d deploy, s string) bool {
	for _, e := range d.Events {
		if strings.Contains(e.Message, s) {
			return true
		}
	}
	return false
}

// waitPhase waits until the deploy reaches phase.
func waitPhase(t *testing.T, c *client, env, id, phase string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var d deploy
		c.must(200, "GET", env+"/deploys/"+id, nil, &d)
		if d.Phase == phase {
			return
		}
		if d.Status == "succeeded" || d.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("deploy %s never reached %s (now %s, %s)", id, phase, d.Phase, d.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchHealthy runs f while following Consul's healthy instances of service with
// blocking queries, and returns the fewest seen after the first.
func watchHealthy(t *testing.T, s *devstack.Stack, service string, f func()) int {
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	least := 1 << 30
	done := make(chan struct{})
	go func() {
		defer close(done)
		var idx uint64
		for ctx.Err() == nil {
			entries, meta, err := cc.Health().Service(service, "", true, (&consulapi.QueryOptions{WaitIndex: idx, WaitTime: time.Second}).WithContext(ctx))
			if err != nil {
				continue
			}
			idx = meta.LastIndex
			mu.Lock()
			least = min(least, len(entries))
			mu.Unlock()
		}
	}()
	f()
	time.Sleep(4 * time.Second) // the old instances' deregistration and shutdown delay
	cancel()
	<-done
	return least
}

type logLine struct {
	Process, Instance, Stream, Line string
}

func logs(t *testing.T, c *client, path string) []logLine {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("logs: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []logLine
	dec := json.NewDecoder(resp.Body)
	for {
		var l logLine
		if err := dec.Decode(&l); err != nil {
			break
		}
		out = append(out, l)
	}
	return out
}
