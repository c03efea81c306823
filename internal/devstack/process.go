// Package devstack starts a single-machine cloudspace of real agents: Consul, Vault,
// Nomad (server and client, with the docker and raw_exec drivers) and the Docker image
// registry, wired together as a real cloudspace is, all on loopback.
//
// Two callers share it so that their wiring cannot drift apart: `make dev` (through
// cmd/wharf-dev), with fixed ports and a data directory that survives restarts, and the
// tests (through internal/agenttest), with free ports and a temporary directory.
//
// It is development and test tooling: nothing under platform/, api/ or cmd/wharfd may
// import it.
package devstack

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// LogFunc receives each line an agent writes, with the agent's name.
type LogFunc func(agent, line string)

// Process is one agent (or wharfd) running as a child process in its own process group,
// so that a Ctrl-C in the terminal reaches only the parent, which stops them in order.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // set before done is closed
	// portTaken is set when the process said a port it was to bind was in use.
	portTaken atomic.Bool
}

// StartProcess starts bin with args, the parent's environment plus env, and hands each
// line of its output to logf.
func StartProcess(name string, logf LogFunc, bin string, args, env []string) (*Process, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return startCmd(name, logf, cmd)
}

// startCmd starts cmd, set up but for its output, as StartProcess does.
func startCmd(name string, logf LogFunc, cmd *exec.Cmd) (*Process, error) {
	// Children of an agent (Nomad's plugins) may hold its output open after it exits.
	cmd.WaitDelay = 5 * time.Second
	p := &Process{name: name, cmd: cmd, done: make(chan struct{})}
	out := lineWriter(name, func(agent, line string) {
		if strings.Contains(line, "address already in use") {
			p.portTaken.Store(true)
		}
		if logf != nil {
			logf(agent, line)
		}
	})
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stop asks the process to end with SIGINT and kills it when it has not after timeout.
// Then it kills whatever is left in its process group: Nomad leaves its plugins (logmon,
// docker_logger) running to reattach to on restart, and a stopped stack leaves nothing.
// Stopping an ended process only does the latter.
func (p *Process) Stop(timeout time.Duration) error {
	defer syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.name, timeout)
}

// exitError describes how a process that should still run ended.
func (p *Process) exitError() error {
	select {
	case <-p.done:
		if p.portTaken.Load() {
			return fmt.Errorf("%s exited: %w", p.name, ErrPortTaken)
		}
		if p.err == nil {
			return fmt.Errorf("%s exited", p.name)
		}
		return fmt.Errorf("%s exited: %w", p.name, p.err)
	default:
		return nil
	}
}

type lineSink struct {
	pw   *io.PipeWriter
	wg   sync.WaitGroup
	once sync.Once
}

// lineWriter returns a writer that hands each complete line to logf.
func lineWriter(name string, logf LogFunc) *lineSink {
	pr, pw := io.Pipe()
	s := &lineSink{pw: pw}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if logf != nil {
				logf(name, sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return s
}

func (s *lineSink) Write(b []byte) (int, error) { return s.pw.Write(b) }

// Close ends the writer and waits until every line has been handed on.
func (s *lineSink) Close() error {
	s.once.Do(func() { _ = s.pw.Close() })
	s.wg.Wait()
	return nil
}

// waitFor polls check until it returns nil or an error wrapping errNoRetry, the
// process exits, or timeout passes.
func waitFor(what string, timeout time.Duration, p *Process, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if err := check(); err == nil {
			return nil
		} else if errors.Is(err, errNoRetry) {
			return err
		} else {
			last = err
		}
		if p != nil {
			if err := p.exitError(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")

// errNoRetry, wrapped in a check's error, ends waitFor at once: waiting will not help.
var errNoRetry = errors.New("no use waiting")

// ErrPortTaken is why an agent given a free port exited: another process on the machine
// took the port between its choice and the agent's bind. Starting again, with other
// ports, is the remedy.
var ErrPortTaken = errors.New("a port it was given was taken in the meantime")
