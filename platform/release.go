package platform

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ProcessSpec is how one process of an environment runs: the command (empty: the image's
// own) and its scale. The process named "web" receives HTTP on $PORT and is routed.
type ProcessSpec struct {
	Command    string `json:"command,omitempty"`
	Instances  int    `json:"instances"`
	MemoryMB   int    `json:"memory_mb"`
	HealthPath string `json:"health_path,omitempty"`
}

// CronEntry is a command an environment runs on a schedule (a five-field cron
// expression, UTC), never two at once.
type CronEntry struct {
	Name     string `json:"name"`
	Schedule string `json:"schedule"`
	Command  string `json:"command"`
}

// ReleaseConfig is what a release runs, frozen when the release is made.
type ReleaseConfig struct {
	Processes map[string]ProcessSpec `json:"processes"`
	// ReleaseCommand runs once per deploy, before the processes are replaced.
	ReleaseCommand string      `json:"release_command,omitempty"`
	Cron           []CronEntry `json:"cron,omitempty"`
	// Variables records the variables the release was made with: plain ones' values,
	// secret ones' Vault versions (never their values).
	Variables map[string]VariableSnapshot `json:"variables"`
	// Services are the service instances whose credentials the release's tasks receive.
	Services []ServiceBinding `json:"services,omitempty"`
}

// VariableSnapshot is one variable as a release saw it.
type VariableSnapshot struct {
	Secret  bool   `json:"secret"`
	Value   string `json:"value,omitempty"`
	Version int    `json:"version"`
}

// Release is an immutable, numbered version of an environment: an image by digest, the
// configuration it runs with, and the job template version that ran it. A rollback makes
// a new release from an earlier one's image and configuration.
type Release struct {
	Org             string        `json:"org"`
	App             string        `json:"app"`
	Env             string        `json:"env"`
	Number          int           `json:"number"`
	Image           string        `json:"image"`
	GitCommit       string        `json:"git_commit,omitempty"`
	Config          ReleaseConfig `json:"config"`
	TemplateVersion string        `json:"template_version"`
	// RuntimeVersion is the Vault KV version of the environment's runtime configuration
	// (variables, commands, SECRET_KEY) this release reads.
	RuntimeVersion int    `json:"runtime_version"`
	RollbackOf     int    `json:"rollback_of,omitempty"`
	CreatedBy      string `json:"created_by"`
	Meta
}

// Target is where an environment runs: its reference (from which every external name is
// derived, platform/identity.go), its cloudspace and its primary domain.
type Target struct {
	EnvRef
	Cloudspace Cloudspace
	Domain     string
}

// DefaultDomain is the environment's generated host in its cloudspace (EnvRef.Host).
func (t Target) DefaultDomain() string { return t.Host(t.Cloudspace.IngressDomain) }

// URL is where the environment answers: its primary domain, through the cloudspace's
// ingress port when that is not 80.
func (t Target) URL() string {
	if p := t.Cloudspace.IngressPort; p != 0 && p != 80 {
		return "http://" + t.Domain + ":" + strconv.Itoa(p) + "/"
	}
	return "http://" + t.Domain + "/"
}

var cronField = regexp.MustCompile(`^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*$`)

// CheckCronSchedule reports why s is not a five-field cron expression, or "".
func CheckCronSchedule(s string) string {
	fields := strings.Fields(s)
	if len(fields) != 5 {
		return "must have five fields: minute hour day-of-month month day-of-week"
	}
	for _, f := range fields {
		if !cronField.MatchString(f) {
			return "has a field that is not a number, range, list, step or *"
		}
	}
	return ""
}

// ProcessNames returns the config's process names, web first, the rest sorted.
func (c ReleaseConfig) ProcessNames() []string {
	names := make([]string, 0, len(c.Processes))
	for n := range c.Processes {
		if n != "web" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if _, ok := c.Processes["web"]; ok {
		names = append([]string{"web"}, names...)
	}
	return names
}

// DeployOutcome is how a scheduler's rollout of a release ended.
type DeployOutcome struct {
	Status      string `json:"status"` // successful, failed or cancelled
	Description string `json:"description"`
	// Reverted is set when the scheduler rolled the environment back to what ran before.
	Reverted bool `json:"reverted"`
	// Evidence says why a rollout was failed before the scheduler's deadlines: which
	// instances failed, their exit codes, and their last lines of output.
	Evidence []string `json:"evidence,omitempty"`
}

// DeployProgress is a moment of a rollout: per process, how many instances are placed
// and healthy of how many wanted.
type DeployProgress struct {
	Status string                   `json:"status"`
	Groups map[string]GroupProgress `json:"processes"`
}

// GroupProgress counts one process's instances in a rollout.
type GroupProgress struct {
	Desired   int `json:"desired"`
	Placed    int `json:"placed"`
	Healthy   int `json:"healthy"`
	Unhealthy int `json:"unhealthy"`
}

// ReleaseCommandResult is how a release command ended.
type ReleaseCommandResult struct {
	ExitCode int
	Failed   bool
	Reason   string
}

// Instance is one running instance of a process.
type Instance struct {
	ID      string `json:"id"`
	Process string `json:"process"`
	Index   int    `json:"index"` // its index in the process: web.0, web.1, ...
	Status  string `json:"status"`
	Healthy *bool  `json:"healthy"` // nil until the scheduler decides
	Version uint64 `json:"job_version"`
	// Restarts counts the times its task was restarted in place; OOMKills those of
	// them (as the scheduler still remembers) where it was killed for exceeding its
	// memory, the last at LastOOMKill.
	Restarts    uint64     `json:"restarts,omitempty"`
	OOMKills    int        `json:"oom_kills,omitempty"`
	LastOOMKill *time.Time `json:"last_oom_kill,omitempty"`
}

// InstanceStat is one running instance's resource use now, as the metrics collector
// samples it.
type InstanceStat struct {
	Ref         EnvRef
	Instance    string // process.index
	ID          string
	CPUPercent  float64
	MemoryBytes float64
	OOMKills    int
}

// LogLine is one line a process's instance wrote.
type LogLine struct {
	Process  string `json:"process"`
	Instance string `json:"instance"` // process.index, as web.0
	Stream   string `json:"stream"`   // stdout or stderr
	Line     string `json:"line"`
}

// BuildResult is how a build job ended: the pushed image by digest, or why it failed.
type BuildResult struct {
	Failed bool
	Image  string
	Commit string // the git commit built, for a git source
	Reason string
}
