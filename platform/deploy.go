package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Scheduler runs environments on a cloudspace's orchestrator (Nomad, through
// platform/nomad). Every method returns invalid, unavailable, or ctx's error.
type Scheduler interface {
	// RunReleaseCommand runs rel's release command once and waits until it ends.
	RunReleaseCommand(ctx context.Context, t Target, rel Release, logf func(stream, line string)) (ReleaseCommandResult, error)
	// RegisterService makes the environment run rel with scale, and returns the
	// scheduler's version of it and whether that version is new. A non-empty
	// restartNonce replaces every instance.
	RegisterService(ctx context.Context, t Target, rel Release, scale map[string]ProcessScale, restartNonce string) (uint64, bool, error)
	// WatchDeployment follows the rollout of version until it ends.
	WatchDeployment(ctx context.Context, region, jobID string, version uint64, progress func(DeployProgress)) (DeployOutcome, error)
	// SyncCron makes the environment's scheduled commands rel's.
	SyncCron(ctx context.Context, t Target, rel Release) error
	// DeleteEnvironment stops everything the environment runs.
	DeleteEnvironment(ctx context.Context, t Target) error
	// Instances lists the environment's live instances.
	Instances(ctx context.Context, t Target) ([]Instance, error)
	// Logs streams the output of the environment's instances.
	Logs(ctx context.Context, t Target, process string, follow bool, emit func(LogLine)) error
}

// RuntimeStore keeps what an environment's tasks read at run time, in the secret store
// (Vault, through platform/vault). Errors: not_found (SecretValue), unavailable,
// internal.
type RuntimeStore interface {
	// SecretValue reads a secret variable's value at a version (0: the latest).
	SecretValue(ctx context.Context, path string, version int) (Secret, error)
	// SecretKey returns the environment's generated SECRET_KEY, made on first use.
	SecretKey(ctx context.Context, t Target) (Secret, error)
	// WriteRuntime stores a new version of the environment's runtime configuration.
	WriteRuntime(ctx context.Context, t Target, values map[string]Secret) (int, error)
	// PutEnvPolicy lets the environment's tasks read its runtime configuration and
	// the credentials of the given service instances (database roles, storage keys),
	// nothing else.
	PutEnvPolicy(ctx context.Context, t Target, services []ServiceBinding) error
	// DeleteEnv removes the environment's runtime configuration and policy.
	DeleteEnv(ctx context.Context, t Target) error
}

// Router publishes where an environment's web process answers, for the cloudspace's
// ingress (route records in Consul KV, through cmd/wharfd). Errors: invalid, conflict,
// unavailable.
type Router interface {
	PublishRoute(ctx context.Context, t Target, spec RouteSpec) error
	WithdrawRoute(ctx context.Context, t Target) error
}

// ProcessDef declares one long-running process: its command (empty: the image's own)
// and, for web, the path its health check asks for.
type ProcessDef struct {
	Command    string `json:"command"`
	HealthPath string `json:"health_path,omitempty"`
}

// Procfile declares what an environment runs from its image: processes ("web" receives
// HTTP on $PORT), an optional release command run once per deploy, and cron entries.
type Procfile struct {
	Org            string                `json:"org"`
	App            string                `json:"app"`
	Env            string                `json:"env"`
	Processes      map[string]ProcessDef `json:"processes"`
	ReleaseCommand string                `json:"release_command,omitempty"`
	Cron           []CronEntry           `json:"cron"`
	Meta
}

// The kinds of deploy. Each changes what an environment runs, one at a time, through
// the scheduler's health-gated rollout.
const (
	DeployRelease  = "release"  // a new release of an image
	DeployRollback = "rollback" // a new release from an earlier one's image and configuration
	DeployScale    = "scale"    // the running release at the environment's scale
	DeployStop     = "stop"     // the running release at no instances
	DeployStart    = "start"    // the running release at its scale again
	DeployRestart  = "restart"  // every instance replaced
)

// Deploy states.
const (
	DeployQueued    = "queued"
	DeployRunning   = "running"
	DeploySucceeded = "succeeded"
	DeployFailed    = "failed"
)

// Deploy phases, in order.
const (
	PhaseQueued         = "queued"
	PhaseRelease        = "release_created"
	PhaseReleaseCommand = "release_command"
	PhaseRegistered     = "registered"
	PhaseRollout        = "rollout"
	PhaseDone           = "done"
)

// DeployEvent is one line of a deploy's progress.
type DeployEvent struct {
	At      time.Time `json:"at"`
	Phase   string    `json:"phase"`
	Message string    `json:"message"`
}

// Deploy is one change to what an environment runs, from request to outcome. Its
// events tell its progress; it ends succeeded or failed, and a failed deploy leaves the
// environment running what it ran before.
type Deploy struct {
	ID         string        `json:"id"`
	Org        string        `json:"org"`
	App        string        `json:"app"`
	Env        string        `json:"env"`
	Kind       string        `json:"kind"`
	Image      string        `json:"image,omitempty"`
	Build      string        `json:"build,omitempty"`
	GitCommit  string        `json:"git_commit,omitempty"`
	RollbackTo int           `json:"rollback_to,omitempty"`
	Release    int           `json:"release,omitempty"`
	Status     string        `json:"status"`
	Phase      string        `json:"phase"`
	JobVersion uint64        `json:"job_version,omitempty"`
	Events     []DeployEvent `json:"events"`
	Error      string        `json:"error,omitempty"`
	CreatedBy  string        `json:"created_by"`
	Meta
}

// Done reports whether the deploy has ended.
func (d Deploy) Done() bool { return d.Status == DeploySucceeded || d.Status == DeployFailed }

// DeployRequest asks for a deploy.
type DeployRequest struct {
	Kind      string
	Image     string
	Build     string // a build whose image to deploy, once it succeeds (instead of Image)
	GitCommit string
	Release   int // for a rollback: the release to return to
}

