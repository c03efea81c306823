package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Builder runs builds on a cloudspace's builder nodes (Nomad batch jobs running
// wharf-builder, through platform/nomad). Errors: invalid, unavailable, ctx's.
type Builder interface {
	// RunBuild runs one build job, handing each line of its log to emit, and returns
	// how it ended. A cancelled ctx stops the build.
	RunBuild(ctx context.Context, t Target, job BuildJob, emit func(line string)) (BuildResult, error)
}

// BuildJob is what a build's job is given: the build, its spec (a registry blob), and
// where its registry credential waits in Vault (the policy reading it and its path),
// when the registry asks for one.
type BuildJob struct {
	Build, SpecURL, SpecDigest  string
	VaultPolicy, CredentialPath string
}

// Artifacts stores blobs (uploaded sources, build specs) in the cloudspace's registry,
// where every wharfd replica and every builder reaches them. Errors: unavailable.
type Artifacts interface {
	PutBlob(ctx context.Context, repo string, b []byte) (string, error)
	BlobURL(repo, digest string) string
	Host() string
}

// ArtifactRemover deletes what builds left in the registry (platform/registry): a blob
// of a repository by digest, and every image of a repository. Nothing there is no
// error. Errors: unavailable.
type ArtifactRemover interface {
	DeleteBlob(ctx context.Context, repo, digest string) error
	DeleteImages(ctx context.Context, repo string) error
}

// Build states.
const (
	BuildQueued    = "queued"
	BuildRunning   = "running"
	BuildSucceeded = "succeeded"
	BuildFailed    = "failed"
	BuildCancelled = "cancelled"
)

// BuildSource is what a build builds: an uploaded tarball (by its digest), or a git
// repository at a ref.
type BuildSource struct {
	Tarball string `json:"tarball,omitempty"` // sha256:... of the uploaded tar.gz
	GitURL  string `json:"git_url,omitempty"`
	GitRef  string `json:"git_ref,omitempty"`
}

// Build turns an application's codebase into an image in its cloudspace's registry.
// Its log is kept after its job is gone.
type Build struct {
	ID         string      `json:"id"`
	Org        string      `json:"org"`
	App        string      `json:"app"`
	Source     BuildSource `json:"source"`
	Status     string      `json:"status"`
	Image      string      `json:"image,omitempty"`  // by digest, once pushed
	Commit     string      `json:"commit,omitempty"` // the git commit built
	Error      string      `json:"error,omitempty"`
	ReusedFrom string      `json:"reused_from,omitempty"`
	Cancel     bool        `json:"cancel_requested,omitempty"`
	StartedAt  *time.Time  `json:"started_at,omitempty"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
	Seconds    float64     `json:"duration_seconds,omitempty"`
	LogLines   int         `json:"log_lines"`
	CreatedBy  string      `json:"created_by"`
	Meta
}

// Done reports whether the build has ended.
func (b Build) Done() bool {
	return b.Status == BuildSucceeded || b.Status == BuildFailed || b.Status == BuildCancelled
}

// buildLogChunk is a run of a build's log lines, stored under the build.
type buildLogChunk struct {
	Lines []string `json:"lines"`
	Meta
}

func buildPrefix(org, app string) string        { return "builds/" + org + "/" + app + "/" }
func buildKey(org, app, id string) string       { return buildPrefix(org, app) + id }
func appBuildLogsPrefix(org, app string) string { return "build-logs/" + org + "/" + app + "/" }
func buildLogPrefix(org, app, id string) string { return appBuildLogsPrefix(org, app) + id + "/" }
func buildQueueKey(org, app, id string) string  { return buildQueuePrefix + org + "/" + app + "/" + id }
func appBuildSourcesPrefix(org, app string) string {
	return "build-sources/" + org + "/" + app + "/"
}
func buildBySourceKey(org, app, source string) string {
	return appBuildSourcesPrefix(org, app) + strings.ReplaceAll(source, ":", "-")
}

const buildQueuePrefix = "build-queue/"

// Limits of builds.
const (
	MaxSourceBytes    = MaxUploadMB << 20
	DefaultBuildLimit = 30 * time.Minute
	maxLogLineBytes   = 4096
)

var (
	gitRefPattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,200}$`)
)

