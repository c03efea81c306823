package consul

import (
	"context"
	"strings"

	consulapi "github.com/hashicorp/consul/api"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wharf-platform/wharf/platform"
)

// CertCache is an autocert.Cache in Consul KV under <prefix>certs/, shared by every
// ingress replica. It stores what it is given as it is: wrap it in an
// ingress.SealedCache, since certificates' private keys must not lie in KV in the clear.
type CertCache struct {
	kv     *consulapi.KV
	prefix string
}

// NewCertCache returns a CertCache under prefix (DefaultCertPrefix when empty).
func NewCertCache(c *consulapi.Client, prefix string) *CertCache {
	return &CertCache{kv: c.KV(), prefix: withSlash(prefix, DefaultCertPrefix) + "certs/"}
}

// Get returns the value under key, or autocert.ErrCacheMiss.
func (c *CertCache) Get(ctx context.Context, key string) ([]byte, error) {
	p, _, err := c.kv.Get(c.prefix+key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, translate(err, "read certificate cache")
	}
	if p == nil {
		return nil, autocert.ErrCacheMiss
	}
	return p.Value, nil
}

// Put stores data under key.
func (c *CertCache) Put(ctx context.Context, key string, data []byte) error {
	_, err := c.kv.Put(&consulapi.KVPair{Key: c.prefix + key, Value: data}, (&consulapi.WriteOptions{}).WithContext(ctx))
	return translate(err, "write certificate cache")
}

// Delete removes key.
func (c *CertCache) Delete(ctx context.Context, key string) error {
	_, err := c.kv.Delete(c.prefix+key, (&consulapi.WriteOptions{}).WithContext(ctx))
	return translate(err, "delete from certificate cache")
}

// Locker is an ingress.Locker on Consul sessions, under <prefix>locks/.
type Locker struct {
	client *consulapi.Client
	prefix string
}

// NewLocker returns a Locker under prefix (DefaultCertPrefix when empty).
func NewLocker(c *consulapi.Client, prefix string) *Locker {
	return &Locker{client: c, prefix: withSlash(prefix, DefaultCertPrefix) + "locks/"}
}

// Lock blocks until the lock is held or ctx ends. The session behind it expires 30 s
// after this replica stops renewing it, so a replica that dies holding it does not
// block the others for long. Errors: Unavailable.
func (l *Locker) Lock(ctx context.Context, name string) (func(), error) {
	lk, err := l.client.LockOpts(&consulapi.LockOptions{
		Key: l.prefix + name, SessionName: "wharf-ingress " + name, SessionTTL: "30s",
	})
	if err != nil {
		return nil, translate(err, "lock "+name)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			close(stop)
		case <-done:
		}
	}()
	lost, err := lk.Lock(stop)
	close(done)
	if err != nil {
		return nil, translate(err, "lock "+name)
	}
	if lost == nil {
		return nil, platform.Wrap(platform.Unavailable, ctx.Err(), "lock "+name+": gave up waiting")
	}
	return func() {
		lk.Unlock()
		lk.Destroy() // fails harmlessly while another replica waits on the key
	}, nil
}

func withSlash(prefix, def string) string {
	if prefix == "" {
		prefix = def
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return prefix
}
