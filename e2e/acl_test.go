package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"
	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
)

// aclAttempt is what the hostile application (testdata/hostile) reports of one try.
type aclAttempt struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error"`
}

// aclVictim is what the test learns, as the operator, of the victim's environment; the
// hostile tenant is handed it as if it had guessed or overheard it.
type aclVictim struct {
	job, alloc, task, service, runtime, policy string
}

// TestHostileTenant deploys a victim application and, in another organisation, a
// hostile one whose task tries the cloudspace's agents from inside. Tasks run on the
// stack's task bridge, so from the task ("task/...") not even a connection is made to
// the node's agents, the registry or wharfd, on loopback, on the bridge's gateway or on
// the node's own addresses, while the database's and the object store's ports given to
// tasks are reached on the gateway only (the controls), where PostgreSQL refuses the
// superuser and the cluster's own database to them, and the victim's page is reached
// through the ingress (the control: the address the ingress keeps for tasks). The same
// attempts are then made as a task on the host's network would make them ("host/...":
// the hostile binary run on the node with the task's Vault token), where only ACLs and
// the registry's tokens stand in the way: Nomad (list jobs, read another job, its
// allocation and its task's logs, alloc exec, register and stop jobs), Consul (list,
// read and write KV, register a service in the victim's name, read the catalog and
// another service's health), Vault beyond its own paths, and the registry's own HTTP
// API (list the catalog, pull the victim's manifest and a blob of its image, fetch its
// uploaded source, delete a blob, push), with whatever token wharfd's token endpoint
// gives it for what it finds on its node. Every attempt is refused, and the victim keeps
// serving, directly and through wharf-ingress; its build (whose registry credential
// never shows in its Nomad job) pushed its image, and its deploy of that image, pulled
// by the node with the node's own credential, serves.
func TestHostileTenant(t *testing.T) {
	s := agenttest.Stack(t)
	image := aclBuildHostile(t)
	hostileBin := aclBuildHostileBinary(t)
	token := bootstrap(t, s)
	w := startWharfd(t, s)
	ingAddrs := startIngressAddrs(t, s)
	ing := ingAddrs["http"]
	c := &client{t: t, url: w.URL, token: token}
	c.seedApp(s, "victim")
	const victimEnv = "/v1/orgs/acme/apps/victim/envs/live"
	c.must(200, "POST", victimEnv+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	c.must(201, "PUT", victimEnv+"/vars/GREETING", map[string]any{"value": "victim"}, nil)
	c.must(201, "PUT", victimEnv+"/vars/DB_PASSWORD", map[string]any{"value": "victim-secret-" + randomHex(t), "secret": true}, nil)
	c.must(200, "PUT", victimEnv+"/procfile", map[string]any{"processes": map[string]any{"web": map[string]string{"command": webCommand}}}, nil)
	var d deploy
	c.must(202, "POST", victimEnv+"/deploys", map[string]any{"image": agenttest.BaseImage}, &d)
	if d = c.follow(victimEnv, d.ID); d.Status != "succeeded" {
		t.Fatalf("victim's deploy = %s (%s)", d.Status, d.Error)
	}
	victim, victimHost := aclInspect(t, s, c, victimEnv)
	waitPage(t, ing, victimHost, "victim release 1")

	// The victim has a build in the registry: its uploaded source and its image. Its
	// registry credential reaches the build through Vault, never through its job.
	const victimApp = "/v1/orgs/acme/apps/victim"
	src := tarball(t, map[string]string{"Dockerfile": dockerfile("RUN sleep 2\n"), "www/index.html": "victim built\n"})
	var vb build
	if got := c.upload(victimApp+"/builds", src, &vb); got != 202 {
		t.Fatalf("the victim's build = %d", got)
	}
	credential := aclBuildCredential(t, s, "acme", "victim", vb.ID)
	if _, vb = c.followBuild(victimApp, vb.ID); vb.Status != "succeeded" {
		t.Fatalf("the victim's build = %s (%s)", vb.Status, vb.Error)
	}
	t.Run("the build's credential ends with it", func(t *testing.T) {
		vc, _ := s.Vault.Client()
		if sec, err := vc.Logical().Read("secret/data/" + platform.AppRef{Org: "acme", App: "victim"}.BuildCredentialPath(vb.ID)); err != nil || sec != nil {
			t.Errorf("the build's credential is still in Vault: %v %v", sec, err)
		}
		if got := aclRealm(t, s, "build", credential, "repository:acme/victim:pull,push"); got != http.StatusUnauthorized {
			t.Errorf("the token endpoint answered the ended build's credential with %d, want 401", got)
		}
	})
	victimRepo, victimManifest, _ := strings.Cut(strings.TrimPrefix(vb.Image, s.Registry.Addr+"/"), "@")
	sum := sha256.Sum256(src)

	c.must(201, "POST", "/v1/orgs", map[string]any{"name": "mallory"}, nil)
	c.must(201, "POST", "/v1/orgs/mallory/apps", map[string]any{"name": "hostile", "cloudspace": "local", "plan": "dev"}, nil)
	const hostileEnv = "/v1/orgs/mallory/apps/hostile/envs/live"
	c.must(200, "POST", hostileEnv+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 32}}}, nil)
	attackEnv := map[string]string{
		"HOSTILE_NOMAD": s.Nomad.Addr, "HOSTILE_CONSUL": "http://" + s.Consul.Addr, "HOSTILE_VAULT": s.Vault.Addr,
		"VICTIM_JOB": victim.job, "VICTIM_ALLOC": victim.alloc, "VICTIM_TASK": victim.task,
		"VICTIM_SERVICE": victim.service, "VICTIM_RUNTIME": victim.runtime,
		"HOSTILE_REGISTRY": "http://" + s.Registry.Addr, "VICTIM_REPO": victimRepo, "VICTIM_MANIFEST": victimManifest,
		"VICTIM_SOURCE": "sha256:" + hex.EncodeToString(sum[:]),
	}
	taskEnv := map[string]string{
		"HOSTILE_PORTS": strings.Join([]string{
			"nomad=" + aclPort(t, s.Nomad.Addr), "consul=" + aclPort(t, s.Consul.Addr), "vault=" + aclPort(t, s.Vault.Addr),
			"registry=" + aclPort(t, s.Registry.Addr), "wharfd=" + aclPort(t, w.URL), "wharf-ingress=" + aclPort(t, ing),
			"postgres (control)=" + aclPort(t, s.Postgres.Addr), "object store (control)=" + aclPort(t, s.ObjectStore.Endpoint()),
		}, ","),
		"HOSTILE_NODE_ADDRS": strings.Join(aclNodeAddrs(t, s), ","),
		"HOSTILE_DATABASE":   s.Postgres.Addr,
		"HOSTILE_INGRESS":    ingAddrs["tasks-http"],
		"VICTIM_HOST":        victimHost,
	}
	maps.Copy(taskEnv, attackEnv)
	for k, v := range taskEnv {
		c.must(201, "PUT", hostileEnv+"/vars/"+k, map[string]any{"value": v}, nil)
	}
	c.must(202, "POST", hostileEnv+"/deploys", map[string]any{"image": image}, &d)
	if d = c.follow(hostileEnv, d.ID); d.Status != "succeeded" {
		t.Fatalf("hostile's deploy = %s (%s)", d.Status, d.Error)
	}
	hostile, _ := aclInspect(t, s, c, hostileEnv)
	fromTask := aclAttack(t, appURL(t, s, hostile.service))
	fromHost := aclAttackFromHost(t, s, hostileBin, hostile.policy, attackEnv)

	// What refusal looks like: 403 from Nomad, Consul and Vault, or Nomad's "Permission
	// denied" with another status (its log stream answers 500); Nomad answers a read of
	// an allocation the token may not see as if it did not exist ("Unknown allocation",
	// 500); Consul filters out what the token may not see (an empty answer); Nomad's
	// alloc exec upgrades the connection, then closes it with "Permission denied" and no
	// output.
	refused := func(a aclAttempt) bool {
		return a.Status == http.StatusForbidden || a.Status >= 400 && strings.HasPrefix(a.Body, "Permission denied")
	}
	unknown := func(a aclAttempt) bool {
		return refused(a) || a.Status >= 400 && strings.HasPrefix(a.Body, "Unknown allocation")
	}
	hidden := func(a aclAttempt) bool {
		return a.Status == http.StatusForbidden || a.Status == http.StatusOK && !strings.Contains(a.Body, victim.service)
	}
	want := map[string]func(aclAttempt) bool{
		"nomad: leader (reachable)":       func(a aclAttempt) bool { return a.Status == http.StatusOK },
		"nomad: list jobs":                refused,
		"nomad: read another job":         refused,
		"nomad: read another allocation":  unknown,
		"nomad: read another task's logs": refused,
		"nomad: alloc exec into another task": func(a aclAttempt) bool {
			return refused(a) || a.Status == http.StatusSwitchingProtocols && strings.Contains(a.Body, "Permission denied") && !strings.Contains(a.Body, "stdout")
		},
		"nomad: register a job":                           refused,
		"nomad: stop another job":                         refused,
		"consul: leader (reachable)":                      func(a aclAttempt) bool { return a.Status == http.StatusOK },
		"consul: list keys":                               refused,
		"consul: read wharf's state":                      refused,
		"consul: write wharf's state":                     refused,
		"consul: register a service":                      refused,
		"consul: read the catalog":                        hidden,
		"consul: read another service's health":           hidden,
		"vault: look up its own token (control)":          func(a aclAttempt) bool { return a.Status == http.StatusOK },
		"vault: read another environment's configuration": refused,
		"vault: list secrets":                             refused,
		"vault: write a policy":                           refused,
		"vault: create a token":                           refused,
		"registry: version check (reachable)": func(a aclAttempt) bool {
			return a.Status == http.StatusUnauthorized && a.Error == ""
		},
		"registry: list the catalog":                   registryRefused,
		"registry: pull the victim's manifest":         registryRefused,
		"registry: pull a blob of the victim's image":  registryRefused,
		"registry: fetch the victim's uploaded source": registryRefused,
		"registry: delete the victim's source":         registryRefused,
		"registry: push to the victim's repository":    registryRefused,
	}
	// From the task, on the bridge: no connection to any of the node's ports but the
	// database's, which answers on the bridge's gateway only; so no API call gets an
	// answer at all.
	gateway := s.Bridge.Gateway.String() + ": connected"
	wantTask := map[string]func(aclAttempt) bool{
		"connect: postgres (control)":     func(a aclAttempt) bool { return a.Status == 1 && strings.Contains(a.Body, gateway) },
		"connect: object store (control)": func(a aclAttempt) bool { return a.Status == 1 && strings.Contains(a.Body, gateway) },
	}
	for _, name := range []string{"nomad", "consul", "vault", "registry", "wharfd", "wharf-ingress"} {
		wantTask["connect: "+name] = func(a aclAttempt) bool { return a.Status == 0 && strings.Count(a.Body, "\n") >= 3 }
	}
	for name := range want {
		wantTask[name] = func(a aclAttempt) bool { return a.Status == 0 && a.Error != "" }
	}
	// The database port is open to tasks, but pg_hba.conf refuses the superuser and the
	// cluster's own database to them before any password is asked for.
	hbaRejects := func(a aclAttempt) bool { return strings.Contains(a.Body, "pg_hba.conf rejects connection") }
	wantTask["postgres: log in as the superuser"] = hbaRejects
	wantTask["postgres: log in to the cluster's database"] = hbaRejects
	wantTask["postgres: log in as a user (control)"] = func(a aclAttempt) bool { return a.Body == "password requested" }
	// Other applications are reached through the ingress, as from anywhere.
	wantTask["ingress: another application's page (control)"] = func(a aclAttempt) bool {
		return a.Status == http.StatusOK && a.Body == "victim release 1\n"
	}
	aclJudge(t, "task", fromTask, wantTask)
	// From the host's network: the ACLs alone refuse.
	aclJudge(t, "host", fromHost, want)

	t.Run("victim keeps serving", func(t *testing.T) {
		if got := httpGet(t, appURL(t, s, victim.service)); got != "victim release 1\n" {
			t.Errorf("the victim's instance answers %q", got)
		}
		waitPage(t, ing, victimHost, "victim release 1")
		nc, _ := s.Nomad.Client()
		if job, _, err := nc.Jobs().Info(victim.job, nil); err != nil || *job.Stop || *job.Status != "running" {
			t.Errorf("the victim's job: %v", err)
		}
		if _, _, err := nc.Jobs().Info("mallory", nil); err == nil {
			t.Error("the hostile tenant registered a job")
		}
		cc, _ := s.Consul.Client()
		if kv, _, _ := cc.KV().Get("wharf/mallory-was-here", nil); kv != nil {
			t.Error("the hostile tenant wrote to Wharf's state")
		}
		if svcs, _, _ := cc.Catalog().Service(victim.service, "", nil); len(svcs) != 1 {
			t.Errorf("the victim's service has %d instances in the catalog, want 1", len(svcs))
		}
	})

	// The victim deploys its build. The image is removed from the node's engine first,
	// so the node must pull it from the registry with its own credential (wharfd
	// grants it the pull because Nomad says the node places that image).
	t.Run("victim deploys its build, pulled by the node", func(t *testing.T) {
		if out, err := exec.Command("docker", "image", "rm", vb.Image, s.Registry.Addr+"/"+victimRepo+":build-"+vb.ID).CombinedOutput(); err != nil {
			t.Fatalf("docker image rm: %v: %s", err, out)
		}
		c.must(202, "POST", victimEnv+"/deploys", map[string]any{"build": vb.ID}, &d)
		if d = c.follow(victimEnv, d.ID); d.Status != "succeeded" {
			t.Fatalf("the victim's deploy of its build = %s (%s)", d.Status, d.Error)
		}
		waitPage(t, ing, victimHost, "victim release 2")
		if out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", vb.Image).CombinedOutput(); err != nil {
			t.Errorf("the node has not the pulled image: %v: %s", err, out)
		}
	})
}

