package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/wharf-platform/wharf/internal/devstack"
)

// Back-off of a supervised process: the first restart waits backoffMin, each quick exit
// after that doubles the wait up to backoffMax, and a run of backoffReset or longer
// starts the count again.
const (
	backoffMin   = time.Second
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute
)

// supervisor keeps one of the local cloudspace's own processes (wharfd, wharf-ingress)
// running, as systemd or a Nomad service job would in a real cloudspace: when it exits,
// it is reported and started again with back-off, while the agents and the applications
// keep running. Only stop (Ctrl-C) ends it.
type supervisor struct {
	name   string
	start  func() (*devstack.Process, error)
	report func(format string, args ...any)
	// timing, overridable by tests
	min, max, reset time.Duration

	mu       sync.Mutex
	current  *devstack.Process
	restarts int
	cancel   context.CancelFunc
	done     chan struct{}
}

// supervise starts the process once (returning the error if that fails, as a broken
// configuration should stop `make dev` at once) and keeps it running until stop.
func supervise(name string, report func(string, ...any), start func() (*devstack.Process, error)) (*supervisor, error) {
	s := &supervisor{name: name, start: start, report: report, min: backoffMin, max: backoffMax, reset: backoffReset}
	return s, s.run()
}

func (s *supervisor) run() error {
	p, err := s.start()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.current, s.cancel, s.done = p, cancel, make(chan struct{})
	go s.loop(ctx, p)
	return nil
}

func (s *supervisor) loop(ctx context.Context, p *devstack.Process) {
	defer close(s.done)
	wait := s.min
	for {
		started := time.Now()
		select {
		case <-ctx.Done():
			return
		case <-p.Exited():
		}
		if time.Since(started) >= s.reset {
			wait = s.min
		}
		s.report("wharf-dev: %s exited; starting it again in %s", s.name, wait)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			wait = min(2*wait, s.max)
			np, err := s.start()
			if err != nil {
				s.report("wharf-dev: %s: %v; trying again in %s", s.name, err, wait)
				continue
			}
			s.mu.Lock()
			s.current, s.restarts = np, s.restarts+1
			s.mu.Unlock()
			p = np
			break
		}
	}
}

// process returns the process running now (or the last one started).
func (s *supervisor) process() *devstack.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Restarts counts how often the process was started again.
func (s *supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// stop ends the supervision and stops the process, waiting at most timeout for it.
func (s *supervisor) stop(timeout time.Duration) error {
	s.cancel()
	<-s.done
	if err := s.process().Stop(timeout); err != nil {
		return fmt.Errorf("%s: %w", s.name, err)
	}
	return nil
}
