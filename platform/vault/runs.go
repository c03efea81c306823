package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

var _ platform.RunConfigStore = (*Runtime)(nil)

// runVersionsKept is how many runs' configurations the environment's run path keeps: a
// run's task reads its version when it starts, so only runs starting together need
// theirs at once.
const runVersionsKept = 50

// ReadRuntime reads version of the environment's runtime configuration. Errors:
// not_found, unavailable, internal.
func (r *Runtime) ReadRuntime(ctx context.Context, t platform.Target, version int) (map[string]platform.Secret, error) {
	sec, err := r.kv.GetVersion(ctx, t.RuntimePath(), version)
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return nil, platform.Errorf(platform.NotFound, "version %d of the runtime configuration of %s not found", version, t.EnvRef)
	}
	if err != nil {
		return nil, translate(err, "read the runtime configuration")
	}
	out := make(map[string]platform.Secret, len(sec.Data))
	for k, v := range sec.Data {
		s, _ := v.(string)
		out[k] = platform.Secret(s)
	}
	return out, nil
}

// WriteRunConfig writes values as a new version of the environment's run configuration
// (EnvRef.RunsPath), which its policy lets its tasks read, and returns that version.
func (r *Runtime) WriteRunConfig(ctx context.Context, t platform.Target, values map[string]platform.Secret) (int, error) {
	data := make(map[string]any, len(values))
	for k, v := range values {
		data[k] = v.Reveal()
	}
	if err := r.kv.PutMetadata(ctx, t.RunsPath(), vaultapi.KVMetadataPutInput{MaxVersions: runVersionsKept}); err != nil {
		return 0, translate(err, "keep the run configuration's versions")
	}
	sec, err := r.kv.Put(ctx, t.RunsPath(), data)
	if err != nil {
		return 0, translate(err, "write the run configuration")
	}
	return sec.VersionMetadata.Version, nil
}

// AllowRuns makes sure the environment's policy lets its tasks read its run
// configuration: a policy written before runs existed (by an older wharfd) gets that
// one stanza added, and nothing else changes. Errors: not_found (no policy: nothing was
// deployed), unavailable.
func (r *Runtime) AllowRuns(ctx context.Context, t platform.Target) error {
	policy, err := r.api.Sys().GetPolicyWithContext(ctx, t.VaultPolicy())
	if err != nil {
		return translate(err, "read the environment's policy")
	}
	if policy == "" {
		return platform.Errorf(platform.NotFound, "environment %s has no policy yet; deploy it first", t.EnvRef)
	}
	stanza := fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", kvMount+"/data/"+t.RunsPath())
	if strings.Contains(policy, fmt.Sprintf("%q", kvMount+"/data/"+t.RunsPath())) {
		return nil
	}
	if err := r.api.Sys().PutPolicyWithContext(ctx, t.VaultPolicy(), policy+stanza); err != nil {
		return translate(err, "write the environment's policy")
	}
	return nil
}
