package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// Runtime keeps what an environment's tasks read at run time: its runtime configuration
// (every variable's value, the generated SECRET_KEY and the process commands, one KV v2
// version per release) and the Vault policy that lets its tasks, and only its tasks, read
// it.
type Runtime struct {
	api *vaultapi.Client
	kv  *vaultapi.KVv2
}

// Runtime returns the runtime store.
func (c *Client) Runtime() *Runtime { return &Runtime{api: c.api, kv: c.api.KVv2(kvMount)} }

var _ platform.RuntimeStore = (*Runtime)(nil)

// SecretValue reads version (0: the latest) of a secret variable at path, which is
// relative to Wharf's prefix as platform.SecretStore paths are. Errors: not_found,
// unavailable, internal.
func (r *Runtime) SecretValue(ctx context.Context, path string, version int) (platform.Secret, error) {
	var sec *vaultapi.KVSecret
	var err error
	if version > 0 {
		sec, err = r.kv.GetVersion(ctx, kvPrefix+path, version)
	} else {
		sec, err = r.kv.Get(ctx, kvPrefix+path)
	}
	if errors.Is(err, vaultapi.ErrSecretNotFound) {
		return "", platform.Errorf(platform.NotFound, "secret %s version %d not found", path, version)
	}
	if err != nil {
		return "", translate(err, "read secret")
	}
	v, _ := sec.Data[valueField].(string)
	return platform.Secret(v), nil
}

// secretKeyPath is where an environment's generated SECRET_KEY lives: under "_platform",
// which no organisation can be named.
func secretKeyPath(t platform.Target) string {
	return t.SecretKeyPath()
}

// SecretKey returns the environment's SECRET_KEY, generating it (64 random hex digits)
// the first time. Two callers racing get the same key.
func (r *Runtime) SecretKey(ctx context.Context, t platform.Target) (platform.Secret, error) {
	for range 3 {
		sec, err := r.kv.Get(ctx, secretKeyPath(t))
		if err == nil {
			v, _ := sec.Data[valueField].(string)
			return platform.Secret(v), nil
		}
		if !errors.Is(err, vaultapi.ErrSecretNotFound) {
			return "", translate(err, "read the secret key")
		}
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", platform.Wrap(platform.Internal, err, "generate a secret key")
		}
		// Created only if absent; whoever wins, the next round reads the one key.
		_, err = r.kv.Put(ctx, secretKeyPath(t), map[string]any{valueField: hex.EncodeToString(b[:])}, vaultapi.WithCheckAndSet(0))
		if err != nil && platform.ErrorCode(translate(err, "write the secret key")) != platform.Conflict {
			return "", translate(err, "write the secret key")
		}
	}
	return "", platform.Errorf(platform.Conflict, "the secret key of %s/%s/%s kept changing", t.Org, t.App, t.Env)
}

// runtimeVersionsKept is how many releases back a rollback can reach.
const runtimeVersionsKept = 1000

// WriteRuntime writes values as a new version of the environment's runtime
// configuration and returns that version.
func (r *Runtime) WriteRuntime(ctx context.Context, t platform.Target, values map[string]platform.Secret) (int, error) {
	data := make(map[string]any, len(values))
	for k, v := range values {
		data[k] = v.Reveal()
	}
	// Every release pins a version, and a rollback may return to any of them: keep far
	// more than KV v2's default of ten.
	if err := r.kv.PutMetadata(ctx, t.RuntimePath(), vaultapi.KVMetadataPutInput{MaxVersions: runtimeVersionsKept}); err != nil {
		return 0, translate(err, "keep the runtime configuration's versions")
	}
	sec, err := r.kv.Put(ctx, t.RuntimePath(), data)
	if err != nil {
		return 0, translate(err, "write the runtime configuration")
	}
	return sec.VersionMetadata.Version, nil
}

// PutEnvPolicy writes the environment's policy: read its runtime configuration, its
// one-off commands' configuration (RunsPath), the credentials of its database
// instances' roles and the keys of its storage instances, nothing else. Nomad hands
// tasks tokens with it, through the nomad-cluster role.
func (r *Runtime) PutEnvPolicy(ctx context.Context, t platform.Target, services []platform.ServiceBinding) error {
	policy := fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", kvMount+"/data/"+t.RuntimePath())
	policy += fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", kvMount+"/data/"+t.RunsPath())
	for _, b := range services {
		if !rolePattern.MatchString(b.CredentialsRole) {
			return platform.Errorf(platform.Invalid, "credentials role %q is not one of Wharf's", b.CredentialsRole)
		}
		path := dbMount + "/creds/" + b.CredentialsRole
		if b.Kind == platform.ServiceStorage {
			path = storageKeysPath(b.CredentialsRole)
		}
		policy += fmt.Sprintf("path %q {\n  capabilities = [\"read\"]\n}\n", path)
	}
	if err := r.api.Sys().PutPolicyWithContext(ctx, t.VaultPolicy(), policy); err != nil {
		return translate(err, "write the environment's policy")
	}
	return nil
}

// DeleteEnv removes the environment's runtime and run configurations, SECRET_KEY and
// policy.
func (r *Runtime) DeleteEnv(ctx context.Context, t platform.Target) error {
	if err := r.kv.DeleteMetadata(ctx, t.RuntimePath()); err != nil {
		return translate(err, "delete the runtime configuration")
	}
	if err := r.kv.DeleteMetadata(ctx, t.RunsPath()); err != nil {
		return translate(err, "delete the run configuration")
	}
	if err := r.kv.DeleteMetadata(ctx, secretKeyPath(t)); err != nil {
		return translate(err, "delete the secret key")
	}
	if err := r.api.Sys().DeletePolicyWithContext(ctx, t.VaultPolicy()); err != nil {
		return translate(err, "delete the environment's policy")
	}
	return nil
}

// DeleteLegacyPolicy deletes the legacy policy with exactly this name (the upgrade's,
// platform/upgrade.go); Vault answers a missing one with success. Errors: invalid (a
// name that is not a legacy environment or backup policy), unavailable.
func (r *Runtime) DeleteLegacyPolicy(ctx context.Context, name string) error {
	if !strings.HasPrefix(name, "wharf-env-") {
		return platform.Errorf(platform.Invalid, "policy %q is not a legacy environment or backup policy", name)
	}
	if err := r.api.Sys().DeletePolicyWithContext(ctx, name); err != nil {
		return translate(err, "delete a legacy policy")
	}
	return nil
}
