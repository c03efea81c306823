package nomad

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// Runtime says how a cloudspace's jobs run beyond what a release says: the groups'
// network mode ("bridge" by default, tasks fenced off from the node; "host"),
// datacenters, and how a rolling deploy is timed.
type Runtime struct {
	NetworkMode string
	Datacenters []string
	Update      *jobspecs.UpdatePolicy
	// Builder is the path of wharf-builder on the cloudspace's builder nodes;
	// BuildNetwork the Docker network of builds' RUN steps ("none" when empty).
	Builder      string
	BuildNetwork string
}

func (c *Client) common(t platform.Target, rel platform.Release) jobspecs.Common {
	dcs := c.runtime.Datacenters
	return jobspecs.Common{
		Region:         t.Cloudspace.Region,
		Datacenters:    dcs,
		NodePool:       t.Cloudspace.NodePool,
		Image:          rel.Image,
		NetworkMode:    c.runtime.NetworkMode,
		Stage:          t.Env,
		Domain:         t.Domain,
		Release:        rel.Number,
		VaultPolicy:    t.VaultPolicy(),
		RuntimePath:    "secret/data/" + t.RuntimePath(),
		RuntimeVersion: rel.RuntimeVersion,
		Services:       services(rel.Config.Services),
		Storage:        storage(rel.Config.Services),
		Meta: map[string]string{
			"wharf_org": t.Org, "wharf_app": t.App, "wharf_env": t.Env,
			"wharf_release": strconv.Itoa(rel.Number),
		},
	}
}

// services are the release's service instances as the templates take them.
func services(bs []platform.ServiceBinding) []jobspecs.Service {
	out := make([]jobspecs.Service, 0, len(bs))
	for _, b := range bs {
		if b.Kind == platform.ServiceStorage {
			continue
		}
		out = append(out, jobspecs.Service{Name: b.Name, Prefix: b.Prefix, DatabaseURL: b.Prefix == platform.DefaultServicePrefix,
			Role: b.CredentialsRole, Address: b.Address, Database: b.Database})
	}
	return out
}

// storage are the release's storage instances as the templates take them.
func storage(bs []platform.ServiceBinding) []jobspecs.Storage {
	var out []jobspecs.Storage
	for _, b := range bs {
		if b.Kind != platform.ServiceStorage {
			continue
		}
		out = append(out, jobspecs.Storage{Name: b.Name, Prefix: b.Prefix, Defaults: b.Prefix == platform.DefaultServicePrefix,
			Path: "secret/data/" + platform.StorageCredentialsPath(b.CredentialsRole), Bucket: b.Bucket,
			Endpoint: b.Endpoint, Region: b.Region, PublicURL: b.PublicURL})
	}
	return out
}

func (c *Client) write(ctx context.Context, region string) *nomadapi.WriteOptions {
	return (&nomadapi.WriteOptions{Region: region}).WithContext(ctx)
}

func (c *Client) query(ctx context.Context, region string) *nomadapi.QueryOptions {
	return (&nomadapi.QueryOptions{Region: region}).WithContext(ctx)
}

// RegisterService renders the environment's service job for rel, with scale overriding
// the release's own instances and memory per process (nil: the release's), and
// registers it. It returns the job version Nomad now runs and whether that version is
// new (an identical job makes none, and no deployment). Errors: invalid, unavailable.
func (c *Client) RegisterService(ctx context.Context, t platform.Target, rel platform.Release, scale map[string]platform.ProcessScale, restartNonce string) (version uint64, changed bool, err error) {
	vars := jobspecs.WebVars{Common: c.common(t, rel), ServiceName: t.ServiceName(), Update: c.runtime.Update}
	for _, name := range rel.Config.ProcessNames() {
		p := rel.Config.Processes[name]
		if s, ok := scale[name]; ok {
			p.Instances, p.MemoryMB = s.Instances, s.MemoryMB
		}
		vars.Processes = append(vars.Processes, jobspecs.Process{
			Name: name, Command: p.Command != "", Count: p.Instances, CPU: 100,
			MemoryMB: p.MemoryMB, HTTP: name == "web", HealthPath: p.HealthPath,
		})
	}
	if restartNonce != "" {
		// A changed meta value makes a new job version: Nomad replaces every instance,
		// health-gated, as in any deploy.
		vars.Meta["wharf_restart"] = restartNonce
	}
	job, err := jobspecs.Render(ctx, c, t.JobID(), vars)
	if err != nil {
		return 0, false, err
	}
	before, _ := c.jobVersion(ctx, t.Cloudspace.Region, t.JobID())
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, t.Cloudspace.Region)); err != nil {
		return 0, false, translate(err, "register job")
	}
	after, err := c.jobVersion(ctx, t.Cloudspace.Region, t.JobID())
	if err != nil {
		return 0, false, err
	}
	if after == nil {
		return 0, false, platform.Errorf(platform.Unavailable, "job %s vanished after registration", t.JobID())
	}
	return *after, before == nil || *before != *after, nil
}

