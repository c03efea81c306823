package devstack_test

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// aclCall sends a request to an agent with token (none when empty) in the header the
// agent reads, and returns the status.
func aclCall(t *testing.T, client *http.Client, method, url, header, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set(header, token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// testACLs checks a running stack's ACLs: anonymous requests are refused by Consul and
// Nomad, each component's token allows what its policy says and is refused the rest,
// and the management tokens are kept 0600.
func testACLs(t *testing.T, s *devstack.Stack) {
	consul, client := s.Consul.URL(), s.TLS.HTTPClient()
	c := s.Consul
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"anonymous reads a key", "GET", "/v1/kv/wharf/orgs", "", "", 403},
		{"anonymous lists keys", "GET", "/v1/kv/?keys", "", "", 403},
		{"anonymous writes a key", "PUT", "/v1/kv/wharf/orgs/evil", "", "x", 403},
		{"anonymous registers a service", "PUT", "/v1/agent/service/register", "", `{"Name":"evil","Port":1}`, 403},
		{"anonymous reads the agent", "GET", "/v1/agent/self", "", "", 403},
		{"wharfd writes its state", "PUT", "/v1/kv/wharf/acl-test", c.WharfdToken, "x", 200},
		{"wharfd writes a route", "PUT", "/v1/kv/wharf/routes/local/acl/test", c.WharfdToken, "{}", 200},
		{"wharfd lists its state", "GET", "/v1/kv/wharf/?keys", c.WharfdToken, "", 200},
		{"wharfd writes the ingress's ACME state", "PUT", "/v1/kv/wharf/ingress/acme/certs/x", c.WharfdToken, "x", 403},
		{"wharfd writes elsewhere", "PUT", "/v1/kv/elsewhere", c.WharfdToken, "x", 403},
		{"wharfd registers a service", "PUT", "/v1/agent/service/register", c.WharfdToken, `{"Name":"evil","Port":1}`, 403},
		{"wharfd makes a session", "PUT", "/v1/session/create", c.WharfdToken, `{"TTL":"10s"}`, 200},
		{"wharfd makes tokens", "PUT", "/v1/acl/token", c.WharfdToken, `{"Description":"evil"}`, 403},
		{"ingress reads routes", "GET", "/v1/kv/wharf/routes/?recurse", c.IngressToken, "", 200},
		{"ingress writes a route", "PUT", "/v1/kv/wharf/routes/local/acl/evil", c.IngressToken, "{}", 403},
		{"ingress reads wharfd's state", "GET", "/v1/kv/wharf/acl-test", c.IngressToken, "", 403},
		{"ingress keeps its ACME state", "PUT", "/v1/kv/wharf/ingress/acme/certs/x", c.IngressToken, "x", 200},
		{"ingress reads health", "GET", "/v1/health/state/any", c.IngressToken, "", 200},
		{"nomad's token reads wharfd's state", "GET", "/v1/kv/wharf/acl-test", c.NomadToken, "", 403},
		{"nomad's token registers a service", "PUT", "/v1/agent/service/register", c.NomadToken, `{"Name":"acl-test","ID":"acl-test","Port":1}`, 200},
	} {
		if got := aclCall(t, client, tc.method, consul+tc.path, "X-Consul-Token", tc.token, tc.body); got != tc.want {
			t.Errorf("consul: %s (%s %s) = %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}
	aclCall(t, client, "PUT", consul+"/v1/agent/service/deregister/acl-test", "X-Consul-Token", c.ManagementToken, "")

	n := s.Nomad
	for _, tc := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"anonymous lists jobs", "GET", "/v1/jobs", "", "", 403},
		{"anonymous reads nodes", "GET", "/v1/nodes", "", "", 403},
		{"anonymous bootstraps ACLs", "POST", "/v1/acl/bootstrap", "", "", 400},
		{"wharfd lists jobs", "GET", "/v1/jobs", n.WharfdToken, "", 200},
		{"wharfd reads nodes", "GET", "/v1/nodes", n.WharfdToken, "", 200},
		{"wharfd parses a job", "POST", "/v1/jobs/parse", n.WharfdToken, `{"JobHCL":"job \"x\" {\n group \"g\" {\n task \"t\" {\n driver = \"docker\"\n }\n }\n}"}`, 200},
		{"wharfd reads ACL tokens", "GET", "/v1/acl/tokens", n.WharfdToken, "", 403},
		{"wharfd reads the agent", "GET", "/v1/agent/self", n.WharfdToken, "", 403},
		{"wharfd lists jobs of another namespace", "GET", "/v1/jobs?namespace=other", n.WharfdToken, "", 403},
		{"wharfd drains the node", "POST", "/v1/node/" + n.NodeID + "/drain", n.WharfdToken, `{"DrainSpec":{"Deadline":1}}`, 403},
	} {
		if got := aclCall(t, client, tc.method, n.Addr+tc.path, "X-Nomad-Token", tc.token, tc.body); got != tc.want {
			t.Errorf("nomad: %s (%s %s) = %d, want %d", tc.name, tc.method, tc.path, got, tc.want)
		}
	}

	for _, path := range []string{c.ManagementTokenPath, n.ManagementTokenPath} {
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("management token file %s: %v, mode %v; want 0600", path, err, fi.Mode().Perm())
		}
	}
}
