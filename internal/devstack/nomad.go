package devstack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"
)

// NomadConfig configures one Nomad agent acting as server and client of a one-node
// region. Zero ports are chosen free.
type NomadConfig struct {
	Binary                      string
	DataDir                     string // its state; kept across restarts
	Region, Datacenter, Name    string
	HTTPPort, RPCPort, SerfPort int
	ConsulAddr                  string // host:port
	// ConsulToken is the agent's Consul token (ConsulNomadPolicy), passed in the
	// environment, never written.
	ConsulToken           string
	VaultAddr, VaultToken string // the token is passed in the environment, never written
	// TLS, when set, serves the API over HTTPS, makes RPC mutual TLS, and reaches
	// Consul over HTTPS (Consul must use the same TLS).
	TLS *TLS
	// Bridge, when set, is the task network: Nomad's bridge network mode attaches
	// allocations to it through CNI, and the client's address (its ports) is the
	// bridge's gateway. Without it, tasks can only use the host's network.
	Bridge *Bridge
	// CgroupParent (absolute: "/name") keeps each agent's cgroups apart, so that several
	// agents on one machine (make dev beside tests) do not manage each other's.
	CgroupParent string
	// RegistryAuth, when set, is the Docker configuration (0600) with the node's
	// registry credential, which the docker plugin pulls with.
	RegistryAuth string
	Log          LogFunc
}

// Nomad is a running Nomad agent with a ready client node, ACLs on, and a token for
// wharfd.
type Nomad struct {
	Addr   string // http://host:port, or https:// with TLS
	TLS    *TLS   // nil: plain HTTP
	Region string
	NodeID string
	// ManagementToken is the operator's, kept in ManagementTokenPath (0600) across
	// restarts. WharfdToken (NomadWharfdPolicy) is made afresh at every start.
	ManagementToken     string
	ManagementTokenPath string
	WharfdToken         string
	dataDir             string
	cgroup              string
	proc                *Process
}

// StartNomad starts Nomad and returns once it has a leader and a ready node whose docker
// driver is healthy.
func StartNomad(cfg NomadConfig) (*Nomad, error) {
	if err := freePorts(&cfg.HTTPPort, &cfg.RPCPort, &cfg.SerfPort); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.Datacenter == "" {
		cfg.Datacenter = "dc1"
	}
	if cfg.Name == "" {
		cfg.Name = "wharf-" + cfg.Region
	}
	if cfg.CgroupParent == "" {
		cfg.CgroupParent = "/wharf-" + cfg.Region
	}
	data := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	set(b, map[string]cty.Value{
		"region":               str(cfg.Region),
		"datacenter":           str(cfg.Datacenter),
		"name":                 str(cfg.Name),
		"data_dir":             str(data),
		"bind_addr":            str("127.0.0.1"),
		"disable_update_check": cty.True,
		"log_level":            str("INFO"),
	})
	set(block(b, "advertise"), map[string]cty.Value{
		"http": str("127.0.0.1"), "rpc": str("127.0.0.1"), "serf": str("127.0.0.1"),
	})
	set(block(b, "ports"), map[string]cty.Value{
		"http": num(cfg.HTTPPort), "rpc": num(cfg.RPCPort), "serf": num(cfg.SerfPort),
	})
	set(block(b, "server"), map[string]cty.Value{"enabled": cty.True, "bootstrap_expect": num(1)})
	set(block(b, "acl"), map[string]cty.Value{"enabled": cty.True})
	client := map[string]cty.Value{
		"enabled":           cty.True,
		"network_interface": str("lo"),
		"cgroup_parent":     str(cfg.CgroupParent),
		"servers":           cty.ListVal([]cty.Value{str(addr(cfg.RPCPort))}),
	}
	if br := cfg.Bridge; br != nil {
		// Ports (and so the addresses services are registered with) are on the
		// bridge's gateway: the ingress and Consul's checks reach an instance there
		// through the port mapping, and the node's loopback stays out of tasks' reach.
		client["network_interface"] = str(br.Name)
		client["cni_path"] = str(CNIPath)
		client["bridge_network_name"] = str(br.Name)
		client["bridge_network_subnet"] = str(br.Subnet.String())
	}
	set(block(b, "client"), client)
	consul := map[string]cty.Value{
		"address":          str(cfg.ConsulAddr),
		"server_auto_join": cty.False,
		"client_auto_join": cty.False,
	}
	if cfg.TLS != nil {
		set(block(b, "tls"), map[string]cty.Value{
			"http": cty.True, "rpc": cty.True,
			"ca_file": str(cfg.TLS.CAFile), "cert_file": str(cfg.TLS.CertFile), "key_file": str(cfg.TLS.KeyFile),
			"verify_server_hostname": cty.True, "verify_https_client": cty.False,
		})
		consul["ssl"], consul["verify_ssl"], consul["ca_file"] = cty.True, cty.True, str(cfg.TLS.CAFile)
	}
	set(block(b, "consul"), consul)
	if cfg.VaultAddr != "" {
		vault := map[string]cty.Value{
			"enabled":          cty.True,
			"address":          str(cfg.VaultAddr),
			"create_from_role": str(NomadTokenRole),
		}
		if cfg.TLS != nil && strings.HasPrefix(cfg.VaultAddr, "https://") {
			vault["ca_file"] = str(cfg.TLS.CAFile)
		}
		set(block(b, "vault"), vault)
	}
	docker := block(block(b, "plugin", "docker"), "config")
	// infra_image holds an allocation's network namespace in bridge mode (see PauseImage).
	set(docker, map[string]cty.Value{"allow_privileged": cty.False, "infra_image": str(PauseImage)})
	set(block(docker, "volumes"), map[string]cty.Value{"enabled": cty.True})
	if cfg.RegistryAuth != "" {
		set(block(docker, "auth"), map[string]cty.Value{"config": str(cfg.RegistryAuth)})
	}
	gc := block(docker, "gc")
	// Base images are built locally and cannot be pulled again: never collect them. Other
	// Nomad agents may share this Docker engine: never take their containers for ours.
	set(gc, map[string]cty.Value{"image": cty.False, "container": cty.True})
	set(block(gc, "dangling_containers"), map[string]cty.Value{"enabled": cty.False})
	set(block(block(b, "plugin", "raw_exec"), "config"), map[string]cty.Value{"enabled": cty.True})

	conf := filepath.Join(cfg.DataDir, "nomad.hcl")
	if err := writeHCL(conf, f); err != nil {
		return nil, err
	}
	var env []string
	if cfg.VaultToken != "" {
		env = append(env, "VAULT_TOKEN="+cfg.VaultToken)
	}
	if cfg.ConsulToken != "" {
		// Nomad's Consul client takes Consul's own variable when its configuration
		// holds no token.
		env = append(env, "CONSUL_HTTP_TOKEN="+cfg.ConsulToken)
	}
	p, err := StartProcess("nomad", cfg.Log, cfg.Binary, []string{"agent", "-config", conf}, env)
	if err != nil {
		return nil, err
	}
	n := &Nomad{Addr: cfg.TLS.scheme() + "://" + addr(cfg.HTTPPort), TLS: cfg.TLS, Region: cfg.Region, dataDir: cfg.DataDir, cgroup: cfg.CgroupParent, proc: p,
		ManagementTokenPath: filepath.Join(cfg.DataDir, ManagementTokenFile)}
	if err := n.waitReady(); err != nil {
		n.Stop()
		return nil, err
	}
	return n, nil
}