// jobVersion returns the job's current version, nil when there is no such job.
func (c *Client) jobVersion(ctx context.Context, region, jobID string) (*uint64, error) {
	job, _, err := c.api.Jobs().Info(jobID, c.query(ctx, region))
	if err != nil {
		if e := translate(err, "read job"); platform.ErrorCode(e) == platform.NotFound {
			return nil, nil
		}
		return nil, translate(err, "read job")
	}
	return job.Version, nil
}

// WatchDeployment follows the Nomad deployment of the job's version until it ends,
// reporting progress whenever it changes. A job version whose registration made no
// deployment (nothing changed, or every count is zero) ends at once as successful.
// Errors: unavailable, and ctx's error.
//
// It does not wait for Nomad's progress deadline when the new instances show they will
// not become healthy: an instance whose allocation failed (it kept exiting beyond the
// group's restart policy) or that Nomad marked unhealthy (past the healthy deadline)
// after its task had exited fails the deployment at once, which Nomad's auto_revert then rolls back; the outcome
// names the instance, its exit code and its last lines. Allocations are looked at every
// two seconds while the deployment runs.
func (c *Client) WatchDeployment(ctx context.Context, region, jobID string, version uint64, progress func(platform.DeployProgress)) (platform.DeployOutcome, error) {
	var index uint64
	var last string
	var evidence []string
	var ours string // our version's deployment, once seen
	for {
		q := c.query(ctx, region)
		q.WaitIndex, q.WaitTime = index, 2*time.Second
		d, meta, err := c.api.Jobs().LatestDeployment(jobID, q)
		if err != nil {
			if ctx.Err() != nil {
				return platform.DeployOutcome{}, ctx.Err()
			}
			return platform.DeployOutcome{}, translate(err, "watch deployment")
		}
		index = meta.LastIndex
		if d == nil || d.JobVersion < version {
			// No deployment for this version yet. Nomad makes one with the version's
			// first evaluation, or none at all when no group changed.
			job, _, err := c.api.Jobs().Info(jobID, c.query(ctx, region))
			if err == nil && job.Version != nil && *job.Version == version && noDeploymentExpected(job) {
				return platform.DeployOutcome{Status: "successful", Description: "no instances to replace"}, nil
			}
			continue
		}
		if d.JobVersion > version {
			// A later version exists: Nomad reverted ours, or another deploy followed.
			// Nomad may have reverted before our look at the allocations: look now.
			if evidence == nil && ours != "" {
				evidence = c.failingInstances(ctx, region, ours)
			}
			return platform.DeployOutcome{Status: "failed", Description: "superseded by job version " + strconv.FormatUint(d.JobVersion, 10), Reverted: true, Evidence: evidence}, nil
		}
		ours = d.ID
		p := platform.DeployProgress{Status: d.Status, Groups: map[string]platform.GroupProgress{}}
		for name, g := range d.TaskGroups {
			p.Groups[name] = platform.GroupProgress{Desired: g.DesiredTotal, Placed: g.PlacedAllocs, Healthy: g.HealthyAllocs, Unhealthy: g.UnhealthyAllocs}
		}
		if key := fmt.Sprint(p); key != last && progress != nil {
			last = key
			progress(p)
		}
		switch d.Status {
		case nomadapi.DeploymentStatusSuccessful:
			return platform.DeployOutcome{Status: "successful", Description: d.StatusDescription}, nil
		case nomadapi.DeploymentStatusFailed, nomadapi.DeploymentStatusCancelled:
			if evidence == nil {
				evidence = c.failingInstances(ctx, region, d.ID)
			}
			out := platform.DeployOutcome{Status: d.Status, Description: d.StatusDescription, Evidence: evidence}
			out.Reverted = strings.Contains(d.StatusDescription, "rolling back")
			return out, nil
		case nomadapi.DeploymentStatusRunning:
			if evidence != nil {
				continue // failed already; waiting for Nomad to say so
			}
			if evidence = c.failingInstances(ctx, region, d.ID); evidence != nil {
				if _, _, err := c.api.Deployments().Fail(d.ID, c.write(ctx, region)); err != nil {
					return platform.DeployOutcome{}, translate(err, "fail deployment")
				}
			}
		}
	}
}

