package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	consulapi "github.com/hashicorp/consul/api"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// ConsulConfig configures a single Consul server. Zero ports are chosen free.
type ConsulConfig struct {
	Binary                                         string
	DataDir                                        string // its state; kept across restarts
	Node                                           string
	HTTPPort, SerfLANPort, SerfWANPort, ServerPort int
	// TLS, when set, serves the API over HTTPS on HTTPPort (plain HTTP off) and makes
	// the servers' RPC mutual TLS.
	TLS *TLS
	Log LogFunc
}

// Consul is a running Consul server with ACLs on (default deny), and a token for each
// component of the cloudspace.
type Consul struct {
	Addr string // host:port of the HTTP API (HTTPS when TLS is set)
	TLS  *TLS   // nil: plain HTTP
	// ManagementToken is the operator's, kept in ManagementTokenPath (0600) across
	// restarts. The other tokens are made afresh at every start, replacing the last ones.
	ManagementToken     string
	ManagementTokenPath string
	WharfdToken         string // ConsulWharfdPolicy
	IngressToken        string // ConsulIngressPolicy
	NomadToken          string // ConsulNomadPolicy: for the Nomad agent
	proc                *Process
}

// StartConsul starts a Consul server and returns once it has elected itself leader, its
// ACL system is bootstrapped and the components' tokens are made.
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
	httpPort, httpsPort := cfg.HTTPPort, -1
	if cfg.TLS != nil {
		httpPort, httpsPort = -1, cfg.HTTPPort
		tb := block(b, "tls")
		set(block(tb, "defaults"), map[string]cty.Value{
			"ca_file": str(cfg.TLS.CAFile), "cert_file": str(cfg.TLS.CertFile), "key_file": str(cfg.TLS.KeyFile),
			"verify_incoming": cty.True, "verify_outgoing": cty.True,
		})
		// API clients prove themselves with tokens, not certificates.
		set(block(tb, "https"), map[string]cty.Value{"verify_incoming": cty.False})
		set(block(tb, "internal_rpc"), map[string]cty.Value{"verify_server_hostname": cty.True})
	}
	set(block(b, "ports"), map[string]cty.Value{
		"http":     num(httpPort),
		"https":    num(httpsPort),
		"dns":      num(-1),
		"grpc":     num(-1),
		"grpc_tls": num(-1), // 8503 by default: it would clash between agents
		"serf_lan": num(cfg.SerfLANPort),
		"serf_wan": num(cfg.SerfWANPort),
		"server":   num(cfg.ServerPort),
	})
	set(block(b, "performance"), map[string]cty.Value{"raft_multiplier": num(1)})
	// ACLs on, anonymous requests denied; listing keys needs list access to the prefix
	// (rather than answering with what the token may read). The agent's own token is set
	// through the API once the ACL system is bootstrapped, and kept by the agent in its
	// data directory.
	set(block(b, "acl"), map[string]cty.Value{
		"enabled":                  cty.True,
		"default_policy":           str("deny"),
		"down_policy":              str("extend-cache"),
		"enable_token_persistence": cty.True,
		"enable_key_list_policy":   cty.True,
	})
	conf := filepath.Join(cfg.DataDir, "consul.hcl")
	if err := writeHCL(conf, f); err != nil {
		return nil, err
	}
	p, err := StartProcess("consul", cfg.Log, cfg.Binary, []string{"agent", "-config-file", conf}, nil)
	if err != nil {
		return nil, err
	}
	c := &Consul{Addr: addr(cfg.HTTPPort), TLS: cfg.TLS, ManagementTokenPath: filepath.Join(cfg.DataDir, ManagementTokenFile), proc: p}
	if err := c.bringUp(cfg.Node); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return c, nil
}