// registryRefused: the registry refused (401 without a token, 401/403/404 with what the
// realm gave), and the realm gave nothing that opened it.
func registryRefused(a aclAttempt) bool {
	return (a.Status == http.StatusUnauthorized || a.Status == http.StatusForbidden || a.Status == http.StatusNotFound) &&
		!strings.Contains(a.Body, "registry with that token: 2")
}

// aclBuildCredential waits, while the build runs, until its job is in Nomad and its
// registry credential in Vault, then checks, as the operator, that the job Nomad keeps
// holds no trace of the credential; it returns the credential.
func aclBuildCredential(t *testing.T, s *devstack.Stack, org, app, build string) string {
	t.Helper()
	ref := platform.AppRef{Org: org, App: app}
	vc, _ := s.Vault.Client()
	var credential string
	var job []byte
	for deadline := time.Now().Add(2 * time.Minute); credential == "" || job == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the build's job (%v) and credential (%v) were never both seen", job != nil, credential != "")
		}
		if sec, err := vc.Logical().Read("secret/data/" + ref.BuildCredentialPath(build)); err == nil && sec != nil {
			if data, ok := sec.Data["data"].(map[string]any); ok {
				credential, _ = data["credential"].(string)
			}
		}
		if resp, err := operatorGet(s, "/v1/job/"+url.PathEscape(ref.BuildJobID(build))); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				job = b
			}
		}
	}
	parts := strings.Split(credential, ".")
	if len(parts) != 3 {
		t.Fatalf("the build's credential is not a JWT: %d parts", len(parts))
	}
	for i, p := range append(parts, credential) {
		if strings.Contains(string(job), p) {
			t.Errorf("the build's Nomad job holds the credential (part %d)", i)
		}
	}
	if !strings.Contains(string(job), ref.BuildCredentialPath(build)) {
		t.Errorf("the build's job does not read its credential from Vault: %s", job)
	}
	return credential
}

