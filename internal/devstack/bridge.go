package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// CNIPath is where Debian's containernetworking-plugins package installs the CNI plugins
// (bridge, portmap, firewall, host-local, loopback) that Nomad's bridge network mode runs.
const CNIPath = "/usr/lib/cni"

// PauseImage holds each allocation's network namespace in Nomad's bridge mode (the docker
// driver's infra_image). Nomad's default is pulled from a public registry, which these
// machines cannot reach; this one is built locally from the base image and, not being
// tagged latest, is never pulled.
const PauseImage = "wharf/pause:1"

// BaseImage is the local base image scripts/deps.sh builds: scratch plus Debian's
// static busybox.
const BaseImage = "wharf/busybox:1"

// bridgeRuns holds one file per bridge a stack made, naming the process that made it, so
// that a later stack can remove the bridges of processes that died without stopping
// theirs; its lock file serialises the choice of subnets.
const bridgeRuns = "/run/wharf-bridges"

// Bridge is a stack's task network: a Linux bridge of its own, with a /24 of
// 172.26.64.0/18 whose first address (the gateway) is the node's address on it. Nomad's
// bridge network mode attaches every allocation to it through CNI (a veth pair, an
// address from the /24, port mappings to the gateway's address), and iptables rules fence
// it: from a task, the node answers only on the ports the stack opens to tasks (PostgreSQL)
// and nothing on loopback, and no other task on the bridge, no private or link-local
// network is reached (see docs/security.md for the rules).
type Bridge struct {
	Name    string // the interface
	Subnet  *net.IPNet
	Gateway net.IP
	// inChain and fwdChain are the iptables chains (filter table) that INPUT and FORWARD
	// send the bridge's traffic to.
	inChain, fwdChain string
}

// privateNets are the networks a task never reaches through the bridge: the node's
// neighbours, other stacks' and Docker's bridges, and cloud metadata services.
var privateNets = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"}

