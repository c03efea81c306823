package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsimple"

	"github.com/wharf-platform/wharf/internal/cmdconfig"
	"github.com/wharf-platform/wharf/platform"
)

// Config is wharfd's configuration. It comes from, in rising precedence: defaults, an HCL
// file (-config or WHARF_CONFIG), WHARF_* environment variables, and flags.
type Config struct {
	Listen    string
	AddrFile  string // when set, the bound address is written here once listening
	LogLevel  slog.Level
	LogFormat string // json or text

	ConsulAddr  string
	ConsulToken platform.Secret
	// ConsulTokenFile is read at start when ConsulToken is empty.
	ConsulTokenFile string
	// ConsulTLS, NomadTLS and VaultTLS verify agents reached over HTTPS (Consul: with
	// any of them set) and give wharfd's client certificate where they require one.
	ConsulTLS, NomadTLS, VaultTLS platform.TLSFiles
	NomadAddr                     string
	NomadRegion                   string
	NomadToken                    platform.Secret
	// NomadTokenFile is read at start when NomadToken is empty.
	NomadTokenFile string
	// NomadNetworkMode is the network mode of application tasks' groups: "bridge" (the
	// default: each instance in a network namespace of its own on the node's task
	// bridge, fenced off from the node's agents) or "host".
	NomadNetworkMode string
	// Deploy times a rollout: how long an instance must pass its checks, how long it may
	// take to, and how long a whole rollout may take to progress.
	DeployMinHealthyTime, DeployHealthyDeadline, DeployProgressDeadline string
	VaultAddr                                                           string
	VaultToken                                                          platform.Secret
	// VaultTokenFile is read at start when VaultToken is empty.
	VaultTokenFile string
	RegistryAddr   string
	// RegistryTokenKeyFile is wharfd's registry token key (an EC P-256 key and its
	// certificate, PEM, 0600): with it the registry's token authentication has wharfd
	// as issuer, and wharfd serves its realm (/v1/registry/token); without it the
	// registry is taken to be open. RegistryTokenIssuer and RegistryTokenService must
	// equal the registry's auth.token issuer and service.
	RegistryTokenKeyFile, RegistryTokenIssuer, RegistryTokenService string
	// BuilderBinary is the path of wharf-builder on the builder nodes; BuildTimeLimit
	// stops a build that runs longer.
	BuilderBinary  string
	BuildTimeLimit string
	// BuildNetwork is the Docker network of builds' RUN steps: "none" by default; an
	// operator's own network with no route to the node, for builds that need egress.
	BuildNetwork string
	// BuildGitLocalHosts are the git hosts (host:port) builds may clone from over
	// http:// or on the builder's own networks; none by default (https:// elsewhere).
	BuildGitLocalHosts []string
	// AllowedImages are the images, beyond an organisation's own in the cloudspace's
	// registry, that environments may deploy: registry hosts or repositories; none by
	// default.
	AllowedImages []string

	// PostgresAddr is the cloudspace's PostgreSQL cluster (host:port) where database
	// service instances are made; empty when it has none. PostgresAdminUser and its
	// password (read from PostgresAdminPasswordFile at start when not given) are the
	// superuser wharfd and Vault's database engine manage it as.
	PostgresAddr              string
	PostgresAdminUser         string
	PostgresAdminPassword     platform.Secret
	PostgresAdminPasswordFile string
	// DatabaseCredsTTL and DatabaseCredsMaxTTL bound the database credentials Vault
	// issues to instances: renewed while they run, reissued after the maximum.
	DatabaseCredsTTL, DatabaseCredsMaxTTL string
	// BackupSchedule is when every database service instance is backed up (cron, UTC);
	// BackupInterval is how often wharfd keeps the periodic backup jobs in step and
	// collects their dumps.
	BackupSchedule, BackupInterval string

	// ObjectStoreEndpoint is the cloudspace's S3-compatible object store (a URL) where
	// storage service instances' buckets are made; empty when it has none.
	// ObjectStoreAccessKey and its secret (read from ObjectStoreSecretKeyFile at start
	// when not given) are the store's admin account. ObjectStorePublicURL is where its
	// public objects are served (the endpoint when empty).
	ObjectStoreEndpoint      string
	ObjectStoreRegion        string
	ObjectStoreAccessKey     string
	ObjectStoreSecretKey     platform.Secret
	ObjectStoreSecretKeyFile string
	ObjectStorePublicURL     string
	// MetricsDir is where this wharfd keeps environments' metrics (a Prometheus TSDB);
	// empty: it keeps none, and serves none. MetricsIngress are the URLs of the
	// ingresses' Prometheus metrics it samples; MetricsRetention is how long samples are
	// kept (48h at least 24h).
	MetricsDir       string
	MetricsIngress   []string
	MetricsRetention string
}