// EnvState is what an environment runs now: the release of its last successful deploy,
// and whether it is stopped.
type EnvState struct {
	Org     string `json:"org"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Release int    `json:"release"`
	Stopped bool   `json:"stopped"`
	Meta
}

// EnvStatus is an environment's state at a glance.
type EnvStatus struct {
	Release   int        `json:"release"`
	Stopped   bool       `json:"stopped"`
	Deploying string     `json:"deploying,omitempty"` // the deploy in progress
	Instances []Instance `json:"instances"`
	URL       string     `json:"url"`
}

func procfileKey(org, app, env string) string { return "procfiles/" + org + "/" + app + "/" + env }
func releasePrefix(org, app, env string) string {
	return "releases/" + org + "/" + app + "/" + env + "/"
}
func releaseKey(org, app, env string, n int) string {
	return releasePrefix(org, app, env) + fmt.Sprintf("%08d", n)
}
func deployPrefix(org, app, env string) string  { return "deploys/" + org + "/" + app + "/" + env + "/" }
func deployKey(org, app, env, id string) string { return deployPrefix(org, app, env) + id }
func deployLockKey(org, app, env string) string {
	return deployLocksPrefix + org + "/" + app + "/" + env
}
func envStateKey(org, app, env string) string { return "env-states/" + org + "/" + app + "/" + env }
func (d Deploy) key() string                  { return deployKey(d.Org, d.App, d.Env, d.ID) }
func (r Release) key() string                 { return releaseKey(r.Org, r.App, r.Env, r.Number) }
func splitLock(key string) (org, app, env string) {
	p := strings.SplitN(key, "/", 3)
	return p[0], p[1], p[2]
}

const deployLocksPrefix = "deploy-locks/"

// deployLock names the deploy an environment is busy with.
type deployLock struct {
	Deploy string `json:"deploy"`
	Meta
}

// Limits of a procfile.
const (
	MaxProcesses     = 10
	MaxCronEntries   = 20
	MaxCommandLength = 4096
	MaxImageLength   = 512
	// MaxDeployEvents bounds the events a deploy keeps; a release command's output
	// beyond it is cut from the middle.
	MaxDeployEvents = 400
)

var (
	processNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
	imagePattern       = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$`)
	gitCommitPattern   = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

// reservedVariable reports whether a variable name is the platform's own, which a
// user's variable of the same name never overrides at run time.
func reservedVariable(name string) bool {
	switch name {
	case "PORT", "STAGE", "DOMAIN", "SECRET_KEY", "GIT_COMMIT":
		return true
	}
	return strings.HasPrefix(name, "WHARF_") || strings.HasPrefix(name, "NOMAD_")
}

func checkCommand(fe *FieldErrors, field, cmd string, required bool) {
	switch {
	case required && strings.TrimSpace(cmd) == "":
		fe.Add(field, "is required")
	case len(cmd) > MaxCommandLength:
		fe.Add(field, "must be at most %d bytes", MaxCommandLength)
	case !utf8.ValidString(cmd) || strings.ContainsRune(cmd, 0):
		fe.Add(field, "must be UTF-8 text without NUL characters")
	}
}

// Check reports the procfile's invalid fields.
func (pf Procfile) Check() FieldErrors {
	var fe FieldErrors
	if len(pf.Processes) > MaxProcesses {
		fe.Add("processes", "must be at most %d", MaxProcesses)
	}
	for name, p := range pf.Processes {
		if !processNamePattern.MatchString(name) {
			fe.Add("processes."+name, "must be a lower-case name of letters, digits and dashes, starting with a letter")
		}
		checkCommand(&fe, "processes."+name+".command", p.Command, false)
		if p.HealthPath != "" && (!strings.HasPrefix(p.HealthPath, "/") || len(p.HealthPath) > 256 || strings.ContainsAny(p.HealthPath, " \t\r\n\"'{}$%")) {
			fe.Add("processes."+name+".health_path", "must be a URL path starting with /")
		}
	}
	checkCommand(&fe, "release_command", pf.ReleaseCommand, false)
	if len(pf.Cron) > MaxCronEntries {
		fe.Add("cron", "must have at most %d entries", MaxCronEntries)
	}
	seen := map[string]bool{}
	for i, c := range pf.Cron {
		f := "cron[" + strconv.Itoa(i) + "]"
		if !processNamePattern.MatchString(c.Name) {
			fe.Add(f+".name", "must be a lower-case name of letters, digits and dashes, starting with a letter")
		} else if seen[c.Name] {
			fe.Add(f+".name", "is used twice")
		}
		seen[c.Name] = true
		if msg := CheckCronSchedule(c.Schedule); msg != "" {
			fe.Add(f+".schedule", "%s", msg)
		}
		checkCommand(&fe, f+".command", c.Command, true)
	}
	return fe
}

// Deployer is the application controller: it records deploys, releases and procfiles,
// and drives each deploy through its phases on the scheduler. Only one Deployer in a
// cluster runs the controller loop (Run) at a time; every replica serves the rest.
type Deployer struct {
	*Service
	Scheduler Scheduler
	Runtime   RuntimeStore
	Builder   Builder
	Artifacts Artifacts
	// Databases and DatabaseCreds serve database service instances; without them,
	// attaching one is unavailable.
	Databases     DatabaseCluster
	DatabaseCreds DatabaseCredentials
	// ObjectStore and StorageCreds serve storage service instances; without them,
	// attaching one is refused as unavailable.
	ObjectStore  ObjectStore
	StorageCreds StorageCredentials
	// Routes, when set, publishes each environment's route for the ingress.
	Routes Router
	// BuildLimit is how long a build may run; DefaultBuildLimit when zero.
	BuildLimit time.Duration
	// GitLocalHosts are the hosts (host:port) builds may clone from over http:// or on
	// the builder's own networks (see checkGitURL); none by default.
	GitLocalHosts []string
	// AllowedImages are the images from outside the organisation's own repositories
	// that environments may deploy by name (see checkImage); none by default.
	AllowedImages []string
	// Registry signs the registry's tokens and credentials; with BuildCredentials,
	// each build gets a credential of its own (registryauth.go). Nodes says which
	// images a node runs, for its pulls. Without them the registry is open.
	Registry         RegistryIssuer
	BuildCredentials BuildCredentials
	Nodes            NodeImages
	// CacheScopes, when set, scopes builds' layer caches per organisation.
	CacheScopes CacheScopes
	Log         *slog.Logger

	mu     sync.Mutex
	active map[string]bool // environments whose deploy this process drives
	kick   chan struct{}
}

