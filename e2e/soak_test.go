package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

var soakFor = flag.Duration("soak", 0, "run TestSoak for this long (make soak: 10m); 0 skips it")

// soakEnvs is how many environments TestSoak keeps busy: soakApps applications with test
// and live each.
const soakApps = 10

// TestSoak keeps 20 environments redeploying, scaling and rolling back for -soak while a
// steady load goes through the ingress, and kills wharfd and one of two ingresses a few
// times (SIGKILL, started again 2 s later on the same address). It checks that no request
// to an environment that is serving fails, that no deploy is stuck, and prints the
// goroutines and memory of wharfd and the ingresses at the start and the end.
//
// The load generator plays the cloudspace's load balancer: it sends each request to one
// of the ingresses that passed their health check, in turn (an ingress is taken out when
// it is killed and back once its /health answers 200 again), and retries a GET once on
// the other when the connection is refused or reset before an answer (HAProxy's
// `retry-on conn-failure empty-response`). A request fails when it gets no 2xx answer,
// or when no ingress takes it.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("a soak runs with -soak DURATION (make soak)")
	}
	s := agenttest.Stack(t)
	token := bootstrap(t, s)
	wharfdAddr := s.WharfdAddr // the same address across restarts: the registry's token realm
	w := startWharfd(t, s, "-listen", wharfdAddr)
	c := &client{t: t, url: w.URL, token: token}
	ingA := startSoakIngress(t, s, "ingress-a")
	ingB := startSoakIngress(t, s, "ingress-b")

	c.must(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr}, nil)
	c.must(201, "POST", "/v1/plans", map[string]any{"name": "soak", "limits": map[string]int{"environments": 5, "instances_per_process": 3, "memory_mb_per_instance": 256, "service_instances": 2}}, nil)
	c.must(201, "POST", "/v1/orgs", map[string]any{"name": "soak"}, nil)
	var envs []*soakEnv
	for i := range soakApps {
		app := fmt.Sprintf("app%d", i)
		c.must(201, "POST", "/v1/orgs/soak/apps", map[string]any{"name": app, "cloudspace": "local", "plan": "soak"}, nil)
		for _, e := range []string{"test", "live"} {
			envs = append(envs, &soakEnv{path: "/v1/orgs/soak/apps/" + app + "/envs/" + e})
		}
	}

	api := &soakAPI{url: w.URL, token: token}
	// First deploys, a few at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, e := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := api.first(e); err != nil {
				t.Errorf("%s: first deploy: %v", e.path, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, e := range envs {
		waitPage(t, ingB.http, e.host, "hello release 1")
	}
	t.Logf("%d environments serving; soaking for %s", len(envs), *soakFor)
	time.Sleep(10 * time.Second) // let the processes settle before the first figures
	figures := func(when string) {
		t.Logf("%s: wharfd %s; ingress-a %s; ingress-b %s", when,
			soakFigures(w.URL+"/metrics"), soakFigures("http://"+ingA.admin+"/metrics"), soakFigures("http://"+ingB.admin+"/metrics"))
	}
	figures("start")

	ctx, stop := context.WithTimeout(context.Background(), *soakFor)
	defer stop()
	load := &soakLoad{ingresses: []*soakIngress{ingA, ingB}}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.run(ctx, envs) }()

	// Changes: three workers, each taking an idle environment and redeploying it with a
	// new value, scaling it between one and two instances, or rolling it back.
	var changes, changeErrors atomic.Int64
	var errMu sync.Mutex
	var errs []string
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil && n < 10000; n++ {
				e := envs[rand.IntN(len(envs))]
				if !e.busy.CompareAndSwap(false, true) {
					continue
				}
				err := api.change(e, rand.IntN(3))
				e.busy.Store(false)
				changes.Add(1)
				if err != nil {
					changeErrors.Add(1)
					errMu.Lock()
					errs = append(errs, e.path+": "+err.Error())
					errMu.Unlock()
				}
			}
		}()
	}

	// Kills: wharfd and ingress-a, three times each, in the first 60% of the soak, so the
	// last processes run long enough to show a trend; ingress-b runs throughout.
	kills := 3
	for i := range kills {
		select {
		case <-ctx.Done():
		case <-time.After(*soakFor * 6 / 10 / time.Duration(kills+1)):
		}
		if ctx.Err() != nil {
			break
		}
		syscall.Kill(w.proc.Pid(), syscall.SIGKILL)
		time.Sleep(2 * time.Second)
		w = startWharfd(t, s, "-listen", wharfdAddr)
		ingA.kill()
		time.Sleep(2 * time.Second)
		ingA.start(t)
		t.Logf("kill %d: wharfd and ingress-a killed and started again", i+1)
	}
	select {
	case <-ctx.Done():
	case <-time.After(*soakFor * 4 / 10 / 2):
	}
	figures("after the last restart")
	<-ctx.Done()
	wg.Wait()
	<-loadDone
	figures("end")

	// No deploy stuck: every environment's latest deploy ends.
	for _, e := range envs {
		if err := api.settled(e, 5*time.Minute); err != nil {
			t.Errorf("%s: %v", e.path, err)
		}
	}
	t.Logf("soak: %d requests, %d failed; %d changes (%d failed as deploys: %v)",
		load.total.Load(), load.failed.Load(), changes.Load(), changeErrors.Load(), errs)
	for _, f := range load.failures() {
		t.Errorf("failed request: %s", f)
	}
	if load.total.Load() == 0 {
		t.Error("no request was sent")
	}
}

