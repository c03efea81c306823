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
	dir := t.TempDir()
	file := filepath.Join(dir, "wharfd.hcl")
	os.WriteFile(file, []byte(`
listen    = "127.0.0.1:9000"
log_level = "debug"
consul {
  address    = "127.0.0.1:18500"
  token_file = "`+filepath.Join(dir, "consul-token")+`"
}
nomad  {
  address    = "http://127.0.0.1:14646"
  region     = "eu-west"
  token_file = "`+filepath.Join(dir, "nomad-token")+`"
}
vault  { token_file = "`+filepath.Join(dir, "token")+`" }
`), 0o600)
	os.WriteFile(filepath.Join(dir, "token"), []byte("s.fromfile\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "consul-token"), []byte("consul-from-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "nomad-token"), []byte("nomad-from-file\n"), 0o600)
	pgFile := filepath.Join(dir, "pg.hcl")
	os.WriteFile(pgFile, []byte(`
postgres {
  address             = "127.0.0.1:15432"
  admin_password_file = "`+filepath.Join(dir, "pgpw")+`"
  credentials_ttl     = "10s"
}
`), 0o600)
	os.WriteFile(filepath.Join(dir, "pgpw"), []byte("pg-secret\n"), 0o600)
	tlsFile := filepath.Join(dir, "tls.hcl")
	os.WriteFile(tlsFile, []byte(`
consul {
  address         = "10.0.0.5:8501"
  ca_file         = "/etc/wharf/ca.pem"
  cert_file       = "/etc/wharf/wharfd.pem"
  key_file        = "/etc/wharf/wharfd-key.pem"
  tls_server_name = "server.dc1.consul"
}
nomad { ca_file = "/etc/wharf/nomad-ca.pem" }
vault { ca_file = "/etc/wharf/vault-ca.pem" }
`), 0o600)
	osFile := filepath.Join(dir, "os.hcl")
	os.WriteFile(osFile, []byte(`
object_store {
  endpoint        = "http://127.0.0.1:17070/"
  access_key      = "root"
  secret_key_file = "`+filepath.Join(dir, "ossecret")+`"
  public_url      = "https://media.example.net"
}
`), 0o600)
	os.WriteFile(filepath.Join(dir, "ossecret"), []byte("os-secret\n"), 0o600)
	bad := filepath.Join(dir, "bad.hcl")
	os.WriteFile(bad, []byte(`listen = `), 0o600)

	tests := []struct {
		name    string
		args    []string
		env     []string
		check   func(t *testing.T, c Config)
		wantErr string
	}{
		{name: "defaults", check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:8080" || c.NomadRegion != "local" || c.LogLevel != slog.LevelInfo {
				t.Errorf("defaults = %+v", c)
			}
		}},
		{name: "file", args: []string{"-config", file}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:9000" || c.ConsulAddr != "127.0.0.1:18500" || c.NomadRegion != "eu-west" || c.LogLevel != slog.LevelDebug {
				t.Errorf("from file = %+v", c)
			}
			if c.VaultToken.Reveal() != "s.fromfile" || c.ConsulToken.Reveal() != "consul-from-file" || c.NomadToken.Reveal() != "nomad-from-file" {
				t.Errorf("tokens from token_file: vault %q, consul %q, nomad %q", c.VaultToken.Reveal(), c.ConsulToken.Reveal(), c.NomadToken.Reveal())
			}
			if c.VaultAddr != "http://127.0.0.1:8200" {
				t.Errorf("unset values keep their defaults, got vault %q", c.VaultAddr)
			}
		}},
		{name: "file named by env", env: []string{"WHARF_CONFIG=" + file}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:9000" {
				t.Errorf("Listen = %q", c.Listen)
			}
		}},
		{name: "env beats file", args: []string{"-config", file}, env: []string{"WHARF_LISTEN=127.0.0.1:9100", "WHARF_VAULT_TOKEN=s.env", "WHARF_CONSUL_TOKEN=consul-env", "WHARF_NOMAD_TOKEN=nomad-env"}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:9100" {
				t.Errorf("Listen = %q", c.Listen)
			}
			if c.VaultToken.Reveal() != "s.env" || c.ConsulToken.Reveal() != "consul-env" || c.NomadToken.Reveal() != "nomad-env" {
				t.Errorf("a token in the environment wins over the token file, got vault %q, consul %q, nomad %q", c.VaultToken.Reveal(), c.ConsulToken.Reveal(), c.NomadToken.Reveal())
			}
		}},
		{name: "token files by env and flag", args: []string{"-nomad-token-file", filepath.Join(dir, "nomad-token")}, env: []string{"WHARF_CONSUL_TOKEN_FILE=" + filepath.Join(dir, "consul-token")}, check: func(t *testing.T, c Config) {
			if c.ConsulToken.Reveal() != "consul-from-file" || c.NomadToken.Reveal() != "nomad-from-file" {
				t.Errorf("consul %q, nomad %q", c.ConsulToken.Reveal(), c.NomadToken.Reveal())
			}
		}},
		{name: "missing consul token file", env: []string{"WHARF_CONSUL_TOKEN_FILE=" + filepath.Join(dir, "none")}, wantErr: "consul token file"},
		{name: "missing nomad token file", args: []string{"-nomad-token-file", filepath.Join(dir, "none")}, wantErr: "nomad token file"},
		{name: "flags beat env", args: []string{"-config", file, "-listen", "127.0.0.1:0", "-nomad-region", "local"}, env: []string{"WHARF_LISTEN=127.0.0.1:9100"}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:0" || c.NomadRegion != "local" {
				t.Errorf("Listen = %q, region %q", c.Listen, c.NomadRegion)
			}
		}},
		{name: "empty env ignored", env: []string{"WHARF_LISTEN="}, check: func(t *testing.T, c Config) {
			if c.Listen != "127.0.0.1:8080" {
				t.Errorf("Listen = %q", c.Listen)
			}
		}},
		{name: "postgres from file", args: []string{"-config", pgFile}, check: func(t *testing.T, c Config) {
			if c.PostgresAddr != "127.0.0.1:15432" || c.PostgresAdminUser != "postgres" || c.PostgresAdminPassword.Reveal() != "pg-secret" {
				t.Errorf("postgres = %q %q %q", c.PostgresAddr, c.PostgresAdminUser, c.PostgresAdminPassword.Reveal())
			}
			if c.DatabaseCredsTTL != "10s" || c.DatabaseCredsMaxTTL != "24h" {
				t.Errorf("creds ttl %q max %q", c.DatabaseCredsTTL, c.DatabaseCredsMaxTTL)
			}
		}},
		{name: "postgres flags beat env", args: []string{"-postgres-addr", "127.0.0.1:1", "-postgres-admin-user", "admin"}, env: []string{"WHARF_POSTGRES_ADDR=127.0.0.1:2", "WHARF_POSTGRES_ADMIN_PASSWORD=pw"}, check: func(t *testing.T, c Config) {
			if c.PostgresAddr != "127.0.0.1:1" || c.PostgresAdminUser != "admin" || c.PostgresAdminPassword.Reveal() != "pw" {
				t.Errorf("postgres = %q %q", c.PostgresAddr, c.PostgresAdminUser)
			}
		}},
		{name: "postgres without password", args: []string{"-postgres-addr", "127.0.0.1:1"}, wantErr: "admin user and password"},
		{name: "object store from file", args: []string{"-config", osFile}, check: func(t *testing.T, c Config) {
			if c.ObjectStoreEndpoint != "http://127.0.0.1:17070" || c.ObjectStoreAccessKey != "root" || c.ObjectStoreSecretKey.Reveal() != "os-secret" ||
				c.ObjectStorePublicURL != "https://media.example.net" || c.ObjectStoreRegion != "us-east-1" {
				t.Errorf("object store = %q %q %q %q", c.ObjectStoreEndpoint, c.ObjectStoreAccessKey, c.ObjectStorePublicURL, c.ObjectStoreRegion)
			}
		}},
		{name: "object store flags beat file", args: []string{"-config", osFile, "-object-store-endpoint", "https://s3.example.net", "-object-store-region", "eu-central-1"}, check: func(t *testing.T, c Config) {
			if c.ObjectStoreEndpoint != "https://s3.example.net" || c.ObjectStoreRegion != "eu-central-1" {
				t.Errorf("object store = %q %q", c.ObjectStoreEndpoint, c.ObjectStoreRegion)
			}
		}},
		{name: "object store without secret", args: []string{"-object-store-endpoint", "http://127.0.0.1:1", "-object-store-access-key", "root"}, wantErr: "secret key"},
		{name: "bad object store endpoint", env: []string{"WHARF_OBJECT_STORE_ENDPOINT=127.0.0.1:7070"}, wantErr: "WHARF_OBJECT_STORE_ENDPOINT"},
		{name: "bad postgres address", env: []string{"WHARF_POSTGRES_ADDR=nowhere"}, wantErr: "WHARF_POSTGRES_ADDR"},
		{name: "backup schedule", args: []string{"-backup-schedule", "30 2 * * *", "-backup-interval", "1m"}, check: func(t *testing.T, c Config) {
			if c.BackupSchedule != "30 2 * * *" || c.BackupInterval != "1m" {
				t.Errorf("backups %q every %q", c.BackupSchedule, c.BackupInterval)
			}
		}},
		{name: "bad backup schedule", env: []string{"WHARF_BACKUP_SCHEDULE=daily"}, wantErr: "WHARF_BACKUP_SCHEDULE"},
		{name: "creds max below ttl", args: []string{"-database-creds-ttl", "2h", "-database-creds-max-ttl", "1h"}, wantErr: "max TTL"},
		{name: "agent TLS from file", args: []string{"-config", tlsFile}, check: func(t *testing.T, c Config) {
			want := platform.TLSFiles{CAFile: "/etc/wharf/ca.pem", CertFile: "/etc/wharf/wharfd.pem", KeyFile: "/etc/wharf/wharfd-key.pem", ServerName: "server.dc1.consul"}
			if c.ConsulTLS != want || c.NomadTLS.CAFile != "/etc/wharf/nomad-ca.pem" || c.VaultTLS.CAFile != "/etc/wharf/vault-ca.pem" {
				t.Errorf("consul %+v, nomad %+v, vault %+v", c.ConsulTLS, c.NomadTLS, c.VaultTLS)
			}
		}},
		{name: "agent TLS flags beat env beat file", args: []string{"-config", tlsFile, "-nomad-ca-file", "/flag/ca.pem", "-nomad-tls-server-name", "server.eu.nomad"}, env: []string{"WHARF_NOMAD_CA_FILE=/env/ca.pem", "WHARF_VAULT_CA_FILE=/env/vault.pem"}, check: func(t *testing.T, c Config) {
			if c.NomadTLS.CAFile != "/flag/ca.pem" || c.NomadTLS.ServerName != "server.eu.nomad" || c.VaultTLS.CAFile != "/env/vault.pem" {
				t.Errorf("nomad %+v, vault %+v", c.NomadTLS, c.VaultTLS)
			}
		}},
		{name: "client certificate without key", args: []string{"-vault-cert-file", "/etc/wharf/wharfd.pem"}, wantErr: "vault: a client certificate"},
		{name: "bad log level", env: []string{"WHARF_LOG_LEVEL=loud"}, wantErr: "WHARF_LOG_LEVEL"},
		{name: "bad log format", args: []string{"-log-format", "xml"}, wantErr: "-log-format"},
		{name: "bad listen", args: []string{"-listen", "nowhere"}, wantErr: "listen address"},
		{name: "unknown flag", args: []string{"-frobnicate"}, wantErr: "frobnicate"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
		{name: "missing file", args: []string{"-config", filepath.Join(dir, "none.hcl")}, wantErr: "config file"},
		{name: "malformed file", args: []string{"-config", bad}, wantErr: "config file"},
		{name: "missing token file", env: []string{"WHARF_VAULT_TOKEN_FILE=" + filepath.Join(dir, "none")}, wantErr: "vault token file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.args, tt.env, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestSecretsAreRedactedInLogs(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewJSONHandler(&b, nil))
	c := Config{VaultToken: platform.Secret("s.topsecret")}
	log.Info("config", "vault_token", c.VaultToken, "config", c)
	if strings.Contains(b.String(), "topsecret") {
		t.Fatalf("a secret reached the log: %s", b.String())
	}
}
