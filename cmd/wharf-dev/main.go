// Command wharf-dev runs a complete local cloudspace named "local" for development:
// Consul, Vault, the image registry, PostgreSQL and Nomad (internal/devstack), then wharfd against
// them, and wharf-ingress. It prints how to reach everything and runs until Ctrl-C, when it
// stops all it started, in order; wharfd and wharf-ingress are started again (with
// back-off) when they exit, as a supervisor would in a real cloudspace (supervise.go). Its
// data directory survives, so running it again resumes.
//
// `make dev` builds the binaries and runs this; it is not part of a deployment.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// The local cloudspace's ports: the agents' usual ports plus an offset, 10000 by default
// (-port-offset), so that agents a developer runs on the usual ports are left alone.
var ports devstack.Ports

// The addresses of wharfd and of the local cloudspace's ingress: 18080, 18000 and 19102
// by default.
var wharfdAddr, ingressAddr, ingressAdminAddr string

// setPorts places every listener of the local cloudspace at its usual port plus offset.
func setPorts(offset int) {
	ports = devstack.Ports{
		ConsulHTTP: 8500 + offset, ConsulSerfLAN: 8301 + offset, ConsulSerfWAN: 8302 + offset, ConsulServer: 8300 + offset,
		VaultAPI: 8200 + offset, VaultCluster: 8201 + offset,
		NomadHTTP: 4646 + offset, NomadRPC: 4647 + offset, NomadSerf: 4648 + offset,
		Registry: 5000 + offset,
		Postgres: 5432 + offset,
		// versitygw's own default port.
		ObjectStore: 7070 + offset,
		Wharfd:      8080 + offset, // the registry's token realm is wharfd's
	}
	at := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port+offset) }
	wharfdAddr, ingressAddr, ingressAdminAddr = at(8080), at(8000), at(9102)
}

// stackName names the stack's cgroups and containers; keepPostgres keeps its PostgreSQL
// cluster beside the data directory (devstack.PostgresConfig.Keep).
var (
	stackName    = "wharf-local"
	keepPostgres = true
)

