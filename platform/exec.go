package platform

import (
	"context"
	"io"
	"strconv"
	"strings"
)

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Height int `json:"height"`
	Width  int `json:"width"`
}

// ExecSession is one command run in a running instance: its command (DefaultShell when
// empty), whether it gets a terminal, and its streams. Resize, when not nil, carries the
// terminal's new sizes.
type ExecSession struct {
	Command []string
	TTY     bool
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Resize  <-chan TerminalSize
}

// DefaultShell is what an exec session without a command runs.
var DefaultShell = []string{"/bin/sh"}

// Execer runs a command inside one of an environment's running instances (Nomad's
// alloc exec, through platform/nomad) and returns its exit code. Errors: not_found (no
// such instance of the environment), unavailable, and ctx's error.
type Execer interface {
	Exec(ctx context.Context, t Target, instanceID string, s ExecSession) (int, error)
}

// ExecTarget is an instance an exec session was allowed into (OpenExec).
type ExecTarget struct {
	Target   Target
	Instance Instance
	Name     string // process.index, as web.0
}

// MaxExecCommand bounds an exec session's command: arguments and bytes.
const (
	MaxExecArgs  = 256
	MaxExecBytes = MaxCommandLength
)

// CheckExecCommand reports what is wrong with an exec session's command.
func CheckExecCommand(cmd []string) FieldErrors {
	var fe FieldErrors
	n := 0
	for _, a := range cmd {
		n += len(a)
		if strings.ContainsRune(a, 0) {
			fe.Add("command", "must not hold NUL characters")
			return fe
		}
	}
	if len(cmd) > MaxExecArgs || n > MaxExecBytes {
		fe.Add("command", "must be at most %d arguments and %d bytes", MaxExecArgs, MaxExecBytes)
	}
	if len(cmd) > 0 && cmd[0] == "" {
		fe.Add("command", "must name a program")
	}
	return fe
}

// OpenExec allows p into an instance of the environment, named "process.index" (web.0;
// the first web instance, or the first instance, when empty), for an interactive
// session, and records who went into which instance, and when, in the organisation's
// audit log (never what is typed). It needs the developer role, as the session sees
// the environment's secrets. Errors: not_found, forbidden, conflict (nothing runs),
// unavailable.
func (s *Runs) OpenExec(ctx context.Context, p Principal, ref EnvRef, instance string) (ExecTarget, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return ExecTarget{}, err
	}
	if s.Shell == nil {
		return ExecTarget{}, Errorf(Unavailable, "exec is not configured on this cloudspace")
	}
	e, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env)
	if err != nil {
		return ExecTarget{}, err
	}
	process, index := "", -1
	if instance != "" {
		proc, idx, ok := strings.Cut(instance, ".")
		n, err := strconv.Atoi(idx)
		if !ok || CheckName(proc) != "" || err != nil || n < 0 || strconv.Itoa(n) != idx {
			return ExecTarget{}, Errorf(NotFound, "instance %q not found: name one as process.index, as web.0", instance)
		}
		process, index = proc, n
	}
	t, err := s.target(ctx, org, app, env)
	if err != nil {
		return ExecTarget{}, err
	}
	all, err := s.Scheduler.Instances(ctx, t)
	if err != nil {
		return ExecTarget{}, err
	}
	var running []Instance
	for _, in := range all {
		if in.Status == "running" {
			running = append(running, in)
		}
	}
	if len(running) == 0 {
		return ExecTarget{}, Errorf(Conflict, "no instance of environment %q is running", env)
	}
	var found *Instance
	for i, in := range running {
		switch {
		case process != "" && in.Process == process && in.Index == index:
			found = &running[i]
		case process == "" && found == nil && in.Process == "web":
			found = &running[i]
		}
	}
	if process == "" && found == nil {
		found = &running[0]
	}
	if found == nil {
		return ExecTarget{}, Errorf(NotFound, "instance %s of environment %q is not running", instance, env)
	}
	name := found.Process + "." + strconv.Itoa(found.Index)
	tx := &txn{}
	tx.check(envKey(org, app, env), e.Index)
	s.audit(tx, p, org, "exec", app+"/"+env+" "+name+" ("+found.ID+")")
	if err := s.commit(ctx, tx, "the environment"); err != nil {
		return ExecTarget{}, err
	}
	return ExecTarget{Target: t, Instance: *found, Name: name}, nil
}

// Exec runs a session in an instance OpenExec allowed, until its command exits, and
// returns its exit code. Errors: invalid, not_found (the instance stopped), unavailable.
func (s *Runs) Exec(ctx context.Context, x ExecTarget, session ExecSession) (int, error) {
	if err := CheckExecCommand(session.Command).Err(); err != nil {
		return 0, err
	}
	if len(session.Command) == 0 {
		session.Command = DefaultShell
	}
	code, err := s.Shell.Exec(ctx, x.Target, x.Instance.ID, session)
	s.log().Info("exec session ended", "org", x.Target.Org, "app", x.Target.App, "env", x.Target.Env, "instance", x.Name, "exit_code", code, "error", err)
	return code, err
}
