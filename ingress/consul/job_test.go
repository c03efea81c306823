package consul_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/ingress/consul"
	"github.com/wharf-platform/wharf/ingress/pebbletest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// testIngressJob runs jobspecs/ingress.nomad.hcl on the local cloudspace, with an image
// holding the wharf-ingress built from this tree, and sends a request through it.
func testIngressJob(t *testing.T, s *devstack.Stack, nc *nomadapi.Client) {
	image := buildIngressImage(t)
	client, err := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	host := "job-live.apps.test"
	web := backend(t, "through the job")
	r := &rig{consul: client}
	r.instance(t, "job-live-web", web, consulapi.HealthPassing)
	if err := consul.NewRouteStore(client, "").Put(context.Background(), ingress.Route{
		Cloudspace: s.Nomad.Region, App: "job", Env: "live", Hosts: []string{host}, Primary: host, Service: "job-live-web",
	}, 0); err != nil {
		t.Fatal(err)
	}

	src, err := os.ReadFile("../../jobspecs/ingress.nomad.hcl")
	if err != nil {
		t.Fatal(err)
	}
	ports := pebbletest.FreePorts(t, 2)
	httpPort, adminPort := ports[0], ports[1]
	vars := fmt.Sprintf("region = %q\nimage = %q\nconsul_address = %q\nhttp_port = %d\nhttps_port = 0\nadmin_port = %d\n",
		s.Nomad.Region, image, s.Consul.Addr, httpPort, adminPort)
	job, err := nc.Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{JobHCL: string(src), Variables: vars, Canonicalize: true})
	if err != nil {
		t.Fatalf("parse jobspecs/ingress.nomad.hcl: %v", err)
	}
	if _, _, err := nc.Jobs().Register(job, nil); err != nil {
		t.Fatalf("register: %v", err)
	}

	// With HTTPS, the task also holds port 443 and reads its cache key from Vault.
	tlsVars := fmt.Sprintf("region = %q\nimage = %q\n", s.Nomad.Region, image)
	tlsJob, err := nc.Jobs().ParseHCLOpts(&nomadapi.JobsParseRequest{JobHCL: string(src), Variables: tlsVars, Canonicalize: true})
	if err != nil {
		t.Fatalf("parse jobspecs/ingress.nomad.hcl with HTTPS: %v", err)
	}
	task := tlsJob.TaskGroups[0].Tasks[0]
	reserved := map[string]int{}
	for _, p := range tlsJob.TaskGroups[0].Networks[0].ReservedPorts {
		reserved[p.Label] = p.Value
	}
	if reserved["http"] != 80 || reserved["https"] != 443 || task.Vault == nil || len(task.Templates) != 1 {
		t.Errorf("HTTPS job: ports %v, vault %v, %d templates", reserved, task.Vault, len(task.Templates))
	}
	if args := fmt.Sprint(task.Config["args"]); !strings.Contains(args, "-https :443") {
		t.Errorf("HTTPS job's arguments %s lack -https :443", args)
	}
	t.Cleanup(func() { nc.Jobs().Deregister(*job.ID, true, nil) })

	url := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	var last string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && string(b) == "through the job" {
				break
			}
			last = fmt.Sprintf("%d %q", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			allocs, _, _ := nc.Jobs().Allocations(*job.ID, true, nil)
			for _, a := range allocs {
				t.Logf("alloc %s: %s %v", a.ID, a.ClientStatus, a.TaskStates)
			}
			t.Fatalf("the ingress job never routed %s: last %s", host, last)
		}
	}
	// The job registers the ingress in Consul, checked on its /health.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		entries, _, err := client.Health().Service("wharf-ingress", "", true, nil)
		if err == nil && len(entries) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ingress never passed its check in Consul (%d passing, %v)", len(entries), err)
		}
	}
}

// buildIngressImage builds wharf-ingress from this tree into a FROM scratch image (no
// image can be pulled here) and returns its tag; the image is removed at cleanup.
func buildIngressImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "wharf-ingress"), "./cmd/wharf-ingress")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build wharf-ingress: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY wharf-ingress /wharf-ingress\nENTRYPOINT [\"/wharf-ingress\"]\n"), 0o644)
	tag := fmt.Sprintf("wharf/ingress-test:%d-%d", os.Getpid(), time.Now().UnixNano())
	if out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rmi", "-f", tag).CombinedOutput(); err != nil {
			t.Logf("docker rmi %s: %v %s", tag, err, strings.TrimSpace(string(out)))
		}
	})
	return tag
}
