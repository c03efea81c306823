package e2e

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/agenttest"
)

// TestDevRestartsItsServers runs the real `make dev` program (wharf-dev) on ports of its
// own, kills wharfd and wharf-ingress with SIGKILL, and checks that each is started
// again while the agents keep running; then Ctrl-C (SIGINT) stops everything.
func TestDevRestartsItsServers(t *testing.T) {
	agenttest.Stack(t) // skips, or fails under WHARF_REQUIRE_AGENTS, without the agents; warms nothing else
	offset := devFreeOffset(t)
	at := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port+offset) }
	data := t.TempDir()
	name := fmt.Sprintf("wharf-e2e-dev-%d", offset)
	cmd := exec.Command(filepath.Join(binDir, "wharf-dev"), "-data", data, "-wharfd", filepath.Join(binDir, "wharfd"),
		"-port-offset", strconv.Itoa(offset), "-name", name, "-keep-postgres=false")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var printed strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			printed.WriteString(sc.Text() + "\n")
			mu.Unlock()
			t.Logf("wharf-dev: %s", sc.Text())
		}
	}()
	exited := make(chan error, 1)
	go func() { <-done; exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	saw := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(printed.String(), s)
	}
	devWait(t, "the cloudspace to run", 4*time.Minute, exited, func() bool { return saw("Press Ctrl-C to stop everything.") })
	answers := func(url string) func() bool {
		return func() bool {
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		}
	}
	wharfdUp, ingressUp := answers("http://"+at(8080)+"/v1/version"), answers("http://"+at(9102)+"/health")
	nomadUp := answers("http://" + at(4646) + "/v1/status/leader")
	devWait(t, "wharfd and the ingress", time.Minute, exited, func() bool { return wharfdUp() && ingressUp() })

	for _, server := range []struct{ name, pattern, exitedLine string }{
		{"wharfd", filepath.Join(data, "wharfd.hcl"), "wharfd exited; starting it again"},
		{"wharf-ingress", "-admin " + at(9102), "wharf-ingress exited; starting it again"},
	} {
		pid := devPid(t, server.pattern)
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s: %v", server.name, err)
		}
		devWait(t, server.name+" reported", 30*time.Second, exited, func() bool { return saw(server.exitedLine) })
		devWait(t, server.name+" answering again", time.Minute, exited, func() bool {
			return wharfdUp() && ingressUp() && devPidOrZero(server.pattern) != pid && devPidOrZero(server.pattern) != 0
		})
		if !nomadUp() {
			t.Errorf("Nomad stopped answering when %s was killed", server.name)
		}
	}
	if saw("Stopping the local cloudspace") {
		t.Error("the cloudspace stopped when a server was killed")
	}

	stopped = true
	cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("wharf-dev after Ctrl-C: %v", err)
		}
	case <-time.After(90 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatal("wharf-dev did not stop within 90 s of Ctrl-C")
	}
	if !saw("Stopped.") {
		t.Error("wharf-dev did not say it stopped")
	}
	if nomadUp() || wharfdUp() {
		t.Error("an agent or wharfd still answers after Ctrl-C")
	}
}

// devFreeOffset picks a port offset at which every port of the local cloudspace is free.
func devFreeOffset(t *testing.T) int {
	usual := []int{8500, 8301, 8302, 8300, 8200, 8201, 4646, 4647, 4648, 5000, 5432, 8080, 8000, 9102}
	for range 50 {
		offset := 20000 + rand.IntN(35000)
		free := true
		var held []net.Listener
		for _, p := range usual {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+offset))
			if err != nil {
				free = false
				break
			}
			held = append(held, l)
		}
		for _, l := range held {
			l.Close()
		}
		if free {
			return offset
		}
	}
	t.Fatal("no port offset with every port free")
	return 0
}

// devPid returns the process whose command line contains pattern.
func devPid(t *testing.T, pattern string) int {
	t.Helper()
	if pid := devPidOrZero(pattern); pid != 0 {
		return pid
	}
	t.Fatalf("no process runs with %q", pattern)
	return 0
}

func devPidOrZero(pattern string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmdline := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmdline, pattern) && !strings.Contains(cmdline, "wharf-dev") {
			return pid
		}
	}
	return 0
}

func devWait(t *testing.T, what string, timeout time.Duration, exited <-chan error, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		select {
		case err := <-exited:
			t.Fatalf("wharf-dev exited (%v) while waiting for %s", err, what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
