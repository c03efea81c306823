// Package nomad adapts Wharf's platform to Nomad: jobs, deployments, allocations and
// logs, in the region of an application's cloudspace. It translates Nomad's errors into
// platform.Error codes; nothing above it imports the Nomad SDK.
package nomad

import (
	"context"
	"fmt"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/platform"
)

// Config locates a Nomad agent.
type Config struct {
	Address string // http://host:port
	Region  string // the default region: the local cloudspace
	Token   string
}

// Client is a connection to one Nomad agent.
type Client struct {
	api    *nomadapi.Client
	region string
}

// New returns a client for the agent at cfg.Address. It does not connect.
func New(cfg Config) (*Client, error) {
	conf := nomadapi.DefaultConfig()
	conf.Address = cfg.Address
	conf.Region = cfg.Region
	conf.SecretID = cfg.Token
	c, err := nomadapi.NewClient(conf)
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "nomad client configuration")
	}
	return &Client{api: c, region: cfg.Region}, nil
}

// Name is the component's name in health reports.
func (c *Client) Name() string { return "nomad" }

// Probe reports the region's leader and how many client nodes are ready and eligible;
// no leader, or no ready node, is unhealthy.
func (c *Client) Probe(ctx context.Context) (string, error) {
	q := (&nomadapi.QueryOptions{Region: c.region}).WithContext(ctx)
	var leader string
	if _, err := c.api.Raw().Query("/v1/status/leader", &leader, q); err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "nomad unreachable")
	}
	if leader == "" {
		return "", platform.Errorf(platform.Unavailable, "nomad has no leader in region %s", c.region)
	}
	nodes, _, err := c.api.Nodes().List(q)
	if err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "nomad nodes unavailable")
	}
	ready := 0
	for _, n := range nodes {
		if n.Status == nomadapi.NodeStatusReady && n.SchedulingEligibility == nomadapi.NodeSchedulingEligible {
			ready++
		}
	}
	if ready == 0 {
		return "", platform.Errorf(platform.Unavailable, "nomad region %s has no ready node (of %d)", c.region, len(nodes))
	}
	return fmt.Sprintf("region %s, leader %s, %d of %d nodes ready", c.region, leader, ready, len(nodes)), nil
}

var _ platform.Prober = (*Client)(nil)
