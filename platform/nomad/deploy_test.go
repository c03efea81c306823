package nomad_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/nomad"
)

// env is one environment of the scheduler tests, on a real local cloudspace.
type env struct {
	t      *testing.T
	s      *devstack.Stack
	nc     *nomad.Client
	target platform.Target
}

func newEnv(t *testing.T, s *devstack.Stack, name string) *env {
	nc, err := nomad.New(nomad.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, Token: s.Nomad.WharfdToken, Runtime: nomad.Runtime{
		NetworkMode: "host",
		Update:      &jobspecs.UpdatePolicy{MinHealthyTime: "2s", HealthyDeadline: "20s", ProgressDeadline: "40s"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, s: s, nc: nc, target: platform.Target{
		EnvRef: platform.Ref("acme", "shop", name), Domain: name + ".shop.acme.local.test",
		Cloudspace: platform.Cloudspace{Name: "local", Region: s.Nomad.Region, NodePool: "default", IngressDomain: "local.test"},
	}}
	vc, _ := s.Vault.Client()
	policy := fmt.Sprintf(`path "secret/data/%s" { capabilities = ["read"] }`, e.target.RuntimePath())
	if err := vc.Sys().PutPolicy(e.target.VaultPolicy(), policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nc.DeleteEnvironment(context.Background(), e.target); err != nil {
			t.Errorf("delete environment: %v", err)
		}
	})
	return e
}

// runtime writes a new version of the environment's runtime configuration.
func (e *env) runtime(vars map[string]string) int {
	e.t.Helper()
	vc, _ := e.s.Vault.Client()
	data := map[string]any{}
	for k, v := range vars {
		data[k] = v
	}
	sec, err := vc.KVv2("secret").Put(context.Background(), e.target.RuntimePath(), data)
	if err != nil {
		e.t.Fatalf("write runtime config: %v", err)
	}
	return sec.VersionMetadata.Version
}

// httpdCommand serves a page saying what, and prints a line naming its instance.
func httpdCommand(what string) string {
	return `echo "hello from instance $NOMAD_ALLOC_INDEX"; mkdir -p /www && echo ` + what + ` > /www/index.html && exec httpd -f -p "$PORT" -h /www`
}

func (e *env) release(n, runtimeVersion, instances int) platform.Release {
	return platform.Release{Org: "acme", App: "shop", Env: e.target.Env, Number: n, Image: agenttest.BaseImage, RuntimeVersion: runtimeVersion,
		Config: platform.ReleaseConfig{Processes: map[string]platform.ProcessSpec{
			"web": {Command: "set", Instances: instances, MemoryMB: 32},
		}}}
}

// deploy registers rel and waits for its deployment.
func (e *env) deploy(rel platform.Release, scale map[string]platform.ProcessScale) platform.DeployOutcome {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	v, changed, err := e.nc.RegisterService(ctx, e.target, rel, scale, "")
	if err != nil {
		e.t.Fatalf("register release %d: %v", rel.Number, err)
	}
	if !changed {
		e.t.Fatalf("release %d made no new job version", rel.Number)
	}
	out, err := e.nc.WatchDeployment(ctx, e.target.Cloudspace.Region, e.target.JobID(), v, func(p platform.DeployProgress) {
		e.t.Logf("release %d: deployment %s %+v", rel.Number, p.Status, p.Groups)
	})
	if err != nil {
		e.t.Fatalf("watch release %d: %v", rel.Number, err)
	}
	return out
}

// healthy returns the passing instances' addresses.
func (e *env) healthy(index uint64) ([]string, uint64) {
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: e.s.Consul.Addr, Token: e.s.Consul.ManagementToken})
	entries, meta, err := cc.Health().Service(e.target.ServiceName(), "", true, &consulapi.QueryOptions{WaitIndex: index, WaitTime: 2 * time.Second})
	if err != nil {
		return nil, index
	}
	var addrs []string
	for _, en := range entries {
		addrs = append(addrs, fmt.Sprintf("%s:%d", en.Service.Address, en.Service.Port))
	}
	return addrs, meta.LastIndex
}