func main() {
	home, _ := os.UserHomeDir()
	dataDir := flag.String("data", filepath.Join(home, ".local", "share", "wharf", "dev"), "data directory (kept across runs)")
	binDir := flag.String("bin-dir", os.Getenv("WHARF_BIN_DIR"), "directory of the built agents (default ~/.cache/wharf/bin)")
	wharfd := flag.String("wharfd", "bin/wharfd", "the wharfd binary")
	offset := flag.Int("port-offset", 10000, "added to each agent's usual port (tests use another offset to run beside make dev)")
	flag.StringVar(&stackName, "name", stackName, "the stack's name, of its cgroups and containers (tests use another)")
	flag.BoolVar(&keepPostgres, "keep-postgres", keepPostgres, "keep the PostgreSQL cluster for the next run (tests do not)")
	flag.Parse()
	if *offset < 0 || *offset > 55000 {
		fmt.Fprintln(os.Stderr, "wharf-dev: -port-offset must be between 0 and 55000")
		os.Exit(2)
	}
	setPorts(*offset)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dataDir, *binDir, *wharfd); err != nil {
		fmt.Fprintf(os.Stderr, "wharf-dev: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dataDir, binDir, wharfdBin string) error {
	if err := os.MkdirAll(filepath.Join(dataDir, "logs"), 0o700); err != nil {
		return err
	}
	unlock, err := lockDir(dataDir)
	if err != nil {
		return err
	}
	defer unlock()

	logs := &logFiles{dir: filepath.Join(dataDir, "logs"), files: map[string]*os.File{}}
	defer logs.Close()

	fmt.Printf("Starting the local cloudspace in %s (agent logs in %s)\n", dataDir, logs.dir)
	stack, err := devstack.Start(devstack.Config{
		Binaries: devstack.DefaultBinaries(binDir),
		DataDir:  dataDir,
		Region:   "local",
		Name:     stackName,
		Ports:    ports,
		Log:      logs.Write,
		// The cluster's files cannot live under a data directory only root may enter,
		// so they are kept beside it (see devstack.PostgresConfig.Keep).
		KeepPostgres: keepPostgres,
	})
	if err != nil {
		return fmt.Errorf("%w (agent logs: %s)", err, logs.dir)
	}
	defer func() {
		fmt.Println("Stopping the local cloudspace...")
		if err := stack.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "wharf-dev: stop: %v\n", err)
		}
		fmt.Println("Stopped. Run `make dev` again to resume with the same data.")
	}()

	conf, err := writeWharfdConfig(dataDir, wharfdBin, stack)
	if err != nil {
		return err
	}
	token, err := adminToken(ctx, dataDir, wharfdBin, conf)
	if err != nil {
		return err
	}
	report := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
	wd, err := supervise("wharfd", report, func() (*devstack.Process, error) {
		return devstack.StartProcess("wharfd", func(_, line string) { fmt.Println("wharfd: " + line) },
			wharfdBin, []string{"-config", conf, "-log-format", "text",
				"-metrics-dir", filepath.Join(dataDir, "metrics"), "-metrics-ingress", "http://" + ingressAdminAddr + "/metrics"}, nil)
	})
	if err != nil {
		return err
	}
	defer wd.stop(20 * time.Second)
	if err := waitHTTP(ctx, "http://"+wharfdAddr+"/v1/version", wd.process().Exited()); err != nil {
		return fmt.Errorf("wharfd: %w", err)
	}
	if err := seed(ctx, token, stack); err != nil {
		return fmt.Errorf("register the local cloudspace: %w", err)
	}
	ingressToken, err := writeToken(dataDir, "ingress-consul-token", stack.Consul.IngressToken)
	if err != nil {
		return err
	}
	// Tasks reach other applications through the ingress's listener on the task
	// bridge's gateway, the one port of the machine besides PostgreSQL's that the
	// bridge's fence opens to them.
	ingressPort, _ := strconv.Atoi(strings.TrimPrefix(ingressAddr, "127.0.0.1:"))
	ingressTasksAddr := stack.Bridge.Addr(ingressPort)
	if err := stack.Bridge.Allow(ingressPort); err != nil {
		return err
	}
	ing, err := supervise("wharf-ingress", report, func() (*devstack.Process, error) {
		return devstack.StartProcess("ingress", logs.Write, filepath.Join(filepath.Dir(wharfdBin), "wharf-ingress"),
			[]string{"-cloudspace", "local", "-consul-addr", stack.Consul.Addr, "-consul-token-file", ingressToken,
				"-http", ingressAddr, "-tasks-http", ingressTasksAddr, "-admin", ingressAdminAddr, "-log-format", "text"}, nil)
	})
	if err != nil {
		return err
	}
	defer ing.stop(30 * time.Second)

	fmt.Printf(`
The local cloudspace is running (region "local"):
  API             http://%[1]s/v1   (health: curl http://%[1]s/v1/health)
  Control Panel   http://%[1]s/
  Applications    http://<env>.<app>.<org>.localhost:%[11]s/   (wharf-ingress; metrics at http://%[12]s/metrics)
  Admin token     %[7]s
                  (kept in %[8]s; export WHARF_ADDR=http://%[1]s WHARF_TOKEN=$(cat %[8]s))
  Consul          http://%[2]s/ui   (ACLs on; management token in %[13]s)
  Nomad           %[3]s   (ACLs on; management token in %[14]s)
  Vault           %[4]s   (root token in %[5]s)
  Registry        %[6]s
  PostgreSQL      %[9]s   (superuser postgres, password in %[10]s)
  Object store    %[15]s   (S3; admin access key %[16]s, secret key in %[17]s)
  Task network    bridge %[18]s, %[19]s (tasks reach PostgreSQL, the ingress at %[20]s and the outside world, nothing else here)
The management tokens are the operator's: export CONSUL_HTTP_TOKEN=$(cat %[13]s) NOMAD_TOKEN=$(cat %[14]s)
Press Ctrl-C to stop everything.
`, wharfdAddr, stack.Consul.Addr, stack.Nomad.Addr, stack.Vault.Addr,
		filepath.Join(dataDir, "vault", "keys.json"), stack.Registry.Addr,
		token, filepath.Join(dataDir, "admin-token"), stack.Postgres.Addr, stack.Postgres.PasswordFile,
		strings.TrimPrefix(ingressAddr, "127.0.0.1:"), ingressAdminAddr,
		stack.Consul.ManagementTokenPath, stack.Nomad.ManagementTokenPath,
		stack.ObjectStore.Endpoint(), stack.ObjectStore.AccessKey, stack.ObjectStore.SecretKeyFile,
		stack.Bridge.Name, stack.Bridge.Subnet, ingressTasksAddr)

	// wharfd and wharf-ingress are started again when they end (supervise). An agent that
	// ends is reported and left down (wharfd's health shows it, as it would in a real
	// cloudspace). Only Ctrl-C stops everything.
	agents := map[string]<-chan struct{}{
		"consul": stack.Consul.Exited(), "vault": stack.Vault.Exited(),
		"nomad": stack.Nomad.Exited(), "registry": stack.Registry.Exited(),
		"postgres": stack.Postgres.Exited(), "objectstore": stack.ObjectStore.Exited(),
	}
	for {
		var exited string
		select {
		case <-ctx.Done():
			return nil
		case <-agents["consul"]:
			exited = "consul"
		case <-agents["vault"]:
			exited = "vault"
		case <-agents["nomad"]:
			exited = "nomad"
		case <-agents["registry"]:
			exited = "registry"
		case <-agents["postgres"]:
			exited = "postgres"
		case <-agents["objectstore"]:
			exited = "objectstore"
		}
		fmt.Printf("wharf-dev: %s exited (its log: %s); Ctrl-C and `make dev` again to restart it\n",
			exited, filepath.Join(logs.dir, exited+".log"))
		agents[exited] = nil
	}
}