func (c *Consul) bringUp(node string) error {
	err := waitFor("consul leader", 60*time.Second, c.proc, func() error {
		var leader string
		if err := getJSON(c.TLS.HTTPClient(), c.URL()+"/v1/status/leader", "", &leader); err != nil {
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
	if err := c.bootstrapACL(); err != nil {
		return err
	}
	if err := c.makeTokens(node); err != nil {
		return err
	}
	return waitFor("consul node in the catalog", 60*time.Second, c.proc, func() error {
		// The node itself must be in the catalog before services can register on it.
		var nodes []struct{ Node string }
		if err := getJSON(c.TLS.HTTPClient(), c.URL()+"/v1/catalog/nodes", c.ManagementToken, &nodes); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Node == node {
				return nil
			}
		}
		return fmt.Errorf("node %s not in the catalog yet", node)
	})
}

// URL is the HTTP API's base URL: http://host:port, or https:// with TLS.
func (c *Consul) URL() string { return c.TLS.scheme() + "://" + c.Addr }

// api returns a client of the agent with the given token.
func (c *Consul) api(token string) (*consulapi.Client, error) {
	conf := &consulapi.Config{Address: c.Addr, Token: token, Scheme: c.TLS.scheme()}
	if c.TLS != nil {
		conf.TLSConfig.CAFile = c.TLS.CAFile
	}
	return consulapi.NewClient(conf)
}

// bootstrapACL bootstraps the ACL system the first time and keeps the management token
// it returns; later, it checks that the kept token is still the management token.
// (Consul 1.14 takes no bootstrap secret of ours, so the token is written just after.)
func (c *Consul) bootstrapACL() error {
	token, err := keptToken(c.ManagementTokenPath)
	if err != nil {
		return err
	}
	if token == "" {
		api, err := c.api("")
		if err != nil {
			return err
		}
		err = waitFor("consul ACL bootstrap", 30*time.Second, c.proc, func() error {
			t, _, err := api.ACL().Bootstrap()
			if err != nil {
				if strings.Contains(err.Error(), "no longer allowed") {
					return fmt.Errorf("consul's ACLs were bootstrapped, but %s, which should keep the management token, is missing (run make dev-reset): %w", c.ManagementTokenPath, errNoRetry)
				}
				return err // the ACL system may not be ready right after the election
			}
			token = t.SecretID
			return keepToken(c.ManagementTokenPath, token)
		})
		if err != nil {
			return err
		}
	}
	c.ManagementToken = token
	api, err := c.api(token)
	if err != nil {
		return err
	}
	return waitFor("consul management token", 30*time.Second, c.proc, func() error {
		self, _, err := api.ACL().TokenReadSelf(nil)
		if err != nil {
			return fmt.Errorf("the token in %s: %w (run make dev-reset if consul's ACLs were bootstrapped with another)", c.ManagementTokenPath, err)
		}
		for _, p := range self.Policies {
			if p.Name == "global-management" {
				return nil
			}
		}
		return fmt.Errorf("the token in %s is not consul's management token", c.ManagementTokenPath)
	})
}

// makeTokens writes the components' policies and makes a token for each, replacing
// the tokens the last start made; it gives the agent its own token.
func (c *Consul) makeTokens(node string) error {
	api, err := c.api(c.ManagementToken)
	if err != nil {
		return err
	}
	acl := api.ACL()
	old, _, err := acl.TokenList(nil)
	if err != nil {
		return fmt.Errorf("list consul tokens: %w", err)
	}
	for _, r := range []struct {
		name, rules string
		token       *string
	}{
		{aclWharfd, ConsulWharfdPolicy, &c.WharfdToken},
		{aclIngress, ConsulIngressPolicy, &c.IngressToken},
		{aclNomad, ConsulNomadPolicy, &c.NomadToken},
		{aclConsul, fmt.Sprintf(consulAgentPolicy, node), nil},
	} {
		p := &consulapi.ACLPolicy{Name: r.name, Description: "Wharf: " + r.name, Rules: r.rules}
		if have, _, err := acl.PolicyReadByName(r.name, nil); err == nil && have != nil {
			p.ID = have.ID
			_, _, err = acl.PolicyUpdate(p, nil)
			if err != nil {
				return fmt.Errorf("update consul policy %s: %w", r.name, err)
			}
		} else if _, _, err := acl.PolicyCreate(p, nil); err != nil {
			return fmt.Errorf("create consul policy %s: %w", r.name, err)
		}
		for _, t := range old {
			if t.Description == r.name {
				if _, err := acl.TokenDelete(t.AccessorID, nil); err != nil {
					return fmt.Errorf("delete old consul token %s: %w", r.name, err)
				}
			}
		}
		t, _, err := acl.TokenCreate(&consulapi.ACLToken{Description: r.name, Policies: []*consulapi.ACLTokenPolicyLink{{Name: r.name}}}, nil)
		if err != nil {
			return fmt.Errorf("create consul token %s: %w", r.name, err)
		}
		if r.token != nil {
			*r.token = t.SecretID
			continue
		}
		if _, err := api.Agent().UpdateAgentACLToken(t.SecretID, nil); err != nil {
			return fmt.Errorf("set consul's agent token: %w", err)
		}
	}
	return nil
}

// Client returns a Consul client with the management token, for tests and setup.
func (c *Consul) Client() (*consulapi.Client, error) { return c.api(c.ManagementToken) }

// Stop stops the server.
func (c *Consul) Stop() error { return c.proc.Stop(15 * time.Second) }

// Exited is closed when the server has ended.
func (c *Consul) Exited() <-chan struct{} { return c.proc.Exited() }
