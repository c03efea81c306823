package devstack_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
)

// stackTestJob is an ordinary jobspec: a busybox httpd from the local base image, on the
// host's network, registered in Consul with an HTTP check, serving a page that a
// template block rendered from Vault and a file written from an environment variable
// that another template block took from Vault.
const stackTestJob = `
job "wharf-stack-test" {
  region      = "local"
  datacenters = ["dc1"]

  group "web" {
    network {
      port "http" {}
    }

    service {
      name     = "wharf-stack-test"
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
      driver = "docker"
      config {
        image        = "%s"
        network_mode = "host"
        command      = "/bin/sh"
        args         = ["-c", "mkdir -p /www && cp /local/index.html /www/ && echo \"$GREETING\" > /www/env.txt && exec httpd -f -p ${NOMAD_PORT_http} -h /www"]
      }

      vault {
        policies = ["wharf-env.wharf.stack.test"]
      }

      template {
        data        = "{{ with secret \"secret/data/wharf/stacktest\" }}{{ .Data.data.greeting }}{{ end }}"
        destination = "local/index.html"
      }

      template {
        data        = "GREETING={{ with secret \"secret/data/wharf/stacktest\" }}{{ .Data.data.greeting }}{{ end }}"
        destination = "secrets/env"
        env         = true
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
`

// TestStack starts one local cloudspace and checks its wiring and its ACLs.
func TestStack(t *testing.T) {
	t.Parallel()
	s := agenttest.Stack(t)
	t.Run("wired job", func(t *testing.T) { testWiredJob(t, s) })
	t.Run("acls", func(t *testing.T) { testACLs(t, s) })
}

// TestStackTLS starts a local cloudspace whose Consul and Nomad speak HTTPS and mutual
// TLS, and Vault HTTPS: the same job runs (Nomad registering its service in Consul over HTTPS, its
// client reaching its server over mTLS), the same ACLs hold, and neither plain HTTP nor
// a client that does not trust the stack's authority gets an answer.
func TestStackTLS(t *testing.T) {
	t.Parallel()
	s := agenttest.StackTLS(t)
	t.Run("wired job", func(t *testing.T) { testWiredJob(t, s) })
	t.Run("acls", func(t *testing.T) { testACLs(t, s) })
	t.Run("https only", func(t *testing.T) {
		if !strings.HasPrefix(s.Vault.Addr, "https://") {
			t.Errorf("vault's address %s is not HTTPS", s.Vault.Addr)
		}
		for _, url := range []string{"http://" + s.Consul.Addr + "/v1/status/leader", "http://" + strings.TrimPrefix(s.Nomad.Addr, "https://") + "/v1/status/leader",
			"http://" + strings.TrimPrefix(s.Vault.Addr, "https://") + "/v1/sys/health"} {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					t.Errorf("plain HTTP %s answered %s", url, resp.Status)
				}
			}
		}
		for _, url := range []string{s.Consul.URL() + "/v1/status/leader", s.Nomad.Addr + "/v1/status/leader", s.Vault.Addr + "/v1/sys/health"} {
			if resp, err := http.Get(url); err == nil {
				resp.Body.Close()
				t.Errorf("%s answered a client that does not trust the stack's authority", url)
			}
		}
	})
}

// testWiredJob proves the local cloudspace is wired the way Wharf needs: a Nomad job on
// the docker driver passes its Consul check, answers HTTP, and reads a Vault value
// through a template block, both into a file and into its environment.
func testWiredJob(t *testing.T, s *devstack.Stack) {

	vc, err := s.Vault.Client()
	if err != nil {
		t.Fatal(err)
	}
	greeting := fmt.Sprintf("hello from vault %d", time.Now().UnixNano())
	if _, err := vc.Logical().Write("secret/data/wharf/stacktest", map[string]any{"data": map[string]any{"greeting": greeting}}); err != nil {
		t.Fatalf("write secret: %v", err)
	}
	if err := vc.Sys().PutPolicy("wharf-env.wharf.stack.test", `path "secret/data/wharf/stacktest" { capabilities = ["read"] }`); err != nil {
		t.Fatalf("write policy: %v", err)
	}

	nc, err := s.Nomad.Client()
	if err != nil {
		t.Fatal(err)
	}
	job, err := nc.Jobs().ParseHCL(fmt.Sprintf(stackTestJob, agenttest.BaseImage), true)
	if err != nil {
		t.Fatalf("parse job: %v", err)
	}
	if _, _, err := nc.Jobs().Register(job, nil); err != nil {
		t.Fatalf("register job: %v", err)
	}
	t.Cleanup(func() {
		if _, _, err := nc.Jobs().Deregister(*job.ID, true, nil); err != nil {
			t.Errorf("deregister: %v", err)
		}
	})

	cc, err := s.Consul.Client()
	if err != nil {
		t.Fatal(err)
	}
	var entry *consulapi.ServiceEntry
	deadline := time.Now().Add(2 * time.Minute)
	for entry == nil {
		entries, _, err := cc.Health().Service("wharf-stack-test", "", true, nil)
		if err == nil && len(entries) > 0 {
			entry = entries[0]
			break
		}
		if time.Now().After(deadline) {
			allocs, _, _ := nc.Jobs().Allocations(*job.ID, true, nil)
			for _, a := range allocs {
				t.Logf("alloc %s: %s %v", a.ID, a.ClientStatus, a.TaskStates)
			}
			t.Fatalf("service never passed its check (last error %v)", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	base := fmt.Sprintf("http://%s:%d", entry.Service.Address, entry.Service.Port)
	t.Logf("service healthy at %s", base)

	for _, path := range []string{"/", "/env.txt"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if got := strings.TrimSpace(string(body)); got != greeting {
			t.Errorf("GET %s = %q, want the Vault value %q", path, got, greeting)
		}
	}
}

// TestVersionsMatchBuildScript keeps the pinned versions in Go and in the build script
// the same.
func TestVersionsMatchBuildScript(t *testing.T) {
	b, err := readFile("../../scripts/deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"NOMAD_VERSION": devstack.NomadVersion, "CONSUL_VERSION": devstack.ConsulVersion, "VAULT_VERSION": devstack.VaultVersion, "VERSITYGW_VERSION": devstack.ObjectStoreVersion} {
		if !strings.Contains(b, "\n"+name+"="+v+"\n") {
			t.Errorf("scripts/deps.sh does not set %s=%s", name, v)
		}
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
