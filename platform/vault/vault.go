// Package vault adapts Wharf's platform to Vault: secret environment variables in KV v2,
// per-environment policies and database credentials. It translates Vault's errors into
// platform.Error codes; nothing above it imports the Vault SDK.
package vault

import (
	"context"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// Config locates Vault and holds wharfd's token.
type Config struct {
	Address string // http://host:port
	Token   platform.Secret
	// TLS verifies a Vault whose Address is https:// (and gives a client certificate
	// where Vault requires one).
	TLS platform.TLSFiles
}

// Client is a connection to Vault.
type Client struct {
	api *vaultapi.Client
	// probe fails at once when Vault does not answer, where api retries.
	probe *vaultapi.Client
}

// New returns a client for Vault at cfg.Address. It does not connect.
func New(cfg Config) (*Client, error) {
	conf := vaultapi.DefaultConfig()
	conf.Address = cfg.Address
	if t := cfg.TLS; t.Set() {
		if err := conf.ConfigureTLS(&vaultapi.TLSConfig{CACert: t.CAFile, ClientCert: t.CertFile, ClientKey: t.KeyFile, TLSServerName: t.ServerName}); err != nil {
			return nil, platform.Wrap(platform.Invalid, err, "vault TLS configuration")
		}
	}
	c, err := vaultapi.NewClient(conf)
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "vault client configuration")
	}
	c.SetToken(cfg.Token.Reveal())
	probe, err := c.Clone()
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "vault client configuration")
	}
	probe.SetMaxRetries(0)
	return &Client{api: c, probe: probe}, nil
}

// Name is the component's name in health reports.
func (c *Client) Name() string { return "vault" }

// Probe reports whether Vault is initialised, unsealed and active.
func (c *Client) Probe(ctx context.Context) (string, error) {
	h, err := c.probe.Sys().HealthWithContext(ctx)
	if err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "vault unreachable")
	}
	switch {
	case !h.Initialized:
		return "", platform.Errorf(platform.Unavailable, "vault is not initialised")
	case h.Sealed:
		return "", platform.Errorf(platform.Unavailable, "vault is sealed")
	}
	return "unsealed, version " + h.Version, nil
}

var _ platform.Prober = (*Client)(nil)