// StartBridge makes the stack's bridge (named after the stack) with a free /24, reusing
// the one recorded in dataDir by the last start when it is still free (releases record
// the database's address on it), and sets up its fence.
func StartBridge(stack, dataDir string) (_ *Bridge, err error) {
	if _, err := os.Stat(filepath.Join(CNIPath, "bridge")); err != nil {
		return nil, fmt.Errorf("no CNI plugins in %s (install Debian's containernetworking-plugins; run make deps): %w", CNIPath, err)
	}
	if err := os.MkdirAll(bridgeRuns, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(bridgeRuns, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	sweepBridges()

	sum := sha256.Sum256([]byte(stack))
	id := hex.EncodeToString(sum[:4])
	b := &Bridge{Name: "wharf" + id, inChain: "WHARF-IN-" + id, fwdChain: "WHARF-FWD-" + id}
	b.remove() // a stack of the same name that died without stopping
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	kept := filepath.Join(dataDir, "bridge-subnet")
	if b.Subnet, err = freeSubnet(kept); err != nil {
		return nil, err
	}
	b.Gateway = append(net.IP(nil), b.Subnet.IP.To4()...)
	b.Gateway[3] = 1
	defer func() {
		if err != nil {
			b.remove()
		}
	}()
	ones, _ := b.Subnet.Mask.Size()
	for _, args := range [][]string{
		{"link", "add", "name", b.Name, "type", "bridge"},
		{"addr", "add", b.Gateway.String() + "/" + strconv.Itoa(ones), "dev", b.Name},
		{"link", "set", b.Name, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(bridgeRuns, b.Name), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(kept, []byte(b.Subnet.String()), 0o600); err != nil {
		return nil, err
	}
	if err := b.fence(); err != nil {
		return nil, err
	}
	return b, nil
}

// freeSubnet returns the subnet recorded in kept when no interface uses it, or else the
// first /24 of 172.26.64.0/18 that no interface uses.
func freeSubnet(kept string) (*net.IPNet, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	used := func(n *net.IPNet) bool {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (n.Contains(ipn.IP) || ipn.Contains(n.IP)) {
				return true
			}
		}
		return false
	}
	if b, err := os.ReadFile(kept); err == nil {
		if _, n, err := net.ParseCIDR(strings.TrimSpace(string(b))); err == nil && !used(n) {
			return n, nil
		}
	}
	for i := 64; i < 128; i++ {
		n := &net.IPNet{IP: net.IPv4(172, 26, byte(i), 0).To4(), Mask: net.CIDRMask(24, 32)}
		if !used(n) {
			return n, nil
		}
	}
	return nil, errors.New("no free /24 left in 172.26.64.0/18 for a task bridge")
}

// fence installs the bridge's iptables rules. Traffic from the bridge to the node
// (INPUT): replies pass; anything for 127.0.0.0/8 is dropped (the bridge plugin's port
// mapping sets route_localnet on the bridge, which would otherwise let a task that
// forges packets reach the node's loopback, CVE-2020-8558); the rest is refused unless
// Allow opened its port. Traffic through the node (FORWARD): to the bridge itself
// (another task, directly or through a port mapping) and to private and link-local
// networks is refused; the rest goes on to the CNI firewall's rules and out, masqueraded.
func (b *Bridge) fence() error {
	rules := [][]string{
		{"-N", b.inChain},
		{"-A", b.inChain, "-d", "127.0.0.0/8", "-j", "DROP"},
		{"-A", b.inChain, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-N", b.fwdChain},
		{"-A", b.fwdChain, "-o", b.Name, "-j", "REJECT"},
	}
	for _, n := range privateNets {
		rules = append(rules, []string{"-A", b.fwdChain, "-d", n, "-j", "REJECT"})
	}
	rules = append(rules,
		[]string{"-I", "INPUT", "1", "-i", b.Name, "-j", b.inChain},
		[]string{"-I", "FORWARD", "1", "-i", b.Name, "-j", b.fwdChain},
	)
	if err := iptables(rules...); err != nil {
		return err
	}
	return b.refuseRest()
}

// refuseRest ends the INPUT chain: TCP gets a reset (so a task's connect fails at once
// with "connection refused"), anything else an ICMP refusal.
func (b *Bridge) refuseRest() error {
	return iptables(
		[]string{"-A", b.inChain, "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset"},
		[]string{"-A", b.inChain, "-j", "REJECT"},
	)
}

// Allow lets tasks reach the node's TCP port on the gateway's address (the cloudspace's
// PostgreSQL, for instance).
func (b *Bridge) Allow(port int) error {
	return iptables([]string{"-I", b.inChain, "3", "-p", "tcp", "-d", b.Gateway.String(), "--dport", strconv.Itoa(port), "-j", "ACCEPT"})
}

// Addr is host:port on the gateway's address: where tasks reach the node's port.
func (b *Bridge) Addr(port int) string {
	return net.JoinHostPort(b.Gateway.String(), strconv.Itoa(port))
}

// Stop removes the fence and the bridge. Nomad must have torn down its allocations'
// networks first.
func (b *Bridge) Stop() error {
	b.remove()
	return os.Remove(filepath.Join(bridgeRuns, b.Name))
}

// remove removes whatever of the bridge and its chains exists, then what CNI left of
// the allocations on its subnet (see cleanCNI).
func (b *Bridge) remove() {
	subnet := b.Subnet
	if ifc, err := net.InterfaceByName(b.Name); err == nil && subnet == nil {
		// A dead stack's bridge: its subnet is the gateway's.
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil {
				subnet = &net.IPNet{IP: ipn.IP.Mask(ipn.Mask), Mask: ipn.Mask}
			}
		}
	}
	_ = iptables([]string{"-D", "INPUT", "-i", b.Name, "-j", b.inChain})
	_ = iptables([]string{"-D", "FORWARD", "-i", b.Name, "-j", b.fwdChain})
	for _, c := range []string{b.inChain, b.fwdChain} {
		_ = iptables([]string{"-F", c}, []string{"-X", c})
	}
	_ = exec.Command("ip", "link", "del", b.Name).Run()
	if subnet != nil {
		cleanCNI(subnet)
	}
}

// cniNetworks is where the host-local IPAM plugin keeps the addresses it gave out, one
// file per address, for Nomad's CNI network (named "nomad" by every Nomad agent).
const cniNetworks = "/var/lib/cni/networks/nomad"

// cniShared are the CNI chains that every allocation shares; the others are one
// allocation's.
var cniShared = map[string]bool{"CNI-HOSTPORT-DNAT": true, "CNI-HOSTPORT-MASQ": true, "CNI-HOSTPORT-SETMARK": true, "CNI-FORWARD": true, "NOMAD-ADMIN": true}

// cleanCNI removes what CNI keeps of allocations on subnet (a /24) once their network
// namespaces are gone: a Nomad agent that is stopped leaves its allocations for a
// restart to take back, so their port mappings, masquerading and forwarding rules and
// their addresses in the IPAM store outlive the stack unless removed here. Rules are
// found by the subnet's addresses in them; a chain of one allocation's
// (CNI-<hash>, CNI-DN-<hash>) goes whole, with the rules that jump to it.
func cleanCNI(subnet *net.IPNet) {
	prefix := strings.TrimSuffix(subnet.IP.String(), "0") // "172.26.64."
	mentions := func(args []string) bool {
		for _, a := range args {
			if strings.HasPrefix(a, prefix) {
				return true
			}
		}
		return false
	}
	for _, table := range []string{"nat", "filter"} {
		out, err := exec.Command("iptables", "-w", "-t", table, "-S").Output()
		if err != nil {
			continue
		}
		var rules [][]string
		for _, line := range strings.Split(string(out), "\n") {
			if args := shellWords(line); len(args) > 2 && args[0] == "-A" {
				rules = append(rules, args)
			}
		}
		own := map[string]bool{}
		var drop [][]string
		for _, r := range rules {
			if !mentions(r) {
				continue
			}
			chain, target := r[1], ""
			for i := 2; i+1 < len(r); i++ {
				if r[i] == "-j" {
					target = r[i+1]
				}
			}
			switch {
			case strings.HasPrefix(chain, "CNI-") && !cniShared[chain]:
				own[chain] = true
			case strings.HasPrefix(target, "CNI-") && !cniShared[target]:
				own[target] = true
			default:
				drop = append(drop, r)
			}
		}
		for _, r := range rules {
			for i := 2; i+1 < len(r); i++ {
				if r[i] == "-j" && own[r[i+1]] && !own[r[1]] {
					drop = append(drop, r)
				}
			}
		}
		for _, r := range drop {
			_ = iptables(append([]string{"-t", table, "-D"}, r[1:]...))
		}
		for c := range own {
			_ = iptables([]string{"-t", table, "-F", c}, []string{"-t", table, "-X", c})
		}
	}
	entries, _ := os.ReadDir(cniNetworks)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(cniNetworks, e.Name()))
		}
	}
}