func (d *Deployer) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// GetProcfile returns the environment's procfile: by default, a web process running the
// image's own command.
func (d *Deployer) GetProcfile(ctx context.Context, p Principal, ref EnvRef) (Procfile, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Procfile{}, err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return Procfile{}, err
	}
	return d.procfile(ctx, org, app, env)
}

func (d *Deployer) procfile(ctx context.Context, org, app, env string) (Procfile, error) {
	pf, err := load[Procfile](ctx, d.KV, procfileKey(org, app, env), "procfile")
	if ErrorCode(err) == NotFound {
		return Procfile{Org: org, App: app, Env: env, Processes: map[string]ProcessDef{"web": {}}, Cron: []CronEntry{}}, nil
	}
	return pf, err
}

// PutProcfile replaces the environment's procfile; it takes effect with the next
// deploy. It needs the developer role.
func (d *Deployer) PutProcfile(ctx context.Context, p Principal, ref EnvRef, in Procfile, ifMatch uint64) (Procfile, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Procfile{}, err
	}
	if err := in.Check().Err(); err != nil {
		return Procfile{}, err
	}
	e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment")
	if err != nil {
		return Procfile{}, err
	}
	cur, err := load[Procfile](ctx, d.KV, procfileKey(org, app, env), "procfile")
	if err != nil && ErrorCode(err) != NotFound {
		return Procfile{}, err
	}
	in.Org, in.App, in.Env, in.Meta = org, app, env, cur.Meta
	if in.Processes == nil {
		in.Processes = map[string]ProcessDef{}
	}
	if in.Cron == nil {
		in.Cron = []CronEntry{}
	}
	stamp(&in.Meta, d.now())
	t := &txn{}
	t.check(envKey(org, app, env), e.Index)
	if cur.Index == 0 {
		if ifMatch != 0 {
			return Procfile{}, Errorf(Conflict, "the procfile has no version %d", ifMatch)
		}
		t.create(procfileKey(org, app, env), encode(in))
	} else {
		t.update(procfileKey(org, app, env), encode(in), casIndex(cur.Index, ifMatch))
	}
	d.audit(t, p, org, "procfile.update", app+"/"+env)
	if err := d.commit(ctx, t, "the procfile"); err != nil {
		return Procfile{}, err
	}
	return d.procfile(ctx, org, app, env)
}

// CreateDeploy records a deploy of the environment and queues it for the controller.
// One deploy runs per environment at a time: while one is in progress another is
// refused with conflict, naming it. Deploys, rollbacks and restarts need the developer
// role.
func (d *Deployer) CreateDeploy(ctx context.Context, p Principal, ref EnvRef, req DeployRequest) (Deploy, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Deploy{}, err
	}
	var fe FieldErrors
	switch req.Kind {
	case DeployRelease:
		switch {
		case req.Build != "":
			if req.Image != "" {
				fe.Add("image", "must not be given with a build")
			} else if _, err := d.getBuild(ctx, org, app, req.Build); err != nil {
				return Deploy{}, err
			}
		case req.Image == "":
			fe.Add("image", "is required (or a source to build)")
		case len(req.Image) > MaxImageLength || !imagePattern.MatchString(req.Image):
			fe.Add("image", "must be an image reference such as registry/name:tag or registry/name@sha256:digest")
		default:
			if err := d.checkImage(ctx, org, req.Image); err != nil {
				return Deploy{}, err
			}
		}
		if req.GitCommit != "" && !gitCommitPattern.MatchString(req.GitCommit) {
			fe.Add("git_commit", "must be a hexadecimal commit id")
		}
	case DeployRollback:
		if req.Release < 1 {
			fe.Add("release", "must be the number of an earlier release")
		}
	case DeployScale, DeployStop, DeployStart, DeployRestart:
	default:
		fe.Add("kind", "must be one of release, rollback, scale, stop, start, restart")
	}
	if err := fe.Err(); err != nil {
		return Deploy{}, err
	}
	return d.queueDeploy(ctx, p, org, app, env, req)
}

// queueDeploy records a validated deploy request of p's and queues it, unless one is in
// progress (conflict). CreateDeploy authorises and validates first; the upgrade
// (platform/upgrade.go) queues its restarts here as wharfd itself.
func (d *Deployer) queueDeploy(ctx context.Context, p Principal, org, app, env string, req DeployRequest) (Deploy, error) {
	e, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment")
	if err != nil {
		return Deploy{}, err
	}
	state, err := d.envState(ctx, org, app, env)
	if err != nil {
		return Deploy{}, err
	}
	if req.Kind == DeployRollback {
		if _, err := load[Release](ctx, d.KV, releaseKey(org, app, env, req.Release), "release"); err != nil {
			return Deploy{}, err
		}
	} else if req.Kind != DeployRelease && state.Release == 0 {
		return Deploy{}, Errorf(Conflict, "environment %q has no release yet; deploy an image first", env)
	}
	now := d.now()
	dep := Deploy{
		ID: newDeployID(now), Org: org, App: app, Env: env, Kind: req.Kind, Image: req.Image, Build: req.Build,
		GitCommit: req.GitCommit, RollbackTo: req.Release, Status: DeployQueued, Phase: PhaseQueued,
		Events:    []DeployEvent{{At: now, Phase: PhaseQueued, Message: describeRequest(req)}},
		CreatedBy: p.Person,
	}
	stamp(&dep.Meta, now)
	t := &txn{}
	t.check(envKey(org, app, env), e.Index)
	t.create(deployKey(org, app, env, dep.ID), encode(dep))
	t.create(deployLockKey(org, app, env), encode(deployLock{Deploy: dep.ID}))
	d.audit(t, p, org, "deploy."+req.Kind, app+"/"+env+" "+dep.ID)
	if err := d.KV.Txn(ctx, t.ops); err != nil {
		if ErrorCode(err) == Conflict {
			if l, lerr := load[deployLock](ctx, d.KV, deployLockKey(org, app, env), "deploy lock"); lerr == nil {
				return Deploy{}, Errorf(Conflict, "deploy %s is in progress in environment %q; wait for it to end", l.Deploy, env)
			}
			return Deploy{}, Wrap(Conflict, err, "the environment was changed by another request; retry")
		}
		return Deploy{}, err
	}
	d.wake()
	return d.getDeploy(ctx, org, app, env, dep.ID)
}