// aclRealm asks wharfd's token endpoint (the registry's realm) for scope with user and
// password, and returns its status.
func aclRealm(t *testing.T, s *devstack.Stack, user, password, scope string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.WharfdAddr+"/v1/registry/token?service="+devstack.RegistryTokenService+"&scope="+url.QueryEscape(scope), nil)
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// aclBuildHostile builds testdata/hostile into an image FROM scratch.
func aclBuildHostile(t *testing.T) string { return buildStaticImage(t, "hostile") }

// aclBuildHostileBinary builds testdata/hostile for the node itself.
func aclBuildHostileBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hostile")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/hostile").CombinedOutput(); err != nil {
		t.Fatalf("build hostile: %v\n%s", err, out)
	}
	return bin
}

// aclAttackFromHost runs the hostile binary on the node, on the host's network, with a
// Vault token such as Nomad gives the hostile environment's tasks (from the token role,
// with the environment's policy), and returns what it got.
func aclAttackFromHost(t *testing.T, s *devstack.Stack, bin, policy string, env map[string]string) []aclAttempt {
	t.Helper()
	vc, err := s.Vault.Client()
	if err != nil {
		t.Fatal(err)
	}
	secret, err := vc.Auth().Token().CreateWithRole(&vaultapi.TokenCreateRequest{Policies: []string{policy}, TTL: "10m"}, devstack.NomadTokenRole)
	if err != nil {
		t.Fatalf("make the hostile task's Vault token: %v", err)
	}
	cmd := exec.Command(bin, "-attack")
	cmd.Env = []string{"VAULT_TOKEN=" + secret.Auth.ClientToken}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hostile -attack: %v", err)
	}
	var attempts []aclAttempt
	if err := json.Unmarshal(out, &attempts); err != nil {
		t.Fatalf("hostile -attack: %v: %s", err, out)
	}
	for _, a := range attempts {
		t.Logf("host: %s: %d %q %s", a.Name, a.Status, aclTrim(a.Body), a.Error)
	}
	return attempts
}

