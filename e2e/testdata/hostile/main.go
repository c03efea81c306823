// Command hostile is the hostile tenant of e2e/acl_test.go: from inside its task it tries
// the cloudspace's agents (Nomad, Consul, Vault) and its registry on the addresses and victim names its
// environment gives it, and reports at /attack what each attempt got, without judging:
// the test does. It serves "ok" at / so that it passes its health check. When
// HOSTILE_PORTS names the node's ports, it first tries to connect to each of them on
// every address the node may answer on (its loopback, the task network's gateway, the
// node's own addresses). With -attack it runs once, prints the report and exits, as a
// task on the host's network would try.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// attempt is what one try got: the HTTP status and the start of the body (for alloc
// exec: the output and the close frame's reason).
type attempt struct {
	Name   string `json:"name"`
	Status int    `json:"status"`
	Body   string `json:"body"`
	Error  string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-attack" {
		json.NewEncoder(os.Stdout).Encode(attack())
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	http.HandleFunc("/attack", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(attack())
	})
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func attack() []attempt {
	nomad, consul, vault := os.Getenv("HOSTILE_NOMAD"), os.Getenv("HOSTILE_CONSUL"), os.Getenv("HOSTILE_VAULT")
	job, alloc, task, service := os.Getenv("VICTIM_JOB"), os.Getenv("VICTIM_ALLOC"), os.Getenv("VICTIM_TASK"), os.Getenv("VICTIM_SERVICE")
	vaultToken := os.Getenv("VAULT_TOKEN")
	if vaultToken == "" {
		b, _ := os.ReadFile("/secrets/vault_token")
		vaultToken = strings.TrimSpace(string(b))
	}
	vh := map[string]string{"X-Vault-Token": vaultToken}
	evilJob := `{"Job":{"ID":"mallory","Name":"mallory","Type":"batch","Datacenters":["*"],"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/true"}}]}]}}`
	hijack := fmt.Sprintf(`{"ID":"mallory-hijack","Name":%q,"Address":"127.0.0.1","Port":1}`, service)
	return append(append(append(append(connects(), pgLogins()...), throughIngress()...), []attempt{
		call("nomad: leader (reachable)", "GET", nomad+"/v1/status/leader", "", nil),
		call("nomad: list jobs", "GET", nomad+"/v1/jobs", "", nil),
		call("nomad: read another job", "GET", nomad+"/v1/job/"+url.PathEscape(job), "", nil),
		call("nomad: read another allocation", "GET", nomad+"/v1/allocation/"+alloc, "", nil),
		call("nomad: read another task's logs", "GET", nomad+"/v1/client/fs/logs/"+alloc+"?task="+url.QueryEscape(task)+"&type=stdout&origin=start&plain=true", "", nil),
		exec(nomad, alloc, task),
		call("nomad: register a job", "PUT", nomad+"/v1/jobs", evilJob, nil),
		call("nomad: stop another job", "DELETE", nomad+"/v1/job/"+url.PathEscape(job), "", nil),
		call("consul: leader (reachable)", "GET", consul+"/v1/status/leader", "", nil),
		call("consul: list keys", "GET", consul+"/v1/kv/?keys", "", nil),
		call("consul: read wharf's state", "GET", consul+"/v1/kv/wharf/?recurse", "", nil),
		call("consul: write wharf's state", "PUT", consul+"/v1/kv/wharf/mallory-was-here", "mallory", nil),
		call("consul: register a service", "PUT", consul+"/v1/agent/service/register", hijack, nil),
		call("consul: read the catalog", "GET", consul+"/v1/catalog/services", "", nil),
		call("consul: read another service's health", "GET", consul+"/v1/health/service/"+url.PathEscape(service), "", nil),
		call("vault: look up its own token (control)", "GET", vault+"/v1/auth/token/lookup-self", "", vh),
		call("vault: read another environment's configuration", "GET", vault+"/v1/"+os.Getenv("VICTIM_RUNTIME"), "", vh),
		call("vault: list secrets", "LIST", vault+"/v1/secret/metadata/wharf", "", vh),
		call("vault: write a policy", "PUT", vault+"/v1/sys/policies/acl/wharf-env-mallory", `{"policy":"path \"secret/*\" { capabilities = [\"read\"] }"}`, vh),
		call("vault: create a token", "POST", vault+"/v1/auth/token/create", `{"policies":["wharfd"]}`, vh),
	}...), registryAttack(vaultToken)...)
}

// connects tries a TCP connection to each port of HOSTILE_PORTS ("name=port,...") on
// 127.0.0.1, the default route's gateway and each address of HOSTILE_NODE_ADDRS: one
// attempt per name, whose status is the number of connections made and whose body
// says what each address answered.
func connects() []attempt {
	var out []attempt
	hosts := append([]string{"127.0.0.1", gateway()}, strings.Split(os.Getenv("HOSTILE_NODE_ADDRS"), ",")...)
	for _, np := range strings.Split(os.Getenv("HOSTILE_PORTS"), ",") {
		name, port, ok := strings.Cut(np, "=")
		if !ok {
			continue
		}
		a := attempt{Name: "connect: " + name}
		for _, h := range hosts {
			if h == "" {
				continue
			}
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(h, port), 5*time.Second)
			if err != nil {
				a.Body += h + ": " + err.Error() + "\n"
				continue
			}
			conn.Close()
			a.Status++
			a.Body += h + ": connected\n"
		}
		out = append(out, a)
	}
	return out
}

