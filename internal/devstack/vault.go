package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	vaultapi "github.com/hashicorp/vault/api"
	"github.com/zclconf/go-cty/cty"

	"github.com/wharf-platform/wharf/platform"
)

// NomadTokenRole is the Vault token role from which Nomad derives each task's token.
// It may grant only policies named like EnvPolicyGlob (an environment's),
// BackupPolicyGlob (a service instance's backups') or BuildPolicyGlob (one build's
// registry credential), platform/identity.go's three families, and IngressPolicy for the ingress's job: a task can never be handed Wharf's or Nomad's
// own policies.
const (
	NomadTokenRole   = "nomad-cluster"
	EnvPolicyGlob    = platform.EnvPolicyGlob
	BackupPolicyGlob = platform.BackupPolicyGlob
	BuildPolicyGlob  = platform.BuildPolicyGlob
	IngressPolicy    = "wharf-ingress"
)

// IngressSecretPath is where, in the KV v2 mount secret/, the ingress's job finds its
// Consul token (consul_token) and its certificate cache key (cache_key).
const IngressSecretPath = "wharf/ingress"

// ingressPolicy lets the ingress's job read its own secrets and nothing else.
const ingressPolicy = `
path "secret/data/wharf/ingress" { capabilities = ["read"] }
`

// nomadServerPolicy is what Nomad's own token may do: derive task tokens from the role and
// look after them (as HashiCorp's Nomad–Vault integration guide lists).
const nomadServerPolicy = `
path "auth/token/create/nomad-cluster" { capabilities = ["update"] }
path "auth/token/roles/nomad-cluster" { capabilities = ["read"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/lookup" { capabilities = ["update"] }
path "auth/token/revoke-accessor" { capabilities = ["update"] }
path "sys/capabilities-self" { capabilities = ["update"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`

// WharfdPolicy is what wharfd's token may do: keep application secrets under the KV v2
// mount's wharf/ prefix (but for the ingress's own secrets), manage the per-environment
// policies, mount the database secrets engine and manage its connections and roles for
// service instances (never read their credentials), and revoke those credentials;
// nothing else. It may only delete policies of the legacy names ("wharf-env-*",
// platform/upgrade.go).
const WharfdPolicy = `
path "secret/data/wharf/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/wharf/*" { capabilities = ["create", "read", "update", "list", "delete"] }
path "secret/data/wharf/ingress" { capabilities = ["deny"] }
path "secret/metadata/wharf/ingress" { capabilities = ["deny"] }
path "sys/policies/acl/wharf-env.*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policies/acl/wharf-backup.*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policies/acl/wharf-build.*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/policies/acl/wharf-env-*" { capabilities = ["delete"] }
path "sys/mounts/database" { capabilities = ["create", "read", "update"] }
path "database/config/wharf-*" { capabilities = ["create", "read", "update", "delete"] }
path "database/roles/wharf-*" { capabilities = ["create", "read", "update", "delete"] }
path "sys/leases/revoke-prefix/database/creds/wharf-*" { capabilities = ["update", "sudo"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "auth/token/renew-self" { capabilities = ["update"] }
`

// VaultConfig configures a single Vault server with file storage. Zero ports are chosen
// free.
type VaultConfig struct {
	Binary            string
	DataDir           string // storage and the unseal key file (0600); kept across restarts
	Port, ClusterPort int
	// TLS, when set, serves the API over HTTPS only.
	TLS *TLS
	Log LogFunc
}

// Vault is a running, initialised and unsealed Vault server with KV v2 at secret/, the
// token role Nomad uses, and tokens for Nomad and wharfd.
type Vault struct {
	Addr        string // http://host:port, or https:// with TLS
	TLS         *TLS   // nil: plain HTTP
	RootToken   string
	NomadToken  string // periodic token with the nomad-server policy
	WharfdToken string // periodic token with the wharfd policy
	proc        *Process
	keysFile    string
}