// aclJudge runs one subtest per attempt (prefix/name), failing those that want does not
// accept, and fails when an attempt of want was not made.
func aclJudge(t *testing.T, prefix string, attempts []aclAttempt, want map[string]func(aclAttempt) bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range attempts {
		seen[a.Name] = true
		t.Run(prefix+"/"+a.Name, func(t *testing.T) {
			ok, known := want[a.Name]
			if !known {
				t.Fatalf("unexpected attempt %q", a.Name)
			}
			if !ok(a) {
				t.Errorf("got %d %q (error %q)", a.Status, aclTrim(a.Body), a.Error)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: the hostile application did not try %q", prefix, name)
		}
	}
}

// aclPort is the port of a host:port or URL.
func aclPort(t *testing.T, addr string) string {
	t.Helper()
	if u, err := url.Parse(addr); err == nil && u.Port() != "" {
		return u.Port()
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("no port in %q", addr)
	}
	return port
}

// aclNodeAddrs lists the node's IPv4 addresses beyond loopback and the bridge's gateway
// (which the hostile task tries anyway).
func aclNodeAddrs(t *testing.T, s *devstack.Stack) []string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.Equal(s.Bridge.Gateway) {
			out = append(out, ipn.IP.String())
		}
	}
	return out
}

// aclRuntimePath finds the Vault path a task's template reads its configuration from.
var aclRuntimePath = regexp.MustCompile(`secret "([^"?]+)`)