// writeToken writes a component's token to a file of the data directory, 0600, and
// returns the file's path.
func writeToken(dataDir, name, token string) (string, error) {
	path := filepath.Join(dataDir, name)
	return path, os.WriteFile(path, []byte(token+"\n"), 0o600)
}

// writeWharfdConfig writes wharfd's HCL configuration and its Consul, Nomad and Vault
// tokens (0600, never in the configuration itself) and returns the configuration's path.
func writeWharfdConfig(dataDir, wharfdBin string, s *devstack.Stack) (string, error) {
	tokens := map[string]string{}
	for name, token := range map[string]string{
		"wharfd-consul-token": s.Consul.WharfdToken, "wharfd-nomad-token": s.Nomad.WharfdToken, "wharfd-vault-token": s.Vault.WharfdToken,
	} {
		path, err := writeToken(dataDir, name, token)
		if err != nil {
			return "", err
		}
		tokens[name] = path
	}
	tokenFile := tokens["wharfd-vault-token"]
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	b.SetAttributeValue("listen", cty.StringVal(wharfdAddr))
	cb := b.AppendNewBlock("consul", nil).Body()
	cb.SetAttributeValue("address", cty.StringVal(s.Consul.Addr))
	cb.SetAttributeValue("token_file", cty.StringVal(tokens["wharfd-consul-token"]))
	nb := b.AppendNewBlock("nomad", nil).Body()
	nb.SetAttributeValue("address", cty.StringVal(s.Nomad.Addr))
	nb.SetAttributeValue("region", cty.StringVal(s.Nomad.Region))
	nb.SetAttributeValue("token_file", cty.StringVal(tokens["wharfd-nomad-token"]))
	// Tasks of the local cloudspace run on the stack's task bridge, fenced off from the
	// node's loopback agents, as in a real cloudspace (devstack.Bridge).
	nb.SetAttributeValue("network_mode", cty.StringVal("bridge"))
	builder, err := filepath.Abs(filepath.Join(filepath.Dir(wharfdBin), "wharf-builder"))
	if err != nil {
		return "", err
	}
	b.AppendNewBlock("build", nil).Body().SetAttributeValue("builder", cty.StringVal(builder))
	db := b.AppendNewBlock("deploy", nil).Body()
	db.SetAttributeValue("min_healthy_time", cty.StringVal("3s"))
	db.SetAttributeValue("healthy_deadline", cty.StringVal("1m"))
	db.SetAttributeValue("progress_deadline", cty.StringVal("3m"))
	// The local base image may be deployed by name, as the README's first application
	// does; any other image must be the organisation's own.
	db.SetAttributeValue("allowed_images", cty.ListVal([]cty.Value{cty.StringVal("wharf/busybox")}))
	vb := b.AppendNewBlock("vault", nil).Body()
	vb.SetAttributeValue("address", cty.StringVal(s.Vault.Addr))
	vb.SetAttributeValue("token_file", cty.StringVal(tokenFile))
	rb := b.AppendNewBlock("registry", nil).Body()
	rb.SetAttributeValue("address", cty.StringVal(s.Registry.Addr))
	// wharfd issues the registry's tokens (its realm is wharfd's /v1/registry/token).
	rb.SetAttributeValue("token_key_file", cty.StringVal(s.Registry.TokenKeyFile))
	rb.SetAttributeValue("token_issuer", cty.StringVal(devstack.RegistryTokenIssuer))
	rb.SetAttributeValue("token_service", cty.StringVal(devstack.RegistryTokenService))
	pb := b.AppendNewBlock("postgres", nil).Body()
	pb.SetAttributeValue("address", cty.StringVal(s.Postgres.Addr))
	pb.SetAttributeValue("admin_user", cty.StringVal(s.Postgres.AdminUser))
	pb.SetAttributeValue("admin_password_file", cty.StringVal(s.Postgres.PasswordFile))
	ob := b.AppendNewBlock("object_store", nil).Body()
	ob.SetAttributeValue("endpoint", cty.StringVal(s.ObjectStore.Endpoint()))
	ob.SetAttributeValue("region", cty.StringVal(s.ObjectStore.Region))
	ob.SetAttributeValue("access_key", cty.StringVal(s.ObjectStore.AccessKey))
	ob.SetAttributeValue("secret_key_file", cty.StringVal(s.ObjectStore.SecretKeyFile))
	path := filepath.Join(dataDir, "wharfd.hcl")
	return path, os.WriteFile(path, f.Bytes(), 0o600)
}

