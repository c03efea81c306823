package vault

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// Secret values live in the KV v2 engine mounted at kvMount, under kvPrefix, where the
// wharfd policy lets wharfd write and nothing else does.
const (
	kvMount  = "secret"
	kvPrefix = "wharf/"
)

// valueField is the one field of each stored secret.
const valueField = "value"

// Secrets keeps secret environment variable values in Vault KV v2, one secret per
// variable at secret/data/wharf/<org>/<app>/<env>/<name>, each holding its value under
// "value".
type Secrets struct {
	kv *vaultapi.KVv2
}

// Secrets returns the secret store.
func (c *Client) Secrets() *Secrets { return &Secrets{kv: c.api.KVv2(kvMount)} }

var _ platform.SecretStore = (*Secrets)(nil)

// SecretVersion returns the current version of path, 0 when it has none.
func (s *Secrets) SecretVersion(ctx context.Context, path string) (int, error) {
	md, err := s.kv.GetMetadata(ctx, kvPrefix+path)
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, translate(err, "read secret metadata")
	}
	return md.CurrentVersion, nil
}

// PutSecret writes value at path if path's version is expect, and returns the new
// version. A mismatch is a conflict.
func (s *Secrets) PutSecret(ctx context.Context, path string, value platform.Secret, expect int) (int, error) {
	sec, err := s.kv.Put(ctx, kvPrefix+path, map[string]any{valueField: value.Reveal()}, vaultapi.WithCheckAndSet(expect))
	if err != nil {
		return 0, translate(err, "write secret")
	}
	return sec.VersionMetadata.Version, nil
}

// DeleteSecret removes every version of path.
func (s *Secrets) DeleteSecret(ctx context.Context, path string) error {
	if err := s.kv.DeleteMetadata(ctx, kvPrefix+path); err != nil {
		return translate(err, "delete secret")
	}
	return nil
}

// translate turns a Vault client error into a platform error. Vault reports a failed
// check-and-set only as a 400 with a message, so that message is the one string
// matched here.
func translate(err error, what string) error {
	var re *vaultapi.ResponseError
	var ne net.Error
	switch {
	case errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(strings.Join(re.Errors, " "), "check-and-set"):
		return platform.Wrap(platform.Conflict, err, "the secret was changed by another request")
	case errors.As(err, &re) && re.StatusCode == http.StatusForbidden:
		return platform.Wrap(platform.Internal, err, "wharfd's vault token may not "+what)
	case errors.As(err, &re) && re.StatusCode >= http.StatusInternalServerError:
		return platform.Wrap(platform.Unavailable, err, "vault failed to "+what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return platform.Wrap(platform.Unavailable, err, "vault did not answer in time")
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &ne):
		return platform.Wrap(platform.Unavailable, err, "vault unreachable")
	}
	return platform.Wrap(platform.Internal, err, "vault "+what)
}