// vaultKeys is what `vault operator init` returns, kept in a 0600 file.
type vaultKeys struct {
	UnsealKeys []string `json:"unseal_keys_b64"`
	RootToken  string   `json:"root_token"`
}

// StartVault starts Vault, initialises it the first time (one key share), unseals it,
// and configures what the cloudspace needs.
func StartVault(cfg VaultConfig) (*Vault, error) {
	if err := freePorts(&cfg.Port, &cfg.ClusterPort); err != nil {
		return nil, err
	}
	storage := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	b := f.Body()
	set(b, map[string]cty.Value{
		"api_addr":      str(cfg.TLS.scheme() + "://" + addr(cfg.Port)),
		"cluster_addr":  str("https://" + addr(cfg.ClusterPort)),
		"disable_mlock": cty.True,
		"ui":            cty.False,
		"log_level":     str("info"),
	})
	set(block(b, "storage", "file"), map[string]cty.Value{"path": str(storage)})
	listener := map[string]cty.Value{
		"address":         str(addr(cfg.Port)),
		"cluster_address": str(addr(cfg.ClusterPort)),
		"tls_disable":     cty.True,
	}
	if cfg.TLS != nil {
		listener["tls_disable"] = cty.False
		listener["tls_cert_file"], listener["tls_key_file"] = str(cfg.TLS.CertFile), str(cfg.TLS.KeyFile)
	}
	set(block(b, "listener", "tcp"), listener)
	conf := filepath.Join(cfg.DataDir, "vault.hcl")
	if err := writeHCL(conf, f); err != nil {
		return nil, err
	}
	p, err := StartProcess("vault", cfg.Log, cfg.Binary, []string{"server", "-config", conf}, nil)
	if err != nil {
		return nil, err
	}
	v := &Vault{Addr: cfg.TLS.scheme() + "://" + addr(cfg.Port), TLS: cfg.TLS, proc: p, keysFile: filepath.Join(cfg.DataDir, "keys.json")}
	if err := v.bringUp(); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return v, nil
}

func (v *Vault) client(token string) (*vaultapi.Client, error) {
	conf := vaultapi.DefaultConfig()
	conf.Address = v.Addr
	conf.Timeout = 10 * time.Second
	if v.TLS != nil {
		if err := conf.ConfigureTLS(&vaultapi.TLSConfig{CACert: v.TLS.CAFile}); err != nil {
			return nil, err
		}
	}
	c, err := vaultapi.NewClient(conf)
	if err != nil {
		return nil, err
	}
	c.SetToken(token)
	return c, nil
}

func (v *Vault) bringUp() error {
	c, err := v.client("")
	if err != nil {
		return err
	}
	var inited bool
	if err := waitFor("vault listener", 30*time.Second, v.proc, func() error {
		inited, err = c.Sys().InitStatus()
		return err
	}); err != nil {
		return err
	}
	keys, err := v.initialise(c, inited)
	if err != nil {
		return err
	}
	if _, err := c.Sys().Unseal(keys.UnsealKeys[0]); err != nil {
		return fmt.Errorf("unseal vault: %w", err)
	}
	if err := waitFor("vault active", 30*time.Second, v.proc, func() error {
		h, err := c.Sys().Health()
		if err != nil {
			return err
		}
		if h.Sealed || h.Standby {
			return errors.New("sealed or standby")
		}
		return nil
	}); err != nil {
		return err
	}
	v.RootToken = keys.RootToken
	return v.configure()
}

func (v *Vault) initialise(c *vaultapi.Client, inited bool) (vaultKeys, error) {
	var keys vaultKeys
	if inited {
		b, err := os.ReadFile(v.keysFile)
		if err != nil {
			return keys, fmt.Errorf("vault is initialised but its keys are unreadable: %w", err)
		}
		if err := json.Unmarshal(b, &keys); err != nil || len(keys.UnsealKeys) == 0 {
			return keys, fmt.Errorf("vault keys file %s is damaged", v.keysFile)
		}
		return keys, nil
	}
	resp, err := c.Sys().Init(&vaultapi.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		return keys, fmt.Errorf("initialise vault: %w", err)
	}
	keys = vaultKeys{UnsealKeys: resp.KeysB64, RootToken: resp.RootToken}
	b, _ := json.Marshal(keys)
	if err := os.WriteFile(v.keysFile, b, 0o600); err != nil {
		return keys, err
	}
	return keys, nil
}