func (e *env) get(addr string) string {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// TestScheduler drives releases through a real Nomad, Consul, Vault and Docker: a deploy
// becomes healthy; a second one replaces it with a healthy instance registered at every
// moment; a failing release command and a never-healthy image leave the running release
// serving; scale, logs and cron work.
func TestScheduler(t *testing.T) {
	s := agenttest.Stack(t)
	e := newEnv(t, s, "test")
	ctx := context.Background()

	// Release 1: a release command that succeeds, then the service.
	v1 := e.runtime(map[string]string{"WHARF_COMMAND_WEB": httpdCommand("v1"), "WHARF_COMMAND_RELEASE": `echo "migrating $STAGE"; echo oops >&2`})
	rel1 := e.release(1, v1, 1)
	rel1.Config.ReleaseCommand = "set"
	var out []string
	res, err := e.nc.RunReleaseCommand(ctx, e.target, rel1, func(stream, line string) { out = append(out, stream+": "+line) })
	if err != nil || res.Failed {
		t.Fatalf("release command: %+v %v", res, err)
	}
	if !slicesContain(out, "stdout: migrating test") || !slicesContain(out, "stderr: oops") {
		t.Errorf("release command output = %q", out)
	}
	if o := e.deploy(rel1, nil); o.Status != "successful" {
		t.Fatalf("release 1: %+v", o)
	}
	addrs, _ := e.healthy(0)
	if len(addrs) != 1 || e.get(addrs[0]) != "v1" {
		t.Fatalf("release 1 serves %v", addrs)
	}

	// Release 2 replaces it; a watcher follows Consul's view of healthy instances the
	// whole time.
	var mu sync.Mutex
	minHealthy, sawV2 := 99, false
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		var idx uint64
		for watchCtx.Err() == nil {
			var a []string
			a, idx = e.healthy(idx)
			mu.Lock()
			minHealthy = min(minHealthy, len(a))
			mu.Unlock()
		}
	}()
	v2 := e.runtime(map[string]string{"WHARF_COMMAND_WEB": httpdCommand("v2")})
	if o := e.deploy(e.release(2, v2, 1), nil); o.Status != "successful" {
		t.Fatalf("release 2: %+v", o)
	}
	time.Sleep(3 * time.Second) // let the old instance's deregistration reach the watcher
	stopWatch()
	<-watched
	addrs, _ = e.healthy(0)
	for _, a := range addrs {
		sawV2 = e.get(a) == "v2"
	}
	if !sawV2 || len(addrs) != 1 {
		t.Errorf("after release 2: instances %v, serving v2 = %v", addrs, sawV2)
	}
	if minHealthy < 1 {
		t.Errorf("during the deploy of release 2 there was a moment with %d healthy instances", minHealthy)
	}

	// A failing release command stops there; release 2 keeps serving.
	v3 := e.runtime(map[string]string{"WHARF_COMMAND_WEB": httpdCommand("v3"), "WHARF_COMMAND_RELEASE": `echo "migration failed"; exit 3`})
	rel3 := e.release(3, v3, 1)
	res, err = e.nc.RunReleaseCommand(ctx, e.target, rel3, func(string, string) {})
	if err != nil || !res.Failed || res.ExitCode != 3 {
		t.Errorf("failing release command: %+v %v, want failed with exit code 3", res, err)
	}

	// An image that never becomes healthy is reverted by Nomad.
	v4 := e.runtime(map[string]string{"WHARF_COMMAND_WEB": `echo "not listening"; exec sleep 3600`})
	if o := e.deploy(e.release(4, v4, 1), nil); o.Status != "failed" || !o.Reverted {
		t.Errorf("never-healthy release: %+v, want failed and reverted", o)
	}
	waitFor(t, "release 2 serving alone again", func() bool {
		addrs, _ := e.healthy(0)
		return len(addrs) == 1 && e.get(addrs[0]) == "v2"
	})

	// A release whose instances crash at start is failed as soon as Nomad stops
	// restarting them (not at the progress deadline) and reverted, and the outcome shows
	// the exit code and the last lines.
	v6 := e.runtime(map[string]string{"WHARF_COMMAND_WEB": `echo "starting up"; echo "cannot open the database" >&2; exit 7`})
	start := time.Now()
	o := e.deploy(e.release(6, v6, 1), nil)
	t.Logf("crashing release: %s after %s, evidence %q", o.Status, time.Since(start).Round(time.Second), o.Evidence)
	if o.Status != "failed" || !o.Reverted || !anyContains(o.Evidence, "web.0 failed (exited with code 7") ||
		!anyContains(o.Evidence, "web.0 stderr: cannot open the database") || !anyContains(o.Evidence, "web.0 stdout: starting up") {
		t.Errorf("crashing release: %+v, want failed, reverted, with exit code 7 and its last lines", o)
	}
	waitFor(t, "release 2 serving alone after the crashing release", func() bool {
		addrs, _ := e.healthy(0)
		return len(addrs) == 1 && e.get(addrs[0]) == "v2"
	})

	// Scale to three instances of the running configuration.
	if o := e.deploy(e.release(5, v2, 1), map[string]platform.ProcessScale{"web": {Instances: 3, MemoryMB: 32}}); o.Status != "successful" {
		t.Fatalf("scale: %+v", o)
	}
	waitFor(t, "three healthy instances", func() bool { a, _ := e.healthy(0); return len(a) == 3 })

	// Logs from every instance.
	lines := map[string]bool{}
	if err := e.nc.Logs(ctx, e.target, "web", false, func(l platform.LogLine) {
		if strings.HasPrefix(l.Line, "hello from instance") {
			lines[l.Instance] = true
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Errorf("log lines came from instances %v, want web.0, web.1 and web.2", lines)
	}
}

// TestCron runs a cron entry on a schedule of every two seconds (Nomad's seven-field
// form) and removes it when the release no longer has it.
func TestCron(t *testing.T) {
	s := agenttest.Stack(t)
	e := newEnv(t, s, "cron")
	ctx := context.Background()
	v := e.runtime(map[string]string{"WHARF_COMMAND_CRON_TICK": `echo "tick at $(date +%s)"`})
	rel := e.release(1, v, 0)
	rel.Config.Cron = []platform.CronEntry{{Name: "tick", Schedule: "*/2 * * * * * *"}}
	if err := e.nc.SyncCron(ctx, e.target, rel); err != nil {
		t.Fatal(err)
	}
	napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	parent := e.target.CronJobID("tick")
	waitFor(t, "two completed runs of the cron entry", func() bool {
		jobs, _, err := napi.Jobs().PrefixList(parent + "/periodic-")
		if err != nil {
			return false
		}
		done := 0
		for _, j := range jobs {
			if j.JobSummary != nil && j.JobSummary.Summary["cron"].Complete > 0 {
				done++
			}
		}
		return done >= 2
	})
	p, _, err := napi.Jobs().Info(parent, nil)
	if err != nil || p.Periodic == nil || !*p.Periodic.ProhibitOverlap {
		t.Errorf("cron job %v: periodic %+v, want prohibit_overlap", err, p.Periodic)
	}

	rel.Config.Cron = nil
	if err := e.nc.SyncCron(ctx, e.target, rel); err != nil {
		t.Fatal(err)
	}
	if j, _, err := napi.Jobs().Info(parent, nil); err == nil && j.Stop != nil && !*j.Stop {
		t.Errorf("cron job still registered after its entry was removed")
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func anyContains(ss []string, sub string) bool {
	for _, x := range ss {
		if strings.Contains(x, sub) {
			return true
		}
	}
	return false
}

func slicesContain(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