func describeRequest(req DeployRequest) string {
	switch req.Kind {
	case DeployRelease:
		if req.Build != "" {
			return "deploy of build " + req.Build + " requested"
		}
		return "deploy of " + req.Image + " requested"
	case DeployRollback:
		return "rollback to release " + strconv.Itoa(req.Release) + " requested"
	}
	return req.Kind + " requested"
}

// newDeployID returns an id that sorts by creation time.
func newDeployID(now time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s", strings.ReplaceAll(now.UTC().Format("20060102-150405.000000"), ".", ""), hex.EncodeToString(b[:]))
}

// GetDeploy returns one deploy of the environment.
func (d *Deployer) GetDeploy(ctx context.Context, p Principal, ref EnvRef, id string) (Deploy, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Deploy{}, err
	}
	return d.getDeploy(ctx, org, app, env, id)
}

func (d *Deployer) getDeploy(ctx context.Context, org, app, env, id string) (Deploy, error) {
	return load[Deploy](ctx, d.KV, deployKey(org, app, env, id), "deploy "+id)
}

// ListDeploys returns a page of the environment's deploys, oldest first.
func (d *Deployer) ListDeploys(ctx context.Context, p Principal, ref EnvRef, pr PageRequest) (Page[Deploy], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Deploy]{}, err
	}
	return loadPage[Deploy](ctx, d.KV, deployPrefix(org, app, env), pr)
}

// ListReleases returns a page of the environment's releases, oldest first.
func (d *Deployer) ListReleases(ctx context.Context, p Principal, ref EnvRef, pr PageRequest) (Page[Release], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Page[Release]{}, err
	}
	return loadPage[Release](ctx, d.KV, releasePrefix(org, app, env), pr)
}

// GetRelease returns release n of the environment.
func (d *Deployer) GetRelease(ctx context.Context, p Principal, ref EnvRef, n int) (Release, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return Release{}, err
	}
	return load[Release](ctx, d.KV, releaseKey(org, app, env, n), "release "+strconv.Itoa(n))
}

func (d *Deployer) envState(ctx context.Context, org, app, env string) (EnvState, error) {
	s, err := load[EnvState](ctx, d.KV, envStateKey(org, app, env), "environment state")
	if ErrorCode(err) == NotFound {
		return EnvState{Org: org, App: app, Env: env}, nil
	}
	return s, err
}

// target resolves where the environment runs.
func (d *Deployer) target(ctx context.Context, org, app, env string) (Target, error) {
	a, err := load[Application](ctx, d.KV, appKey(org, app), "application")
	if err != nil {
		return Target{}, err
	}
	cs, err := load[Cloudspace](ctx, d.KV, cloudspaceKey(a.Cloudspace), "cloudspace")
	if err != nil {
		return Target{}, err
	}
	t := Target{EnvRef: Ref(org, app, env), Cloudspace: cs}
	t.Domain = t.DefaultDomain()
	return t, nil
}

// Status returns what the environment runs and its live instances.
func (d *Deployer) Status(ctx context.Context, p Principal, ref EnvRef) (EnvStatus, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return EnvStatus{}, err
	}
	t, err := d.target(ctx, org, app, env)
	if err != nil {
		return EnvStatus{}, err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return EnvStatus{}, err
	}
	st, err := d.envState(ctx, org, app, env)
	if err != nil {
		return EnvStatus{}, err
	}
	out := EnvStatus{Release: st.Release, Stopped: st.Stopped, URL: t.URL(), Instances: []Instance{}}
	if l, err := load[deployLock](ctx, d.KV, deployLockKey(org, app, env), "deploy lock"); err == nil {
		out.Deploying = l.Deploy
	}
	if st.Release > 0 {
		if out.Instances, err = d.Scheduler.Instances(ctx, t); err != nil {
			return EnvStatus{}, err
		}
	}
	return out, nil
}

// Logs streams the output of the environment's instances (of one process, when process
// is not empty) to emit; see Scheduler.Logs.
func (d *Deployer) Logs(ctx context.Context, p Principal, ref EnvRef, process string, follow bool, emit func(LogLine)) error {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActRead); err != nil {
		return err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, env), "environment"); err != nil {
		return err
	}
	t, err := d.target(ctx, org, app, env)
	if err != nil {
		return err
	}
	return d.Scheduler.Logs(ctx, t, process, follow, emit)
}

// Run is the controller loop: it drives every deploy in progress, in parallel across
// environments, until ctx ends. Deploys left in progress by a replica that stopped are
// picked up where they were.
func (d *Deployer) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.active == nil {
		d.active = map[string]bool{}
	}
	if d.kick == nil {
		d.kick = make(chan struct{}, 1)
	}
	kick := d.kick
	d.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		for _, q := range []struct {
			prefix string
			drive  func(context.Context, string)
		}{{deployLocksPrefix, d.drive}, {buildQueuePrefix, d.driveBuild}} {
			recs, err := d.KV.List(ctx, q.prefix)
			if err != nil && ctx.Err() == nil {
				d.log().Warn("list work in progress", "prefix", q.prefix, "error", err)
			}
			for _, r := range recs {
				key := strings.TrimPrefix(r.Key, q.prefix)
				d.mu.Lock()
				busy := d.active[q.prefix+key]
				d.active[q.prefix+key] = true
				d.mu.Unlock()
				if busy {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { d.mu.Lock(); delete(d.active, q.prefix+key); d.mu.Unlock() }()
					q.drive(ctx, key)
				}()
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		case <-time.After(2 * time.Second):
		}
	}
}

