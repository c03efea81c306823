// Package registry adapts Wharf's platform to a cloudspace's Docker image registry
// (the distribution HTTP API, v2).
package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wharf-platform/wharf/platform"
)

// Client speaks to one registry.
type Client struct {
	base string // http://host:port
	http *http.Client
}

// New returns a client for the registry at address (host:port, or a URL).
func New(address string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := address
	if len(base) < 7 || (base[:7] != "http://" && (len(base) < 8 || base[:8] != "https://")) {
		base = "http://" + base
	}
	return &Client{base: base, http: hc}
}

// Name is the component's name in health reports.
func (c *Client) Name() string { return "registry" }

// Probe checks that the registry answers its API's version check (200, or 401 when it
// asks for credentials).
func (c *Client) Probe(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v2/", nil)
	if err != nil {
		return "", platform.Wrap(platform.Invalid, err, "registry address")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "registry unreachable")
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
		return "", platform.Errorf(platform.Unavailable, "registry answered %s", resp.Status)
	}
	return fmt.Sprintf("%s answers", c.base), nil
}

var _ platform.Prober = (*Client)(nil)