func defaultConfig() Config {
	return Config{
		Listen:       "127.0.0.1:8080",
		LogLevel:     slog.LevelInfo,
		LogFormat:    "json",
		ConsulAddr:   "127.0.0.1:8500",
		NomadAddr:    "http://127.0.0.1:4646",
		NomadRegion:  "local",
		VaultAddr:    "http://127.0.0.1:8200",
		RegistryAddr: "127.0.0.1:5000",

		RegistryTokenIssuer:  "wharfd",
		RegistryTokenService: "wharf-registry",

		PostgresAdminUser:   "postgres",
		DatabaseCredsTTL:    "1h",
		DatabaseCredsMaxTTL: "24h",
		BackupSchedule:      platform.DefaultBackupSchedule,
		BackupInterval:      "5m",
		ObjectStoreRegion:   "us-east-1",
		MetricsRetention:    "48h",
	}
}

// fileConfig is the HCL file's shape:
//
//	listen    = "127.0.0.1:8080"
//	log_level = "info"
//	consul   { address = "127.0.0.1:8500"  token_file = "/etc/wharf/consul-token" }
//	nomad    { address = "http://127.0.0.1:4646"  region = "local"  token_file = "/etc/wharf/nomad-token" }
//	vault    { address = "http://127.0.0.1:8200"  token_file = "/etc/wharf/vault-token" }
//	registry { address = "127.0.0.1:5000"  token_key_file = "/etc/wharf/registry-token.pem"  token_issuer = "wharfd"  token_service = "wharf-registry" }
//
// Each of consul, nomad and vault also takes ca_file, cert_file, key_file and
// tls_server_name for an agent reached over HTTPS.
//
//	postgres { address = "127.0.0.1:5432"  admin_user = "postgres"  admin_password_file = "/etc/wharf/postgres-password" }
//	object_store { endpoint = "http://127.0.0.1:7070"  access_key = "wharf-root"  secret_key_file = "/etc/wharf/objectstore-secret-key" }
//	metrics  { dir = "/var/lib/wharf/metrics"  ingress = ["http://127.0.0.1:9102/metrics"]  retention = "48h" }
type fileConfig struct {
	Listen    *string `hcl:"listen,optional"`
	LogLevel  *string `hcl:"log_level,optional"`
	LogFormat *string `hcl:"log_format,optional"`
	Consul    *struct {
		Address       *string `hcl:"address,optional"`
		Token         *string `hcl:"token,optional"`
		TokenFile     *string `hcl:"token_file,optional"`
		CAFile        *string `hcl:"ca_file,optional"`
		CertFile      *string `hcl:"cert_file,optional"`
		KeyFile       *string `hcl:"key_file,optional"`
		TLSServerName *string `hcl:"tls_server_name,optional"`
	} `hcl:"consul,block"`
	Nomad *struct {
		Address       *string `hcl:"address,optional"`
		Region        *string `hcl:"region,optional"`
		Token         *string `hcl:"token,optional"`
		TokenFile     *string `hcl:"token_file,optional"`
		CAFile        *string `hcl:"ca_file,optional"`
		CertFile      *string `hcl:"cert_file,optional"`
		KeyFile       *string `hcl:"key_file,optional"`
		TLSServerName *string `hcl:"tls_server_name,optional"`
		// NetworkMode is the network mode of application tasks' groups.
		NetworkMode *string `hcl:"network_mode,optional"`
	} `hcl:"nomad,block"`
	Deploy *struct {
		MinHealthyTime   *string   `hcl:"min_healthy_time,optional"`
		HealthyDeadline  *string   `hcl:"healthy_deadline,optional"`
		ProgressDeadline *string   `hcl:"progress_deadline,optional"`
		AllowedImages    *[]string `hcl:"allowed_images,optional"`
	} `hcl:"deploy,block"`
	Vault *struct {
		Address       *string `hcl:"address,optional"`
		Token         *string `hcl:"token,optional"`
		TokenFile     *string `hcl:"token_file,optional"`
		CAFile        *string `hcl:"ca_file,optional"`
		CertFile      *string `hcl:"cert_file,optional"`
		KeyFile       *string `hcl:"key_file,optional"`
		TLSServerName *string `hcl:"tls_server_name,optional"`
	} `hcl:"vault,block"`
	Registry *struct {
		Address      *string `hcl:"address,optional"`
		TokenKeyFile *string `hcl:"token_key_file,optional"`
		TokenIssuer  *string `hcl:"token_issuer,optional"`
		TokenService *string `hcl:"token_service,optional"`
	} `hcl:"registry,block"`
	Build *struct {
		Builder       *string   `hcl:"builder,optional"`
		TimeLimit     *string   `hcl:"time_limit,optional"`
		Network       *string   `hcl:"network,optional"`
		GitLocalHosts *[]string `hcl:"git_local_hosts,optional"`
	} `hcl:"build,block"`
	Postgres *struct {
		Address           *string `hcl:"address,optional"`
		AdminUser         *string `hcl:"admin_user,optional"`
		AdminPassword     *string `hcl:"admin_password,optional"`
		AdminPasswordFile *string `hcl:"admin_password_file,optional"`
		CredsTTL          *string `hcl:"credentials_ttl,optional"`
		CredsMaxTTL       *string `hcl:"credentials_max_ttl,optional"`
		BackupSchedule    *string `hcl:"backup_schedule,optional"`
		BackupInterval    *string `hcl:"backup_interval,optional"`
	} `hcl:"postgres,block"`
	ObjectStore *struct {
		Endpoint      *string `hcl:"endpoint,optional"`
		Region        *string `hcl:"region,optional"`
		AccessKey     *string `hcl:"access_key,optional"`
		SecretKey     *string `hcl:"secret_key,optional"`
		SecretKeyFile *string `hcl:"secret_key_file,optional"`
		PublicURL     *string `hcl:"public_url,optional"`
	} `hcl:"object_store,block"`
	Metrics *struct {
		Dir       *string   `hcl:"dir,optional"`
		Ingress   *[]string `hcl:"ingress,optional"`
		Retention *string   `hcl:"retention,optional"`
	} `hcl:"metrics,block"`
}

