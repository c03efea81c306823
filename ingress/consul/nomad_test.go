package consul_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// zeroDowntimeJob is an environment's web process as Wharf runs it: busybox httpd
// serving its version, a Consul HTTP check, rolling updates gated on that check, and a
// shutdown delay so an instance leaves Consul (and so the ingress) before it is killed.
const zeroDowntimeJob = `
job "zd" {
  region      = "%s"
  datacenters = ["dc1"]

  update {
    max_parallel     = 1
    health_check     = "checks"
    min_healthy_time = "2s"
    healthy_deadline = "1m"
    auto_revert      = false
  }

  group "web" {
    count          = %d
    shutdown_delay = "2s"

    network {
      port "http" {}
    }

    service {
      name     = "zd-web"
      port     = "http"
      provider = "consul"
      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "httpd" {
      driver       = "docker"
      kill_timeout = "2s"
      config {
        image        = "%s"
        network_mode = "host"
        command      = "/bin/sh"
        args         = ["-c", "mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p ${NOMAD_PORT_http} -h /www"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`

// TestNomad runs the tests that need Nomad on one local cloudspace, one after the other.
func TestNomad(t *testing.T) {
	t.Parallel()
	s := agenttest.Stack(t)
	nc, err := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("zero downtime", func(t *testing.T) { testZeroDowntime(t, s, nc) })
	t.Run("ingress job", func(t *testing.T) { testIngressJob(t, s, nc) })
}

// testZeroDowntime keeps a stream of requests going through the ingress while Nomad
// rolls a new version out and then scales the job down: every answer must be a 2xx.
func testZeroDowntime(t *testing.T, s *devstack.Stack, nc *nomadapi.Client) {
	r := newRigOn(t, s.Consul, s.Consul.Addr)
	host := "zd-live.apps.test"
	putRoute(t, r, ingress.Route{App: "zd", Env: "live", Hosts: []string{host}, Service: "zd-web"})

	deploy := func(count int, version string) {
		t.Helper()
		job, err := nc.Jobs().ParseHCL(fmt.Sprintf(zeroDowntimeJob, s.Nomad.Region, count, agenttest.BaseImage, version), true)
		if err != nil {
			t.Fatalf("parse job: %v", err)
		}
		if _, _, err := nc.Jobs().Register(job, nil); err != nil {
			t.Fatalf("register job: %v", err)
		}
	}
	// settle waits until the latest deployment succeeded, the ingress routes to want
	// instances and the page is version.
	settle := func(want int, version string) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Minute)
		for {
			d, _, err := nc.Jobs().LatestDeployment("zd", nil)
			a, _ := r.get(host, "", "")
			n := len(r.proxy.Instances(host))
			if err == nil && d != nil && d.Status == "successful" && n == want && strings.TrimSpace(a.body) == version {
				return
			}
			if time.Now().After(deadline) {
				status := ""
				if d != nil {
					status = d.Status + " " + d.StatusDescription
				}
				t.Fatalf("never settled on %d instances of %s: deployment %q, %d routed, page %q (%v)", want, version, status, n, a.body, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	deploy(2, "v1")
	settle(2, "v1")

	// The stream: two clients, one request after another, until stopped.
	var ok, bad atomic.Int64
	var mu sync.Mutex
	var failures []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a, err := r.get(host, "", "")
				if err == nil && a.status/100 == 2 {
					ok.Add(1)
					continue
				}
				bad.Add(1)
				mu.Lock()
				if len(failures) < 10 {
					failures = append(failures, fmt.Sprintf("%d %v %.80q", a.status, err, a.body))
				}
				mu.Unlock()
			}
		}()
	}

	deploy(2, "v2")
	settle(2, "v2")
	deploy(1, "v2")
	settle(1, "v2")
	// Let the stopped instances finish dying under the stream.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(200 * time.Millisecond) {
		allocs, _, err := nc.Jobs().Allocations("zd", false, nil)
		running := 0
		for _, a := range allocs {
			if a.ClientStatus == "running" || a.ClientStatus == "pending" {
				running++
			}
		}
		if err == nil && running == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scaled-down allocation never stopped (%d running, %v)", running, err)
		}
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()

	t.Logf("%d requests answered 2xx, %d not", ok.Load(), bad.Load())
	if bad.Load() > 0 {
		t.Errorf("%d requests failed during the redeploy and scale-down; first: %s", bad.Load(), strings.Join(failures, "; "))
	}
	if ok.Load() < 100 {
		t.Errorf("only %d requests went through: the stream proves nothing", ok.Load())
	}
	if _, _, err := nc.Jobs().Deregister("zd", true, nil); err != nil {
		t.Errorf("deregister: %v", err)
	}
}