// CreateBuild stores an uploaded tar.gz source (when tarball is not nil) or records a
// git source, and queues a build of it. A source already built successfully for the
// application is not built again: the new build reuses its image, as a test image is
// reused for live. It needs the developer role.
func (d *Deployer) CreateBuild(ctx context.Context, p Principal, org, app string, src BuildSource, tarball []byte) (Build, error) {
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Build{}, err
	}
	var fe FieldErrors
	switch {
	case tarball != nil:
		if len(tarball) == 0 || len(tarball) > MaxSourceBytes {
			fe.Add("source", "must be a tar.gz of at most %d bytes", MaxSourceBytes)
		} else if len(tarball) < 2 || tarball[0] != 0x1f || tarball[1] != 0x8b {
			fe.Add("source", "must be gzip-compressed (a .tar.gz)")
		}
		src = BuildSource{}
	case src.GitURL != "":
		if msg := checkGitURL(src.GitURL, d.GitLocalHosts); msg != "" {
			fe.Add("git_url", "%s", msg)
		}
		if src.GitRef != "" && (!gitRefPattern.MatchString(src.GitRef) || strings.Contains(src.GitRef, "..") || strings.HasPrefix(src.GitRef, "-")) {
			fe.Add("git_ref", "must be a branch, tag or commit")
		}
	default:
		fe.Add("source", "upload a tar.gz, or give git_url")
	}
	if err := fe.Err(); err != nil {
		return Build{}, err
	}
	t, err := d.target(ctx, org, app, EnvTest)
	if err != nil {
		return Build{}, err
	}
	if tarball != nil {
		digest, err := d.Artifacts.PutBlob(ctx, sourceRepo(t), tarball)
		if err != nil {
			return Build{}, err
		}
		src.Tarball = digest
	}
	now := d.now()
	b := Build{ID: newDeployID(now), Org: org, App: app, Source: src, Status: BuildQueued, CreatedBy: p.Person}
	stamp(&b.Meta, now)
	tx := &txn{}
	// A tarball is known by its content: a successful build of the same bytes is
	// reused. A git ref may move, so only a resolved commit could be reused; that is
	// recorded when the build ends.
	if src.Tarball != "" {
		if prev, err := d.reusable(ctx, org, app, src.Tarball); err != nil {
			return Build{}, err
		} else if prev != nil {
			b.Status, b.Image, b.ReusedFrom, b.Commit = BuildSucceeded, prev.Image, prev.ID, prev.Commit
			b.StartedAt, b.FinishedAt = &now, &now
		}
	}
	tx.create(buildKey(org, app, b.ID), encode(b))
	if !b.Done() {
		tx.create(buildQueueKey(org, app, b.ID), encode(deployLock{Deploy: b.ID}))
	}
	d.audit(tx, p, org, "build.create", app+" "+b.ID)
	if err := d.commit(ctx, tx, "the build"); err != nil {
		return Build{}, err
	}
	d.wake()
	return d.getBuild(ctx, org, app, b.ID)
}

// reusable returns the successful build of source, if any.
func (d *Deployer) reusable(ctx context.Context, org, app, source string) (*Build, error) {
	ref, err := load[deployLock](ctx, d.KV, buildBySourceKey(org, app, source), "build source")
	if ErrorCode(err) == NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := d.getBuild(ctx, org, app, ref.Deploy)
	if err != nil || b.Status != BuildSucceeded {
		return nil, nil
	}
	return &b, nil
}

func sourceRepo(t Target) string { return t.AppRef().SourceRepo() }
func imageRepo(t Target) string  { return t.AppRef().ImageRepo() }

// GetBuild returns one build of the application.
func (d *Deployer) GetBuild(ctx context.Context, p Principal, org, app, id string) (Build, error) {
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Build{}, err
	}
	return d.getBuild(ctx, org, app, id)
}

func (d *Deployer) getBuild(ctx context.Context, org, app, id string) (Build, error) {
	return load[Build](ctx, d.KV, buildKey(org, app, id), "build "+id)
}

// ListBuilds returns a page of the application's builds, oldest first.
func (d *Deployer) ListBuilds(ctx context.Context, p Principal, org, app string, pr PageRequest) (Page[Build], error) {
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Build]{}, err
	}
	return loadPage[Build](ctx, d.KV, buildPrefix(org, app), pr)
}

// BuildLog returns the build's log lines from line from (0-based) on.
func (d *Deployer) BuildLog(ctx context.Context, p Principal, org, app, id string, from int) ([]string, error) {
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return nil, err
	}
	if _, err := d.getBuild(ctx, org, app, id); err != nil {
		return nil, err
	}
	chunks, err := loadAll[buildLogChunk](ctx, d.KV, buildLogPrefix(org, app, id))
	if err != nil {
		return nil, err
	}
	var lines []string
	for _, c := range chunks {
		lines = append(lines, c.Lines...)
	}
	if from >= len(lines) {
		return []string{}, nil
	}
	return lines[max(from, 0):], nil
}

