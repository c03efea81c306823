package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// ObjectStore is a cloudspace's S3-compatible object store, where storage service
// instances' buckets live (platform/objectstore). Errors: invalid, unavailable,
// internal.
type ObjectStore interface {
	// Endpoint is the store's S3 endpoint as tasks reach it, a URL
	// ("http://127.0.0.1:7070").
	Endpoint() string
	// Region is the S3 region requests are signed for.
	Region() string
	// PublicURL is the URL under which anyone may read the bucket's objects under
	// StoragePublicPrefix, ending in "/": the object "public/a.png" is PublicURL+"a.png".
	PublicURL(bucket string) string
	// CreateBucket makes an account (accessKey, secretKey) that reaches bucket and no
	// other, and the bucket, owned by that account, whose objects under
	// StoragePublicPrefix anyone may read. It can be repeated.
	CreateBucket(ctx context.Context, bucket, accessKey string, secretKey Secret) error
	// DeleteBucket deletes every object of the bucket, the bucket and the account. It can
	// be repeated.
	DeleteBucket(ctx context.Context, bucket, accessKey string) error
	// ArchiveBucket copies every object of bucket into one archive kept at key of
	// StorageBackupBucket, and returns the archive's digest ("sha256:<hex>") and size.
	ArchiveBucket(ctx context.Context, bucket, key string) (string, int64, error)
	// RestoreArchive puts every object of the archive at key into bucket, replacing
	// objects of the same keys.
	RestoreArchive(ctx context.Context, key, bucket string) error
	// DeleteArchive deletes the archive at key. It can be repeated.
	DeleteArchive(ctx context.Context, key string) error
}

// StorageKeys are a storage instance's credentials, as Vault keeps them.
type StorageKeys struct {
	AccessKey string
	SecretKey Secret
}

// StorageCredentials keeps storage instances' keys in Vault, where only the tasks of an
// environment the instance is attached to can read them (platform/vault). Errors:
// invalid, unavailable, internal.
type StorageCredentials interface {
	// PutStorageKeys writes the keys of the instance whose credentials role is role.
	PutStorageKeys(ctx context.Context, role string, keys StorageKeys) error
	// RemoveStorageKeys deletes them, every version. It can be repeated.
	RemoveStorageKeys(ctx context.Context, role string) error
}

func (d *Deployer) objectStore() error {
	if d.ObjectStore == nil || d.StorageCreds == nil {
		return Errorf(Unavailable, "this cloudspace has no object store for storage services")
	}
	return nil
}

// newStorageService fills in a new storage instance's names from a fresh id.
func (d *Deployer) newStorageService(svc *EnvService) error {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Wrap(Internal, err, "generate a bucket name")
	}
	names := StorageNames(hex.EncodeToString(b[:]))
	svc.Bucket, svc.CredentialsRole = names.Bucket, names.CredentialsRole
	svc.Endpoint, svc.Region = d.ObjectStore.Endpoint(), d.ObjectStore.Region()
	svc.PublicURL = d.ObjectStore.PublicURL(names.Bucket)
	return nil
}

// provisionStorage keeps new keys in Vault, then makes the account and its bucket. The
// keys are written first, so an instance whose account exists always has them.
func (d *Deployer) provisionStorage(ctx context.Context, s EnvService) error {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Wrap(Internal, err, "generate a secret key")
	}
	keys := StorageKeys{AccessKey: s.AccessKey(), SecretKey: Secret(hex.EncodeToString(b[:]))}
	if err := d.StorageCreds.PutStorageKeys(ctx, s.CredentialsRole, keys); err != nil {
		return err
	}
	return d.ObjectStore.CreateBucket(ctx, s.Bucket, keys.AccessKey, keys.SecretKey)
}

// deprovisionStorage deletes the bucket's objects, the bucket and the account, then the
// keys.
func (d *Deployer) deprovisionStorage(ctx context.Context, s EnvService) error {
	if err := d.ObjectStore.DeleteBucket(ctx, s.Bucket, s.AccessKey()); err != nil {
		return err
	}
	return d.StorageCreds.RemoveStorageKeys(ctx, s.CredentialsRole)
}

// AccessKey is a storage instance's account: its access key id.
func (s EnvService) AccessKey() string {
	id, _ := cutRolePrefix(s.CredentialsRole)
	return StorageNames(id).AccessKey
}

// cutRolePrefix returns the instance id of a credentials role "wharf-<id>".
func cutRolePrefix(role string) (string, bool) {
	const p = "wharf-"
	if len(role) <= len(p) || role[:len(p)] != p {
		return "", false
	}
	return role[len(p):], true
}
