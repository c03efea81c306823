package platform

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// RunRunner runs one-off commands on the cloudspace (Nomad, through platform/nomad).
// Errors: invalid, unavailable, and ctx's error (the job is stopped then).
type RunRunner interface {
	// RunCommand runs the command held in the run configuration's version (a version of
	// the environment's run configuration, RunConfigStore) once, in rel's image, as a
	// batch job named after the run, handing each line it prints to emit, and waits
	// until it ends.
	RunCommand(ctx context.Context, t Target, rel Release, runID string, version int, emit func(stream, line string)) (ReleaseCommandResult, error)
}

// RunConfigStore keeps what a one-off command's task reads (Vault, through
// platform/vault): a copy of a release's runtime configuration with the command in it,
// one KV version per run, at the environment's run configuration path, which only the
// environment's policy reads. Errors: not_found, unavailable, internal.
type RunConfigStore interface {
	// ReadRuntime reads version of the environment's runtime configuration.
	ReadRuntime(ctx context.Context, t Target, version int) (map[string]Secret, error)
	// WriteRunConfig writes values as a new version of the environment's run
	// configuration and returns that version.
	WriteRunConfig(ctx context.Context, t Target, values map[string]Secret) (int, error)
	// AllowRuns makes sure the environment's policy reads its run configuration (a
	// policy written before runs existed lacks it).
	AllowRuns(ctx context.Context, t Target) error
}

// Run states.
const (
	RunRunning   = "running"
	RunSucceeded = "succeeded"
	RunFailed    = "failed"
)

// RunVariable is the runtime variable that holds a run's command; the job runs it as
// it runs a release command.
var RunVariable = CommandVariable("release")

// Limits on runs.
const (
	// MaxRunOutput bounds the lines a run keeps; past it the earliest are left out
	// (Run.Skipped counts them).
	MaxRunOutput = 1000
	// MaxRunLine bounds one kept line, in bytes.
	MaxRunLine = 2048
	// RunsKept is how many runs an environment keeps; older ones are forgotten as new
	// ones start.
	RunsKept = 100
	// DefaultRunLimit is how long a run may take when Runs.Limit is zero.
	DefaultRunLimit = 24 * time.Hour
)

// RunLine is one line a run's command wrote.
type RunLine struct {
	At     time.Time `json:"at"`
	Stream string    `json:"stream"` // stdout or stderr
	Line   string    `json:"line"`
}