// setting is one option of wharfd's (see internal/cmdconfig).
type setting = cmdconfig.Setting[Config]

var (
	opt      = cmdconfig.Opt[Config]
	str      = cmdconfig.String[Config]
	duration = cmdconfig.Duration[Config]
)

// list sets a comma-separated list, its items trimmed and empty ones dropped.
func list(p func(*Config) *[]string) func(*Config, string) error {
	return func(c *Config, v string) error {
		var items []string
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		*p(c) = items
		return nil
	}
}

// httpURL sets an http(s) URL of a host (a path is allowed, a query is not).
func httpURL(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("%q is not an http(s) URL of a host", v)
		}
		*p(c) = strings.TrimRight(v, "/")
		return nil
	}
}

// joined is an HCL list as a list setting's text.
func joined(l *[]string) *string {
	if l == nil {
		return nil
	}
	s := strings.Join(*l, ",")
	return &s
}

func secret(p func(*Config) *platform.Secret) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = platform.Secret(v); return nil }
}

// settings lists every option. Tokens have no flag: a flag shows in the process list.
var settings = slices.Concat([]setting{
	opt("WHARF_LISTEN", "listen", "address to serve the API on (host:port; port 0 picks one)", str(func(c *Config) *string { return &c.Listen })),
	opt("", "addr-file", "write the bound address to this file once listening", str(func(c *Config) *string { return &c.AddrFile })),
	opt("WHARF_LOG_LEVEL", "log-level", "debug, info, warn or error", func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }),
	opt("WHARF_LOG_FORMAT", "log-format", "json or text", func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return fmt.Errorf("log format %q is neither json nor text", v)
		}
		c.LogFormat = v
		return nil
	}),
	opt("WHARF_CONSUL_ADDR", "consul-addr", "Consul HTTP address (host:port)", str(func(c *Config) *string { return &c.ConsulAddr })),
	opt("WHARF_CONSUL_TOKEN", "", "", secret(func(c *Config) *platform.Secret { return &c.ConsulToken })),
	opt("WHARF_CONSUL_TOKEN_FILE", "consul-token-file", "file holding wharfd's Consul ACL token", str(func(c *Config) *string { return &c.ConsulTokenFile })),
	opt("WHARF_NOMAD_ADDR", "nomad-addr", "Nomad HTTP address (URL)", str(func(c *Config) *string { return &c.NomadAddr })),
	opt("WHARF_NOMAD_REGION", "nomad-region", "Nomad region of the local cloudspace", str(func(c *Config) *string { return &c.NomadRegion })),
	opt("WHARF_NOMAD_TOKEN", "", "", secret(func(c *Config) *platform.Secret { return &c.NomadToken })),
	opt("WHARF_NOMAD_TOKEN_FILE", "nomad-token-file", "file holding wharfd's Nomad ACL token", str(func(c *Config) *string { return &c.NomadTokenFile })),
	opt("WHARF_NOMAD_NETWORK_MODE", "nomad-network-mode", "network mode of application tasks (bridge: fenced off from the node; host)", func(c *Config, v string) error {
		if v != "bridge" && v != "host" {
			return fmt.Errorf("network mode %q is neither bridge nor host", v)
		}
		c.NomadNetworkMode = v
		return nil
	}),
	opt("WHARF_DEPLOY_MIN_HEALTHY_TIME", "deploy-min-healthy-time", "how long a new instance must pass its checks", duration(func(c *Config) *string { return &c.DeployMinHealthyTime })),
	opt("WHARF_DEPLOY_HEALTHY_DEADLINE", "deploy-healthy-deadline", "how long a new instance may take to become healthy", duration(func(c *Config) *string { return &c.DeployHealthyDeadline })),
	opt("WHARF_DEPLOY_PROGRESS_DEADLINE", "deploy-progress-deadline", "how long a rollout may go without progress", duration(func(c *Config) *string { return &c.DeployProgressDeadline })),
	opt("WHARF_VAULT_ADDR", "vault-addr", "Vault address (URL)", str(func(c *Config) *string { return &c.VaultAddr })),
	opt("WHARF_VAULT_TOKEN", "", "", secret(func(c *Config) *platform.Secret { return &c.VaultToken })),
	opt("WHARF_VAULT_TOKEN_FILE", "vault-token-file", "file holding wharfd's Vault token", str(func(c *Config) *string { return &c.VaultTokenFile })),
	opt("WHARF_REGISTRY_ADDR", "registry-addr", "image registry address (host:port)", str(func(c *Config) *string { return &c.RegistryAddr })),
	opt("WHARF_REGISTRY_TOKEN_KEY_FILE", "registry-token-key-file", "wharfd's registry token key (EC P-256 key and certificate, PEM): the registry's token issuer", str(func(c *Config) *string { return &c.RegistryTokenKeyFile })),
	opt("WHARF_REGISTRY_TOKEN_ISSUER", "registry-token-issuer", "issuer of registry tokens, as the registry's auth.token.issuer", str(func(c *Config) *string { return &c.RegistryTokenIssuer })),
	opt("WHARF_REGISTRY_TOKEN_SERVICE", "registry-token-service", "the registry's service name, as its auth.token.service", str(func(c *Config) *string { return &c.RegistryTokenService })),
	opt("WHARF_BUILDER", "builder", "path of wharf-builder on the builder nodes", func(c *Config, v string) error {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("builder path %q is not absolute", v)
		}
		c.BuilderBinary = v
		return nil
	}),
	opt("WHARF_BUILD_TIME_LIMIT", "build-time-limit", "how long a build may run", duration(func(c *Config) *string { return &c.BuildTimeLimit })),
	opt("WHARF_BUILD_NETWORK", "build-network", "Docker network of builds' RUN steps (none; or one with no route to the node's agents)", str(func(c *Config) *string { return &c.BuildNetwork })),
	opt("WHARF_BUILD_GIT_LOCAL_HOSTS", "build-git-local-hosts", "git hosts (host:port, comma-separated) builds may clone from over http or on local networks", list(func(c *Config) *[]string { return &c.BuildGitLocalHosts })),
	opt("WHARF_ALLOWED_IMAGES", "allowed-images", "images beyond an organisation's own that may be deployed (registry hosts or repositories, comma-separated)", list(func(c *Config) *[]string { return &c.AllowedImages })),
	opt("WHARF_POSTGRES_ADDR", "postgres-addr", "the cloudspace's PostgreSQL cluster (host:port), for database services", func(c *Config, v string) error {
		if _, _, err := net.SplitHostPort(v); err != nil {
			return fmt.Errorf("postgres address %q: %w", v, err)
		}
		c.PostgresAddr = v
		return nil
	}),
	opt("WHARF_POSTGRES_ADMIN_USER", "postgres-admin-user", "PostgreSQL superuser that manages database services", str(func(c *Config) *string { return &c.PostgresAdminUser })),
	opt("WHARF_POSTGRES_ADMIN_PASSWORD", "", "", secret(func(c *Config) *platform.Secret { return &c.PostgresAdminPassword })),
	opt("WHARF_POSTGRES_ADMIN_PASSWORD_FILE", "postgres-admin-password-file", "file holding the PostgreSQL superuser's password", str(func(c *Config) *string { return &c.PostgresAdminPasswordFile })),
	opt("WHARF_DATABASE_CREDS_TTL", "database-creds-ttl", "lifetime of database credentials between renewals", duration(func(c *Config) *string { return &c.DatabaseCredsTTL })),
	opt("WHARF_DATABASE_CREDS_MAX_TTL", "database-creds-max-ttl", "longest life of one database credential", duration(func(c *Config) *string { return &c.DatabaseCredsMaxTTL })),
	opt("WHARF_BACKUP_SCHEDULE", "backup-schedule", "when service instances are backed up (cron, UTC)", func(c *Config, v string) error {
		if msg := platform.CheckCronSchedule(v); msg != "" {
			return fmt.Errorf("backup schedule %q %s", v, msg)
		}
		c.BackupSchedule = v
		return nil
	}),
	opt("WHARF_OBJECT_STORE_ENDPOINT", "object-store-endpoint", "the cloudspace's S3-compatible object store (URL), for storage services", httpURL(func(c *Config) *string { return &c.ObjectStoreEndpoint })),
	opt("WHARF_OBJECT_STORE_REGION", "object-store-region", "the object store's S3 region", str(func(c *Config) *string { return &c.ObjectStoreRegion })),
	opt("WHARF_OBJECT_STORE_ACCESS_KEY", "object-store-access-key", "access key id of the object store's admin account", str(func(c *Config) *string { return &c.ObjectStoreAccessKey })),
	opt("WHARF_OBJECT_STORE_SECRET_KEY", "", "", secret(func(c *Config) *platform.Secret { return &c.ObjectStoreSecretKey })),
	opt("WHARF_OBJECT_STORE_SECRET_KEY_FILE", "object-store-secret-key-file", "file holding the object store admin account's secret key", str(func(c *Config) *string { return &c.ObjectStoreSecretKeyFile })),
	opt("WHARF_OBJECT_STORE_PUBLIC_URL", "object-store-public-url", "URL the object store's public objects are served under (the endpoint by default)", httpURL(func(c *Config) *string { return &c.ObjectStorePublicURL })),
	opt("WHARF_BACKUP_INTERVAL", "backup-interval", "how often periodic backup jobs are kept in step and their dumps collected", duration(func(c *Config) *string { return &c.BackupInterval })),
	opt("WHARF_METRICS_DIR", "metrics-dir", "directory of the metrics store (empty: no metrics)", str(func(c *Config) *string { return &c.MetricsDir })),
	opt("WHARF_METRICS_INGRESS", "metrics-ingress", "URLs of the ingresses' Prometheus metrics to sample (comma-separated)", list(func(c *Config) *[]string { return &c.MetricsIngress })),
	opt("WHARF_METRICS_RETENTION", "metrics-retention", "how long metrics are kept (at least 24h)", func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 24*time.Hour {
			return fmt.Errorf("metrics retention %q is not a duration of at least 24h", v)
		}
		c.MetricsRetention = v
		return nil
	}),
},
	cmdconfig.TLSSettings("consul", func(c *Config) *platform.TLSFiles { return &c.ConsulTLS }),
	cmdconfig.TLSSettings("nomad", func(c *Config) *platform.TLSFiles { return &c.NomadTLS }),
	cmdconfig.TLSSettings("vault", func(c *Config) *platform.TLSFiles { return &c.VaultTLS }),
)