// aclInspect looks, as the operator, at the environment's one instance: its Nomad job,
// allocation and task, its Consul service, the Vault path of its configuration; and it
// returns the host of the environment's URL.
func aclInspect(t *testing.T, s *devstack.Stack, c *client, env string) (aclVictim, string) {
	t.Helper()
	var st struct {
		URL       string `json:"url"`
		Instances []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"instances"`
	}
	var v aclVictim
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		c.must(200, "GET", env+"/status", nil, &st)
		for _, in := range st.Instances {
			if in.Status == "running" {
				v.alloc = in.ID
			}
		}
		if v.alloc != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has no running instance: %+v", env, st)
		}
	}
	nc, _ := s.Nomad.Client()
	alloc, _, err := nc.Allocations().Info(v.alloc, nil)
	if err != nil {
		t.Fatalf("allocation %s: %v", v.alloc, err)
	}
	v.job = alloc.JobID
	var group *nomadapi.TaskGroup
	for _, g := range alloc.Job.TaskGroups {
		if *g.Name == alloc.TaskGroup {
			group = g
		}
	}
	if group == nil || len(group.Tasks) == 0 {
		t.Fatalf("allocation %s: no group %s in its job", v.alloc, alloc.TaskGroup)
	}
	task := group.Tasks[0]
	v.task = task.Name
	if task.Vault != nil && len(task.Vault.Policies) > 0 {
		v.policy = task.Vault.Policies[0]
	}
	for _, svc := range append(group.Services, task.Services...) {
		v.service = svc.Name
	}
	for _, tmpl := range task.Templates {
		if m := aclRuntimePath.FindStringSubmatch(*tmpl.EmbeddedTmpl); m != nil {
			v.runtime = m[1]
			break
		}
	}
	u, err := url.Parse(st.URL)
	if v.service == "" || v.runtime == "" || err != nil {
		t.Fatalf("%s: service %q, runtime %q, url %q", env, v.service, v.runtime, st.URL)
	}
	return v, u.Hostname()
}

// aclAttack asks the hostile application to try everything, and returns what it got.
func aclAttack(t *testing.T, base string) []aclAttempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/attack", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("attack: %v", err)
	}
	defer resp.Body.Close()
	var attempts []aclAttempt
	if err := json.NewDecoder(resp.Body).Decode(&attempts); err != nil {
		t.Fatalf("attack: %v", err)
	}
	for _, a := range attempts {
		t.Logf("%s: %d %q %s", a.Name, a.Status, aclTrim(a.Body), a.Error)
	}
	return attempts
}

func aclTrim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