// failingInstances returns, for each allocation of the deployment that failed or that
// Nomad marked unhealthy, what shows it: the instance, how it ended, its exit code and
// its last lines of output. It returns nil while none does.
func (c *Client) failingInstances(ctx context.Context, region, deployment string) []string {
	stubs, _, err := c.api.Deployments().Allocations(deployment, c.query(ctx, region))
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range stubs {
		// An instance Nomad marked unhealthy counts only when its task has exited: one
		// that is merely slow (a loaded node can take longer than the healthy deadline
		// to start it) keeps Nomad's progress deadline, within which it is rescheduled.
		unhealthy := s.DeploymentStatus != nil && s.DeploymentStatus.Healthy != nil && !*s.DeploymentStatus.Healthy && exited(s.TaskStates["app"])
		if s.ClientStatus != nomadapi.AllocClientStatusFailed && !unhealthy {
			continue
		}
		what := s.TaskGroup + "." + strconv.Itoa(allocIndex(s.Name))
		if s.ClientStatus == nomadapi.AllocClientStatusFailed {
			what += " failed"
		} else {
			what += " did not become healthy in time"
		}
		if st := s.TaskStates["app"]; st != nil {
			for i := len(st.Events) - 1; i >= 0; i-- {
				if ev := st.Events[i]; ev.Type == nomadapi.TaskTerminated {
					what += fmt.Sprintf(" (exited with code %d", ev.ExitCode)
					if ev.Signal != 0 {
						what += fmt.Sprintf(", signal %d", ev.Signal)
					}
					if ev.Details["oom_killed"] == "true" || strings.Contains(ev.DisplayMessage, "OOM") {
						what += ", killed for exceeding its memory"
					}
					what += fmt.Sprintf("; restarted %d times)", st.Restarts)
					break
				}
			}
		}
		out = append(out, what)
		if alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, region)); err == nil {
			for _, stream := range []string{"stdout", "stderr"} {
				var lines []string
				lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				c.streamTask(lctx, region, alloc, "app", stream, false, func(l string) {
					if lines = append(lines, l); len(lines) > lastLines {
						lines = lines[1:]
					}
				})
				cancel()
				for _, l := range lines {
					out = append(out, what[:strings.IndexByte(what, ' ')]+" "+stream+": "+l)
				}
			}
		}
	}
	return out
}

// exited reports whether the task has ended at least once.
func exited(st *nomadapi.TaskState) bool {
	if st == nil {
		return false
	}
	if st.Restarts > 0 || st.State == "dead" {
		return true
	}
	for _, ev := range st.Events {
		if ev.Type == nomadapi.TaskTerminated {
			return true
		}
	}
	return false
}

// lastLines is how many of a failing instance's last lines per stream a deploy shows.
const lastLines = 10

// noDeploymentExpected reports whether Nomad will make no deployment for the job's
// current version.
func noDeploymentExpected(job *nomadapi.Job) bool {
	if job.SubmitTime == nil {
		return false
	}
	// Nomad creates the deployment with the job's first evaluation; two seconds after
	// submission there is one, or there will be none.
	return time.Since(time.Unix(0, *job.SubmitTime)) > 2*time.Second
}

// RunReleaseCommand runs rel's release command once, as a batch job, handing each line
// it prints to logf, and waits until it ends. The job is purged afterwards. Errors:
// invalid, unavailable, and ctx's error (the job is stopped then).
func (c *Client) RunReleaseCommand(ctx context.Context, t platform.Target, rel platform.Release, logf func(stream, line string)) (platform.ReleaseCommandResult, error) {
	region := t.Cloudspace.Region
	id := t.ReleaseJobID(rel.Number)
	job, err := jobspecs.Render(ctx, c, id, jobspecs.ReleaseVars{Common: c.common(t, rel)})
	if err != nil {
		return platform.ReleaseCommandResult{}, err
	}
	alloc, err := c.runBatch(ctx, region, job, "release", logf)
	if err != nil {
		return platform.ReleaseCommandResult{}, err
	}
	return batchResult(alloc, "release"), nil
}

