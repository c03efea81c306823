package jobspecs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
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

var update = flag.Bool("update", false, "rewrite the golden files")

var _ jobspecs.Parser = (*nomad.Client)(nil)

func common() jobspecs.Common {
	return jobspecs.Common{
		Region: "local", Datacenters: []string{"dc1"}, Image: "127.0.0.1:5000/acme/shop@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Stage: "live", Domain: "live.shop.acme.local.wharf.test", Release: 7,
		VaultPolicy: "wharf-env.acme.shop.live", RuntimePath: "secret/data/wharf/acme/shop/live/runtime", RuntimeVersion: 3,
		Meta: map[string]string{"wharf_app": "shop", "wharf_env": "live"},
	}
}

// withServices gives c two database service instances: the default one (DATABASE_URL
// too) and one under the prefix ANALYTICS.
func withServices(c jobspecs.Common) jobspecs.Common {
	c.Services = []jobspecs.Service{
		{Name: "db", Prefix: "DEFAULT", DatabaseURL: true, Role: "wharf-0123456789abcdef", Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef"},
		{Name: "analytics", Prefix: "ANALYTICS", Role: "wharf-fedcba9876543210", Address: "127.0.0.1:5432", Database: "wharf_fedcba9876543210"},
	}
	c.Storage = []jobspecs.Storage{
		{Name: "media", Prefix: "DEFAULT", Defaults: true, Path: "secret/data/wharf/_storage/wharf-00112233445566aa", Bucket: "wharf-00112233445566aa",
			Endpoint: "http://127.0.0.1:7070", Region: "us-east-1", PublicURL: "http://127.0.0.1:7070/wharf-00112233445566aa/public/"},
		{Name: "archive", Prefix: "ARCHIVE", Path: "secret/data/wharf/_storage/wharf-00112233445566bb", Bucket: "wharf-00112233445566bb",
			Endpoint: "https://s3.example.net", Region: "eu-central-1", PublicURL: "https://media.example.net/wharf-00112233445566bb/public/"},
	}
	return c
}

// hostNetwork puts c's groups on the host's network, as a cloudspace without bridge
// networking does.
func hostNetwork(c jobspecs.Common) jobspecs.Common {
	c.NetworkMode = "host"
	return c
}

// goldenCases are the renderings the golden files pin.
var goldenCases = map[string]jobspecs.Vars{
	"web": jobspecs.WebVars{Common: common(), ServiceName: "wharf-acme-shop-live-goojeoqa5bdb7h7zpyssunde5y", Processes: []jobspecs.Process{
		{Name: "web", Command: true, Count: 2, CPU: 100, MemoryMB: 128, HTTP: true, HealthPath: "/health"},
		{Name: "worker", Command: true, Count: 1, CPU: 100, MemoryMB: 64},
	}},
	"web-image-default-command": jobspecs.WebVars{Common: common(), ServiceName: "wharf-acme-shop-live-goojeoqa5bdb7h7zpyssunde5y",
		Processes: []jobspecs.Process{{Name: "web", Count: 1, CPU: 100, MemoryMB: 128, HTTP: true}},
		Update:    &jobspecs.UpdatePolicy{MinHealthyTime: "2s", HealthyDeadline: "1m", ProgressDeadline: "2m"}},
	"web-host": jobspecs.WebVars{Common: hostNetwork(common()), ServiceName: "wharf-acme-shop-live-goojeoqa5bdb7h7zpyssunde5y", Processes: []jobspecs.Process{
		{Name: "web", Count: 1, CPU: 100, MemoryMB: 128, HTTP: true},
		{Name: "worker", Command: true, Count: 1, CPU: 100, MemoryMB: 64},
	}},
	"web-services": jobspecs.WebVars{Common: withServices(common()), ServiceName: "wharf-acme-shop-live-goojeoqa5bdb7h7zpyssunde5y",
		Processes: []jobspecs.Process{{Name: "web", Count: 1, CPU: 100, MemoryMB: 128, HTTP: true}}},
	"release":          jobspecs.ReleaseVars{Common: common()},
	"release-services": jobspecs.ReleaseVars{Common: withServices(common())},
	"run":              jobspecs.ReleaseVars{Common: common(), Process: "run", MemoryMB: 128},
	"cron-services":    jobspecs.CronVars{Common: withServices(common()), Name: "nightly-report", Schedule: "0 3 * * *"},
	"cron":             jobspecs.CronVars{Common: common(), Name: "nightly-report", Schedule: "*/5 * * * *", MemoryMB: 64},
	"backup": jobspecs.BackupVars{Region: "local", VaultPolicy: "wharf-backup.wharf-0123456789abcdef", Role: "wharf-0123456789abcdef",
		Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef", Meta: map[string]string{"wharf_backup": "b1"}},
	"backup-scheduled": jobspecs.BackupVars{Region: "local", VaultPolicy: "wharf-backup.wharf-0123456789abcdef", Role: "wharf-0123456789abcdef",
		Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef", Schedule: "0 3 * * *"},
	"restore": jobspecs.BackupVars{Region: "local", VaultPolicy: "wharf-backup.wharf-0123456789abcdef", Role: "wharf-0123456789abcdef",
		Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef",
		RestoreURL: "http://127.0.0.1:5000/v2/acme/_backups/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	"restore-registry-token": jobspecs.BackupVars{Region: "local", VaultPolicy: "wharf-backup.wharf-0123456789abcdef", Role: "wharf-0123456789abcdef",
		Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef", RegistryTokenPath: "secret/data/wharf/_restores/wharf-0123456789abcdef/0011223344556677",
		RestoreURL: "http://127.0.0.1:5000/v2/acme/shop/backups/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	"build-credential": jobspecs.BuildVars{Region: "local", Builder: "/usr/local/bin/wharf-builder",
		SpecURL:     "http://127.0.0.1:5000/v2/acme/shop/sources/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		SpecDigest:  "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		VaultPolicy: "wharf-build.acme.shop.20261202-163000123456-abcdef", CredentialPath: "secret/data/wharf/_builds/acme/shop/20261202-163000123456-abcdef",
		Meta: map[string]string{"wharf_build": "b1"}},
	"build": jobspecs.BuildVars{Region: "local", Builder: "/usr/local/bin/wharf-builder",
		SpecURL:    "http://127.0.0.1:5000/v2/acme/shop/sources/blobs/sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		SpecDigest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Meta: map[string]string{"wharf_build": "b1"}},
}

const goldenSeparator = "\n---------- job, as Nomad's /v1/jobs/parse returns it ----------\n"

func TestTemplates(t *testing.T) {
	s := agenttest.Stack(t)
	nc, err := nomad.New(nomad.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, Token: s.Nomad.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("golden", func(t *testing.T) { testGolden(t, nc) })
	t.Run("hostile values change no structure", func(t *testing.T) { testHostileValues(t, nc) })
	t.Run("values reach the task byte for byte", func(t *testing.T) { testRuntimeValues(t, s, nc) })
}

func testGolden(t *testing.T, nc *nomad.Client) {
	for name, vars := range goldenCases {
		t.Run(name, func(t *testing.T) {
			file, err := jobspecs.VariablesFile(vars)
			if err != nil {
				t.Fatal(err)
			}
			job, err := jobspecs.Render(context.Background(), nc, "wharf.env.acme.shop.live.service", vars)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			js, _ := json.MarshalIndent(job, "", "  ")
			got := string(file) + goldenSeparator + string(js) + "\n"
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./jobspecs -update to write it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from its golden file (go test ./jobspecs -update rewrites it):\n%s", name, diff(string(want), got))
			}
		})
	}
}

// hostile holds every character sequence that could change an HCL file's structure or
// be taken for an interpolation or a template directive.
const hostile = "\"}\n job \"evil\" { ${var.region} $${x} %{ if true }x%{ endif } {{ key \"k\" }} \\\" ' \\n \u00e9\n"

func testHostileValues(t *testing.T, nc *nomad.Client) {
	c := common()
	c.Image, c.Stage, c.Domain = hostile+"image", hostile+"stage", hostile+"domain"
	c.Meta = map[string]string{"k": hostile}
	vars := jobspecs.WebVars{Common: c, ServiceName: hostile + "service", Processes: []jobspecs.Process{
		{Name: "web", Command: true, Count: 1, CPU: 100, MemoryMB: 64, HTTP: true, HealthPath: hostile},
	}}
	job, err := jobspecs.Render(context.Background(), nc, "wharf-hostile", vars)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	plain, err := jobspecs.Render(context.Background(), nc, "wharf-hostile", goldenCases["web-image-default-command"])
	if err != nil {
		t.Fatal(err)
	}
	if len(job.TaskGroups) != len(plain.TaskGroups) || len(job.TaskGroups[0].Tasks) != 1 || len(job.TaskGroups[0].Tasks[0].Templates) != 1 {
		t.Fatalf("structure changed: %d groups, tasks %v", len(job.TaskGroups), job.TaskGroups[0].Tasks)
	}
	task := job.TaskGroups[0].Tasks[0]
	checks := map[string][2]string{
		"image":        {task.Config["image"].(string), c.Image},
		"STAGE":        {task.Env["STAGE"], c.Stage},
		"DOMAIN":       {task.Env["DOMAIN"], c.Domain},
		"meta":         {job.Meta["k"], hostile},
		"service name": {job.TaskGroups[0].Services[0].Name, vars.ServiceName},
		"check path":   {job.TaskGroups[0].Services[0].Checks[0].Path, hostile},
		"template data": {*task.Templates[0].EmbeddedTmpl,
			*plain.TaskGroups[0].Tasks[0].Templates[0].EmbeddedTmpl},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	if *job.ID != "wharf-hostile" || *job.Region != "local" {
		t.Errorf("job id %q region %q", *job.ID, *job.Region)
	}

	// What lands inside a template block's data is refused unless it is plain.
	bad := common()
	bad.RuntimePath = `secret/data/x" }}{{ key "y`
	if _, err := jobspecs.Render(context.Background(), nc, "x", jobspecs.ReleaseVars{Common: bad}); platform.ErrorCode(err) != platform.Invalid {
		t.Errorf("a runtime path with template text: err = %v, want invalid", err)
	}
	for _, mutate := range []func(*jobspecs.Service){
		func(s *jobspecs.Service) { s.Role = `x" }}{{ key "y` },
		func(s *jobspecs.Service) { s.Prefix = "A={{ env \"HOME\" }}" },
		func(s *jobspecs.Service) { s.Address = "h:1/x?{{ .Data }}" },
		func(s *jobspecs.Service) { s.Database = "db}}{{" },
		func(s *jobspecs.Service) { s.Name = "Bad Name" },
	} {
		c := withServices(common())
		mutate(&c.Services[0])
		if _, err := jobspecs.Render(context.Background(), nc, "x", jobspecs.ReleaseVars{Common: c}); platform.ErrorCode(err) != platform.Invalid {
			t.Errorf("a service with template text %+v: err = %v, want invalid", c.Services[0], err)
		}
	}
	for _, mode := range []string{"none", "cni/custom", "Bridge"} {
		c := common()
		c.NetworkMode = mode
		if _, err := jobspecs.Render(context.Background(), nc, "x", jobspecs.ReleaseVars{Common: c}); platform.ErrorCode(err) != platform.Invalid {
			t.Errorf("network mode %q: err = %v, want invalid", mode, err)
		}
		if _, err := jobspecs.Render(context.Background(), nc, "x", jobspecs.BackupVars{Region: "local", VaultPolicy: "wharf-backup.wharf-0123456789abcdef", Role: "wharf-0123456789abcdef",
			Address: "127.0.0.1:5432", Database: "wharf_0123456789abcdef", NetworkMode: mode}); platform.ErrorCode(err) != platform.Invalid {
			t.Errorf("backup network mode %q: err = %v, want invalid", mode, err)
		}
	}
	for _, mutate := range []func(*jobspecs.Storage){
		func(s *jobspecs.Storage) { s.Path = `secret/data/x" }}{{ key "y` },
		func(s *jobspecs.Storage) { s.Prefix = "A={{ env \"HOME\" }}" },
		func(s *jobspecs.Storage) { s.Bucket = "b}}{{" },
		func(s *jobspecs.Storage) { s.Endpoint = "http://h:1/x?{{ .Data }}" },
		func(s *jobspecs.Storage) { s.Endpoint = "http://h:1/path" },
		func(s *jobspecs.Storage) { s.Region = "r\"x" },
		func(s *jobspecs.Storage) { s.PublicURL = "http://h/\"${x}" },
		func(s *jobspecs.Storage) { s.Name = "Bad Name" },
	} {
		c := withServices(common())
		mutate(&c.Storage[0])
		if _, err := jobspecs.Render(context.Background(), nc, "x", jobspecs.ReleaseVars{Common: c}); platform.ErrorCode(err) != platform.Invalid {
			t.Errorf("a storage instance with template text %+v: err = %v, want invalid", c.Storage[0], err)
		}
	}
	if _, err := jobspecs.Render(context.Background(), nc, "Not An ID", jobspecs.ReleaseVars{Common: common()}); platform.ErrorCode(err) != platform.Invalid {
		t.Errorf("a bad job id: err = %v, want invalid", err)
	}
}

// testRuntimeValues runs the web template for real: a value full of quotes, `${`, `%{`,
// `{{ }}`, backslashes and newlines, kept in Vault, must reach the task's environment
// unchanged, and the process command must run as written.
func testRuntimeValues(t *testing.T, s *devstack.Stack, nc *nomad.Client) {
	vc, err := s.Vault.Client()
	if err != nil {
		t.Fatal(err)
	}
	value := "${NOMAD_TASK_NAME} ${attr.kernel.name} {{ key \"x\" }} {{ secret \"y\" }} %{ if true }x%{ endif } \"dq\" 'sq' \\b\\s $HOME <>& \u00e9\u4e16\nsecond line\ttab"
	path := "secret/data/wharf/jobspecs-test/runtime"
	sec, err := vc.Logical().Write(path, map[string]any{"data": map[string]any{
		"HOSTILE":           value,
		"WHARF_COMMAND_WEB": `mkdir -p /www && printf '%s' "$HOSTILE" > /www/hostile && printf '%s' "$STAGE" > /www/stage && echo ok > /www/index.html && exec httpd -f -p "$PORT" -h /www`,
	}})
	if err != nil {
		t.Fatalf("write runtime config: %v", err)
	}
	version := int(mustNumber(t, sec.Data["version"]))
	if err := vc.Sys().PutPolicy("wharf-env.acme.jobspecs.test", `path "secret/data/wharf/jobspecs-test/*" { capabilities = ["read"] }`); err != nil {
		t.Fatal(err)
	}
	c := common()
	c.Image, c.Stage, c.VaultPolicy = agenttest.BaseImage, "test", "wharf-env.acme.jobspecs.test"
	c.RuntimePath, c.RuntimeVersion = path, version
	vars := jobspecs.WebVars{Common: c, ServiceName: "wharf-jobspecs-test",
		Processes: []jobspecs.Process{{Name: "web", Command: true, Count: 1, CPU: 50, MemoryMB: 32, HTTP: true}},
		Update:    &jobspecs.UpdatePolicy{MinHealthyTime: "1s", HealthyDeadline: "1m", ProgressDeadline: "2m"}}
	job, err := jobspecs.Render(context.Background(), nc, "wharf-jobspecs-test", vars)
	if err != nil {
		t.Fatal(err)
	}
	napi, _ := nomadapi.NewClient(&nomadapi.Config{Address: s.Nomad.Addr, Region: s.Nomad.Region, SecretID: s.Nomad.ManagementToken})
	if _, _, err := napi.Jobs().Register(job, nil); err != nil {
		t.Fatalf("register: %v", err)
	}
	t.Cleanup(func() { napi.Jobs().Deregister(*job.ID, true, nil) })

	base := waitHealthy(t, s, napi, "wharf-jobspecs-test", *job.ID)
	for file, want := range map[string]string{"hostile": value, "stage": "test"} {
		resp, err := http.Get(base + "/" + file)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != want {
			t.Errorf("%s in the task = %q, want %q", file, got, want)
		}
	}
}

// waitHealthy waits until the service has a passing instance and returns its URL.
func waitHealthy(t *testing.T, s *devstack.Stack, napi *nomadapi.Client, service, jobID string) string {
	t.Helper()
	cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		entries, _, err := cc.Health().Service(service, "", true, nil)
		if err == nil && len(entries) > 0 {
			return fmt.Sprintf("http://%s:%d", entries[0].Service.Address, entries[0].Service.Port)
		}
		if time.Now().After(deadline) {
			allocs, _, _ := napi.Jobs().Allocations(jobID, true, nil)
			for _, a := range allocs {
				for task, st := range a.TaskStates {
					for _, ev := range st.Events {
						t.Logf("alloc %s task %s: %s %s", a.ID[:8], task, ev.Type, ev.DisplayMessage)
					}
				}
			}
			t.Fatalf("%s never became healthy", service)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func mustNumber(t *testing.T, v any) float64 {
	t.Helper()
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case float64:
		return n
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

// diff shows the first differing line of two texts with a little context.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			var b bytes.Buffer
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q", i+1, wl, gl)
			return b.String()
		}
	}
	return "(no difference)"
}