// CancelBuild asks for a build to stop; the controller stops its job and marks it
// cancelled. Cancelling a build that has ended changes nothing.
func (d *Deployer) CancelBuild(ctx context.Context, p Principal, org, app, id string) (Build, error) {
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Build{}, err
	}
	for range 5 {
		b, err := d.getBuild(ctx, org, app, id)
		if err != nil || b.Done() || b.Cancel {
			return b, err
		}
		b.Cancel = true
		stamp(&b.Meta, d.now())
		tx := &txn{}
		tx.update(buildKey(org, app, id), encode(b), b.Index)
		d.audit(tx, p, org, "build.cancel", app+" "+id)
		err = d.KV.Txn(ctx, tx.ops)
		if ErrorCode(err) != Conflict {
			if err != nil {
				return Build{}, err
			}
			d.wake()
			return d.getBuild(ctx, org, app, id)
		}
	}
	return Build{}, Errorf(Conflict, "build %s kept changing; retry", id)
}

// BuildTimeLimit is how long a build may run; DefaultBuildLimit when zero.
func (d *Deployer) buildLimit() time.Duration {
	if d.BuildLimit > 0 {
		return d.BuildLimit
	}
	return DefaultBuildLimit
}

// driveBuild runs a queued build to its end: it stores the build's spec in the
// registry, runs the build job, keeps the log as it comes, and stops the job on cancel
// or past the time limit.
func (d *Deployer) driveBuild(ctx context.Context, queueKey string) {
	org, app, id := splitLock(queueKey)
	b, err := d.getBuild(ctx, org, app, id)
	if err != nil {
		return
	}
	log := d.log().With("build", id, "org", org, "app", app)
	t, err := d.target(ctx, org, app, EnvTest)
	if err != nil {
		log.Warn("build target", "error", err)
		return
	}
	now := d.now()
	b.Status, b.StartedAt = BuildRunning, &now
	if b.Cancel {
		b.Status = BuildCancelled
	}
	bs := &buildState{d: d, b: b}
	if err := bs.save(ctx, nil); err != nil {
		log.Warn("start build", "error", err)
		return
	}
	if b.Status == BuildRunning {
		bs.run(ctx, t)
	}
	if ctx.Err() != nil {
		return // the next controller takes it up again
	}
	bs.flush(ctx)
	end := d.now()
	bs.b.FinishedAt = &end
	bs.b.Seconds = end.Sub(*bs.b.StartedAt).Seconds()
	if err := bs.save(ctx, func(tx *txn) {
		tx.deleteKey(buildQueueKey(org, app, id))
		if bs.b.Status == BuildSucceeded && bs.b.Source.Tarball != "" {
			tx.deleteKey(buildBySourceKey(org, app, bs.b.Source.Tarball))
			tx.create(buildBySourceKey(org, app, bs.b.Source.Tarball), encode(deployLock{Deploy: id}))
		}
	}); err != nil {
		log.Error("record the end of a build", "error", err)
	}
}

// buildState is a build being driven, with the log lines not yet stored.
type buildState struct {
	d       *Deployer
	b       Build
	pending []string
	chunk   int
}

func (bs *buildState) save(ctx context.Context, extra func(*txn)) error {
	for range 5 {
		stamp(&bs.b.Meta, bs.d.now())
		tx := &txn{}
		tx.update(buildKey(bs.b.Org, bs.b.App, bs.b.ID), encode(bs.b), bs.b.Index)
		if extra != nil {
			extra(tx)
		}
		err := bs.d.KV.Txn(ctx, tx.ops)
		if err == nil {
			cur, err := bs.d.getBuild(ctx, bs.b.Org, bs.b.App, bs.b.ID)
			if err == nil {
				bs.b.Index = cur.Index
			}
			return err
		}
		if ErrorCode(err) != Conflict {
			return err
		}
		// A cancel request raced: keep it, and ours.
		cur, gerr := bs.d.getBuild(ctx, bs.b.Org, bs.b.App, bs.b.ID)
		if gerr != nil {
			return gerr
		}
		bs.b.Index, bs.b.Cancel = cur.Index, bs.b.Cancel || cur.Cancel
	}
	return Errorf(Conflict, "build %s kept changing", bs.b.ID)
}

