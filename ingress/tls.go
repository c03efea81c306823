package ingress

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wharf-platform/wharf/platform"
)

// Locker serialises work across ingress replicas.
type Locker interface {
	// Lock blocks until this replica holds the lock called name, or ctx ends. The returned
	// function releases it. Errors: Unavailable.
	Lock(ctx context.Context, name string) (unlock func(), err error)
}

// CertsConfig configures Certs.
type CertsConfig struct {
	// DirectoryURL is the ACME server's directory (Let's Encrypt's by default).
	DirectoryURL string
	// Email is the ACME account's contact, optional.
	Email string
	// Cache keeps the account key, certificates and HTTP-01 tokens where every replica
	// sees them; wrap it in a SealedCache when it is not a secret store.
	Cache autocert.Cache
	// Locker makes one replica at a time order a given host's certificate.
	Locker Locker
	// Routed says which hosts may have a certificate: only routed ones.
	Routed func(host string) bool
	// HTTPClient talks to the ACME server (its CA may be a test CA).
	HTTPClient *http.Client
	// RenewBefore renews a certificate this long before it expires (30 days).
	RenewBefore time.Duration
	Log         *slog.Logger
}

// Certs obtains and renews certificates over ACME HTTP-01 for routed hosts, on first
// use. A replica takes the host's lock before it orders, so when several replicas see a
// new host at once, one orders and the others find the certificate in the shared cache.
// Renewal (RenewBefore ahead of expiry) is autocert's: each replica's timer first looks
// in the shared cache, so a certificate another replica renewed is taken as it is.
type Certs struct {
	m        *autocert.Manager
	locker   Locker
	log      *slog.Logger
	ready    sync.Map      // host → true once this replica holds its certificate in memory
	fetching sync.Map      // host → true once Prefetch has taken it on
	sem      chan struct{} // bounds concurrent prefetches
}

// NewCerts returns a Certs; nothing is ordered until a handshake asks for a host.
func NewCerts(cfg CertsConfig) *Certs {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	client := &acme.Client{DirectoryURL: cfg.DirectoryURL, HTTPClient: cfg.HTTPClient, UserAgent: "wharf-ingress"}
	if client.DirectoryURL == "" {
		client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	routed := cfg.Routed
	return &Certs{
		locker: cfg.Locker,
		log:    cfg.Log,
		sem:    make(chan struct{}, 2),
		m: &autocert.Manager{
			Prompt: autocert.AcceptTOS,
			Cache:  cfg.Cache,
			// The HTTP-01 handler passes the Host header, port and all.
			HostPolicy: func(_ context.Context, host string) error {
				if routed == nil || !routed(hostOnly(host)) {
					return platform.Errorf(platform.NotFound, "no route for %s", host)
				}
				return nil
			},
			RenewBefore: cfg.RenewBefore,
			Client:      client,
			Email:       cfg.Email,
		},
	}
}

// GetCertificate is tls.Config's GetCertificate.
func (c *Certs) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	ctx := hello.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return c.get(ctx, hello)
}

// Prefetch orders, in the background, certificates for the hosts it has not been given
// before, so the first visitor of a new domain does not wait for one. The proxy calls
// it with every new route table (Config.OnRoutes). It never blocks.
func (c *Certs) Prefetch(hosts []string) {
	for _, h := range hosts {
		if _, seen := c.fetching.LoadOrStore(h, true); seen {
			continue
		}
		go func() {
			c.sem <- struct{}{}
			defer func() { <-c.sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			// A hello as a current browser sends it, so the certificate is ECDSA.
			hello := &tls.ClientHelloInfo{
				ServerName:        h,
				CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
				SupportedCurves:   []tls.CurveID{tls.CurveP256},
				SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
				SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
			}
			if _, err := c.get(ctx, hello); err != nil {
				// Ordering is retried at the first handshake for the host.
				c.fetching.Delete(h)
			}
		}()
	}
}

func (c *Certs) get(ctx context.Context, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	host := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if _, ok := c.ready.Load(host); ok || c.locker == nil {
		return c.m.GetCertificate(hello)
	}
	if err := c.m.HostPolicy(ctx, host); err != nil {
		return nil, err
	}
	unlock, err := c.locker.Lock(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("certificate for %s: %w", host, err)
	}
	defer unlock()
	start := time.Now()
	cert, err := c.m.GetCertificate(hello)
	if err != nil {
		c.log.Warn("no certificate", "host", host, "error", err)
		return nil, err
	}
	c.ready.Store(host, true)
	c.log.Info("certificate ready", "host", host, "took", time.Since(start).Round(time.Millisecond),
		"not_after", cert.Leaf.NotAfter)
	return cert, nil
}

// TLSConfig returns a server TLS configuration that serves Certs' certificates. It also
// answers TLS-ALPN-01 challenges, which autocert always offers before HTTP-01: where the
// ingress holds port 443 either validates, and HTTP-01 is what remains when it does not.
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1", acme.ALPNProto}}
}

// HTTPHandler answers ACME HTTP-01 challenges (from the shared cache, so any replica
// answers for the one that ordered) and hands every other request to next.
func (c *Certs) HTTPHandler(next http.Handler) http.Handler { return c.m.HTTPHandler(next) }

// SealedCache encrypts what it stores in Cache with AES-256-GCM, so certificates'
// private keys and the ACME account key never lie in the clear in a store that is not a
// secret store (Consul KV). Its key comes from the operator (Vault, in the jobspec).
type SealedCache struct {
	Cache autocert.Cache
	aead  cipher.AEAD
}

// NewSealedCache returns a SealedCache with a 32-byte key. Errors: Invalid.
func NewSealedCache(c autocert.Cache, key []byte) (*SealedCache, error) {
	if len(key) != 32 {
		return nil, platform.Errorf(platform.Invalid, "the certificate cache key has %d bytes, not 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, platform.Wrap(platform.Invalid, err, "certificate cache key")
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, platform.Wrap(platform.Internal, err, "certificate cache cipher")
	}
	return &SealedCache{Cache: c, aead: aead}, nil
}

// Get decrypts the value under key; the key's name is authenticated with it, so a value
// cannot be moved to another name.
func (s *SealedCache) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.Cache.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	n := s.aead.NonceSize()
	if len(b) < n {
		return nil, errors.New("sealed cache: value too short")
	}
	out, err := s.aead.Open(nil, b[:n], b[n:], []byte(key))
	if err != nil {
		return nil, fmt.Errorf("sealed cache: %s does not open with this key: %w", key, err)
	}
	return out, nil
}

// Put encrypts data and stores it under key.
func (s *SealedCache) Put(ctx context.Context, key string, data []byte) error {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(data)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	return s.Cache.Put(ctx, key, s.aead.Seal(nonce, nonce, data, []byte(key)))
}

// Delete removes key.
func (s *SealedCache) Delete(ctx context.Context, key string) error { return s.Cache.Delete(ctx, key) }