// batchResult is how the task of a batch job's ended allocation ended.
func batchResult(alloc *nomadapi.Allocation, task string) platform.ReleaseCommandResult {
	res := platform.ReleaseCommandResult{Failed: alloc.ClientStatus != nomadapi.AllocClientStatusComplete}
	if st := alloc.TaskStates[task]; st != nil {
		for _, ev := range st.Events {
			if ev.Type == nomadapi.TaskTerminated {
				res.ExitCode = ev.ExitCode
				if ev.Details["oom_killed"] == "true" {
					res.Reason = "killed for exceeding its memory"
				}
			}
			if ev.Type == nomadapi.TaskDriverFailure || ev.Type == nomadapi.TaskSetupFailure {
				res.Reason = ev.DisplayMessage
			}
		}
	}
	if res.Failed && res.Reason == "" {
		res.Reason = fmt.Sprintf("exited with code %d", res.ExitCode)
	}
	return res
}

// SyncCron makes the environment's periodic jobs match rel's cron entries: one job per
// entry, and none for entries that are gone. Errors: invalid, unavailable.
func (c *Client) SyncCron(ctx context.Context, t platform.Target, rel platform.Release) error {
	region := t.Cloudspace.Region
	prefix := t.CronJobPrefix()
	want := map[string]bool{}
	for _, e := range rel.Config.Cron {
		id := t.CronJobID(e.Name)
		want[id] = true
		job, err := jobspecs.Render(ctx, c, id, jobspecs.CronVars{Common: c.common(t, rel), Name: e.Name, Schedule: e.Schedule})
		if err != nil {
			return err
		}
		if _, _, err := c.api.Jobs().Register(job, c.write(ctx, region)); err != nil {
			return translate(err, "register cron job")
		}
	}
	stubs, _, err := c.api.Jobs().List((&nomadapi.QueryOptions{Region: region, Prefix: prefix}).WithContext(ctx))
	if err != nil {
		return translate(err, "list cron jobs")
	}
	for _, s := range stubs {
		// Children of a periodic job carry its ID and a suffix; only parents are ours.
		if !want[s.ID] && s.ParentID == "" {
			if _, _, err := c.api.Jobs().Deregister(s.ID, true, c.write(ctx, region)); err != nil {
				return translate(err, "remove cron job")
			}
		}
	}
	return nil
}

// DeleteEnvironment stops and purges every job of the environment: its service, its
// cron entries and any release command still running. Errors: unavailable.
func (c *Client) DeleteEnvironment(ctx context.Context, t platform.Target) error {
	region := t.Cloudspace.Region
	// Every job of the environment, and no other environment's, has its JobPrefix.
	stubs, _, err := c.api.Jobs().List((&nomadapi.QueryOptions{Region: region, Prefix: t.JobPrefix()}).WithContext(ctx))
	if err != nil {
		return translate(err, "list jobs")
	}
	for _, s := range stubs {
		if !strings.HasPrefix(s.ID, t.JobPrefix()) || s.ParentID != "" {
			continue
		}
		if _, _, err := c.api.Jobs().Deregister(s.ID, true, c.write(ctx, region)); err != nil {
			return translate(err, "remove job")
		}
	}
	return nil
}

// Instances lists the environment's instances that are not terminal.
func (c *Client) Instances(ctx context.Context, t platform.Target) ([]platform.Instance, error) {
	stubs, _, err := c.api.Jobs().Allocations(t.JobID(), false, c.query(ctx, t.Cloudspace.Region))
	if err != nil {
		return nil, translate(err, "list allocations")
	}
	var out []platform.Instance
	for _, s := range stubs {
		if s.ClientStatus != nomadapi.AllocClientStatusPending && s.ClientStatus != nomadapi.AllocClientStatusRunning {
			continue
		}
		in := platform.Instance{ID: s.ID, Process: s.TaskGroup, Index: allocIndex(s.Name), Status: s.ClientStatus, Version: s.JobVersion}
		if s.DeploymentStatus != nil {
			in.Healthy = s.DeploymentStatus.Healthy
		}
		if ts := s.TaskStates[execTask]; ts != nil {
			in.Restarts = ts.Restarts
			in.OOMKills, in.LastOOMKill = oomKills(ts)
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Process != out[j].Process {
			return out[i].Process < out[j].Process
		}
		return out[i].Index < out[j].Index
	})
	return out, nil
}