// Run is one one-off command in an environment's current release and configuration:
// created running, it ends succeeded (exit 0) or failed (another exit code, or a reason).
// Its output is kept, the last MaxRunOutput lines of it.
type Run struct {
	ID       string    `json:"id"`
	Org      string    `json:"org"`
	App      string    `json:"app"`
	Env      string    `json:"env"`
	Release  int       `json:"release"`
	Command  string    `json:"command"`
	Status   string    `json:"status"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Output   []RunLine `json:"output"`
	// Skipped counts the earliest lines left out; line i of Output is line Skipped+i of
	// the run's output.
	Skipped int `json:"skipped,omitempty"`
	// StopRequested asks whichever wharfd runs it to stop it.
	StopRequested bool       `json:"stop_requested,omitempty"`
	EndedAt       *time.Time `json:"ended_at,omitempty"`
	CreatedBy     string     `json:"created_by"`
	Meta
}

// Done reports whether the run has ended.
func (r Run) Done() bool { return r.Status == RunSucceeded || r.Status == RunFailed }

// RunRequest asks for a run: a command line (run by /bin/sh -c) or an argument vector
// (each argument quoted for the shell), not both.
type RunRequest struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
}

// Line is the shell command line the request runs.
func (in RunRequest) Line() string {
	if len(in.Args) == 0 {
		return in.Command
	}
	q := make([]string, len(in.Args))
	for i, a := range in.Args {
		q[i] = ShellQuote(a)
	}
	return strings.Join(q, " ")
}

// ShellQuote quotes s as one word of a POSIX shell: in single quotes, inside which
// nothing is special but the quote itself, which ends the quoting, is escaped with a
// backslash, and opens it again.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Check reports the request's invalid fields.
func (in RunRequest) Check() FieldErrors {
	var fe FieldErrors
	switch {
	case in.Command != "" && len(in.Args) > 0:
		fe.Add("command", "give command or args, not both")
	case in.Command == "" && len(in.Args) == 0:
		fe.Add("command", "is required (or args)")
	}
	checkCommand(&fe, "command", in.Line(), false)
	return fe
}

func runPrefix(org, app, env string) string  { return "runs/" + org + "/" + app + "/" + env + "/" }
func runKey(org, app, env, id string) string { return runPrefix(org, app, env) + id }
func (r Run) key() string                    { return runKey(r.Org, r.App, r.Env, r.ID) }

// Runs runs one-off commands in environments (Heroku's `run`, a Nomad batch job) and
// keeps them, their output and their exit code. A run is driven by the wharfd that
// created it, in the background, so it goes on when its caller leaves (--detach); any
// replica serves its record, and a stop request reaches it through the record.
type Runs struct {
	*Deployer
	Runner RunRunner
	Config RunConfigStore
	// Shell runs exec sessions in running instances (exec.go); without it exec is
	// unavailable.
	Shell Execer
	// MetricsStore reads environments' metrics (metrics.go); without it they are
	// unavailable.
	MetricsStore MetricsReader
	// Limit is how long a run may take; DefaultRunLimit when zero.
	Limit time.Duration
	// Base is the context runs are driven under; when it ends (wharfd stops), runs in
	// progress are stopped and recorded as failed. context.Background when nil.
	Base context.Context

	wg sync.WaitGroup
}

func (s *Runs) ready() error {
	if s.Runner == nil || s.Config == nil {
		return Errorf(Unavailable, "one-off commands are not configured on this cloudspace")
	}
	return nil
}

// Wait waits for the runs this process drives to end (after Base ended, they end soon).
func (s *Runs) Wait() { s.wg.Wait() }

// CreateRun starts in as a one-off command in the environment's current release and
// configuration, and returns the run at once; it needs the developer role. Errors:
// invalid, not_found, forbidden, conflict (nothing is deployed), unavailable.
func (s *Runs) CreateRun(ctx context.Context, p Principal, ref EnvRef, in RunRequest) (Run, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Run{}, err
	}
	if err := in.Check().Err(); err != nil {
		return Run{}, err
	}
	if err := s.ready(); err != nil {
		return Run{}, err
	}
	e, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env)
	if err != nil {
		return Run{}, err
	}
	st, err := s.envState(ctx, org, app, env)
	if err != nil {
		return Run{}, err
	}
	if st.Release == 0 {
		return Run{}, Errorf(Conflict, "environment %q has no release yet; deploy first", env)
	}
	rel, err := load[Release](ctx, s.KV, releaseKey(org, app, env, st.Release), "release")
	if err != nil {
		return Run{}, err
	}
	t, err := s.target(ctx, org, app, env)
	if err != nil {
		return Run{}, err
	}
	now := s.now()
	r := Run{ID: newDeployID(now), Org: org, App: app, Env: env, Release: rel.Number, Command: in.Line(),
		Status: RunRunning, Output: []RunLine{}, CreatedBy: p.Person, Meta: Meta{CreatedAt: now, UpdatedAt: now}}
	// The run's configuration: the release's own, with the command.
	values, err := s.Config.ReadRuntime(ctx, t, rel.RuntimeVersion)
	if err != nil {
		return Run{}, err
	}
	values[RunVariable] = Secret(r.Command)
	if err := s.Config.AllowRuns(ctx, t); err != nil {
		return Run{}, err
	}
	version, err := s.Config.WriteRunConfig(ctx, t, values)
	if err != nil {
		return Run{}, err
	}
	old, err := s.KV.List(ctx, runPrefix(org, app, env))
	if err != nil {
		return Run{}, err
	}
	tx := &txn{}
	tx.check(envKey(org, app, env), e.Index)
	tx.create(r.key(), encode(r))
	for i := 0; i+RunsKept <= len(old); i++ {
		tx.deleteKey(old[i].Key) // the oldest, past RunsKept
	}
	// The audit names the run, not its command: a command line may hold a secret.
	s.audit(tx, p, org, "run.create", app+"/"+env+" "+r.ID)
	if err := s.commit(ctx, tx, "the environment"); err != nil {
		return Run{}, err
	}
	r, err = load[Run](ctx, s.KV, r.key(), "run "+r.ID)
	if err != nil {
		return Run{}, err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.drive(t, rel, r, version)
	}()
	return r, nil
}

// drive runs r to its end, saving its output as it comes and its outcome at the end.
func (s *Runs) drive(t Target, rel Release, r Run, version int) {
	base := s.Base
	if base == nil {
		base = context.Background()
	}
	limit := s.Limit
	if limit == 0 {
		limit = DefaultRunLimit
	}
	ctx, cancel := context.WithTimeout(base, limit)
	defer cancel()
	rec := &runRecorder{s: s, run: r, stop: cancel, saved: time.Now()}
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(300 * time.Millisecond):
			}
			rec.flush(ctx)
		}
	}()
	res, err := s.Runner.RunCommand(ctx, t, rel, r.ID, version, rec.add)
	stopped := rec.stopRequested()
	cancel()
	<-flushed
	// The outcome is written even when base ended: under a context of its own.
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	rec.finish(fctx, func(run *Run) {
		switch {
		case stopped:
			run.Status, run.Reason = RunFailed, "stopped on request"
		case err != nil && base.Err() != nil:
			run.Status, run.Reason = RunFailed, "wharfd stopped while the command ran"
		case err != nil && ctx.Err() != nil:
			run.Status, run.Reason = RunFailed, fmt.Sprintf("the command ran past its limit of %s", limit)
		case err != nil:
			run.Status, run.Reason = RunFailed, ErrorMessage(err)
		default:
			code := res.ExitCode
			run.ExitCode = &code
			run.Status = RunSucceeded
			if res.Failed {
				run.Status, run.Reason = RunFailed, res.Reason
			}
		}
	})
	if err != nil && !stopped {
		s.log().Warn("run failed", "org", r.Org, "app", r.App, "env", r.Env, "run", r.ID, "error", err)
	}
}

// runRecorder collects a run's output and saves it to the run's record.
type runRecorder struct {
	s    *Runs
	stop context.CancelFunc

	mu      sync.Mutex
	run     Run
	pending []RunLine
	stopped bool
	saved   time.Time // when the record was last written
}

// Runs' liveness: the replica driving a run writes its record at least every
// runHeartbeat; a running run not written for runLost was left by a replica that
// stopped without ending it, and reads as failed.
const (
	runHeartbeat = 30 * time.Second
	runLost      = 3 * time.Minute
)

// lost marks a run whose driver went away as failed, as it is read.
func (r Run) lost(now time.Time) Run {
	if !r.Done() && now.Sub(r.UpdatedAt) > runLost {
		r.Status, r.Reason = RunFailed, "lost: the wharfd running it stopped without ending it"
	}
	return r
}

func (rr *runRecorder) add(stream, line string) {
	if len(line) > MaxRunLine {
		line = line[:MaxRunLine] + "…"
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.pending = append(rr.pending, RunLine{At: rr.s.now(), Stream: stream, Line: line})
}

func (rr *runRecorder) stopRequested() bool {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.stopped
}

// flush saves the lines collected so far; it also sees a stop request.
func (rr *runRecorder) flush(ctx context.Context) {
	rr.save(ctx, nil)
}

func (rr *runRecorder) finish(ctx context.Context, end func(*Run)) {
	rr.save(ctx, end)
}

// save writes the pending lines (and end, when given) with check-and-set, reading the
// record again when a stop request changed it meanwhile.
func (rr *runRecorder) save(ctx context.Context, end func(*Run)) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for try := 0; try < 5; try++ {
		cur, err := load[Run](ctx, rr.s.KV, rr.run.key(), "run")
		if err != nil {
			return // gone (the environment was deleted), or the store is away: next time
		}
		if cur.StopRequested && !rr.stopped {
			rr.stopped = true
			rr.stop()
		}
		if len(rr.pending) == 0 && end == nil && time.Since(rr.saved) < runHeartbeat {
			return
		}
		next := cur
		next.Output = append(append([]RunLine{}, cur.Output...), rr.pending...)
		if n := len(next.Output); n > MaxRunOutput {
			next.Skipped += n - MaxRunOutput
			next.Output = next.Output[n-MaxRunOutput:]
		}
		if end != nil {
			end(&next)
			now := rr.s.now()
			next.EndedAt = &now
		}
		next.UpdatedAt = rr.s.now()
		err = rr.s.KV.Txn(ctx, []Op{{Kind: OpUpdate, Key: next.key(), Value: encode(next), Index: cur.Index}})
		if err == nil {
			rr.pending, rr.saved = nil, time.Now()
			return
		}
		if ErrorCode(err) != Conflict {
			return
		}
	}
}

// GetRun returns one run of the environment, with its output; it needs the developer
// role, as its output may show the environment's secrets. Errors: not_found, forbidden.
func (s *Runs) GetRun(ctx context.Context, p Principal, ref EnvRef, id string) (Run, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Run{}, err
	}
	r, err := load[Run](ctx, s.KV, runKey(org, app, env, id), "run "+id)
	return r.lost(s.now()), err
}

// ListRuns returns a page of the environment's runs, oldest first (developer).
func (s *Runs) ListRuns(ctx context.Context, p Principal, ref EnvRef, pr PageRequest) (Page[Run], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Page[Run]{}, err
	}
	if _, err := load[Environment](ctx, s.KV, envKey(org, app, env), "environment "+env); err != nil {
		return Page[Run]{}, err
	}
	page, err := loadPage[Run](ctx, s.KV, runPrefix(org, app, env), pr)
	for i := range page.Items {
		page.Items[i] = page.Items[i].lost(s.now())
	}
	return page, err
}

// StopRun asks for a run in progress to be stopped (developer); the wharfd driving it
// stops its job within a second and records it as failed. Stopping an ended run
// changes nothing. Errors: not_found, forbidden, conflict.
func (s *Runs) StopRun(ctx context.Context, p Principal, ref EnvRef, id string) (Run, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := s.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Run{}, err
	}
	r, err := load[Run](ctx, s.KV, runKey(org, app, env, id), "run "+id)
	if err != nil || r.Done() || r.StopRequested {
		return r, err
	}
	r.StopRequested = true
	tx := &txn{}
	tx.update(r.key(), encode(r), r.Index)
	s.audit(tx, p, org, "run.stop", app+"/"+env+" "+r.ID)
	if err := s.commit(ctx, tx, "the run"); err != nil {
		return Run{}, err
	}
	return load[Run](ctx, s.KV, r.key(), "run "+id)
}