// configure is idempotent: every run writes the same mounts, policies and role, and
// makes fresh periodic tokens for Nomad and wharfd.
func (v *Vault) configure() error {
	c, err := v.client(v.RootToken)
	if err != nil {
		return err
	}
	mounts, err := c.Sys().ListMounts()
	if err != nil {
		return fmt.Errorf("list vault mounts: %w", err)
	}
	if _, ok := mounts["secret/"]; !ok {
		if err := c.Sys().Mount("secret", &vaultapi.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
			return fmt.Errorf("mount kv v2: %w", err)
		}
	}
	if err := c.Sys().PutPolicy("nomad-server", nomadServerPolicy); err != nil {
		return fmt.Errorf("write nomad-server policy: %w", err)
	}
	if err := c.Sys().PutPolicy("wharfd", WharfdPolicy); err != nil {
		return fmt.Errorf("write wharfd policy: %w", err)
	}
	if err := c.Sys().PutPolicy(IngressPolicy, ingressPolicy); err != nil {
		return fmt.Errorf("write %s policy: %w", IngressPolicy, err)
	}
	if _, err := c.Logical().Write("auth/token/roles/"+NomadTokenRole, map[string]any{
		"allowed_policies_glob":  []string{EnvPolicyGlob, BackupPolicyGlob, BuildPolicyGlob, IngressPolicy},
		"disallowed_policies":    []string{"nomad-server", "wharfd", "root"},
		"orphan":                 true,
		"token_period":           "72h",
		"renewable":              true,
		"token_explicit_max_ttl": 0,
	}); err != nil {
		return fmt.Errorf("write token role: %w", err)
	}
	if v.NomadToken, err = periodicToken(c, "nomad-server"); err != nil {
		return err
	}
	if v.WharfdToken, err = periodicToken(c, "wharfd"); err != nil {
		return err
	}
	// KV v2 takes a moment after mounting before it accepts writes.
	return waitFor("vault kv v2", 30*time.Second, v.proc, func() error {
		_, err := c.Logical().Read("secret/config")
		return err
	})
}

func periodicToken(c *vaultapi.Client, policy string) (string, error) {
	s, err := c.Auth().Token().CreateOrphan(&vaultapi.TokenCreateRequest{
		Policies:    []string{policy},
		Period:      "72h",
		DisplayName: policy,
		NoParent:    true,
	})
	if err != nil {
		return "", fmt.Errorf("create %s token: %w", policy, err)
	}
	return s.Auth.ClientToken, nil
}

// PutIngressConsulToken keeps the ingress's Consul token where its job reads it
// (IngressSecretPath), beside what else is kept there.
func (v *Vault) PutIngressConsulToken(token string) error {
	c, err := v.client(v.RootToken)
	if err != nil {
		return err
	}
	data := map[string]any{}
	if s, err := c.KVv2("secret").Get(context.Background(), IngressSecretPath); err == nil && s != nil {
		maps.Copy(data, s.Data)
	}
	data["consul_token"] = token
	if _, err := c.KVv2("secret").Put(context.Background(), IngressSecretPath, data); err != nil {
		return fmt.Errorf("keep the ingress's consul token in vault: %w", err)
	}
	return nil
}

// Client returns a Vault client authenticated with the root token, for tests and setup.
func (v *Vault) Client() (*vaultapi.Client, error) { return v.client(v.RootToken) }

// Stop stops the server.
func (v *Vault) Stop() error { return v.proc.Stop(15 * time.Second) }

// Exited is closed when the server has ended.
func (v *Vault) Exited() <-chan struct{} { return v.proc.Exited() }
