package e2e

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestMetrics loads an environment through the real ingress and burns CPU in its
// instance, then reads its metrics through `wharf metrics` (sampled by wharfd into its
// TSDB from Nomad's allocation stats and the ingress's /metrics): the request count is
// the load generator's (±5%), CPU rose above idle, memory is shown; the panel's
// environment page draws them as SVG, in a screenshot.
func TestMetrics(t *testing.T) {
	chromiumPath(t) // before the agents start
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	ing := startIngressAddrs(t, s)
	w := startWharfd(t, s, "-metrics-dir", filepath.Join(t.TempDir(), "metrics"), "-metrics-ingress", "http://"+ing["admin"]+"/metrics")
	admin := &client{t: t, url: w.URL, token: token}
	admin.seedApp(s, "shop")
	env := "/v1/orgs/acme/apps/shop/envs/test"
	admin.must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 64},
		"worker": map[string]int{"instances": 1, "memory_mb": 32}}}, nil) // the worker comes later
	admin.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)
	var d deploy
	admin.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = admin.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy: %s (%s)", d.Status, d.Error)
	}
	host := "test.shop.acme.localhost"
	// Every answer the route gave counts, those while it had no healthy instance too;
	// a 404 is the ingress's own before the route reached it.
	sent := 0
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		code, _ := get(ing["http"], host)
		if code != 0 && code != http.StatusNotFound {
			sent++
		}
		if code == http.StatusOK {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the ingress never served %s: %d", host, code)
		}
	}

	u := newCLIUser(t)
	u.env = append(u.env, "WHARF_ADDR="+w.URL, "WHARF_TOKEN="+token)
	u.ok("link", "shop", "--org", "acme")
	// The load: requests through the ingress, each answered; CPU burnt in web.0.
	for i := 0; i < 400; i++ {
		if code, body := get(ing["http"], host); code != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
		sent++
	}
	// Busy for 25 s, so that samples (every 10 s) fall in it.
	u.ok("exec", "test", "web.0", "--", "sh", "-c", `end=$(($(date +%s) + 25)); while [ "$(date +%s)" -lt "$end" ]; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; done`)

	var m struct {
		Series []struct {
			Name     string `json:"name"`
			Instance string `json:"instance"`
			Points   []struct {
				Value *float64 `json:"value"`
			} `json:"points"`
		} `json:"series"`
		Requests float64 `json:"requests"`
	}
	peak := func(name string) (float64, string) {
		p, inst := math.NaN(), ""
		for _, s := range m.Series {
			if s.Name != name {
				continue
			}
			for _, pt := range s.Points {
				if pt.Value != nil && (math.IsNaN(p) || *pt.Value > p) {
					p, inst = *pt.Value, s.Instance
				}
			}
		}
		return p, inst
	}
	// Samples are taken every 10 s: wait for the ones after the load.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(2 * time.Second) {
		admin.must(200, "GET", env+"/metrics?window=15m", nil, &m)
		cpu, _ := peak("cpu_percent")
		if math.Abs(m.Requests-float64(sent)) <= 0.05*float64(sent) && cpu > 5 || time.Now().After(deadline) {
			break
		}
	}
	if math.Abs(m.Requests-float64(sent)) > 0.05*float64(sent) {
		t.Errorf("metrics count %.0f requests, the load generator sent %d", m.Requests, sent)
	}
	cpu, inst := peak("cpu_percent")
	if !(cpu > 5) || inst != "web.0" {
		t.Errorf("web.0's CPU peaked at %.1f%% (%s), want above idle (5%%) after burning it", cpu, inst)
	}
	if mem, _ := peak("memory_mb"); !(mem > 0) || mem > 64 {
		t.Errorf("web.0's memory peaked at %.1f MB, want some and at most its 64 MB", mem)
	}
	t.Logf("metrics: %.0f requests (sent %d), CPU peak %.1f%%", m.Requests, sent, cpu)
	u.jsonOut(&m, "metrics", "test", "--window", "15m")
	r := u.ok("metrics", "test", "--window", "15m")
	mustContain(t, "wharf metrics", r.stdout, "cpu_percent", "web.0", "memory_mb", "requests_per_second", "latency_ms_p95", fmt.Sprintf("Requests: %.0f", m.Requests))

	// A worker that outgrows its memory: killed by the kernel, shown as such in status
	// and in the metrics' events.
	admin.must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{
		"web":    map[string]string{"command": webCommand},
		"worker": map[string]string{"command": "sleep 8; head -c 300000000 /dev/zero | sort > /dev/null; exit 1"},
	}}, nil)
	admin.must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = admin.follow(env, d.ID); d.Status != "succeeded" {
		t.Fatalf("deploy of the worker: %s (%s)", d.Status, d.Error)
	}
	var st struct {
		Instances []struct {
			Process  string `json:"process"`
			OOMKills int    `json:"oom_kills"`
		} `json:"instances"`
	}
	oomKilled := func() bool {
		admin.must(200, "GET", env+"/status", nil, &st)
		for _, in := range st.Instances {
			if in.Process == "worker" && in.OOMKills > 0 {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(2 * time.Minute); !oomKilled() && time.Now().Before(deadline); time.Sleep(time.Second) {
	}
	if !oomKilled() {
		t.Errorf("the worker's status never showed it killed for exceeding its memory: %+v", st)
	}
	mustContain(t, "wharf status", u.ok("status", "test").stdout, "worker.0", "killed for exceeding its memory")
	var events struct {
		Events []struct{ Instance, Kind string } `json:"events"`
	}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		admin.must(200, "GET", env+"/metrics?window=15m", nil, &events)
		if len(events.Events) > 0 {
			break
		}
	}
	if len(events.Events) == 0 || events.Events[0].Instance != "worker.0" || events.Events[0].Kind != "oom_killed" {
		t.Errorf("the metrics' events = %+v, want worker.0 killed for exceeding its memory", events.Events)
	}

	t.Run("another organisation's member cannot read the metrics", func(t *testing.T) {
		a := isoIn(t, admin)
		mallory := isoPerson(t, a, "mallory")
		mallory.must(201, "POST", "/v1/orgs", map[string]any{"name": "evil"}, nil)
		mallory.must(404, "GET", env+"/metrics", nil, nil)
		vera := isoPerson(t, a, "vera")
		a.must(200, "PUT", "/v1/orgs/acme/members/vera", map[string]any{"role": "viewer"}, nil)
		vera.must(200, "GET", env+"/metrics?window=5m", nil, nil) // a viewer reads them
		vera.must(400, "GET", env+"/metrics?window=5d", nil, nil)
	})

	// The panel draws them, with no script.
	b := newBrowser(t, w.URL)
	b.open("/orgs/acme")
	b.fill("main form", map[string]string{"token": token})
	b.submit("main form")
	b.open("/orgs/acme/apps/shop/envs/test")
	b.do(15*time.Second, chromedp.WaitVisible(chromedp.CSS("#metrics svg#graph-requests")))
	if n := b.count("#metrics svg path"); n < 4 {
		t.Errorf("the metrics section draws %d lines, want CPU, memory, requests and latency", n)
	}
	if n := b.count("#metrics script"); n != 0 {
		t.Errorf("the metrics section holds %d scripts", n)
	}
	if hint := b.text("#shell-hint"); !strings.Contains(hint, "wharf exec --org acme --app shop test web.0") {
		t.Errorf("the panel's exec hint is %q", hint)
	}
	if n := b.count("#instance-list .oom-killed"); n != 1 {
		t.Errorf("the panel marks %d instances killed for exceeding their memory, want the worker", n)
	}
	if n := b.count("#metrics line.oom"); n < 1 {
		t.Errorf("the panel's graphs mark no OOM kill")
	}
	b.shoot("env-metrics")
	if _, err := os.Stat(filepath.Join(b.dir, "env-metrics-desktop.png")); err != nil {
		t.Error(err)
	}
}