func (d *Deployer) wake() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.kick == nil {
		d.kick = make(chan struct{}, 1)
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// run is one deploy being driven: the record and its environment's target.
type run struct {
	d   *Deployer
	dep Deploy
	t   Target
}

// event appends a line to the deploy and stores it.
func (r *run) event(ctx context.Context, phase, format string, args ...any) error {
	r.dep.Phase = phase
	r.dep.Events = append(r.dep.Events, DeployEvent{At: r.d.now(), Phase: phase, Message: fmt.Sprintf(format, args...)})
	if n := len(r.dep.Events); n > MaxDeployEvents {
		keep := MaxDeployEvents / 2
		cut := DeployEvent{At: r.d.now(), Phase: phase, Message: fmt.Sprintf("(%d lines left out)", n-MaxDeployEvents+1)}
		r.dep.Events = slices.Concat(r.dep.Events[:keep], []DeployEvent{cut}, r.dep.Events[n-(MaxDeployEvents-keep-1):])
	}
	return r.save(ctx, nil)
}

// save stores the deploy, with extra operations in the same transaction.
func (r *run) save(ctx context.Context, extra func(t *txn)) error {
	stamp(&r.dep.Meta, r.d.now())
	t := &txn{}
	t.update(r.dep.key(), encode(r.dep), r.dep.Index)
	if extra != nil {
		extra(t)
	}
	if err := r.d.KV.Txn(ctx, t.ops); err != nil {
		return err
	}
	cur, err := r.d.getDeploy(ctx, r.dep.Org, r.dep.App, r.dep.Env, r.dep.ID)
	if err != nil {
		return err
	}
	r.dep.Index = cur.Index
	return nil
}

// drive takes the environment's deploy in progress to its end. Every phase can be
// repeated: a deploy resumed after a restart repeats at most the phase it was in.
func (d *Deployer) drive(ctx context.Context, lockKey string) {
	org, app, env := splitLock(lockKey)
	lock, err := load[deployLock](ctx, d.KV, deployLockKey(org, app, env), "deploy lock")
	if err != nil {
		return
	}
	dep, err := d.getDeploy(ctx, org, app, env, lock.Deploy)
	if err != nil {
		d.log().Error("deploy lock names a missing deploy", "env", lockKey, "deploy", lock.Deploy, "error", err)
		return
	}
	r := &run{d: d, dep: dep}
	log := d.log().With("deploy", dep.ID, "org", org, "app", app, "env", env, "kind", dep.Kind)
	if dep.Status == DeployRunning {
		log.Info("resuming deploy", "phase", dep.Phase)
		if err := r.event(ctx, dep.Phase, "resumed by the controller in phase %s", dep.Phase); err != nil {
			log.Warn("resume deploy", "error", err)
			return
		}
	} else {
		r.dep.Status = DeployRunning
		if err := r.event(ctx, PhaseQueued, "started"); err != nil {
			log.Warn("start deploy", "error", err)
			return
		}
	}
	state, outcome, err := r.execute(ctx)
	if ctx.Err() != nil {
		log.Info("deploy interrupted; it resumes with the next controller", "phase", r.dep.Phase)
		return
	}
	if err != nil {
		r.dep.Status, r.dep.Error = DeployFailed, ErrorMessage(err)
		if ErrorCode(err) == Internal || ErrorCode(err) == Unavailable {
			log.Error("deploy failed", "error", err)
		}
	} else {
		r.dep.Status = DeploySucceeded
	}
	r.dep.Phase = PhaseDone
	r.dep.Events = append(r.dep.Events, DeployEvent{At: d.now(), Phase: PhaseDone, Message: outcome})
	if err := r.finish(ctx, state); err != nil {
		log.Error("record the end of a deploy", "error", err)
	}
}

// finish stores the deploy's end, the environment's new state (when it changed) and
// releases the environment for the next deploy, in one transaction.
func (r *run) finish(ctx context.Context, state *EnvState) error {
	d := r.d
	lock, err := load[deployLock](ctx, d.KV, deployLockKey(r.dep.Org, r.dep.App, r.dep.Env), "deploy lock")
	if err != nil {
		return err
	}
	return r.save(ctx, func(t *txn) {
		t.delete(deployLockKey(r.dep.Org, r.dep.App, r.dep.Env), lock.Index)
		if state == nil {
			return
		}
		stamp(&state.Meta, d.now())
		if state.Index == 0 {
			t.create(envStateKey(state.Org, state.App, state.Env), encode(*state))
		} else {
			t.update(envStateKey(state.Org, state.App, state.Env), encode(*state), state.Index)
		}
	})
}

// execute runs the deploy's phases and returns the environment's new state (nil when
// unchanged) and a one-line outcome.
func (r *run) execute(ctx context.Context) (*EnvState, string, error) {
	d, dep := r.d, r.dep
	t, err := d.target(ctx, dep.Org, dep.App, dep.Env)
	if err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}
	r.t = t
	state, err := d.envState(ctx, dep.Org, dep.App, dep.Env)
	if err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}
	e, err := load[Environment](ctx, d.KV, envKey(dep.Org, dep.App, dep.Env), "environment")
	if err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}

	if dep.Kind == DeployRelease && dep.Image == "" && dep.Build != "" {
		if err := r.awaitBuild(ctx); err != nil {
			return nil, "failed: " + ErrorMessage(err) + "; the running release keeps serving", err
		}
	}
	var rel Release
	switch dep.Kind {
	case DeployRelease, DeployRollback:
		if rel, err = r.release(ctx, e); err != nil {
			return nil, "failed: " + ErrorMessage(err), err
		}
		if rel.Config.ReleaseCommand != "" && (r.dep.Phase == PhaseRelease || r.dep.Phase == PhaseReleaseCommand) {
			if err := r.releaseCommand(ctx, rel); err != nil {
				return nil, "failed: " + ErrorMessage(err) + "; the running release keeps serving", err
			}
		}
	default:
		if rel, err = load[Release](ctx, d.KV, releaseKey(dep.Org, dep.App, dep.Env, state.Release), "release"); err != nil {
			return nil, "failed: " + ErrorMessage(err), err
		}
		if r.dep.Release == 0 {
			r.dep.Release = rel.Number
		}
	}

	scale := scaleOf(e, rel)
	stopped := state.Stopped
	switch dep.Kind {
	case DeployStop:
		stopped = true
	case DeployStart, DeployRelease, DeployRollback:
		stopped = false
	}
	if stopped {
		for name, s := range scale {
			s.Instances = 0
			scale[name] = s
		}
	}
	nonce := ""
	if dep.Kind == DeployRestart {
		nonce = dep.ID
	}
	version, changed, err := d.Scheduler.RegisterService(ctx, t, rel, scale, nonce)
	if err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}
	r.dep.JobVersion = version
	if err := r.event(ctx, PhaseRegistered, "release %d registered in region %s as job version %d", rel.Number, t.Cloudspace.Region, version); err != nil {
		return nil, "failed", err
	}
	if !changed {
		_ = r.event(ctx, PhaseRollout, "the scheduler already runs this; nothing to replace")
	}
	// Watched even when nothing changed: a resumed deploy may find its rollout under way.
	outcome, err := d.Scheduler.WatchDeployment(ctx, t.Cloudspace.Region, t.JobID(), version, func(p DeployProgress) {
		_ = r.event(ctx, PhaseRollout, "%s", describeProgress(p))
	})
	if err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}
	if outcome.Status != "successful" {
		for _, ev := range outcome.Evidence {
			_ = r.event(ctx, PhaseRollout, "%s", ev)
		}
		msg := "rollout " + outcome.Status + ": " + outcome.Description
		if outcome.Reverted {
			msg += "; reverted to the previous release"
		}
		return nil, msg, Errorf(Conflict, "%s", msg)
	}
	if err := d.Scheduler.SyncCron(ctx, t, rel); err != nil {
		return nil, "failed: " + ErrorMessage(err), err
	}
	if _, web := rel.Config.Processes["web"]; web && d.Routes != nil {
		if err := d.publish(ctx, t); err != nil {
			return nil, "failed: " + ErrorMessage(err), err
		}
	}
	// The instances detached before this release was made are now used by nothing.
	d.settleDetached(ctx, dep.Org, dep.App, dep.Env, rel)
	state.Release, state.Stopped = rel.Number, stopped
	return &state, fmt.Sprintf("release %d is live at %s", rel.Number, t.URL()), nil
}

