// Package consul adapts Wharf's platform to Consul: the state store (KV) and service
// health. It translates Consul's errors into platform.Error codes; nothing above it
// imports the Consul SDK.
package consul

import (
	"context"
	"fmt"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/platform"
)

// Config locates a Consul agent.
type Config struct {
	Address string // host:port, or http:// or https:// and host:port
	Token   string
	// TLS, when set, makes the API HTTPS (whatever Address's scheme) and verifies the
	// agent with it.
	TLS platform.TLSFiles
}

// APIConfig is the Consul SDK's configuration for cfg, for the other packages that
// speak to Consul through the SDK (the ingress's route store and source).
func APIConfig(cfg Config) *consulapi.Config {
	conf := consulapi.DefaultConfig()
	conf.Address = cfg.Address
	conf.Token = cfg.Token
	if t := cfg.TLS; t.Set() {
		conf.Scheme = "https"
		conf.TLSConfig = consulapi.TLSConfig{Address: t.ServerName, CAFile: t.CAFile, CertFile: t.CertFile, KeyFile: t.KeyFile}
	}
	return conf
}

// Client is a connection to one Consul agent.
type Client struct {
	api *consulapi.Client
}

// New returns a client for the agent at cfg.Address. It does not connect.
func New(cfg Config) (*Client, error) {
	c, err := consulapi.NewClient(APIConfig(cfg))
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "consul client configuration")
	}
	return &Client{api: c}, nil
}

// Name is the component's name in health reports.
func (c *Client) Name() string { return "consul" }

// Probe reports the cluster's leader; no leader is unhealthy.
func (c *Client) Probe(ctx context.Context) (string, error) {
	var leader string
	_, err := c.api.Raw().Query("/v1/status/leader", &leader, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "consul unreachable")
	}
	if leader == "" {
		return "", platform.Errorf(platform.Unavailable, "consul has no leader")
	}
	return fmt.Sprintf("leader %s", leader), nil
}

var _ platform.Prober = (*Client)(nil)
