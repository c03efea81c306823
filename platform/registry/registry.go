// Package registry adapts Wharf's platform to a cloudspace's Docker image registry
// (the distribution HTTP API, v2).
package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// Client speaks to one registry.
type Client struct {
	base   string // http://host:port
	http   *http.Client
	issuer *Issuer // signs the client's own tokens; nil for an open registry
}

// New returns a client for the registry at address (host:port, or a URL).
func New(address string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimRight(address, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		base = "http://" + base
	}
	return &Client{base: base, http: hc}
}

// WithIssuer returns the client signing its own registry tokens with iss, each for
// exactly the request it makes: wharfd is the registry's token issuer, and the one
// party that may delete.
func (c *Client) WithIssuer(iss *Issuer) *Client {
	cc := *c
	cc.issuer = iss
	return &cc
}

// do sends req with a token for access (the request's repository and actions).
func (c *Client) do(req *http.Request, access ...platform.RegistryAccess) (*http.Response, error) {
	if c.issuer != nil {
		tok, err := c.issuer.Token("wharfd", access, time.Minute)
		if err != nil {
			return nil, platform.Wrap(platform.Internal, err, "sign a registry token")
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, platform.Wrap(platform.Unavailable, err, "registry unreachable")
	}
	return resp, nil
}

func repoAccess(repo string, actions ...string) platform.RegistryAccess {
	return platform.RegistryAccess{Type: "repository", Name: repo, Actions: actions}
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
	resp, err := c.do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && (resp.StatusCode != http.StatusUnauthorized || c.issuer != nil) {
		return "", platform.Errorf(platform.Unavailable, "registry answered %s", resp.Status)
	}
	return fmt.Sprintf("%s answers", c.base), nil
}

var _ platform.Prober = (*Client)(nil)

// PutBlob uploads b to repository repo as one blob and returns its digest
// ("sha256:..."). Uploading a blob the registry has already is cheap and safe.
// Errors: invalid, unavailable.
func (c *Client) PutBlob(ctx context.Context, repo string, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	push := repoAccess(repo, "pull", "push")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v2/"+repo+"/blobs/uploads/", nil)
	resp, err := c.do(req, push)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return "", platform.Errorf(platform.Unavailable, "registry refused an upload to %s: %s", repo, resp.Status)
	}
	loc, err := resp.Location()
	if err != nil {
		return "", platform.Wrap(platform.Unavailable, err, "registry gave no upload location")
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, loc.String(), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.ContentLength = int64(len(b))
	resp, err = c.do(req, push)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return "", platform.Errorf(platform.Unavailable, "registry refused a blob of %s: %s", repo, resp.Status)
	}
	return digest, nil
}

// DeleteBlob deletes a blob of repo; a blob that is not there is not an error.
// Errors: unavailable.
func (c *Client) DeleteBlob(ctx context.Context, repo, digest string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, c.BlobURL(repo, digest), nil)
	resp, err := c.do(req, repoAccess(repo, "delete"))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNotFound {
		return platform.Errorf(platform.Unavailable, "registry refused to delete a blob of %s: %s", repo, resp.Status)
	}
	return nil
}

// BlobURL is where a blob of repo can be read.
func (c *Client) BlobURL(repo, digest string) string {
	return c.base + "/v2/" + repo + "/blobs/" + digest
}

// HasManifest reports whether repo has an image manifest by reference (a tag or a
// digest). Errors: unavailable.
func (c *Client) HasManifest(ctx context.Context, repo, reference string) (bool, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodHead, c.base+"/v2/"+repo+"/manifests/"+reference, nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := c.do(req, repoAccess(repo, "pull"))
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, platform.Errorf(platform.Unavailable, "registry answered %s", resp.Status)
}

// Host is the registry's host:port, as image references name it.
func (c *Client) Host() string {
	return strings.TrimPrefix(strings.TrimPrefix(c.base, "http://"), "https://")
}