// IngressDomain is the local cloudspace's domain: every name under localhost resolves
// to the loopback address, so <env>.<app>.<org>.localhost reaches the local ingress.
const IngressDomain = "localhost"

// seed registers the local cloudspace and a development plan through the API, once:
// what exists already is left as it is.
func seed(ctx context.Context, token string, s *devstack.Stack) error {
	ingressPort, _ := strconv.Atoi(strings.TrimPrefix(ingressAddr, "127.0.0.1:"))
	for _, r := range []struct {
		method, path string
		body         map[string]any
	}{
		{http.MethodPost, "/v1/cloudspaces", map[string]any{
			"name": "local", "vendor": "on-premises", "location": "this machine", "tenancy": "public",
			"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": IngressDomain, "ingress_port": ingressPort,
			"registry": s.Registry.Addr,
		}},
		// A cloudspace registered before it had an ingress port learns it (URLs shown
		// must be the ones that answer).
		{http.MethodPatch, "/v1/cloudspaces/local", map[string]any{"ingress_port": ingressPort}},
		{http.MethodPost, "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{
			"environments": 10, "instances_per_process": 5, "memory_mb_per_instance": 1024, "service_instances": 5,
		}}},
	} {
		b, _ := json.Marshal(r.body)
		req, _ := http.NewRequestWithContext(ctx, r.method, "http://"+wharfdAddr+r.path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode != http.StatusConflict {
			return fmt.Errorf("%s %s: %s: %s", r.method, r.path, resp.Status, body)
		}
	}
	return nil
}

// adminToken returns the local cloudspace's administrator token: made once by
// `wharfd bootstrap` on the first run and kept (0600) in the data directory.
func adminToken(ctx context.Context, dataDir, wharfdBin, conf string) (string, error) {
	path := filepath.Join(dataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	cmd := exec.CommandContext(ctx, wharfdBin, "bootstrap", "-config", conf)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("wharfd bootstrap: %w: %s(if the store was bootstrapped without keeping %s, run make dev-reset)", err, stderr.String(), path)
	}
	token := strings.TrimSpace(string(out))
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, nil
}

func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	for i := 0; ; i++ {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it answered")
		case <-time.After(200 * time.Millisecond):
		}
		if i > 150 {
			return fmt.Errorf("no answer at %s: %w", url, err)
		}
	}
}

// lockDir takes an exclusive lock on the data directory, so two stacks never share it.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s is in use by another `make dev`", dir)
	}
	return func() { f.Close() }, nil
}

// logFiles appends each agent's lines to logs/<agent>.log.
type logFiles struct {
	dir   string
	mu    sync.Mutex
	files map[string]*os.File
}

func (l *logFiles) Write(agent, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.files[agent]
	if !ok {
		var err error
		f, err = os.OpenFile(filepath.Join(l.dir, agent+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			log.Printf("open %s log: %v", agent, err)
			f = nil
		}
		l.files[agent] = f
	}
	if f != nil {
		io.WriteString(f, line+"\n")
	}
}

func (l *logFiles) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		if f != nil {
			f.Close()
		}
	}
}
