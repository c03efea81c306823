package devstack

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The ACL policies of the local cloudspace's components, in Consul's and Nomad's rule
// language. Each component has a token with its policy and nothing more; anonymous
// requests are denied (Consul's default policy is deny, and Nomad's anonymous token has
// no policy). The operator holds each agent's management token, kept (0600) in the
// agent's data directory. README.md lists the same policies.
//
// Rules name what is stable: Wharf's KV prefix ("wharf/"), the ingress's prefixes below
// it, and Nomad's namespace. Nomad's ACLs scope jobs by namespace only (no rule names a
// job), so wharfd's Nomad token reaches every job of the namespaces it is given: the
// "default" one, where Wharf registers every job today.
const (
	// ConsulWharfdPolicy: Wharf's state (KV below wharf/, route records included, but
	// not the ingress's ACME state), and sessions for the controller's leader lock.
	ConsulWharfdPolicy = `
key_prefix "wharf/" { policy = "write" }
key_prefix "wharf/ingress/" { policy = "deny" }
session_prefix "" { policy = "write" }
`
	// ConsulIngressPolicy: read route records ("list" grants read and the recursive
	// reads its watch makes) and the health of every service and node; keep its ACME
	// state and the locks of its replicas below wharf/ingress/acme/.
	ConsulIngressPolicy = `
key_prefix "wharf/routes/" { policy = "list" }
key_prefix "wharf/ingress/acme/" { policy = "write" }
session_prefix "" { policy = "write" }
service_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
`
	// ConsulNomadPolicy is the Nomad agent's (server and client): register the
	// services and checks of its tasks and of itself, and read the agent and nodes.
	ConsulNomadPolicy = `
agent_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
service_prefix "" { policy = "write" }
`
	// consulAgentPolicy is the Consul agent's own token (%q: its node name): keep its
	// node in the catalog.
	consulAgentPolicy = `
node %q { policy = "write" }
service_prefix "" { policy = "read" }
`
	// NomadWharfdPolicy: the jobs wharfd manages in the default namespace (parse,
	// submit, read, list and stop them; read their allocations' logs, and files, which
	// is how backup dumps are collected; signal their tasks, which is how a batch task
	// is told its output was read, platform/nomad.OutputEndVar; exec into their tasks,
	// for wharf exec, which wharfd authorises and audits), and the nodes, for its health
	// report. No alloc-node-exec (raw_exec/exec tasks, the node itself), no node or agent
	// writes, no ACL management.
	NomadWharfdPolicy = `
namespace "default" {
  capabilities = ["list-jobs", "parse-job", "read-job", "submit-job", "read-logs", "read-fs", "alloc-lifecycle", "alloc-exec"]
}
node { policy = "read" }
`
)

// Names of the ACL policies and tokens the stack makes; a token carries the same name
// (Consul: description) as its policy, and a restart replaces tokens of that name.
const (
	aclWharfd  = "wharfd"
	aclIngress = "wharf-ingress"
	aclNomad   = "nomad-agent"
	aclConsul  = "consul-agent"
)

// ManagementTokenFile is the name of the file, in an agent's data directory, that keeps
// its management (operator) token, 0600.
const ManagementTokenFile = "management-token"

// keptToken returns the management token kept in path, or "" when there is none.
func keptToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("management token file %s is empty", path)
	}
	return t, nil
}

// keepToken writes a management token to path, 0600.
func keepToken(path, token string) error {
	return os.WriteFile(path, []byte(token+"\n"), 0o600)
}

func uuid() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
