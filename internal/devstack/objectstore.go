package devstack

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ObjectStoreVersion is the pinned Versity S3 gateway (versitygw), built from the Go
// module proxy by scripts/deps.sh (Apache-2.0).
const ObjectStoreVersion = "1.8.0"

// ObjectStoreRegion is the S3 region the local object store signs in.
const ObjectStoreRegion = "us-east-1"

// ObjectStoreConfig configures the cloudspace's S3-compatible object store: versitygw
// with its POSIX backend (one directory per bucket under DataDir/data) and its own IAM
// accounts (DataDir/iam), on 127.0.0.1. A zero port is chosen free.
type ObjectStoreConfig struct {
	Binary  string
	DataDir string // buckets, accounts and the root credentials; kept across restarts
	Port    int
	// Bridge, when set, is the stack's task network: the gateway listens on its gateway
	// instead of loopback (Endpoint is there, for wharfd and tasks alike), and tasks are
	// let through the bridge's fence to it. Its admin API, on the same port, needs the
	// root account's signature.
	Bridge *Bridge
	Log    LogFunc
}

// ObjectStore is a running object store. Its root account administers it: it makes the
// accounts and buckets of storage service instances through the gateway's admin API.
type ObjectStore struct {
	Addr      string // host:port
	Region    string
	AccessKey string // the root account's access key id
	SecretKey string
	// SecretKeyFile holds SecretKey (0600).
	SecretKeyFile string
	proc          *Process
}

// Endpoint is the store's URL.
func (o *ObjectStore) Endpoint() string { return "http://" + o.Addr }

// StartObjectStore starts the gateway, with root credentials made the first time and
// kept (0600) in DataDir, and returns once it answers S3 requests.
func StartObjectStore(cfg ObjectStoreConfig) (*ObjectStore, error) {
	if err := freePorts(&cfg.Port); err != nil {
		return nil, err
	}
	data, iam := filepath.Join(cfg.DataDir, "data"), filepath.Join(cfg.DataDir, "iam")
	for _, d := range []string{data, iam} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	o := &ObjectStore{Addr: addr(cfg.Port), Region: ObjectStoreRegion, AccessKey: "wharf-root",
		SecretKeyFile: filepath.Join(cfg.DataDir, "root-secret-key")}
	secret, err := os.ReadFile(o.SecretKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		secret = []byte(hex.EncodeToString(b[:]))
		err = os.WriteFile(o.SecretKeyFile, secret, 0o600)
	}
	if err != nil {
		return nil, err
	}
	o.SecretKey = strings.TrimSpace(string(secret))
	if cfg.Bridge != nil {
		o.Addr = cfg.Bridge.Addr(cfg.Port)
		if err := cfg.Bridge.Allow(cfg.Port); err != nil {
			return nil, err
		}
	}
	// The root credentials reach the gateway through its environment, never its
	// arguments (which any local user can read).
	p, err := StartProcess("objectstore", cfg.Log, cfg.Binary,
		[]string{"--port", o.Addr, "--region", o.Region, "--iam-dir", iam, "--quiet", "posix", data},
		[]string{"ROOT_ACCESS_KEY=" + o.AccessKey, "ROOT_SECRET_KEY=" + o.SecretKey})
	if err != nil {
		return nil, err
	}
	o.proc = p
	// An anonymous request to list the buckets is refused once the gateway serves.
	if err := waitFor("objectstore", 30*time.Second, p, httpReady(o.Endpoint()+"/", 403)); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return o, nil
}

// Stop stops the gateway.
func (o *ObjectStore) Stop() error { return o.proc.Stop(10 * time.Second) }

// Exited is closed when the gateway has ended.
func (o *ObjectStore) Exited() <-chan struct{} { return o.proc.Exited() }
