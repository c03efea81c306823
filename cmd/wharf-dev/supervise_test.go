package main

import (
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// TestSupervisorRestartsWithBackoff supervises real processes: one that is killed is
// started again; one that keeps exiting is started again with a growing wait; stop ends
// the supervision and the process.
func TestSupervisorRestartsWithBackoff(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprintf(format, args...))
	}
	newSupervisor := func(script string) *supervisor {
		s := &supervisor{name: "sh", report: report, min: 50 * time.Millisecond, max: 400 * time.Millisecond, reset: time.Hour,
			start: func() (*devstack.Process, error) {
				return devstack.StartProcess("sh", nil, "/bin/sh", []string{"-c", script}, nil)
			}}
		if err := s.run(); err != nil {
			t.Fatal(err)
		}
		return s
	}

	t.Run("killed", func(t *testing.T) {
		s := newSupervisor("exec sleep 60")
		first := s.process()
		syscall.Kill(first.Pid(), syscall.SIGKILL)
		waitUntil(t, func() bool { return s.Restarts() == 1 })
		if p := s.process(); p == first {
			t.Fatal("the killed process was not replaced")
		}
		select {
		case <-s.process().Exited():
			t.Fatal("the new process ended")
		case <-time.After(200 * time.Millisecond):
		}
		if err := s.stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case <-s.process().Exited():
		default:
			t.Fatal("stop left the process running")
		}
	})

	t.Run("crashing", func(t *testing.T) {
		mu.Lock()
		reports = nil
		mu.Unlock()
		s := newSupervisor("exit 3")
		waitUntil(t, func() bool { return s.Restarts() >= 5 })
		if err := s.stop(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		var waits []string
		for _, r := range reports {
			if i := strings.LastIndex(r, " in "); i >= 0 {
				waits = append(waits, r[i+4:])
			}
		}
		// 50ms, 100ms, 200ms, then capped at 400ms.
		want := []string{"50ms", "100ms", "200ms", "400ms", "400ms"}
		if len(waits) < len(want) || strings.Join(waits[:len(want)], " ") != strings.Join(want, " ") {
			t.Errorf("waits between restarts %v, want %v first", waits, want)
		}
	})
}

func waitUntil(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
