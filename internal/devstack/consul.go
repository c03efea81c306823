package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConsulConfig configures a single Consul server. Zero ports are chosen free.
type ConsulConfig struct {
	Binary                                         string
	DataDir                                        string // its state; kept across restarts
	Node                                           string
	HTTPPort, SerfLANPort, SerfWANPort, ServerPort int
	Log                                            LogFunc
}

// Consul is a running Consul server.
type Consul struct {
	Addr string // host:port of the HTTP API
	proc *Process
}

// StartConsul starts a Consul server and returns once it has elected itself leader.
func StartConsul(cfg ConsulConfig) (*Consul, error) {
	if err := freePorts(&cfg.HTTPPort, &cfg.SerfLANPort, &cfg.SerfWANPort, &cfg.ServerPort); err != nil {
		return nil, err
	}
	if cfg.Node == "" {
		cfg.Node = "wharf-local"
	}
	data := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	set(b, map[string]cty.Value{
		"datacenter":           str("dc1"),
		"node_name":            str(cfg.Node),
		"data_dir":             str(data),
		"server":               cty.True,
		"bootstrap_expect":     num(1),
		"bind_addr":            str("127.0.0.1"),
		"client_addr":          str("127.0.0.1"),
		"advertise_addr":       str("127.0.0.1"),
		"disable_update_check": cty.True,
		"log_level":            str("info"),
	})
	set(block(b, "ports"), map[string]cty.Value{
		"http":     num(cfg.HTTPPort),
		"dns":      num(-1),
		"grpc":     num(-1),
		"grpc_tls": num(-1), // 8503 by default: it would clash between agents
		"serf_lan": num(cfg.SerfLANPort),
		"serf_wan": num(cfg.SerfWANPort),
		"server":   num(cfg.ServerPort),
	})
	set(block(b, "performance"), map[string]cty.Value{"raft_multiplier": num(1)})
	conf := filepath.Join(cfg.DataDir, "consul.hcl")
	if err := writeHCL(conf, f); err != nil {
		return nil, err
	}
	p, err := StartProcess("consul", cfg.Log, cfg.Binary, []string{"agent", "-config-file", conf}, nil)
	if err != nil {
		return nil, err
	}
	c := &Consul{Addr: addr(cfg.HTTPPort), proc: p}
	err = waitFor("consul leader", 60*time.Second, p, func() error {
		var leader string
		if err := getJSON("http://"+c.Addr+"/v1/status/leader", &leader); err != nil {
			return err
		}
		if leader == "" {
			return errNotYet
		}
		// The node itself must be in the catalog before services can register on it.
		var nodes []struct{ Node string }
		if err := getJSON("http://"+c.Addr+"/v1/catalog/nodes", &nodes); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Node == cfg.Node {
				return nil
			}
		}
		return fmt.Errorf("node %s not in the catalog yet", cfg.Node)
	})
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return c, nil
}

// Stop stops the server.
func (c *Consul) Stop() error { return c.proc.Stop(15 * time.Second) }

// Exited is closed when the server has ended.
func (c *Consul) Exited() <-chan struct{} { return c.proc.Exited() }
