package devstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// RegistryConfig configures the Docker image registry (Debian's docker-registry, the
// CNCF distribution server). A zero port is chosen free.
type RegistryConfig struct {
	Binary  string
	DataDir string // the image store; kept across restarts
	Port    int
	Log     LogFunc
}

// Registry is a running image registry. The Docker engine trusts registries on
// 127.0.0.0/8 without TLS, so images can be pushed to Addr as they are.
type Registry struct {
	Addr string // host:port
	proc *Process
}

// StartRegistry starts the registry and returns once /v2/ answers.
func StartRegistry(cfg RegistryConfig) (*Registry, error) {
	if err := freePorts(&cfg.Port); err != nil {
		return nil, err
	}
	store := filepath.Join(cfg.DataDir, "data")
	if err := os.MkdirAll(store, 0o700); err != nil {
		return nil, err
	}
	// The registry's configuration is YAML, and JSON is YAML.
	conf := filepath.Join(cfg.DataDir, "config.yml")
	yml, _ := json.Marshal(map[string]any{
		"version": "0.1",
		"log":     map[string]any{"level": "info"},
		"storage": map[string]any{
			"filesystem": map[string]any{"rootdirectory": store},
			"delete":     map[string]any{"enabled": true},
		},
		"http": map[string]any{"addr": addr(cfg.Port)},
	})
	if err := os.WriteFile(conf, yml, 0o600); err != nil {
		return nil, err
	}
	p, err := StartProcess("registry", cfg.Log, cfg.Binary, []string{"serve", conf}, nil)
	if err != nil {
		return nil, err
	}
	r := &Registry{Addr: addr(cfg.Port), proc: p}
	if err := waitFor("registry", 30*time.Second, p, httpReady("http://"+r.Addr+"/v2/", 200)); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return r, nil
}

// Stop stops the registry.
func (r *Registry) Stop() error { return r.proc.Stop(10 * time.Second) }

// Exited is closed when the registry has ended.
func (r *Registry) Exited() <-chan struct{} { return r.proc.Exited() }