// loadConfig builds the configuration from arguments and the environment (as
// os.Environ gives it), reading the HCL file they name. It returns a readable error for
// any bad value.
func loadConfig(args, environ []string, usage io.Writer) (Config, error) {
	cfg := defaultConfig()
	if err := cmdconfig.Load("wharfd", args, environ, usage, "WHARF_CONFIG", settings, &cfg, applyFile); err != nil {
		return cfg, err
	}
	for _, f := range []struct {
		secret     *platform.Secret
		path, what string
	}{
		{&cfg.ConsulToken, cfg.ConsulTokenFile, "consul token"},
		{&cfg.NomadToken, cfg.NomadTokenFile, "nomad token"},
		{&cfg.VaultToken, cfg.VaultTokenFile, "vault token"},
		{&cfg.PostgresAdminPassword, cfg.PostgresAdminPasswordFile, "postgres admin password"},
		{&cfg.ObjectStoreSecretKey, cfg.ObjectStoreSecretKeyFile, "object store secret key"},
	} {
		if err := cmdconfig.FromFile(f.secret, f.path, f.what); err != nil {
			return cfg, err
		}
	}
	return cfg, cfg.validate()
}

func applyFile(cfg *Config, path string, idx cmdconfig.Index[Config]) error {
	var f fileConfig
	if err := hclsimple.DecodeFile(path, nil, &f); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	pair := cmdconfig.V[Config]
	byEnv := idx.ByEnv
	pairs := []cmdconfig.Value[Config]{
		pair(f.Listen, byEnv["WHARF_LISTEN"]),
		pair(f.LogLevel, byEnv["WHARF_LOG_LEVEL"]),
		pair(f.LogFormat, byEnv["WHARF_LOG_FORMAT"]),
	}
	if c := f.Consul; c != nil {
		pairs = append(pairs, pair(c.Address, byEnv["WHARF_CONSUL_ADDR"]), pair(c.Token, byEnv["WHARF_CONSUL_TOKEN"]), pair(c.TokenFile, byEnv["WHARF_CONSUL_TOKEN_FILE"]))
		pairs = append(pairs, cmdconfig.TLSValues(idx, "consul", c.CAFile, c.CertFile, c.KeyFile, c.TLSServerName)...)
	}
	if n := f.Nomad; n != nil {
		pairs = append(pairs, pair(n.Address, byEnv["WHARF_NOMAD_ADDR"]), pair(n.Region, byEnv["WHARF_NOMAD_REGION"]), pair(n.Token, byEnv["WHARF_NOMAD_TOKEN"]), pair(n.TokenFile, byEnv["WHARF_NOMAD_TOKEN_FILE"]), pair(n.NetworkMode, byEnv["WHARF_NOMAD_NETWORK_MODE"]))
		pairs = append(pairs, cmdconfig.TLSValues(idx, "nomad", n.CAFile, n.CertFile, n.KeyFile, n.TLSServerName)...)
	}
	if v := f.Vault; v != nil {
		pairs = append(pairs, pair(v.Address, byEnv["WHARF_VAULT_ADDR"]), pair(v.Token, byEnv["WHARF_VAULT_TOKEN"]), pair(v.TokenFile, byEnv["WHARF_VAULT_TOKEN_FILE"]))
		pairs = append(pairs, cmdconfig.TLSValues(idx, "vault", v.CAFile, v.CertFile, v.KeyFile, v.TLSServerName)...)
	}
	if d := f.Deploy; d != nil {
		pairs = append(pairs, pair(d.MinHealthyTime, byEnv["WHARF_DEPLOY_MIN_HEALTHY_TIME"]), pair(d.HealthyDeadline, byEnv["WHARF_DEPLOY_HEALTHY_DEADLINE"]), pair(d.ProgressDeadline, byEnv["WHARF_DEPLOY_PROGRESS_DEADLINE"]), pair(joined(d.AllowedImages), byEnv["WHARF_ALLOWED_IMAGES"]))
	}
	if r := f.Registry; r != nil {
		pairs = append(pairs, pair(r.Address, byEnv["WHARF_REGISTRY_ADDR"]), pair(r.TokenKeyFile, byEnv["WHARF_REGISTRY_TOKEN_KEY_FILE"]),
			pair(r.TokenIssuer, byEnv["WHARF_REGISTRY_TOKEN_ISSUER"]), pair(r.TokenService, byEnv["WHARF_REGISTRY_TOKEN_SERVICE"]))
	}
	if b := f.Build; b != nil {
		pairs = append(pairs, pair(b.Builder, byEnv["WHARF_BUILDER"]), pair(b.TimeLimit, byEnv["WHARF_BUILD_TIME_LIMIT"]), pair(joined(b.GitLocalHosts), byEnv["WHARF_BUILD_GIT_LOCAL_HOSTS"]), pair(b.Network, byEnv["WHARF_BUILD_NETWORK"]))
	}
	if p := f.Postgres; p != nil {
		pairs = append(pairs, pair(p.Address, byEnv["WHARF_POSTGRES_ADDR"]), pair(p.AdminUser, byEnv["WHARF_POSTGRES_ADMIN_USER"]),
			pair(p.AdminPassword, byEnv["WHARF_POSTGRES_ADMIN_PASSWORD"]), pair(p.AdminPasswordFile, byEnv["WHARF_POSTGRES_ADMIN_PASSWORD_FILE"]),
			pair(p.CredsTTL, byEnv["WHARF_DATABASE_CREDS_TTL"]), pair(p.CredsMaxTTL, byEnv["WHARF_DATABASE_CREDS_MAX_TTL"]),
			pair(p.BackupSchedule, byEnv["WHARF_BACKUP_SCHEDULE"]), pair(p.BackupInterval, byEnv["WHARF_BACKUP_INTERVAL"]))
	}
	if o := f.ObjectStore; o != nil {
		pairs = append(pairs, pair(o.Endpoint, byEnv["WHARF_OBJECT_STORE_ENDPOINT"]), pair(o.Region, byEnv["WHARF_OBJECT_STORE_REGION"]),
			pair(o.AccessKey, byEnv["WHARF_OBJECT_STORE_ACCESS_KEY"]), pair(o.SecretKey, byEnv["WHARF_OBJECT_STORE_SECRET_KEY"]),
			pair(o.SecretKeyFile, byEnv["WHARF_OBJECT_STORE_SECRET_KEY_FILE"]), pair(o.PublicURL, byEnv["WHARF_OBJECT_STORE_PUBLIC_URL"]))
	}
	if m := f.Metrics; m != nil {
		pairs = append(pairs, pair(m.Dir, byEnv["WHARF_METRICS_DIR"]), pair(joined(m.Ingress), byEnv["WHARF_METRICS_INGRESS"]), pair(m.Retention, byEnv["WHARF_METRICS_RETENTION"]))
	}
	return cmdconfig.ApplyValues(cfg, path, pairs...)
}