// soakEnv is one environment of the soak: its API path and host, and whether a change
// is under way.
type soakEnv struct {
	path    string
	host    string
	release atomic.Int64
	busy    atomic.Bool
	serving atomic.Bool
}

// soakAPI calls wharfd without failing the test, so that a wharfd that is down (killed on
// purpose) is waited for.
type soakAPI struct {
	url, token string
}

func (a *soakAPI) call(method, path string, body, out any) (int, error) {
	code, b, err := sendJSON(a.url, a.token, method, path, body)
	if err != nil {
		return 0, err
	}
	if code >= 300 {
		return code, fmt.Errorf("%s %s: %d %s", method, path, code, strings.TrimSpace(string(b)))
	}
	if out != nil {
		json.Unmarshal(b, out)
	}
	return code, nil
}

// retry calls until wharfd answers (it may be down for a few seconds) or two minutes
// have passed.
func (a *soakAPI) retry(method, path string, body, out any) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, err := a.call(method, path, body, out)
		if err == nil {
			return nil
		}
		var ne net.Error
		down := errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || code == http.StatusServiceUnavailable
		if !down || time.Now().After(deadline) {
			return err
		}
		time.Sleep(time.Second)
	}
}

func (a *soakAPI) first(e *soakEnv) error {
	if err := a.retry("PUT", e.path+"/vars/GREETING", map[string]any{"value": "hello"}, nil); err != nil {
		return err
	}
	if err := a.retry("PUT", e.path+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil); err != nil {
		return err
	}
	if err := a.deploy(e, "POST", e.path+"/deploys", map[string]any{"image": agenttest.BaseImage}); err != nil {
		return err
	}
	var st struct {
		URL string `json:"url"`
	}
	if err := a.retry("GET", e.path+"/status", nil, &st); err != nil {
		return err
	}
	u, err := url.Parse(st.URL)
	if err != nil {
		return err
	}
	e.host = u.Hostname()
	e.serving.Store(true)
	return nil
}

// change makes one change to the environment: 0 a redeploy with a new value, 1 a scale
// between one and two instances, 2 a rollback to release 1.
func (a *soakAPI) change(e *soakEnv, kind int) error {
	switch kind {
	case 0:
		if err := a.retry("PUT", e.path+"/vars/GREETING", map[string]any{"value": "hello " + strconv.Itoa(rand.IntN(1000))}, nil); err != nil {
			return err
		}
		return a.deploy(e, "POST", e.path+"/deploys", map[string]any{"image": agenttest.BaseImage})
	case 1:
		return a.deploy(e, "POST", e.path+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1 + rand.IntN(2), "memory_mb": 32}}})
	default:
		return a.deploy(e, "POST", e.path+"/rollback", map[string]any{"release": 1})
	}
}

