package vault

import (
	"context"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wharf-platform/wharf/platform"
)

// StorageKeys keeps storage service instances' keys in KV v2, at
// platform.StorageCredentialsPath of each instance's credentials role: an environment's
// policy reads the keys of the instances its release uses (PutEnvPolicy), and the job
// templates render them into the tasks' environment.
type StorageKeys struct {
	kv *vaultapi.KVv2
}

// StorageKeys returns the storage keys store.
func (c *Client) StorageKeys() *StorageKeys { return &StorageKeys{kv: c.api.KVv2(kvMount)} }

var _ platform.StorageCredentials = (*StorageKeys)(nil)

// storageKeysPath is the data path (for policies and templates) of a storage instance's
// keys.
func storageKeysPath(role string) string {
	return kvMount + "/data/" + platform.StorageCredentialsPath(role)
}

// Fields of a storage instance's keys in KV.
const (
	accessKeyField = "access_key"
	secretKeyField = "secret_key"
)

// PutStorageKeys writes the instance's keys.
func (s *StorageKeys) PutStorageKeys(ctx context.Context, role string, keys platform.StorageKeys) error {
	if !rolePattern.MatchString(role) {
		return platform.Errorf(platform.Invalid, "credentials role %q is not one of Wharf's", role)
	}
	if _, err := s.kv.Put(ctx, platform.StorageCredentialsPath(role), map[string]any{
		accessKeyField: keys.AccessKey, secretKeyField: keys.SecretKey.Reveal(),
	}); err != nil {
		return translate(err, "write the storage keys")
	}
	return nil
}

// RemoveStorageKeys deletes the instance's keys with every version.
func (s *StorageKeys) RemoveStorageKeys(ctx context.Context, role string) error {
	if !rolePattern.MatchString(role) {
		return platform.Errorf(platform.Invalid, "credentials role %q is not one of Wharf's", role)
	}
	if err := s.kv.DeleteMetadata(ctx, platform.StorageCredentialsPath(role)); err != nil {
		return translate(err, "delete the storage keys")
	}
	return nil
}
