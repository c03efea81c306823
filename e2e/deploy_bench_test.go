package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
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

// BenchmarkDeployToHealthy measures, on one real local cloudspace, the time from a
// deploy call to wharfd until the new release's first instance passes its check, beside
// the time from registering the same rendered job straight with Nomad until its first
// instance passes, and prints their ratio. Each op takes three samples of each, in
// turn, and reports the medians.
func BenchmarkDeployToHealthy(b *testing.B) {
	s := agenttest.Stack(b)
	token := bootstrap(b, s)
	w := startWharfd(b, s)
	c := &client{t: b, url: w.URL, token: token}
	must := c.must
	c.seedApp(s, "bench")
	const env = "/v1/orgs/acme/apps/bench/envs/test"
	must(200, "POST", env+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	must(200, "PUT", env+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)

	nc, err := nomad.New(nomad.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, Token: s.Nomad.WharfdToken, Runtime: nomad.Runtime{NetworkMode: "host",
		Update: &jobspecs.UpdatePolicy{MinHealthyTime: "2s", HealthyDeadline: "20s", ProgressDeadline: "40s"}}})
	if err != nil {
		b.Fatal(err)
	}
	napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	b.Cleanup(func() { napi.Jobs().Deregister(platform.Ref("acme", "direct", "test").JobID(), true, nil) })

	var viaWharf, direct []time.Duration
	release := 0
	b.ResetTimer()
	for range b.N {
		for range 3 {
			// Through wharfd.
			var d deploy
			start := time.Now()
			must(202, "POST", env+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
			release++
			firstHealthy(b, s, platform.Ref("acme", "bench", "test").ServiceName(), "release-"+strconv.Itoa(release))
			viaWharf = append(viaWharf, time.Since(start))
			waitDeployDone(b, c, env, d.ID)

			// The same job, rendered the same way, straight to Nomad.
			var rel struct {
				RuntimeVersion int `json:"runtime_version"`
			}
			must(200, "GET", env+"/releases/"+strconv.Itoa(release), nil, &rel)
			t := platform.Target{EnvRef: platform.Ref("acme", "direct", "test"), Domain: "test.direct.acme.localhost",
				Cloudspace: platform.Cloudspace{Region: s.Nomad.Region, NodePool: "default"}}
			vars := jobspecs.WebVars{ServiceName: t.ServiceName(), Update: &jobspecs.UpdatePolicy{MinHealthyTime: "2s", HealthyDeadline: "20s", ProgressDeadline: "40s"},
				Common: jobspecs.Common{Region: s.Nomad.Region, Image: agenttest.BaseImage, NetworkMode: "host", Stage: "test", Domain: t.Domain,
					Release: release, VaultPolicy: platform.Ref("acme", "bench", "test").VaultPolicy(), RuntimePath: "secret/data/wharf/_runtime/acme/bench/test", RuntimeVersion: rel.RuntimeVersion},
				Processes: []jobspecs.Process{{Name: "web", Command: true, Count: 1, CPU: 100, MemoryMB: 32, HTTP: true}}}
			job, err := jobspecs.Render(context.Background(), nc, t.JobID(), vars)
			if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if _, _, err := napi.Jobs().Register(job, nil); err != nil {
				b.Fatal(err)
			}
			firstHealthy(b, s, t.ServiceName(), "release-"+strconv.Itoa(release))
			direct = append(direct, time.Since(start))
		}
	}
	b.StopTimer()
	mw, md := median(viaWharf), median(direct)
	b.ReportMetric(float64(mw.Milliseconds()), "wharf-ms")
	b.ReportMetric(float64(md.Milliseconds()), "nomad-ms")
	b.ReportMetric(float64(mw)/float64(md), "wharf/nomad")
	fmt.Printf("deploy call → first healthy instance: via wharfd %v, straight to Nomad %v, ratio %.2f (medians of %d)\n",
		mw.Round(time.Millisecond), md.Round(time.Millisecond), float64(mw)/float64(md), len(viaWharf))
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// firstHealthy waits until an instance of service carrying tag passes its check.
func firstHealthy(b *testing.B, s *devstack.Stack, service, tag string) {
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	deadline := time.Now().Add(2 * time.Minute)
	var idx uint64
	for time.Now().Before(deadline) {
		entries, meta, err := cc.Health().Service(service, tag, true, &consulapi.QueryOptions{WaitIndex: idx, WaitTime: 5 * time.Second})
		if err == nil {
			if len(entries) > 0 {
				return
			}
			idx = meta.LastIndex
		}
	}
	b.Fatalf("no healthy instance of %s tagged %s", service, tag)
}

func waitDeployDone(b *testing.B, c *client, env, id string) {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		var d deploy
		c.do("GET", env+"/deploys/"+id, nil, &d)
		if d.Status == "succeeded" {
			return
		}
		if d.Status == "failed" {
			b.Fatalf("deploy %s failed: %s", id, d.Error)
		}
	}
	b.Fatalf("deploy %s did not end", id)
}