// deploy starts a deploy and waits until it ends; a deploy that fails is an error.
func (a *soakAPI) deploy(e *soakEnv, method, path string, body any) error {
	var d deploy
	if err := a.retry(method, path, body, &d); err != nil {
		// A POST whose answer was lost when wharfd was killed is sent again and meets
		// the deploy it made: follow that one.
		m := inProgress.FindStringSubmatch(err.Error())
		if m == nil {
			return err
		}
		d.ID = m[1]
	}
	if d.ID == "" {
		return nil // a scale before anything ran, or one that changed nothing
	}
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		if err := a.retry("GET", e.path+"/deploys/"+d.ID, nil, &d); err != nil {
			return err
		}
		switch d.Status {
		case "succeeded":
			e.release.Store(int64(d.Release))
			return nil
		case "failed", "cancelled":
			return fmt.Errorf("deploy %s %s: %s", d.ID, d.Status, d.Error)
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("deploy %s stuck in %s (%s) for 5 minutes", d.ID, d.Phase, d.Status)
}

var inProgress = regexp.MustCompile(`: 409 .*deploy ([0-9a-f-]+) is in progress`)

// settled checks that the environment's latest deploy ended.
func (a *soakAPI) settled(e *soakEnv, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		running := ""
		for cursor, first := "", true; first || cursor != ""; first = false {
			var page struct {
				Items []deploy `json:"items"`
				Next  string   `json:"next_cursor"`
			}
			if err := a.retry("GET", e.path+"/deploys?cursor="+url.QueryEscape(cursor), nil, &page); err != nil {
				return err
			}
			for _, d := range page.Items {
				if d.Status != "succeeded" && d.Status != "failed" && d.Status != "cancelled" {
					running = d.ID + " in " + d.Phase
				}
			}
			cursor = page.Next
		}
		if running == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("deploy %s did not end", running)
		}
		time.Sleep(2 * time.Second)
	}
}

// soakLoad is the steady load: four clients sending GETs to the serving environments in
// turn.
type soakLoad struct {
	ingresses     []*soakIngress
	total, failed atomic.Int64
	mu            sync.Mutex
	samples       []string
}

func (l *soakLoad) run(ctx context.Context, envs []*soakEnv) {
	tr := &http.Transport{MaxIdleConnsPerHost: 8, IdleConnTimeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for worker := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := worker; ctx.Err() == nil && n < 5_000_000; n++ {
				e := envs[n%len(envs)]
				if !e.serving.Load() {
					continue
				}
				l.total.Add(1)
				first, second := l.ingresses[n%2], l.ingresses[(n+1)%2]
				if !first.up.Load() {
					first, second = second, first
				}
				if err := l.get(ctx, client, first.http, e.host); err != nil {
					if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
						err = l.get(ctx, client, second.http, e.host)
					}
					if err != nil && ctx.Err() == nil {
						l.failed.Add(1)
						l.mu.Lock()
						if len(l.samples) < 20 {
							l.samples = append(l.samples, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), e.host, err))
						}
						l.mu.Unlock()
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

func (l *soakLoad) get(ctx context.Context, client *http.Client, ingress, host string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ingress+"/", nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 || !strings.Contains(string(b), "release") {
		return fmt.Errorf("%d %.80q", resp.StatusCode, b)
	}
	return nil
}

func (l *soakLoad) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.samples...)
}

// soakIngress is a wharf-ingress on fixed addresses, so that it can be killed and started
// again where the load generator sends requests.
type soakIngress struct {
	name, http, admin string
	consul, tokenFile string
	proc              *devstack.Process
	up                atomic.Bool // in the load balancer's rotation
}

func startSoakIngress(t *testing.T, s *devstack.Stack, name string) *soakIngress {
	i := &soakIngress{name: name, http: soakFreeAddr(t), admin: soakFreeAddr(t), consul: s.Consul.Addr,
		tokenFile: writeToken(t, t.TempDir(), "consul-token", s.Consul.IngressToken)}
	i.start(t)
	t.Cleanup(func() { i.proc.Stop(10 * time.Second) })
	return i
}

func (i *soakIngress) start(t *testing.T) {
	t.Helper()
	p, err := devstack.StartProcess(i.name, nil, filepath.Join(binDir, "wharf-ingress"),
		[]string{"-cloudspace", "local", "-http", i.http, "-admin", i.admin, "-consul-addr", i.consul, "-consul-token-file", i.tokenFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	i.proc = p
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get("http://" + i.admin + "/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				i.up.Store(true)
				return
			}
		}
	}
	t.Fatalf("%s did not become healthy", i.name)
}

func (i *soakIngress) kill() {
	// Killed without warning: requests in flight are reset and retried on the other
	// ingress; it is out of the rotation until its health check passes again.
	syscall.Kill(i.proc.Pid(), syscall.SIGKILL)
	i.up.Store(false)
	<-i.proc.Exited()
}

// soakFreeAddr returns a loopback address with a port free at the moment.
func soakFreeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// soakFigures reads a process's goroutines and resident memory from its /metrics.
func soakFigures(metricsURL string) string {
	resp, err := http.Get(metricsURL)
	if err != nil {
		return "unreachable"
	}
	defer resp.Body.Close()
	var goroutines, rss string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "go_goroutines":
			goroutines = f[1]
		case "process_resident_memory_bytes":
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				rss = fmt.Sprintf("%.1f MiB", v/(1<<20))
			}
		}
	}
	return fmt.Sprintf("%s goroutines, %s resident", goroutines, rss)
}
