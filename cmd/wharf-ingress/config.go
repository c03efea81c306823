package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsimple"

	"github.com/wharf-platform/wharf/internal/cmdconfig"
	"github.com/wharf-platform/wharf/platform"
)

// Config is wharf-ingress's configuration. It comes from, in rising precedence:
// defaults, an HCL file (-config or WHARF_INGRESS_CONFIG), WHARF_* environment variables,
// and flags.
type Config struct {
	Cloudspace string
	HTTP       string // plain HTTP listener: ACME challenges, redirects, routes
	HTTPS      string // TLS listener; empty serves no HTTPS
	Admin      string // /metrics and /health
	// TasksHTTP is a second plain HTTP listener, for the node's tasks where they do not
	// reach HTTP's address: the local cloudspace's task bridge gateway. Empty: none.
	TasksHTTP string
	AddrFile  string // when set, the bound addresses are written here as JSON
	LogLevel  slog.Level
	LogFormat string
	AccessLog bool

	ConsulAddr  string
	ConsulToken platform.Secret
	// ConsulTokenFile is read at start when ConsulToken is empty.
	ConsulTokenFile string
	// ConsulTLS verifies a Consul reached over HTTPS (with any of it set) and gives the
	// ingress's client certificate where Consul requires one.
	ConsulTLS    platform.TLSFiles
	RoutesPrefix string
	CheckFilter  string // a Consul filter on the checks watched

	ACMEDirectory string // the ACME server; Let's Encrypt's when HTTPS is on and it is empty
	ACMEEmail     string
	ACMECAFile    string // extra roots to trust the ACME server with (a test CA)
	// CacheKey seals the certificate cache in Consul (32 bytes, hex in the environment or
	// in CacheKeyFile).
	CacheKey     platform.Secret
	CacheKeyFile string
}

func defaultConfig() Config {
	return Config{
		Cloudspace:   "local",
		HTTP:         ":80",
		Admin:        "127.0.0.1:9102",
		LogLevel:     slog.LevelInfo,
		LogFormat:    "json",
		AccessLog:    true,
		ConsulAddr:   "127.0.0.1:8500",
		RoutesPrefix: "wharf/routes/",
	}
}

// fileConfig is the HCL file's shape:
//
//	cloudspace = "local"
//	log_level  = "info"
//	access_log = true
//	listen { http = ":80"  https = ":443"  admin = "127.0.0.1:9102" }
//	consul { address = "127.0.0.1:8500"  token_file = "/etc/wharf/consul-token"  routes_prefix = "wharf/routes/" }
//	acme   { directory = "https://..."  email = "ops@example.com"  cache_key_file = "/secrets/cache-key" }
type fileConfig struct {
	Cloudspace *string `hcl:"cloudspace,optional"`
	LogLevel   *string `hcl:"log_level,optional"`
	LogFormat  *string `hcl:"log_format,optional"`
	AccessLog  *bool   `hcl:"access_log,optional"`
	Listen     *struct {
		HTTP  *string `hcl:"http,optional"`
		HTTPS *string `hcl:"https,optional"`
		Tasks *string `hcl:"tasks_http,optional"`
		Admin *string `hcl:"admin,optional"`
	} `hcl:"listen,block"`
	Consul *struct {
		Address      *string `hcl:"address,optional"`
		Token        *string `hcl:"token,optional"`
		TokenFile    *string `hcl:"token_file,optional"`
		RoutesPrefix *string `hcl:"routes_prefix,optional"`
		CheckFilter  *string `hcl:"check_filter,optional"`
		// ca_file, cert_file, key_file, tls_server_name: Consul over HTTPS.
		CAFile        *string `hcl:"ca_file,optional"`
		CertFile      *string `hcl:"cert_file,optional"`
		KeyFile       *string `hcl:"key_file,optional"`
		TLSServerName *string `hcl:"tls_server_name,optional"`
	} `hcl:"consul,block"`
	ACME *struct {
		Directory    *string `hcl:"directory,optional"`
		Email        *string `hcl:"email,optional"`
		CAFile       *string `hcl:"ca_file,optional"`
		CacheKeyFile *string `hcl:"cache_key_file,optional"`
	} `hcl:"acme,block"`
}

