package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/platform"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "ingress.hcl")
	os.WriteFile(file, []byte(`
cloudspace = "fra1"
log_level  = "debug"
access_log = false
listen {
  http  = ":8080"
  https = ":8443"
}
consul {
  address       = "10.0.0.1:8500"
  token_file    = "`+filepath.Join(dir, "consul-token")+`"
  routes_prefix = "custom/routes/"
  check_filter  = "ServiceID == \"\" or ServiceTags contains \"wharf\""
}
acme {
  directory = "https://acme.test/dir"
  email     = "ops@example.test"
}
`), 0o600)
	key := strings.Repeat("ab", 32)
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "consul-token"), []byte("consul-from-file\n"), 0o600)

	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		check   func(Config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c Config) bool {
			return c.HTTP == ":80" && c.HTTPS == "" && c.Cloudspace == "local" && c.AccessLog && c.RoutesPrefix == "wharf/routes/"
		}},
		{name: "file", args: []string{"-config", file}, env: []string{"WHARF_INGRESS_CACHE_KEY=" + key}, check: func(c Config) bool {
			return c.Cloudspace == "fra1" && c.HTTP == ":8080" && c.HTTPS == ":8443" && c.ConsulAddr == "10.0.0.1:8500" &&
				c.RoutesPrefix == "custom/routes/" && c.CheckFilter == `ServiceID == "" or ServiceTags contains "wharf"` && c.ACMEDirectory == "https://acme.test/dir" && !c.AccessLog && c.LogLevel == slog.LevelDebug &&
				c.ConsulToken.Reveal() == "consul-from-file"
		}},
		{name: "consul token from the environment over its file", args: []string{"-config", file}, env: []string{"WHARF_INGRESS_CACHE_KEY=" + key, "WHARF_CONSUL_TOKEN=consul-env"},
			check: func(c Config) bool { return c.ConsulToken.Reveal() == "consul-env" }},
		{name: "consul token file by flag", args: []string{"-consul-token-file", filepath.Join(dir, "consul-token")},
			check: func(c Config) bool { return c.ConsulToken.Reveal() == "consul-from-file" }},
		{name: "missing consul token file", env: []string{"WHARF_CONSUL_TOKEN_FILE=" + filepath.Join(dir, "none")}, wantErr: "consul token file"},
		{name: "consul TLS", args: []string{"-consul-ca-file", "/etc/wharf/ca.pem", "-consul-cert-file", "/etc/wharf/ingress.pem", "-consul-key-file", "/etc/wharf/ingress-key.pem"}, env: []string{"WHARF_CONSUL_TLS_SERVER_NAME=server.dc1.consul"},
			check: func(c Config) bool {
				return c.ConsulTLS == platform.TLSFiles{CAFile: "/etc/wharf/ca.pem", CertFile: "/etc/wharf/ingress.pem", KeyFile: "/etc/wharf/ingress-key.pem", ServerName: "server.dc1.consul"}
			}},
		{name: "consul key without certificate", env: []string{"WHARF_CONSUL_KEY_FILE=/etc/wharf/ingress-key.pem"}, wantErr: "consul: a client certificate"},
		{name: "environment over file", args: []string{"-config", file}, env: []string{"WHARF_CLOUDSPACE=ams1", "WHARF_INGRESS_CACHE_KEY=" + key},
			check: func(c Config) bool { return c.Cloudspace == "ams1" }},
		{name: "flag over environment", args: []string{"-cloudspace", "par1"}, env: []string{"WHARF_CLOUDSPACE=ams1"},
			check: func(c Config) bool { return c.Cloudspace == "par1" }},
		{name: "config file from environment", env: []string{"WHARF_INGRESS_CONFIG=" + file, "WHARF_INGRESS_CACHE_KEY_FILE=" + keyFile},
			check: func(c Config) bool { return c.Cloudspace == "fra1" && c.CacheKey.Reveal() == key }},
		{name: "https without a cache key", args: []string{"-https", ":443"}, wantErr: "cache key"},
		{name: "short cache key", args: []string{"-https", ":443"}, env: []string{"WHARF_INGRESS_CACHE_KEY=abcd"}, wantErr: "64 hex digits"},
		{name: "bad listen address", args: []string{"-http", "80"}, wantErr: "http listen address"},
		{name: "cloudspace with a slash", args: []string{"-cloudspace", "a/b"}, wantErr: "cloudspace"},
		{name: "bad access log", env: []string{"WHARF_INGRESS_ACCESS_LOG=maybe"}, wantErr: "WHARF_INGRESS_ACCESS_LOG"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := loadConfig(tc.args, tc.env, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}
