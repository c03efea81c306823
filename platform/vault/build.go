package vault

import (
	"context"
	"fmt"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// BuildCredentials keeps each running build's registry credential in KV v2 under a
// policy of the build's own, which its job (and no other) is given: the credential
// reaches the builder through the job's template, never through the job's
// specification.
type BuildCredentials struct {
	api *vaultapi.Client
	kv  *vaultapi.KVv2
}

// BuildCredentials returns the store of builds' registry credentials.
func (c *Client) BuildCredentials() *BuildCredentials {
	return &BuildCredentials{api: c.api, kv: c.api.KVv2(kvMount)}
}

var _ platform.BuildCredentials = (*BuildCredentials)(nil)

// PutBuildCredential writes the credential at the build's path and the build's policy,
// which reads that path only. Errors: unavailable.
func (b *BuildCredentials) PutBuildCredential(ctx context.Context, a platform.AppRef, build string, credential platform.Secret) (string, string, error) {
	path := a.BuildCredentialPath(build)
	if _, err := b.kv.Put(ctx, path, map[string]any{"credential": credential.Reveal()}); err != nil {
		return "", "", translate(err, "write the build's registry credential")
	}
	policy := fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", kvMount+"/data/"+path)
	if err := b.api.Sys().PutPolicyWithContext(ctx, a.BuildPolicy(build), policy); err != nil {
		return "", "", translate(err, "write the build's policy")
	}
	return a.BuildPolicy(build), path, nil
}

// DeleteBuildCredential removes the build's credential (every version) and its policy.
// Errors: unavailable.
func (b *BuildCredentials) DeleteBuildCredential(ctx context.Context, a platform.AppRef, build string) error {
	if err := b.kv.DeleteMetadata(ctx, a.BuildCredentialPath(build)); err != nil {
		return translate(err, "delete the build's registry credential")
	}
	if err := b.api.Sys().DeletePolicyWithContext(ctx, a.BuildPolicy(build)); err != nil {
		return translate(err, "delete the build's policy")
	}
	return nil
}