// throughIngress asks the ingress's address for tasks (HOSTILE_INGRESS) for the page of
// another application (VICTIM_HOST), as any client may.
func throughIngress() []attempt {
	addr, host := os.Getenv("HOSTILE_INGRESS"), os.Getenv("VICTIM_HOST")
	if addr == "" {
		return nil
	}
	a := attempt{Name: "ingress: another application's page (control)"}
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		a.Error = err.Error()
		return []attempt{a}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	a.Status, a.Body = resp.StatusCode, string(b)
	return []attempt{a}
}

// pgLogins starts PostgreSQL sessions at HOSTILE_DATABASE (host:port) as the superuser,
// and as an ordinary user to the cluster's own database and to another: each attempt's
// body is what the server answered the startup message with, "password requested" or
// its error's message.
func pgLogins() []attempt {
	addr := os.Getenv("HOSTILE_DATABASE")
	if addr == "" {
		return nil
	}
	var out []attempt
	for _, l := range []struct{ name, user, db string }{
		{"postgres: log in as the superuser", "postgres", "wharf_0000000000000000"},
		{"postgres: log in to the cluster's database", "mallory", "postgres"},
		{"postgres: log in as a user (control)", "mallory", "wharf_0000000000000000"},
	} {
		a := attempt{Name: l.name}
		a.Body, a.Error = pgStartup(addr, l.user, l.db)
		out = append(out, a)
	}
	return out
}

// pgStartup sends a protocol 3.0 startup message and reads the server's first answer.
func pgStartup(addr, user, db string) (string, string) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err.Error()
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	params := "user\x00" + user + "\x00database\x00" + db + "\x00\x00"
	msg := make([]byte, 8, 8+len(params))
	binary.BigEndian.PutUint32(msg[0:4], uint32(8+len(params)))
	binary.BigEndian.PutUint32(msg[4:8], 196608)
	if _, err := conn.Write(append(msg, params...)); err != nil {
		return "", err.Error()
	}
	var head [5]byte
	if _, err := io.ReadFull(conn, head[:]); err != nil {
		return "", err.Error()
	}
	n := int(binary.BigEndian.Uint32(head[1:5])) - 4
	if n < 0 || n > 1<<16 {
		return "", fmt.Sprintf("message of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(conn, body); err != nil {
		return "", err.Error()
	}
	switch head[0] {
	case 'R':
		return "password requested", ""
	case 'E':
		for _, f := range strings.Split(string(body), "\x00") {
			if strings.HasPrefix(f, "M") {
				return "error: " + f[1:], ""
			}
		}
	}
	return fmt.Sprintf("message %q", head[0]), ""
}

// gateway is the default route's gateway (from /proc/net/route), or "".
func gateway() string {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[1] == "00000000" {
			var g [4]byte
			if _, err := fmt.Sscanf(f[2], "%02X%02X%02X%02X", &g[3], &g[2], &g[1], &g[0]); err == nil {
				return net.IP(g[:]).String()
			}
		}
	}
	return ""
}

func call(name, method, u, body string, header map[string]string) attempt {
	a := attempt{Name: name}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		a.Error = err.Error()
		return a
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	a.Status, a.Body = resp.StatusCode, string(b)
	return a
}

// exec runs a command in the victim's task through Nomad's alloc exec websocket, with
// a client of its own (the image holds nothing else): it reports the upgrade's status,
// then what came back: output frames and the close frame's reason.
func exec(nomad, alloc, task string) attempt {
	a := attempt{Name: "nomad: alloc exec into another task"}
	u, err := url.Parse(nomad)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	var nonce [16]byte
	rand.Read(nonce[:])
	cmd, _ := json.Marshal([]string{"/bin/sh", "-c", "echo pwned; cat /secrets/wharf.env"})
	path := "/v1/client/allocation/" + alloc + "/exec?task=" + url.QueryEscape(task) + "&tty=false&command=" + url.QueryEscape(string(cmd))
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
		path, u.Host, base64.StdEncoding.EncodeToString(nonce[:]))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		a.Error = err.Error()
		return a
	}
	a.Status = resp.StatusCode
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		a.Body = string(b)
		return a
	}
	var out strings.Builder
	for out.Len() < 4096 {
		op, payload, err := readFrame(br)
		if err != nil {
			a.Error = err.Error()
			break
		}
		if op == 8 { // close: a status code, then the reason
			if len(payload) >= 2 {
				fmt.Fprintf(&out, "close %d: %s", binary.BigEndian.Uint16(payload), payload[2:])
			}
			break
		}
		out.Write(payload)
		out.WriteString("\n")
	}
	a.Body = out.String()
	return a
}

// readFrame reads one unmasked websocket frame from the server.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(b[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return h[0] & 0x0f, p, err
}
