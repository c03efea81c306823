package devstack

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// TLS is a stack's own certificate authority and one certificate, signed by it, that
// Consul and Nomad present as servers and as clients: with it their HTTP APIs speak
// HTTPS and their RPC is mutual TLS, each side verifying the other's certificate and,
// for servers, its name (server.<datacenter>.consul, server.<region>.nomad).
type TLS struct {
	CAFile, CertFile, KeyFile string
	pool                      *x509.CertPool
}

// NewTLS makes the authority and the certificate in dir (0600 keys), for a Consul
// datacenter and a Nomad region.
func NewTLS(dir, datacenter, region string) (*TLS, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Wharf devstack CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server." + datacenter + ".consul"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames: []string{"localhost", "server." + datacenter + ".consul",
			"server." + region + ".nomad", "client." + region + ".nomad"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	t := &TLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "agent.pem"), KeyFile: filepath.Join(dir, "agent-key.pem"), pool: x509.NewCertPool()}
	t.pool.AddCert(ca)
	for path, block := range map[string]*pem.Block{
		t.CAFile:   {Type: "CERTIFICATE", Bytes: caDER},
		t.CertFile: {Type: "CERTIFICATE", Bytes: der},
		t.KeyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// HTTPClient returns a client that trusts the stack's authority (http.DefaultClient
// for a stack without TLS).
func (t *TLS) HTTPClient() *http.Client {
	if t == nil {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: t.pool}}}
}

// scheme is the agents' HTTP API scheme.
func (t *TLS) scheme() string {
	if t == nil {
		return "http"
	}
	return "https"
}