// shellWords splits a line of iptables -S output into its arguments: words separated by
// spaces, double quotes around a word that holds spaces, backslash escapes inside.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\' && i+1 < len(line):
			i++
			w.WriteByte(line[i])
		case c == '"':
			quoted, in = !quoted, true
		case c == ' ' && !quoted:
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// sweepBridges removes the bridges (and fences) of stacks whose process has died.
func sweepBridges() {
	entries, _ := os.ReadDir(bridgeRuns)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "wharf") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(bridgeRuns, name))
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && syscall.Kill(pid, 0) == nil {
			continue
		}
		id := strings.TrimPrefix(name, "wharf")
		(&Bridge{Name: name, inChain: "WHARF-IN-" + id, fwdChain: "WHARF-FWD-" + id}).remove()
		os.Remove(filepath.Join(bridgeRuns, name))
	}
}

// iptables runs each rule with iptables (waiting for the xtables lock), stopping at the
// first that fails.
func iptables(rules ...[]string) error {
	for _, r := range rules {
		if out, err := exec.Command("iptables", append([]string{"-w"}, r...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %v: %s", strings.Join(r, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// EnsurePauseImage builds PauseImage from the base image when Docker does not have it:
// a shell that sleeps until it is told to stop.
func EnsurePauseImage(base string) error {
	if exec.Command("docker", "image", "inspect", PauseImage).Run() == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "wharf-pause-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dockerfile := "FROM " + base + "\nCMD [\"/bin/sh\", \"-c\", \"trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", PauseImage, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("build %s from %s: %v: %s", PauseImage, base, err, out)
	}
	return nil
}