func (c Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	for name, v := range map[string]string{"consul address": c.ConsulAddr, "nomad address": c.NomadAddr, "vault address": c.VaultAddr, "registry address": c.RegistryAddr, "nomad region": c.NomadRegion} {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is empty", name))
		}
	}
	for agent, f := range map[string]platform.TLSFiles{"consul": c.ConsulTLS, "nomad": c.NomadTLS, "vault": c.VaultTLS} {
		if err := cmdconfig.CheckTLS(agent, f); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PostgresAddr != "" && (c.PostgresAdminUser == "" || c.PostgresAdminPassword == "") {
		errs = append(errs, errors.New("a postgres address needs an admin user and password (admin_password_file)"))
	}
	if c.ObjectStoreEndpoint != "" && (c.ObjectStoreAccessKey == "" || c.ObjectStoreSecretKey == "") {
		errs = append(errs, errors.New("an object store endpoint needs an access key and a secret key (secret_key_file)"))
	}
	if ttl, err := time.ParseDuration(c.DatabaseCredsTTL); err == nil {
		if max, err := time.ParseDuration(c.DatabaseCredsMaxTTL); err == nil && max < ttl {
			errs = append(errs, fmt.Errorf("database credentials' max TTL %s is shorter than their TTL %s", max, ttl))
		}
	}
	return errors.Join(errs...)
}
