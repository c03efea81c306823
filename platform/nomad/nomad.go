// Package nomad adapts Wharf's platform to Nomad: jobs, deployments, allocations and
// logs, in the region of an application's cloudspace. It translates Nomad's errors into
// platform.Error codes; nothing above it imports the Nomad SDK.
package nomad

import (
	"context"
	"errors"
	"fmt"
	"strings"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/platform"
)

// Config locates a Nomad agent.
type Config struct {
	Address string // http://host:port
	Region  string // the default region: the local cloudspace
	Token   string
	// TLS verifies an agent whose Address is https:// (and gives a client certificate
	// where the agent requires one).
	TLS platform.TLSFiles
	// Runtime says how jobs run in this Nomad's cloudspaces.
	Runtime Runtime
}

// Client is a connection to one Nomad agent.
type Client struct {
	api     *nomadapi.Client
	region  string
	runtime Runtime
}

// New returns a client for the agent at cfg.Address. It does not connect.
func New(cfg Config) (*Client, error) {
	conf := nomadapi.DefaultConfig()
	conf.Address = cfg.Address
	conf.Region = cfg.Region
	conf.SecretID = cfg.Token
	if t := cfg.TLS; t.Set() {
		conf.TLSConfig = &nomadapi.TLSConfig{CACert: t.CAFile, ClientCert: t.CertFile, ClientKey: t.KeyFile, TLSServerName: t.ServerName}
	}
	c, err := nomadapi.NewClient(conf)
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "nomad client configuration")
	}
	return &Client{api: c, region: cfg.Region, runtime: cfg.Runtime}, nil
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

// ParseJob asks Nomad's /v1/jobs/parse to turn a jobspec and an HCL variables file into
// a canonicalised job. Errors: invalid (Nomad refused the jobspec or the variables),
// unavailable.
func (c *Client) ParseJob(ctx context.Context, jobHCL, variables string) (*nomadapi.Job, error) {
	req := &nomadapi.JobsParseRequest{JobHCL: jobHCL, Variables: variables, Canonicalize: true}
	var job nomadapi.Job
	if _, err := c.api.Raw().Write("/v1/jobs/parse", req, &job, (&nomadapi.WriteOptions{Region: c.region}).WithContext(ctx)); err != nil {
		return nil, translate(err, "parse job")
	}
	return &job, nil
}

// translate turns a Nomad API error into a platform.Error: Nomad's 4xx answers keep
// their message (they describe the request), anything else is unavailable.
func translate(err error, what string) error {
	var ue nomadapi.UnexpectedResponseError
	if errors.As(err, &ue) {
		switch {
		case ue.StatusCode() == 404:
			return platform.Wrap(platform.NotFound, err, what+": "+strings.TrimSpace(ue.Body()))
		case ue.StatusCode() == 409:
			return platform.Wrap(platform.Conflict, err, what+": "+strings.TrimSpace(ue.Body()))
		case ue.StatusCode() >= 400 && ue.StatusCode() < 500:
			return platform.Wrap(platform.Invalid, err, what+": "+strings.TrimSpace(ue.Body()))
		}
	}
	return platform.Wrap(platform.Unavailable, err, what+": nomad unavailable")
}