// flush stores the pending log lines as one chunk.
func (bs *buildState) flush(ctx context.Context) {
	if len(bs.pending) == 0 {
		return
	}
	bs.b.LogLines += len(bs.pending)
	chunk := buildLogChunk{Lines: bs.pending}
	stamp(&chunk.Meta, bs.d.now())
	key := buildLogPrefix(bs.b.Org, bs.b.App, bs.b.ID) + fmt.Sprintf("%08d", bs.chunk)
	if err := bs.save(ctx, func(tx *txn) { tx.create(key, encode(chunk)) }); err != nil {
		bs.b.LogLines -= len(bs.pending)
		return
	}
	bs.chunk++
	bs.pending = nil
}

// run runs the build job and sets the build's outcome.
func (bs *buildState) run(ctx context.Context, t Target) {
	d, b := bs.d, bs.b
	// A Dockerfile may start from the organisation's own images, and from no other
	// tenant's.
	apps, err := loadAll[Application](ctx, d.KV, appPrefix(t.Org))
	if err != nil {
		bs.b.Status, bs.b.Error = BuildFailed, ErrorMessage(err)
		return
	}
	var bases []string
	for _, a := range apps {
		bases = append(bases, d.Artifacts.Host()+"/"+AppRef{Org: t.Org, App: a.Name}.ImageRepo())
	}
	spec := map[string]any{
		"image":   d.Artifacts.Host() + "/" + imageRepo(t) + ":build-" + b.ID,
		"timeout": d.buildLimit().String(),
		"git_url": b.Source.GitURL, "git_ref": b.Source.GitRef,
		"base_repos": bases,
	}
	if d.CacheScopes != nil {
		spec["cache_scope"] = d.CacheScopes.CacheScope(t.Org)
	}
	if b.Source.Tarball != "" {
		spec["source_url"] = d.Artifacts.BlobURL(sourceRepo(t), b.Source.Tarball)
		spec["source_digest"] = b.Source.Tarball
	}
	js, _ := json.Marshal(spec)
	specDigest, err := d.Artifacts.PutBlob(ctx, sourceRepo(t), js)
	if err != nil {
		bs.b.Status, bs.b.Error = BuildFailed, ErrorMessage(err)
		return
	}
	// The spec is the build's alone (it names the build): it goes when the build ends.
	if rm, ok := d.Artifacts.(ArtifactRemover); ok {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := rm.DeleteBlob(cctx, sourceRepo(t), specDigest); err != nil {
				d.log().Warn("remove a build's spec from the registry", "build", b.ID, "error", err)
			}
		}()
	}
	// The build's registry credential waits in Vault for its job alone, and is
	// removed (and refused by the token endpoint) once the build has ended.
	policy, credPath, dropCredential, err := d.buildCredential(ctx, t, b.ID)
	if err != nil {
		bs.b.Status, bs.b.Error = BuildFailed, ErrorMessage(err)
		return
	}
	defer dropCredential()
	// The job runs under a context that ends on cancel or past the time limit.
	jctx, stop := context.WithTimeout(ctx, d.buildLimit())
	defer stop()
	cancelled := make(chan struct{})
	go func() {
		for {
			select {
			case <-jctx.Done():
				return
			case <-time.After(time.Second):
			}
			if cur, err := d.getBuild(jctx, b.Org, b.App, b.ID); err == nil && cur.Cancel {
				close(cancelled)
				stop()
				return
			}
		}
	}()
	lines := make(chan string, 256)
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return
				}
				if len(l) > maxLogLineBytes {
					l = l[:maxLogLineBytes] + " …"
				}
				bs.pending = append(bs.pending, l)
				if len(bs.pending) >= 200 {
					bs.flush(ctx)
				}
			case <-tick.C:
				bs.flush(ctx)
			}
		}
	}()
	job := BuildJob{Build: b.ID, SpecURL: d.Artifacts.BlobURL(sourceRepo(t), specDigest), SpecDigest: specDigest, VaultPolicy: policy, CredentialPath: credPath}
	res, err := d.Builder.RunBuild(jctx, t, job, func(l string) { lines <- l })
	close(lines)
	<-flushed
	select {
	case <-cancelled:
		bs.b.Status, bs.b.Error = BuildCancelled, "cancelled on request"
		return
	default:
	}
	switch {
	case ctx.Err() != nil:
		return
	case jctx.Err() != nil:
		bs.b.Status, bs.b.Error = BuildFailed, fmt.Sprintf("stopped: the build passed its time limit of %s", d.buildLimit())
	case err != nil:
		bs.b.Status, bs.b.Error = BuildFailed, ErrorMessage(err)
	case res.Failed:
		bs.b.Status, bs.b.Error = BuildFailed, res.Reason
	default:
		bs.b.Status, bs.b.Image, bs.b.Commit = BuildSucceeded, res.Image, res.Commit
	}
}
