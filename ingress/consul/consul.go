// Package consul adapts the ingress to Consul: Source watches route records and service
// health and pushes ingress updates; RouteStore is what wharfd writes route records with;
// CertCache and Locker let ingress replicas share ACME certificates and take turns
// ordering them. It imports the ingress package and Consul's client, nothing of wharfd.
package consul

import (
	"errors"
	"net"
	"net/url"

	"github.com/wharf-platform/wharf/platform"
)

// DefaultPrefix is where route records live in Consul KV by default; a cloudspace's
// records are below <prefix><cloudspace>/.
const DefaultPrefix = "wharf/routes/"

// DefaultCertPrefix is where the ingress keeps ACME state (encrypted) and its locks.
const DefaultCertPrefix = "wharf/ingress/acme/"

// translate turns a Consul client error into a platform.Error: unreachable is
// Unavailable, anything else Internal.
func translate(err error, what string) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) {
		return platform.Wrap(platform.Unavailable, err, what+": Consul cannot be reached")
	}
	return platform.Wrap(platform.Internal, err, what)
}
