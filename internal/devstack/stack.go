package devstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Ports fixes the stack's ports; a zero port is chosen free.
type Ports struct {
	ConsulHTTP, ConsulSerfLAN, ConsulSerfWAN, ConsulServer int
	VaultAPI, VaultCluster                                 int
	NomadHTTP, NomadRPC, NomadSerf                         int
	Registry                                               int
	Postgres                                               int
	ObjectStore                                            int
	// Wharfd is where the stack's wharfd is to listen: the registry's token realm is
	// there (Stack.WharfdAddr).
	Wharfd int
}

// Config configures a whole local cloudspace.
type Config struct {
	Binaries Binaries
	DataDir  string // one subdirectory per agent
	Region   string // the cloudspace's Nomad region; "local" by default
	// Name sets the Consul node name and the Nomad agent and cgroup names; it must differ
	// between stacks running on one machine at once.
	Name  string
	Ports Ports
	// TLS makes Consul's, Nomad's and Vault's APIs HTTPS and Consul's and Nomad's RPC
	// mutual TLS, with an authority of the stack's own (in DataDir/tls).
	TLS bool
	// KeepPostgres keeps the PostgreSQL cluster across restarts (see PostgresConfig.Keep).
	KeepPostgres bool
	Log          LogFunc
}

// Stack is a running local cloudspace.
type Stack struct {
	// WharfdAddr (host:port) is where wharfd must listen: the registry sends its
	// clients to wharfd's token endpoint there.
	WharfdAddr string
	TLS        *TLS // nil without TLS
	Bridge     *Bridge
	Consul     *Consul
	Vault      *Vault
	Nomad      *Nomad
	Registry   *Registry
	Postgres   *Postgres
	// ObjectStore is the S3-compatible store of storage service instances.
	ObjectStore *ObjectStore
}

// Start starts Consul, Vault, the registry, the object store, PostgreSQL and Nomad wired together, and returns once
// each is ready. On failure it stops whatever it had started.
func Start(cfg Config) (_ *Stack, err error) {
	if missing := cfg.Binaries.Missing(); len(missing) > 0 {
		return nil, fmt.Errorf("missing agent binaries (run make deps): %s", strings.Join(missing, ", "))
	}
	if cfg.Name == "" {
		cfg.Name = "wharf-local"
	}
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	dir := func(name string) string { return filepath.Join(cfg.DataDir, name) }
	if cfg.TLS {
		region := cfg.Region
		if region == "" {
			region = "local"
		}
		if s.TLS, err = NewTLS(dir("tls"), "dc1", region); err != nil {
			return nil, err
		}
	}
	// Tasks run on a bridge of the stack's own, as in a real cloudspace (Bridge), so a
	// task reaches the node only where the stack lets it: PostgreSQL.
	if err = EnsurePauseImage(BaseImage); err != nil {
		return nil, err
	}
	if s.Bridge, err = StartBridge(cfg.Name, dir("bridge")); err != nil {
		return nil, err
	}
	if s.Consul, err = StartConsul(ConsulConfig{
		Binary: cfg.Binaries.Consul, DataDir: dir("consul"), Node: cfg.Name, Log: cfg.Log,
		HTTPPort: cfg.Ports.ConsulHTTP, SerfLANPort: cfg.Ports.ConsulSerfLAN,
		SerfWANPort: cfg.Ports.ConsulSerfWAN, ServerPort: cfg.Ports.ConsulServer, TLS: s.TLS,
	}); err != nil {
		return nil, err
	}
	if s.Vault, err = StartVault(VaultConfig{
		Binary: cfg.Binaries.Vault, DataDir: dir("vault"), Log: cfg.Log,
		Port: cfg.Ports.VaultAPI, ClusterPort: cfg.Ports.VaultCluster, TLS: s.TLS,
	}); err != nil {
		return nil, err
	}
	if err = s.Vault.PutIngressConsulToken(s.Consul.IngressToken); err != nil {
		return nil, err
	}
	if err = freePorts(&cfg.Ports.Wharfd); err != nil {
		return nil, err
	}
	s.WharfdAddr = addr(cfg.Ports.Wharfd)
	if s.Registry, err = StartRegistry(RegistryConfig{
		Binary: cfg.Binaries.Registry, DataDir: dir("registry"), Port: cfg.Ports.Registry, Log: cfg.Log,
		TokenRealm: "http://" + s.WharfdAddr + "/v1/registry/token",
	}); err != nil {
		return nil, err
	}
	// The node's Docker engine pulls with a node credential that only Nomad's docker
	// plugin reads.
	region := cfg.Region
	if region == "" {
		region = "local"
	}
	registryAuth := filepath.Join(dir("nomad"), "registry-auth.json")
	if err = os.MkdirAll(dir("nomad"), 0o700); err != nil {
		return nil, err
	}
	if err = s.Registry.WriteNodeCredential(registryAuth, region, cfg.Name); err != nil {
		return nil, err
	}
	if s.ObjectStore, err = StartObjectStore(ObjectStoreConfig{
		Binary: cfg.Binaries.ObjectStore, DataDir: dir("objectstore"), Port: cfg.Ports.ObjectStore, Log: cfg.Log, Bridge: s.Bridge,
	}); err != nil {
		return nil, err
	}
	if s.Postgres, err = StartPostgres(PostgresConfig{
		BinDir: cfg.Binaries.Postgres, DataDir: dir("postgres"), Port: cfg.Ports.Postgres,
		Keep: cfg.KeepPostgres, Log: cfg.Log, Bridge: s.Bridge,
	}); err != nil {
		return nil, err
	}
	if s.Nomad, err = StartNomad(NomadConfig{
		Binary: cfg.Binaries.Nomad, DataDir: dir("nomad"), Region: cfg.Region,
		Name: cfg.Name, CgroupParent: "/" + cfg.Name, Log: cfg.Log, Bridge: s.Bridge,
		HTTPPort: cfg.Ports.NomadHTTP, RPCPort: cfg.Ports.NomadRPC, SerfPort: cfg.Ports.NomadSerf,
		ConsulAddr: s.Consul.Addr, ConsulToken: s.Consul.NomadToken, TLS: s.TLS,
		VaultAddr: s.Vault.Addr, VaultToken: s.Vault.NomadToken, RegistryAuth: registryAuth,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Stop stops every agent in the reverse order of their start (see Nomad.Stop for what
// it cleans up).
func (s *Stack) Stop() error {
	var errs []error
	if s.Nomad != nil {
		errs = append(errs, s.Nomad.Stop())
	}
	if s.Postgres != nil {
		errs = append(errs, s.Postgres.Stop())
	}
	if s.ObjectStore != nil {
		errs = append(errs, s.ObjectStore.Stop())
	}
	if s.Registry != nil {
		errs = append(errs, s.Registry.Stop())
	}
	if s.Vault != nil {
		errs = append(errs, s.Vault.Stop())
	}
	if s.Consul != nil {
		errs = append(errs, s.Consul.Stop())
	}
	if s.Bridge != nil {
		// Last: Nomad.Stop removed the containers holding the tasks' namespaces.
		errs = append(errs, s.Bridge.Stop())
	}
	return errors.Join(errs...)
}
