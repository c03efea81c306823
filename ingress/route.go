// Package ingress is Wharf's ingress controller: a reverse proxy that hands each request
// to a healthy instance of the environment its host belongs to, and the TLS certificates
// it serves. It is built as fabio is: a source (package ingress/consul) watches Wharf's
// route records and Consul's health and pushes typed updates on a channel; the Proxy
// applies them to an immutable route table that it swaps behind an atomic pointer, so a
// request looks up its route without taking a lock.
//
// This package never imports a HashiCorp SDK, nor wharfd's packages (api/, platform/
// beyond its error type): the route record (Route) is the whole contract with wharfd.
package ingress

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/wharf-platform/wharf/platform"
)

// RouteVersion is the version of the route record format this package writes and reads.
const RouteVersion = 1

// Route is one routed environment: the record wharfd writes to Consul KV, one per
// environment that receives HTTP, under the key
//
//	<prefix><cloudspace>/<app>/<env>     (prefix "wharf/routes/" by default)
//
// as JSON. The ingress of a cloudspace watches <prefix><cloudspace>/ and never reads
// wharfd's other records. A record is replaced whole (check-and-set on its ModifyIndex,
// see consul.RouteStore) and deleted when the environment stops receiving HTTP.
type Route struct {
	// Version is RouteVersion; a reader skips records of a version it does not know.
	Version int `json:"version"`
	// Cloudspace, App and Env name the environment; they also make its key.
	Cloudspace string `json:"cloudspace"`
	App        string `json:"app"`
	Env        string `json:"env"`
	// Hosts are the names the environment answers to: the generated
	// <app>-<env>.<cloudspace ingress domain> and any custom domains. Lower case, no port.
	Hosts []string `json:"hosts"`
	// Primary is one of Hosts. A request for any other host is redirected to it (308),
	// keeping its path and query.
	Primary string `json:"primary"`
	// Service is the Consul service whose passing instances serve the environment.
	Service string `json:"service"`
	// HTTPSRedirect redirects plain HTTP requests to HTTPS (308), except ACME challenges.
	HTTPSRedirect bool `json:"https_redirect,omitempty"`
	// BasicAuth, when set, guards the environment with HTTP basic authentication.
	BasicAuth *BasicAuth `json:"basic_auth,omitempty"`
}

// BasicAuth is the credential that guards an environment. It holds a bcrypt hash, never
// a password.
type BasicAuth struct {
	Username     string `json:"username"`
	PasswordHash string `json:"password_hash"` // bcrypt, as bcrypt.GenerateFromPassword makes it
}

// Key returns the record's key below the routes prefix: <cloudspace>/<app>/<env>.
func (r Route) Key() string { return RouteKey(r.Cloudspace, r.App, r.Env) }

// RouteKey returns the key below the routes prefix of an environment's route record.
func RouteKey(cloudspace, app, env string) string { return cloudspace + "/" + app + "/" + env }

// Name returns "<app>/<env>", the route's name in logs and metrics.
func (r Route) Name() string { return r.App + "/" + r.Env }

// Validate reports, as a platform.Error of code Invalid, what makes the record unusable.
func (r Route) Validate() error {
	var problems []string
	if r.Version != RouteVersion {
		problems = append(problems, fmt.Sprintf("version %d is not %d", r.Version, RouteVersion))
	}
	for name, v := range map[string]string{"cloudspace": r.Cloudspace, "app": r.App, "env": r.Env} {
		if v == "" || strings.ContainsAny(v, "/ ") {
			problems = append(problems, fmt.Sprintf("%s %q is empty or holds a slash or space", name, v))
		}
	}
	if len(r.Hosts) == 0 {
		problems = append(problems, "no hosts")
	}
	for _, h := range r.Hosts {
		if !validHost(h) {
			problems = append(problems, fmt.Sprintf("host %q is not a lower-case DNS name", h))
		}
	}
	if !slices.Contains(r.Hosts, r.Primary) {
		problems = append(problems, fmt.Sprintf("primary %q is not one of the hosts", r.Primary))
	}
	if r.Service == "" {
		problems = append(problems, "no service")
	}
	if a := r.BasicAuth; a != nil {
		if a.Username == "" || strings.Contains(a.Username, ":") {
			problems = append(problems, "basic auth username is empty or holds a colon")
		}
		if _, err := bcrypt.Cost([]byte(a.PasswordHash)); err != nil {
			problems = append(problems, "basic auth password hash is not a bcrypt hash")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return platform.Errorf(platform.Invalid, "route %s: %s", r.Key(), strings.Join(problems, "; "))
	}
	return nil
}

// ParseRoute decodes and validates a route record.
func ParseRoute(b []byte) (Route, error) {
	var r Route
	if err := json.Unmarshal(b, &r); err != nil {
		return r, platform.Wrap(platform.Invalid, err, "route record is not JSON of a route")
	}
	return r, r.Validate()
}

// validHost reports whether h is a lower-case DNS name (not an IP address, no port).
func validHost(h string) bool {
	if h == "" || len(h) > 253 || net.ParseIP(h) != nil || strings.HasSuffix(h, ".") {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