func (n *Nomad) waitReady() error {
	err := waitFor("nomad leader", 90*time.Second, n.proc, func() error {
		var leader string
		if err := getJSON(n.TLS.HTTPClient(), n.Addr+"/v1/status/leader", "", &leader); err != nil {
			return err
		}
		if leader == "" {
			return errNotYet
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := n.bootstrapACL(); err != nil {
		return err
	}
	if err := n.makeTokens(); err != nil {
		return err
	}
	return waitFor("nomad ready node", 90*time.Second, n.proc, func() error {
		var nodes []struct {
			ID      string
			Status  string
			Drivers map[string]struct{ Detected, Healthy bool }
		}
		if err := getJSON(n.TLS.HTTPClient(), n.Addr+"/v1/nodes?resources=true", n.ManagementToken, &nodes); err != nil {
			return err
		}
		for _, node := range nodes {
			if node.Status != "ready" {
				continue
			}
			if d := node.Drivers["docker"]; !d.Healthy {
				return fmt.Errorf("node %s: docker driver not healthy (detected=%v)", node.ID, d.Detected)
			}
			n.NodeID = node.ID
			return nil
		}
		return fmt.Errorf("no ready node among %d", len(nodes))
	})
}

// api returns a client of the agent with the given token.
func (n *Nomad) api(token string) (*nomadapi.Client, error) {
	conf := &nomadapi.Config{Address: n.Addr, Region: n.Region, SecretID: token}
	if n.TLS != nil {
		conf.TLSConfig = &nomadapi.TLSConfig{CACert: n.TLS.CAFile}
	}
	return nomadapi.NewClient(conf)
}

// Client returns a Nomad client with the management token, for tests and setup.
func (n *Nomad) Client() (*nomadapi.Client, error) { return n.api(n.ManagementToken) }

// bootstrapACL bootstraps the ACL system with the kept management token (made the
// first time, and written before the ACL system is bootstrapped with it, so that it is
// never lost), or, when it was bootstrapped already, checks that the kept token is
// still a management token.
func (n *Nomad) bootstrapACL() error {
	token, err := keptToken(n.ManagementTokenPath)
	if err != nil {
		return err
	}
	if token == "" {
		if token, err = uuid(); err != nil {
			return err
		}
		if err := keepToken(n.ManagementTokenPath, token); err != nil {
			return err
		}
	}
	n.ManagementToken = token
	api, err := n.api(token)
	if err != nil {
		return err
	}
	return waitFor("nomad ACL bootstrap", 30*time.Second, n.proc, func() error {
		_, _, err := api.ACLTokens().BootstrapOpts(token, nil)
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "bootstrap already done") {
			return err // the ACL system may not be ready right after the election
		}
		self, _, err := api.ACLTokens().Self(nil)
		if err != nil {
			return fmt.Errorf("nomad's ACLs were bootstrapped with another token than the one in %s: %w (run make dev-reset)", n.ManagementTokenPath, err)
		}
		if self.Type != "management" {
			return fmt.Errorf("the token in %s is not a nomad management token", n.ManagementTokenPath)
		}
		return nil
	})
}

// makeTokens writes wharfd's policy and makes its token, replacing the one the last
// start made.
func (n *Nomad) makeTokens() error {
	api, err := n.api(n.ManagementToken)
	if err != nil {
		return err
	}
	if _, err := api.ACLPolicies().Upsert(&nomadapi.ACLPolicy{Name: aclWharfd, Description: "Wharf: wharfd", Rules: NomadWharfdPolicy}, nil); err != nil {
		return fmt.Errorf("write nomad policy %s: %w", aclWharfd, err)
	}
	old, _, err := api.ACLTokens().List(nil)
	if err != nil {
		return fmt.Errorf("list nomad tokens: %w", err)
	}
	for _, t := range old {
		if t.Name == aclWharfd {
			if _, err := api.ACLTokens().Delete(t.AccessorID, nil); err != nil {
				return fmt.Errorf("delete old nomad token %s: %w", aclWharfd, err)
			}
		}
	}
	t, _, err := api.ACLTokens().Create(&nomadapi.ACLToken{Name: aclWharfd, Type: "client", Policies: []string{aclWharfd}}, nil)
	if err != nil {
		return fmt.Errorf("create nomad token %s: %w", aclWharfd, err)
	}
	n.WharfdToken = t.SecretID
	return nil
}

// Stop stops the agent and cleans up after it: it removes the task containers the agent
// leaves running (Nomad keeps them to reattach on restart, but a stopped stack must leave
// nothing running; a Nomad restarted on the same data directory starts its allocations'
// tasks again), unmounts what the client left mounted in the data directory, and removes
// the cgroups it made.
func (n *Nomad) Stop() error {
	allocs := n.allocIDs()
	errs := []error{n.proc.Stop(30 * time.Second), RemoveContainers(allocs)}
	unmountUnder(n.dataDir)
	for _, ctl := range []string{"cpuset", "cpu", "cpuacct", "memory", "pids", "freezer", "blkio", "devices", "systemd", "unified"} {
		removeTree(filepath.Join("/sys/fs/cgroup", ctl, n.cgroup))
	}
	return errors.Join(errs...)
}

// removeTree removes the directories below dir and dir itself, deepest first, as a
// cgroup hierarchy must be removed (rmdir only; cgroup files cannot be unlinked).
func removeTree(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() {
			removeTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = os.Remove(dir)
}

// allocIDs lists the allocations Nomad has placed on its node, in any state.
func (n *Nomad) allocIDs() []string {
	var allocs []struct{ ID string }
	if n.NodeID == "" || getJSON(n.TLS.HTTPClient(), n.Addr+"/v1/node/"+n.NodeID+"/allocations", n.ManagementToken, &allocs) != nil {
		return nil
	}
	ids := make([]string, 0, len(allocs))
	for _, a := range allocs {
		ids = append(ids, a.ID)
	}
	return ids
}

// RemoveContainers force-removes the Docker containers of the given Nomad allocations.
func RemoveContainers(allocIDs []string) error {
	var errs []error
	for _, id := range allocIDs {
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=com.hashicorp.nomad.alloc_id="+id).Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers of alloc %s: %w", id, err))
			continue
		}
		for _, c := range strings.Fields(string(out)) {
			if out, err := exec.Command("docker", "rm", "-f", c).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("remove container %s: %v: %s", c, err, out))
			}
		}
	}
	return errors.Join(errs...)
}

// Exited is closed when the agent has ended.
func (n *Nomad) Exited() <-chan struct{} { return n.proc.Exited() }

// unmountUnder detaches every mount below dir (the secrets tmpfs Nomad's client makes in
// each allocation directory), deepest first, so that dir can be removed.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	abs, _ := filepath.Abs(dir)
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], abs+"/") {
			points = append(points, fields[4])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}
