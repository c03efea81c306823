package registry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// Issuer signs the registry's bearer tokens (the distribution token specification: an
// ES256 JWT whose x5c header carries the certificate the registry trusts through its
// rootcertbundle) and the credentials with which builders and nodes ask wharfd for
// them. It is wharfd's, made from a key only wharfd (and whoever provisions nodes)
// holds. The two kinds of JWT have different audiences, so a credential is never a
// registry token and a registry token is never a credential.
type Issuer struct {
	key     *ecdsa.PrivateKey
	cert    []byte // DER, self-signed for key
	issuer  string
	service string
	now     func() time.Time
}

// credentialAudience is the audience of credentials; a registry token's is the
// registry's service name, which may not be this.
const credentialAudience = "wharf-registry-credential"

// LoadIssuer reads an EC private key and its certificate from keyFile (PEM, both
// blocks in one file, as GenerateTokenKey writes it). issuer and service must match
// the registry's auth.token.issuer and auth.token.service.
func LoadIssuer(keyFile, issuer, service string) (*Issuer, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("registry token key: %w", err)
	}
	if service == credentialAudience {
		return nil, fmt.Errorf("registry service may not be %q", credentialAudience)
	}
	iss := &Issuer{issuer: issuer, service: service, now: time.Now}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		switch blk.Type {
		case "EC PRIVATE KEY":
			if iss.key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
				return nil, fmt.Errorf("registry token key: %w", err)
			}
		case "CERTIFICATE":
			iss.cert = blk.Bytes
		}
	}
	if iss.key == nil || iss.cert == nil {
		return nil, errors.New("registry token key: the file needs an EC PRIVATE KEY and its CERTIFICATE")
	}
	if iss.key.Curve != elliptic.P256() {
		return nil, errors.New("registry token key: the key must be on P-256 (ES256)")
	}
	return iss, nil
}

// GenerateTokenKey writes a fresh P-256 key with a self-signed certificate to keyFile
// (0600: the key and the certificate) and the certificate alone to certFile (0644, the
// registry's rootcertbundle). An existing keyFile is kept, and certFile written from it.
func GenerateTokenKey(keyFile, certFile string) error {
	if _, err := os.Stat(keyFile); err != nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: "wharfd registry token issuer"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return err
		}
		kb, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return err
		}
		out := append(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		if err := os.MkdirAll(filepath.Dir(keyFile), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(keyFile, out, 0o600); err != nil {
			return err
		}
	}
	iss, err := LoadIssuer(keyFile, "", "")
	if err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.cert}), 0o644)
}

// CacheScope is organisation org's secret build cache scope: 32 hex digits of an HMAC
// keyed with the issuer's private key, so it is stable across builds and replicas and
// no one without the key can compute another organisation's.
func (i *Issuer) CacheScope(org string) string {
	m := hmac.New(sha256.New, i.key.D.Bytes())
	m.Write([]byte("wharf build cache scope\x00" + org))
	return hex.EncodeToString(m.Sum(nil))[:32]
}

var _ platform.CacheScopes = (*Issuer)(nil)

// Service is the registry's service name, a registry token's audience.
func (i *Issuer) Service() string { return i.service }

// claims are a JWT's claims, for both kinds.
type claims struct {
	Issuer    string                    `json:"iss"`
	Subject   string                    `json:"sub"`
	Audience  string                    `json:"aud"`
	Expiry    int64                     `json:"exp"`
	NotBefore int64                     `json:"nbf"`
	IssuedAt  int64                     `json:"iat"`
	ID        string                    `json:"jti"`
	Access    []platform.RegistryAccess `json:"access,omitempty"`
	// Credential is the holder of a credential.
	Credential *platform.RegistryCredential `json:"wharf,omitempty"`
}

// Token signs a registry token for account granting access, valid for ttl.
func (i *Issuer) Token(account string, access []platform.RegistryAccess, ttl time.Duration) (string, error) {
	if access == nil {
		access = []platform.RegistryAccess{}
	}
	return i.sign(claims{Subject: account, Audience: i.service, Access: access}, ttl)
}

// Credential signs a credential for holder, valid for ttl: what a builder or a node
// presents (as its password) to wharfd's token endpoint.
func (i *Issuer) Credential(holder platform.RegistryCredential, ttl time.Duration) (platform.Secret, error) {
	s, err := i.sign(claims{Subject: holder.Subject(), Audience: credentialAudience, Credential: &holder}, ttl)
	return platform.Secret(s), err
}

// Verify checks a credential's signature, audience and times and returns its holder.
// Errors: unauthorized.
func (i *Issuer) Verify(credential string) (platform.RegistryCredential, error) {
	denied := platform.Errorf(platform.Unauthorized, "the registry credential is not valid")
	parts := strings.Split(credential, ".")
	if len(parts) != 3 {
		return platform.RegistryCredential{}, denied
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return platform.RegistryCredential{}, denied
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	var h struct {
		Alg string `json:"alg"`
	}
	if err != nil || json.Unmarshal(hdr, &h) != nil || h.Alg != "ES256" {
		return platform.RegistryCredential{}, denied
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(&i.key.PublicKey, sum[:], r, s) {
		return platform.RegistryCredential{}, denied
	}
	body, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c claims
	if err != nil || json.Unmarshal(body, &c) != nil {
		return platform.RegistryCredential{}, denied
	}
	now := i.now().Unix()
	if c.Audience != credentialAudience || c.Issuer != i.issuer || c.Credential == nil || now >= c.Expiry || now < c.NotBefore-60 {
		return platform.RegistryCredential{}, denied
	}
	return *c.Credential, nil
}

func (i *Issuer) sign(c claims, ttl time.Duration) (string, error) {
	now := i.now()
	var jti [12]byte
	_, _ = rand.Read(jti[:])
	c.Issuer, c.IssuedAt, c.NotBefore, c.Expiry, c.ID = i.issuer, now.Unix(), now.Unix(), now.Add(ttl).Unix(), hex.EncodeToString(jti[:])
	hdr, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(i.cert)}})
	body, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(body)
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, i.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

var _ platform.RegistryIssuer = (*Issuer)(nil)