// setting is one option of wharf-ingress's (see internal/cmdconfig).
type setting = cmdconfig.Setting[Config]

var (
	opt = cmdconfig.Opt[Config]
	str = cmdconfig.String[Config]
)

// settings lists every option. Secrets have no flag: a flag shows in the process list.
var settings = slices.Concat([]setting{
	opt("WHARF_CLOUDSPACE", "cloudspace", "the cloudspace whose routes to serve", str(func(c *Config) *string { return &c.Cloudspace })),
	opt("WHARF_INGRESS_HTTP", "http", "plain HTTP listen address (host:port)", str(func(c *Config) *string { return &c.HTTP })),
	opt("WHARF_INGRESS_HTTPS", "https", "HTTPS listen address (host:port); empty: no HTTPS", str(func(c *Config) *string { return &c.HTTPS })),
	opt("WHARF_INGRESS_TASKS_HTTP", "tasks-http", "plain HTTP listen address for the node's tasks (the task bridge's gateway, host:port); empty: none", str(func(c *Config) *string { return &c.TasksHTTP })),
	opt("WHARF_INGRESS_ADMIN", "admin", "metrics and health listen address (host:port)", str(func(c *Config) *string { return &c.Admin })),
	opt("", "addr-file", "write the bound addresses here as JSON once listening", str(func(c *Config) *string { return &c.AddrFile })),
	opt("WHARF_LOG_LEVEL", "log-level", "debug, info, warn or error", func(c *Config, v string) error { return c.LogLevel.UnmarshalText([]byte(v)) }),
	opt("WHARF_LOG_FORMAT", "log-format", "json or text", func(c *Config, v string) error {
		if v != "json" && v != "text" {
			return fmt.Errorf("log format %q is neither json nor text", v)
		}
		c.LogFormat = v
		return nil
	}),
	opt("WHARF_INGRESS_ACCESS_LOG", "access-log", "log every request (true or false)", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		c.AccessLog = b
		return err
	}),
	opt("WHARF_CONSUL_ADDR", "consul-addr", "Consul HTTP address (host:port)", str(func(c *Config) *string { return &c.ConsulAddr })),
	opt("WHARF_CONSUL_TOKEN", "", "", func(c *Config, v string) error { c.ConsulToken = platform.Secret(v); return nil }),
	opt("WHARF_CONSUL_TOKEN_FILE", "consul-token-file", "file holding the ingress's Consul ACL token", str(func(c *Config) *string { return &c.ConsulTokenFile })),
	opt("WHARF_INGRESS_ROUTES_PREFIX", "routes-prefix", "Consul KV prefix of the route records", str(func(c *Config) *string { return &c.RoutesPrefix })),
	opt("WHARF_INGRESS_CHECK_FILTER", "check-filter", "Consul filter expression on the checks watched (node checks must pass it)", str(func(c *Config) *string { return &c.CheckFilter })),
	opt("WHARF_ACME_DIRECTORY", "acme-directory", "ACME directory URL (Let's Encrypt's by default)", str(func(c *Config) *string { return &c.ACMEDirectory })),
	opt("WHARF_ACME_EMAIL", "acme-email", "ACME account contact", str(func(c *Config) *string { return &c.ACMEEmail })),
	opt("WHARF_ACME_CA_FILE", "acme-ca-file", "PEM roots to trust the ACME server with", str(func(c *Config) *string { return &c.ACMECAFile })),
	opt("WHARF_INGRESS_CACHE_KEY", "", "", func(c *Config, v string) error { c.CacheKey = platform.Secret(v); return nil }),
	opt("WHARF_INGRESS_CACHE_KEY_FILE", "cache-key-file", "file holding the certificate cache key (64 hex digits)", str(func(c *Config) *string { return &c.CacheKeyFile })),
}, cmdconfig.TLSSettings("consul", func(c *Config) *platform.TLSFiles { return &c.ConsulTLS }))

