package devstack

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// The pinned agent versions: the last releases under the MPL-2.0. scripts/versions.sh
// holds the same numbers for the build; a test keeps the two equal.
const (
	NomadVersion  = "1.6.1"
	ConsulVersion = "1.14.5"
	VaultVersion  = "1.14.1"
)

// Binaries names the executables the stack runs.
type Binaries struct {
	Nomad, Consul, Vault, Registry string
	// Postgres is the directory of PostgreSQL's initdb and postgres.
	Postgres string
	// ObjectStore is the S3 gateway (versitygw).
	ObjectStore string
}

// DefaultBinaries returns the agents built by scripts/deps.sh into dir (by default
// ~/.cache/wharf/bin), the object store built beside them and Debian's docker-registry.
func DefaultBinaries(dir string) Binaries {
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "wharf", "bin")
	}
	return Binaries{
		Nomad:    filepath.Join(dir, "nomad-"+NomadVersion),
		Consul:   filepath.Join(dir, "consul-"+ConsulVersion),
		Vault:    filepath.Join(dir, "vault-"+VaultVersion),
		Registry: "/usr/bin/docker-registry",
		Postgres: PostgresBinDir,

		ObjectStore: filepath.Join(dir, "versitygw-"+ObjectStoreVersion),
	}
}

// Missing lists the binaries that are not executable files (the stack's and the CNI
// plugins its task bridge needs).
func (b Binaries) Missing() []string {
	var missing []string
	for _, p := range []string{b.Consul, b.Vault, b.Nomad, b.Registry, filepath.Join(b.Postgres, "initdb"), filepath.Join(b.Postgres, "postgres"), b.ObjectStore,
		// The task bridge's CNI plugins (Nomad's bridge network mode).
		filepath.Join(CNIPath, "bridge"), filepath.Join(CNIPath, "portmap"), filepath.Join(CNIPath, "firewall"), filepath.Join(CNIPath, "host-local"), filepath.Join(CNIPath, "loopback")} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	return missing
}

// FreePort returns a TCP port on 127.0.0.1 that was free when it was asked for.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts fills every zero port in ps with a free one. Every listener stays open
// until all are chosen, so no two of them get the same port.
func freePorts(ps ...*int) error {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for _, p := range ps {
		if *p != 0 {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		held = append(held, l)
		*p = l.Addr().(*net.TCPAddr).Port
	}
	return nil
}

func writeHCL(path string, f *hclwrite.File) error {
	return os.WriteFile(path, f.Bytes(), 0o600)
}

// block appends a nested block to body and returns the new block's body.
func block(body *hclwrite.Body, typ string, labels ...string) *hclwrite.Body {
	return body.AppendNewBlock(typ, labels).Body()
}

func set(body *hclwrite.Body, attrs map[string]cty.Value) {
	// Sorted for files that read the same on every run.
	for _, k := range slices.Sorted(maps.Keys(attrs)) {
		body.SetAttributeValue(k, attrs[k])
	}
}

func str(s string) cty.Value { return cty.StringVal(s) }
func num(n int) cty.Value    { return cty.NumberIntVal(int64(n)) }

// httpReady returns a check that GETs url and accepts the given statuses.
func httpReady(url string, ok ...int) func() error {
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		for _, s := range ok {
			if resp.StatusCode == s {
				return nil
			}
		}
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
}

// getJSON GETs url into v with client, with token (for Consul or Nomad) when it is
// not empty.
func getJSON(client *http.Client, url, token string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("X-Consul-Token", token)
		req.Header.Set("X-Nomad-Token", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