// PhaseBuild is a deploy from source waiting for its build.
const PhaseBuild = "build"

// awaitBuild waits for the deploy's build to end and takes its image.
func (r *run) awaitBuild(ctx context.Context) error {
	d, dep := r.d, r.dep
	if err := r.event(ctx, PhaseBuild, "waiting for build %s", dep.Build); err != nil {
		return err
	}
	for {
		b, err := d.getBuild(ctx, dep.Org, dep.App, dep.Build)
		if err != nil {
			return err
		}
		switch b.Status {
		case BuildSucceeded:
			r.dep.Image, r.dep.GitCommit = b.Image, b.Commit
			msg := "build " + b.ID + " pushed " + b.Image
			if b.ReusedFrom != "" {
				msg = "build " + b.ID + " reuses the image of build " + b.ReusedFrom + ": " + b.Image
			}
			return r.event(ctx, PhaseBuild, "%s", msg)
		case BuildFailed, BuildCancelled:
			return Errorf(Conflict, "build %s %s: %s", b.ID, b.Status, b.Error)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// scaleOf is the environment's scale for each of the release's processes: the
// environment's own where it sets one, the release's otherwise.
func scaleOf(e Environment, rel Release) map[string]ProcessScale {
	out := map[string]ProcessScale{}
	for name, p := range rel.Config.Processes {
		s := ProcessScale{Instances: p.Instances, MemoryMB: p.MemoryMB}
		if es, ok := e.Processes[name]; ok {
			s = es
		}
		out[name] = s
	}
	return out
}

func describeProgress(p DeployProgress) string {
	names := make([]string, 0, len(p.Groups))
	for n := range p.Groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("rollout " + p.Status + ":")
	for _, n := range names {
		g := p.Groups[n]
		fmt.Fprintf(&b, " %s %d/%d healthy", n, g.Healthy, g.Desired)
		if g.Unhealthy > 0 {
			fmt.Fprintf(&b, " (%d unhealthy)", g.Unhealthy)
		}
	}
	return b.String()
}

// DefaultInstances is the scale of a process the environment does not scale (with
// DefaultMemoryMB each).
const DefaultInstances = 1

// release makes the deploy's release (once: a resumed deploy finds it made) and returns
// it.
func (r *run) release(ctx context.Context, e Environment) (Release, error) {
	d, dep := r.d, r.dep
	if dep.Release > 0 {
		return load[Release](ctx, d.KV, releaseKey(dep.Org, dep.App, dep.Env, dep.Release), "release")
	}
	rel := Release{Org: dep.Org, App: dep.App, Env: dep.Env, CreatedBy: dep.CreatedBy}
	stamp(&rel.Meta, d.now())
	if dep.Kind == DeployRollback {
		old, err := load[Release](ctx, d.KV, releaseKey(dep.Org, dep.App, dep.Env, dep.RollbackTo), "release")
		if err != nil {
			return Release{}, err
		}
		rel.Image, rel.GitCommit, rel.Config, rel.RuntimeVersion, rel.RollbackOf = old.Image, old.GitCommit, old.Config, old.RuntimeVersion, old.Number
		if rel.Config.Services, err = d.existingServices(ctx, dep.Org, dep.App, dep.Env, old.Config.Services); err != nil {
			return Release{}, err
		}
		if err := d.Runtime.PutEnvPolicy(ctx, r.t, rel.Config.Services); err != nil {
			return Release{}, err
		}
	} else {
		cfg, values, err := r.runtimeConfig(ctx, e)
		if err != nil {
			return Release{}, err
		}
		if cfg.Services, err = d.releaseServices(ctx, dep.Org, dep.App, dep.Env); err != nil {
			return Release{}, err
		}
		if err := d.Runtime.PutEnvPolicy(ctx, r.t, cfg.Services); err != nil {
			return Release{}, err
		}
		if rel.RuntimeVersion, err = d.Runtime.WriteRuntime(ctx, r.t, values); err != nil {
			return Release{}, err
		}
		rel.Image, rel.GitCommit, rel.Config = dep.Image, dep.GitCommit, cfg
	}
	rel.TemplateVersion = TemplateVersion
	last, err := d.KV.List(ctx, releasePrefix(dep.Org, dep.App, dep.Env))
	if err != nil {
		return Release{}, err
	}
	rel.Number = 1
	if n := len(last); n > 0 {
		k := last[n-1].Key
		prev, _ := strconv.Atoi(k[strings.LastIndexByte(k, '/')+1:])
		rel.Number = prev + 1
	}
	r.dep.Release = rel.Number
	r.dep.Phase = PhaseRelease
	msg := fmt.Sprintf("release %d created: %s", rel.Number, rel.Image)
	if rel.RollbackOf > 0 {
		msg += fmt.Sprintf(" (the image and configuration of release %d)", rel.RollbackOf)
	}
	r.dep.Events = append(r.dep.Events, DeployEvent{At: d.now(), Phase: PhaseRelease, Message: msg})
	if err := r.save(ctx, func(t *txn) { t.create(rel.key(), encode(rel)) }); err != nil {
		if ErrorCode(err) == Conflict {
			return Release{}, Wrap(Conflict, err, "another release was made at the same moment")
		}
		return Release{}, err
	}
	return rel, nil
}

// TemplateVersion is the job template version releases record; cmd/wharfd sets it from
// the templates it embeds.
var TemplateVersion = "unknown"

// runtimeConfig gathers the environment's procfile, scale and variables into a release
// configuration and the runtime values its tasks read: every variable (secret ones
// read from the secret store, never stored elsewhere), SECRET_KEY, GIT_COMMIT and the
// process commands.
func (r *run) runtimeConfig(ctx context.Context, e Environment) (ReleaseConfig, map[string]Secret, error) {
	d, dep := r.d, r.dep
	pf, err := d.procfile(ctx, dep.Org, dep.App, dep.Env)
	if err != nil {
		return ReleaseConfig{}, nil, err
	}
	cfg := ReleaseConfig{Processes: map[string]ProcessSpec{}, ReleaseCommand: pf.ReleaseCommand, Cron: pf.Cron, Variables: map[string]VariableSnapshot{}}
	values := map[string]Secret{}
	for name, p := range pf.Processes {
		s, ok := e.Processes[name]
		if !ok {
			s = ProcessScale{Instances: DefaultInstances, MemoryMB: DefaultMemoryMB}
		}
		cfg.Processes[name] = ProcessSpec{Command: p.Command, HealthPath: p.HealthPath, Instances: s.Instances, MemoryMB: s.MemoryMB}
		if p.Command != "" {
			values[CommandVariable(name)] = Secret(p.Command)
		}
	}
	if pf.ReleaseCommand != "" {
		values[CommandVariable("release")] = Secret(pf.ReleaseCommand)
	}
	for _, c := range pf.Cron {
		values[CommandVariable("cron-"+c.Name)] = Secret(c.Command)
	}
	vars, err := loadAll[Variable](ctx, d.KV, varPrefix(dep.Org, dep.App, dep.Env))
	if err != nil {
		return ReleaseConfig{}, nil, err
	}
	for _, v := range vars {
		var value string
		if v.Value != nil {
			value = *v.Value
		}
		if v.Secret {
			cfg.Variables[v.Name] = VariableSnapshot{Secret: true, Version: v.Version}
		} else {
			cfg.Variables[v.Name] = VariableSnapshot{Value: value, Version: v.Version}
		}
		if reservedVariable(v.Name) {
			continue
		}
		if v.Secret {
			val, err := d.Runtime.SecretValue(ctx, secretPath(dep.Org, dep.App, dep.Env, v.Name), v.Version)
			if err != nil {
				return ReleaseConfig{}, nil, err
			}
			values[v.Name] = val
		} else {
			values[v.Name] = Secret(value)
		}
	}
	key, err := d.Runtime.SecretKey(ctx, r.t)
	if err != nil {
		return ReleaseConfig{}, nil, err
	}
	values["SECRET_KEY"] = key
	if dep.GitCommit != "" {
		values["GIT_COMMIT"] = Secret(dep.GitCommit)
	}
	return cfg, values, nil
}

// CommandVariable is the runtime variable that holds a process's command, as the job
// templates read it: WHARF_COMMAND_WEB, WHARF_COMMAND_RELEASE, WHARF_COMMAND_CRON_NIGHTLY.
func CommandVariable(process string) string {
	return "WHARF_COMMAND_" + strings.ToUpper(strings.ReplaceAll(process, "-", "_"))
}

// releaseCommand runs the release's release command, keeping its output in the deploy's
// events.
func (r *run) releaseCommand(ctx context.Context, rel Release) error {
	if err := r.event(ctx, PhaseReleaseCommand, "running the release command"); err != nil {
		return err
	}
	var lines []DeployEvent
	res, err := r.d.Scheduler.RunReleaseCommand(ctx, r.t, rel, func(stream, line string) {
		lines = append(lines, DeployEvent{At: r.d.now(), Phase: PhaseReleaseCommand, Message: stream + ": " + line})
	})
	if err != nil {
		return err
	}
	r.dep.Events = append(r.dep.Events, lines...)
	if res.Failed {
		_ = r.event(ctx, PhaseReleaseCommand, "release command failed: %s", res.Reason)
		return Errorf(Conflict, "the release command failed: %s", res.Reason)
	}
	return r.event(ctx, PhaseReleaseCommand, "release command succeeded")
}

// DeleteEnvironment deletes a custom environment as Service.DeleteEnvironment does, and
// first stops everything it runs and removes its runtime configuration and Vault
// policy; its procfile, releases and deploys go with it. It is refused while a deploy
// is in progress.
func (d *Deployer) DeleteEnvironment(ctx context.Context, p Principal, ref EnvRef, ifMatch uint64) error {
	org, app, name := ref.Org, ref.App, ref.Env
	if err := d.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return err
	}
	if name == EnvTest || name == EnvLive {
		// Service.DeleteEnvironment refuses these too; refused before anything stops.
		return Errorf(Conflict, "the %s environment cannot be deleted; delete the application instead", name)
	}
	if _, err := load[Environment](ctx, d.KV, envKey(org, app, name), "environment "+name); err != nil {
		return err
	}
	if err := d.teardown(ctx, org, app, name); err != nil {
		return err
	}
	if err := d.Service.DeleteEnvironment(ctx, p, Ref(org, app, name), ifMatch); err != nil {
		return err
	}
	return d.forget(ctx, org, app, name)
}

// DeleteApplication deletes an application as Service.DeleteApplication does, after
// tearing down each of its environments as DeleteEnvironment does, and then its builds'
// records, logs, uploaded sources and images. It is refused while one of its builds is
// queued or running.
func (d *Deployer) DeleteApplication(ctx context.Context, p Principal, org, name string, ifMatch uint64) error {
	if err := d.authorize(ctx, p, org, "", ActManage); err != nil {
		return err
	}
	a, err := load[Application](ctx, d.KV, appKey(org, name), "application "+name)
	if err != nil {
		return err
	}
	// Its builds go with it, so one in progress refuses the delete, as a deploy does.
	queued, err := d.KV.List(ctx, buildQueuePrefix+org+"/"+name+"/")
	if err != nil {
		return err
	}
	if len(queued) > 0 {
		k := queued[0].Key
		return Errorf(Conflict, "build %s of application %q is in progress; cancel it or wait for it to end", k[strings.LastIndexByte(k, '/')+1:], name)
	}
	for _, env := range a.Environments {
		if err := d.teardown(ctx, org, name, env); err != nil {
			return err
		}
	}
	if err := d.Service.DeleteApplication(ctx, p, org, name, ifMatch); err != nil {
		return err
	}
	for _, env := range a.Environments {
		if err := d.forget(ctx, org, name, env); err != nil {
			return err
		}
	}
	// What its builds left in the registry: the uploaded sources, then the images.
	if rm, ok := d.Artifacts.(ArtifactRemover); ok {
		builds, err := loadAll[Build](ctx, d.KV, buildPrefix(org, name))
		if err != nil {
			return err
		}
		ref := AppRef{Org: org, App: name}
		for _, b := range builds {
			if b.Source.Tarball != "" {
				if err := rm.DeleteBlob(ctx, ref.SourceRepo(), b.Source.Tarball); err != nil {
					return err
				}
			}
		}
		if err := rm.DeleteImages(ctx, ref.ImageRepo()); err != nil {
			return err
		}
	}
	t := &txn{}
	t.deleteTree(buildPrefix(org, name))
	t.deleteTree(appBuildLogsPrefix(org, name))
	t.deleteTree(appBuildSourcesPrefix(org, name))
	return d.KV.Txn(ctx, t.ops)
}

// teardown stops what an environment runs and removes what its tasks read. It is
// refused while a deploy is in progress, and can be repeated.
func (d *Deployer) teardown(ctx context.Context, org, app, env string) error {
	if l, err := load[deployLock](ctx, d.KV, deployLockKey(org, app, env), "deploy lock"); err == nil {
		return Errorf(Conflict, "deploy %s is in progress in environment %q; wait for it to end", l.Deploy, env)
	} else if ErrorCode(err) != NotFound {
		return err
	}
	t, err := d.target(ctx, org, app, env)
	if err != nil {
		return err
	}
	if d.Routes != nil {
		if err := d.Routes.WithdrawRoute(ctx, t); err != nil {
			return err
		}
	}
	if err := d.Scheduler.DeleteEnvironment(ctx, t); err != nil {
		return err
	}
	// Its service instances go with it: their credentials revoked, their data dropped.
	if err := d.removeServices(ctx, org, app, env); err != nil {
		return err
	}
	return d.Runtime.DeleteEnv(ctx, t)
}

// forget removes an environment's controller records.
func (d *Deployer) forget(ctx context.Context, org, app, env string) error {
	doms, err := loadAll[Domain](ctx, d.KV, domainPrefix(org, app, env))
	if err != nil {
		return err
	}
	t := &txn{}
	for _, dom := range doms {
		t.deleteKey(domainClaimKey(dom.Name))
	}
	t.deleteTree(domainPrefix(org, app, env))
	t.deleteKey(routingKey(org, app, env))
	t.deleteKey(procfileKey(org, app, env))
	t.deleteTree(releasePrefix(org, app, env))
	t.deleteTree(deployPrefix(org, app, env))
	t.deleteTree(runPrefix(org, app, env))
	if h, err := load[GitHook](ctx, d.KV, envGitHookKey(org, app, env), "git hook"); err == nil {
		t.deleteKey(gitHookKey(h.ID))
		t.deleteTree(gitDeliveryPrefix(h.ID))
		t.deleteKey(envGitHookKey(org, app, env))
		_ = d.Secrets.DeleteSecret(ctx, h.secretPath())
	}
	t.deleteKey(envStateKey(org, app, env))
	t.deleteTree(servicePrefix(org, app, env))
	return d.KV.Txn(ctx, t.ops)
}
