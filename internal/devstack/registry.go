package devstack

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/registry"
)

// The registry's token authentication: wharfd is the issuer.
const (
	RegistryTokenIssuer  = "wharfd"
	RegistryTokenService = "wharf-registry"
)

// RegistryConfig configures the Docker image registry (Debian's docker-registry, the
// CNCF distribution server). A zero port is chosen free.
type RegistryConfig struct {
	Binary  string
	DataDir string // the image store and the token key; kept across restarts
	Port    int
	// TokenRealm, when set, is wharfd's token endpoint (http://host:port/v1/registry/token):
	// the registry then answers only with tokens signed by wharfd's key (made in
	// DataDir/token-key.pem, 0600, once), which is TokenKeyFile.
	TokenRealm string
	Log        LogFunc
}

// Registry is a running image registry. The Docker engine trusts registries on
// 127.0.0.0/8 without TLS, so images can be pushed to Addr as they are.
type Registry struct {
	Addr string // host:port
	// TokenKeyFile is wharfd's registry token key and certificate (0600), when the
	// registry has token authentication; TokenCertFile the certificate it trusts.
	TokenKeyFile, TokenCertFile string
	proc                        *Process
}

// StartRegistry starts the registry and returns once /v2/ answers (401 with token
// authentication).
func StartRegistry(cfg RegistryConfig) (*Registry, error) {
	if err := freePorts(&cfg.Port); err != nil {
		return nil, err
	}
	store := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr(cfg.Port)}
	conf := map[string]any{
		"version": "0.1",
		"log":     map[string]any{"level": "info"},
		"storage": map[string]any{
			"filesystem": map[string]any{"rootdirectory": store},
			"delete":     map[string]any{"enabled": true},
		},
		"http": map[string]any{"addr": addr(cfg.Port)},
	}
	ready := 200
	if cfg.TokenRealm != "" {
		r.TokenKeyFile, r.TokenCertFile = filepath.Join(cfg.DataDir, "token-key.pem"), filepath.Join(cfg.DataDir, "token-cert.pem")
		if err := registry.GenerateTokenKey(r.TokenKeyFile, r.TokenCertFile); err != nil {
			return nil, err
		}
		conf["auth"] = map[string]any{"token": map[string]any{
			"realm": cfg.TokenRealm, "service": RegistryTokenService, "issuer": RegistryTokenIssuer,
			"rootcertbundle": r.TokenCertFile,
		}}
		ready = 401
	}
	// The registry's configuration is YAML, and JSON is YAML.
	path := filepath.Join(cfg.DataDir, "config.yml")
	yml, _ := json.Marshal(conf)
	if err := os.WriteFile(path, yml, 0o600); err != nil {
		return nil, err
	}
	p, err := StartProcess("registry", cfg.Log, cfg.Binary, []string{"serve", path}, nil)
	if err != nil {
		return nil, err
	}
	r.proc = p
	if err := waitFor("registry", 30*time.Second, p, httpReady("http://"+r.Addr+"/v2/", ready)); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return r, nil
}

// WriteNodeCredential writes, 0600 at path, the Docker configuration (config.json
// form) with which the node named node in region pulls from the registry: a node
// credential signed with the token key, which wharfd's token endpoint takes for pulls
// of the images that node places or runs. Nomad's docker plugin reads it
// (auth { config = path }); a task cannot. It is valid for a year, and written afresh
// at every start.
func (r *Registry) WriteNodeCredential(path, region, node string) error {
	iss, err := registry.LoadIssuer(r.TokenKeyFile, RegistryTokenIssuer, RegistryTokenService)
	if err != nil {
		return err
	}
	cred, err := iss.Credential(platform.RegistryCredential{Kind: platform.CredentialNode, Region: region, Node: node}, 365*24*time.Hour)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{
		r.Addr: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(platform.CredentialNode + ":" + cred.Reveal()))},
	}})
	return os.WriteFile(path, b, 0o600)
}

// Stop stops the registry.
func (r *Registry) Stop() error { return r.proc.Stop(10 * time.Second) }

// Exited is closed when the registry has ended.
func (r *Registry) Exited() <-chan struct{} { return r.proc.Exited() }