// loadConfig builds the configuration from arguments and the environment (as
// os.Environ gives it), reading the files they name.
func loadConfig(args, environ []string, usage io.Writer) (Config, error) {
	cfg := defaultConfig()
	if err := cmdconfig.Load("wharf-ingress", args, environ, usage, "WHARF_INGRESS_CONFIG", settings, &cfg, applyFile); err != nil {
		return cfg, err
	}
	if err := cmdconfig.FromFile(&cfg.ConsulToken, cfg.ConsulTokenFile, "consul token"); err != nil {
		return cfg, err
	}
	if err := cmdconfig.FromFile(&cfg.CacheKey, cfg.CacheKeyFile, "cache key"); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

func applyFile(cfg *Config, path string, idx cmdconfig.Index[Config]) error {
	var f fileConfig
	if err := hclsimple.DecodeFile(path, nil, &f); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	pair, byEnv, byFlag := cmdconfig.V[Config], idx.ByEnv, idx.ByFlag
	pairs := []cmdconfig.Value[Config]{pair(f.Cloudspace, byEnv["WHARF_CLOUDSPACE"]), pair(f.LogLevel, byEnv["WHARF_LOG_LEVEL"]), pair(f.LogFormat, byEnv["WHARF_LOG_FORMAT"])}
	if l := f.Listen; l != nil {
		pairs = append(pairs, pair(l.HTTP, byFlag["http"]), pair(l.HTTPS, byFlag["https"]), pair(l.Tasks, byFlag["tasks-http"]), pair(l.Admin, byFlag["admin"]))
	}
	if c := f.Consul; c != nil {
		pairs = append(pairs, pair(c.Address, byEnv["WHARF_CONSUL_ADDR"]), pair(c.Token, byEnv["WHARF_CONSUL_TOKEN"]), pair(c.TokenFile, byEnv["WHARF_CONSUL_TOKEN_FILE"]), pair(c.RoutesPrefix, byFlag["routes-prefix"]), pair(c.CheckFilter, byFlag["check-filter"]))
		pairs = append(pairs, cmdconfig.TLSValues(idx, "consul", c.CAFile, c.CertFile, c.KeyFile, c.TLSServerName)...)
	}
	if a := f.ACME; a != nil {
		pairs = append(pairs, pair(a.Directory, byFlag["acme-directory"]), pair(a.Email, byFlag["acme-email"]),
			pair(a.CAFile, byFlag["acme-ca-file"]), pair(a.CacheKeyFile, byFlag["cache-key-file"]))
	}
	if err := cmdconfig.ApplyValues(cfg, path, pairs...); err != nil {
		return err
	}
	if f.AccessLog != nil {
		cfg.AccessLog = *f.AccessLog
	}
	return nil
}

// cacheKey decodes the certificate cache key.
func (c Config) cacheKey() ([]byte, error) {
	k, err := hex.DecodeString(c.CacheKey.Reveal())
	if err != nil || len(k) != 32 {
		return nil, errors.New("the certificate cache key must be 64 hex digits (32 bytes)")
	}
	return k, nil
}

func (c Config) validate() error {
	var errs []error
	for name, v := range map[string]string{"http": c.HTTP, "https": c.HTTPS, "admin": c.Admin, "tasks": c.TasksHTTP} {
		if v == "" && name != "https" && name != "tasks" {
			errs = append(errs, fmt.Errorf("the %s listen address is empty", name))
		} else if _, _, err := net.SplitHostPort(v); v != "" && err != nil {
			errs = append(errs, fmt.Errorf("%s listen address %q: %w", name, v, err))
		}
	}
	if c.Cloudspace == "" || strings.Contains(c.Cloudspace, "/") {
		errs = append(errs, fmt.Errorf("cloudspace %q is empty or holds a slash", c.Cloudspace))
	}
	if c.ConsulAddr == "" {
		errs = append(errs, errors.New("consul address is empty"))
	}
	if err := cmdconfig.CheckTLS("consul", c.ConsulTLS); err != nil {
		errs = append(errs, err)
	}
	if c.HTTPS != "" {
		if _, err := c.cacheKey(); err != nil {
			errs = append(errs, fmt.Errorf("HTTPS is on: %w", err))
		}
	}
	return errors.Join(errs...)
}