// allocIndex reads the index from an allocation name, "job.group[3]".
func allocIndex(name string) int {
	i := strings.LastIndexByte(name, '[')
	if i < 0 || !strings.HasSuffix(name, "]") {
		return 0
	}
	n, _ := strconv.Atoi(name[i+1 : len(name)-1])
	return n
}

// Logs streams the output of the environment's running instances (of one process when
// process is not empty) to emit, stdout and stderr alike, each line tagged with its
// process and instance. Without follow it returns once every instance's output so far
// has been sent; with follow it goes on, taking up instances as they start, until ctx
// ends. emit is called from one goroutine at a time. Errors: unavailable.
func (c *Client) Logs(ctx context.Context, t platform.Target, process string, follow bool, emit func(platform.LogLine)) error {
	var mu sync.Mutex
	send := func(l platform.LogLine) {
		mu.Lock()
		defer mu.Unlock()
		emit(l)
	}
	var wg sync.WaitGroup
	seen := map[string]bool{}
	region := t.Cloudspace.Region
	for {
		insts, err := c.Instances(ctx, t)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return err
		}
		for _, in := range insts {
			if seen[in.ID] || (process != "" && in.Process != process) || in.Status != nomadapi.AllocClientStatusRunning {
				continue
			}
			alloc, _, err := c.api.Allocations().Info(in.ID, c.query(ctx, region))
			if err != nil {
				continue
			}
			seen[in.ID] = true
			name := in.Process + "." + strconv.Itoa(in.Index)
			for _, stream := range []string{"stdout", "stderr"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.streamTask(ctx, region, alloc, "app", stream, follow, func(line string) {
						send(platform.LogLine{Process: in.Process, Instance: name, Stream: stream, Line: line})
					})
				}()
			}
		}
		if !follow {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
			continue
		}
		break
	}
	wg.Wait()
	return nil
}

// streamTask hands each line of one task's stdout or stderr to emit until the end of
// what is written (or, following, until ctx ends).
func (c *Client) streamTask(ctx context.Context, region string, alloc *nomadapi.Allocation, task, stream string, follow bool, emit func(string)) {
	lines := &lineSplitter{emit: emit}
	c.readPass(ctx, region, alloc, task, stream, follow, 0, lines)
	lines.flush()
}

// lineSplitter cuts a stream's bytes into lines for emit, and stops at the line end when
// end is not "" (that line is not emitted).
type lineSplitter struct {
	emit    func(string)
	end     string
	partial []byte
}

// add takes more of the stream and reports whether the line end was met.
func (l *lineSplitter) add(data []byte) bool {
	l.partial = append(l.partial, data...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return false
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if l.end != "" && line == l.end {
			return true
		}
		l.emit(line)
	}
}

// flush emits what is left after the last newline.
func (l *lineSplitter) flush() {
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}

// readPass reads one pass of a task's stream from offset into lines until the stream
// ends or breaks off, ctx ends, or lines meets its end. It returns the offset reached and
// whether the end was met.
func (c *Client) readPass(ctx context.Context, region string, alloc *nomadapi.Allocation, task, stream string, follow bool, offset int64, lines *lineSplitter) (int64, bool) {
	cancel := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { close(cancel) })
	defer func() {
		if stop() {
			close(cancel)
		}
	}()
	frames, errs := c.api.AllocFS().Logs(alloc, follow, task, stream, nomadapi.OriginStart, offset, cancel, c.query(ctx, region))
	for {
		select {
		case f, ok := <-frames:
			if !ok {
				return offset, false
			}
			offset += int64(len(f.Data))
			if lines.add(f.Data) {
				return offset, true
			}
		case <-errs:
			return offset, false
		case <-ctx.Done():
			return offset, false
		}
	}
}
