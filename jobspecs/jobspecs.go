// Package jobspecs holds Wharf's Nomad job templates and renders them into jobs.
//
// The templates (*.nomad.hcl, embedded) are ordinary Nomad jobspecs with HCL2 variable
// blocks: an operator can run any of them by hand with `nomad job run -var-file=...`.
// Rendering never builds HCL from text: the variables file is written with hclwrite from
// typed values, and Nomad's own /v1/jobs/parse turns template and variables into a job,
// so no value can change a template's structure. Users' environment variables and
// commands do not pass through here at all: the templates read them from Vault at run
// time (see web.nomad.hcl).
//
// The package is Nomad-specific by nature and returns nomadapi jobs; platform/ must not
// import it.
package jobspecs

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2/hclwrite"
	nomadapi "github.com/hashicorp/nomad/api"
	"github.com/zclconf/go-cty/cty"

	"github.com/wharf-platform/wharf/platform"
)

//go:embed *.nomad.hcl
var files embed.FS

// Name names a template.
type Name string

// The templates.
const (
	Web     Name = "web"     // an environment's service job: one group per process
	Release Name = "release" // the release command, run once per deploy
	Cron    Name = "cron"    // one cron entry: a periodic batch job
	Build   Name = "build"   // one build of a codebase into an image
	Backup  Name = "backup"  // one backup or restore of a database service instance
)

// Source returns a template's text.
func Source(n Name) (string, error) {
	b, err := files.ReadFile(string(n) + ".nomad.hcl")
	if err != nil {
		return "", platform.Errorf(platform.NotFound, "no job template %q", n)
	}
	return string(b), nil
}

// Version returns a template's version, "name@" and the first 12 hex digits of its
// content's SHA-256: a release records it, so the job it ran can be reproduced.
func Version(n Name) string {
	src, err := Source(n)
	if err != nil {
		return string(n) + "@unknown"
	}
	sum := sha256.Sum256([]byte(src))
	return string(n) + "@" + hex.EncodeToString(sum[:6])
}

// Parser turns a jobspec and a variables file into a job, as Nomad's /v1/jobs/parse
// does. Errors: invalid (Nomad refused the jobspec or the variables), unavailable.
type Parser interface {
	ParseJob(ctx context.Context, jobHCL, variables string) (*nomadapi.Job, error)
}

// Vars are the typed values of one template.
type Vars interface {
	Template() Name
	values() (map[string]cty.Value, error)
}

// Render renders vars' template into a job whose ID and name are id.
func Render(ctx context.Context, p Parser, id string, vars Vars) (*nomadapi.Job, error) {
	if !ValidJobID(id) {
		return nil, platform.Errorf(platform.Invalid, "job id %q is not a valid job id", id)
	}
	src, err := Source(vars.Template())
	if err != nil {
		return nil, err
	}
	file, err := VariablesFile(vars)
	if err != nil {
		return nil, err
	}
	job, err := p.ParseJob(ctx, src, string(file))
	if err != nil {
		return nil, err
	}
	job.ID, job.Name = &id, &id
	return job, nil
}

// VariablesFile writes vars as an HCL variables file. hclwrite quotes every string, so
// quotes, `${`, `%{`, braces and newlines in a value stay inside it.
func VariablesFile(vars Vars) ([]byte, error) {
	vals, err := vars.values()
	if err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		f.Body().SetAttributeValue(k, vals[k])
	}
	return f.Bytes(), nil
}

var (
	// Job IDs are platform's (identity.go): labels joined with ".".
	jobIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,299}$`)
	// The two values that a template places inside a template block's data (the Vault
	// path it reads) are Wharf's own; they are held to a strict alphabet all the same,
	// since consul-template would run anything else they carried.
	vaultPathPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9/_-]*$`)
	// The two policy families of platform/identity.go: an environment's
	// ("wharf-env.<org>.<app>.<env>"), which its web, release and cron jobs run under,
	// and an instance's backups' ("wharf-backup.<role>"), which only backup jobs do.
	vaultPolicyPattern  = regexp.MustCompile(`^wharf-env\.` + label + `\.` + label + `\.` + label + `$`)
	backupPolicyPattern = regexp.MustCompile(`^wharf-backup\.wharf-[0-9a-f]{16}$`)
	processPattern      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,29}$`)
)

// ValidJobID reports whether id is a job ID the templates take.
func ValidJobID(id string) bool { return jobIDPattern.MatchString(id) }

// ValidEnvPolicy reports whether name is an environment's policy, which web, release
// and cron jobs run under.
func ValidEnvPolicy(name string) bool { return vaultPolicyPattern.MatchString(name) }

// ValidBackupPolicy reports whether name is a service instance's backup policy, which
// only backup and restore jobs run under.
func ValidBackupPolicy(name string) bool { return backupPolicyPattern.MatchString(name) }

// label is a DNS label as platform.CheckName accepts it.
const label = `[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?`

// Common holds what every template takes.
type Common struct {
	Region      string
	Datacenters []string // every datacenter of the region when empty
	NodePool    string   // "default" when empty
	Image       string   // by digest
	NetworkMode string   // the groups' network mode: "bridge" (the default) or "host"
	Stage       string   // the environment's name
	Domain      string   // the environment's primary domain
	Release     int
	VaultPolicy string // the environment's policy, wharf-env.<org>.<app>.<env>
	// RuntimePath and RuntimeVersion locate the release's runtime configuration (its
	// environment variables and commands) in Vault KV v2: a data path and a version.
	RuntimePath    string
	RuntimeVersion int
	// Services are the database service instances whose credentials the tasks receive.
	Services []Service
	// Storage are the storage service instances whose keys the tasks receive.
	Storage []Storage
	Meta    map[string]string
}

// Service is one database service instance as a template renders it: a Vault database
// role whose credentials become <Prefix>_DATABASE_DSN (and DATABASE_URL when
// DatabaseURL is set). Every field but Name lands in a template block's data, so each is
// held to a strict alphabet.
type Service struct {
	Name        string // the instance's name
	Prefix      string
	DatabaseURL bool
	Role        string // the Vault database role
	Address     string // the PostgreSQL cluster, host:port
	Database    string
}

var (
	servicePrefixPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,29}$`)
	serviceRolePattern   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	serviceAddrPattern   = regexp.MustCompile(`^[A-Za-z0-9.-]+:[0-9]{1,5}$`)
	serviceDBPattern     = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)
)

// Storage is one storage service instance as a template renders it: its keys, read from
// Vault KV at Path, become <Prefix>_STORAGE_DSN (and, when Defaults is set, AWS_* and
// S3_*). Every field but Name lands in a template block's text, so each is held to a
// strict alphabet.
type Storage struct {
	Name      string // the instance's name
	Prefix    string
	Defaults  bool
	Path      string // the KV v2 data path of its keys
	Bucket    string
	Endpoint  string // the object store's URL, http(s)://host[:port]
	Region    string
	PublicURL string // where the bucket's public objects are served
}

var (
	storageBucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$`)
	storageRegionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	storageURLPattern    = regexp.MustCompile(`^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._/-]*)?$`)
)

func storageValue(sts []Storage) (cty.Value, error) {
	ty := cty.Object(map[string]cty.Type{"prefix": cty.String, "defaults": cty.Bool, "path": cty.String, "bucket": cty.String,
		"endpoint": cty.String, "region": cty.String, "public": cty.String, "dsn_tail": cty.String})
	if len(sts) == 0 {
		return cty.MapValEmpty(ty), nil
	}
	vals := map[string]cty.Value{}
	prefixes := map[string]bool{}
	for _, st := range sts {
		switch {
		case !processPattern.MatchString(st.Name):
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage name %q is not a lower-case name", st.Name)
		case !servicePrefixPattern.MatchString(st.Prefix):
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage prefix %q is not an upper-case name", st.Prefix)
		case !vaultPathPattern.MatchString(st.Path):
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage keys path %q is not a plain Vault path", st.Path)
		case !storageBucketPattern.MatchString(st.Bucket):
			return cty.NilVal, platform.Errorf(platform.Invalid, "bucket %q is not a plain bucket name", st.Bucket)
		case !storageURLPattern.MatchString(st.Endpoint) || strings.Count(st.Endpoint, "/") != 2:
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage endpoint %q is not a plain http(s) URL of a host", st.Endpoint)
		case !storageRegionPattern.MatchString(st.Region):
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage region %q is not a plain region name", st.Region)
		case !storageURLPattern.MatchString(st.PublicURL):
			return cty.NilVal, platform.Errorf(platform.Invalid, "public URL %q is not a plain http(s) URL", st.PublicURL)
		}
		if _, dup := vals[st.Name]; dup || prefixes[st.Prefix] {
			return cty.NilVal, platform.Errorf(platform.Invalid, "storage %q or prefix %s given twice", st.Name, st.Prefix)
		}
		prefixes[st.Prefix] = true
		scheme, host, _ := strings.Cut(st.Endpoint, "://")
		// Divio's form: the bucket as the first label of the host; the query says how to
		// reach it (path-style requests, as a bucket here is no DNS name of its own).
		tail := "@" + st.Bucket + "." + host + "/?auth=s3v4&region=" + st.Region + "&scheme=" + scheme +
			"&path_style=true&public_url=" + url.QueryEscape(st.PublicURL)
		vals[st.Name] = cty.ObjectVal(map[string]cty.Value{
			"prefix": cty.StringVal(st.Prefix), "defaults": cty.BoolVal(st.Defaults), "path": cty.StringVal(st.Path),
			"bucket": cty.StringVal(st.Bucket), "endpoint": cty.StringVal(st.Endpoint), "region": cty.StringVal(st.Region),
			"public": cty.StringVal(st.PublicURL), "dsn_tail": cty.StringVal(tail),
		})
	}
	return cty.MapVal(vals), nil
}

func servicesValue(svcs []Service) (cty.Value, error) {
	ty := cty.Object(map[string]cty.Type{"prefix": cty.String, "database_url": cty.Bool, "role": cty.String, "address": cty.String, "database": cty.String})
	if len(svcs) == 0 {
		return cty.MapValEmpty(ty), nil
	}
	vals := map[string]cty.Value{}
	prefixes := map[string]bool{}
	for _, sv := range svcs {
		switch {
		case !processPattern.MatchString(sv.Name):
			return cty.NilVal, platform.Errorf(platform.Invalid, "service name %q is not a lower-case name", sv.Name)
		case !servicePrefixPattern.MatchString(sv.Prefix):
			return cty.NilVal, platform.Errorf(platform.Invalid, "service prefix %q is not an upper-case name", sv.Prefix)
		case !serviceRolePattern.MatchString(sv.Role):
			return cty.NilVal, platform.Errorf(platform.Invalid, "service role %q is not a plain Vault role", sv.Role)
		case !serviceAddrPattern.MatchString(sv.Address):
			return cty.NilVal, platform.Errorf(platform.Invalid, "service address %q is not host:port", sv.Address)
		case !serviceDBPattern.MatchString(sv.Database):
			return cty.NilVal, platform.Errorf(platform.Invalid, "service database %q is not a plain name", sv.Database)
		}
		if _, dup := vals[sv.Name]; dup || prefixes[sv.Prefix] {
			return cty.NilVal, platform.Errorf(platform.Invalid, "service %q or prefix %s given twice", sv.Name, sv.Prefix)
		}
		prefixes[sv.Prefix] = true
		vals[sv.Name] = cty.ObjectVal(map[string]cty.Value{
			"prefix": cty.StringVal(sv.Prefix), "database_url": cty.BoolVal(sv.DatabaseURL),
			"role": cty.StringVal(sv.Role), "address": cty.StringVal(sv.Address), "database": cty.StringVal(sv.Database),
		})
	}
	return cty.MapVal(vals), nil
}

func (c Common) values() (map[string]cty.Value, error) {
	switch {
	case c.Region == "":
		return nil, platform.Errorf(platform.Invalid, "region is empty")
	case c.Image == "":
		return nil, platform.Errorf(platform.Invalid, "image is empty")
	case !vaultPathPattern.MatchString(c.RuntimePath):
		return nil, platform.Errorf(platform.Invalid, "runtime path %q is not a plain Vault path", c.RuntimePath)
	case !vaultPolicyPattern.MatchString(c.VaultPolicy):
		return nil, platform.Errorf(platform.Invalid, "vault policy %q is not an environment policy", c.VaultPolicy)
	case c.RuntimeVersion < 1:
		return nil, platform.Errorf(platform.Invalid, "runtime version %d is not a KV version", c.RuntimeVersion)
	}
	dcs := c.Datacenters
	if len(dcs) == 0 {
		dcs = []string{"*"}
	}
	pool := c.NodePool
	if pool == "" {
		pool = "default"
	}
	mode, err := networkMode(c.NetworkMode)
	if err != nil {
		return nil, err
	}
	services, err := servicesValue(c.Services)
	if err != nil {
		return nil, err
	}
	storage, err := storageValue(c.Storage)
	if err != nil {
		return nil, err
	}
	return map[string]cty.Value{
		"services":        services,
		"storage":         storage,
		"region":          cty.StringVal(c.Region),
		"datacenters":     stringList(dcs),
		"node_pool":       cty.StringVal(pool),
		"image":           cty.StringVal(c.Image),
		"network_mode":    cty.StringVal(mode),
		"stage":           cty.StringVal(c.Stage),
		"domain":          cty.StringVal(c.Domain),
		"release":         cty.NumberIntVal(int64(c.Release)),
		"vault_policy":    cty.StringVal(c.VaultPolicy),
		"runtime_path":    cty.StringVal(c.RuntimePath),
		"runtime_version": cty.NumberIntVal(int64(c.RuntimeVersion)),
		"meta":            stringMap(c.Meta),
	}, nil
}

// Process is one long-running process of an environment.
type Process struct {
	Name string
	// Command says the process runs WHARF_COMMAND_<NAME> from the runtime configuration;
	// otherwise it runs the image's default command.
	Command    bool
	Count      int
	CPU        int // MHz
	MemoryMB   int
	HTTP       bool   // receives HTTP: a port, a health check, a Consul service
	HealthPath string // "/" when empty
}

// UpdatePolicy times a rolling deploy.
type UpdatePolicy struct {
	MinHealthyTime, HealthyDeadline, ProgressDeadline string
}

// WebVars are web.nomad.hcl's values.
type WebVars struct {
	Common
	ServiceName string
	Processes   []Process
	Update      *UpdatePolicy // the template's defaults when nil
}

// Template names web.nomad.hcl.
func (WebVars) Template() Name { return Web }

func (v WebVars) values() (map[string]cty.Value, error) {
	vals, err := v.Common.values()
	if err != nil {
		return nil, err
	}
	if v.ServiceName == "" {
		return nil, platform.Errorf(platform.Invalid, "service name is empty")
	}
	if len(v.Processes) == 0 {
		return nil, platform.Errorf(platform.Invalid, "no processes")
	}
	procs := map[string]cty.Value{}
	for _, p := range v.Processes {
		if !processPattern.MatchString(p.Name) {
			return nil, platform.Errorf(platform.Invalid, "process name %q is not a lower-case name", p.Name)
		}
		if _, dup := procs[p.Name]; dup {
			return nil, platform.Errorf(platform.Invalid, "process %q given twice", p.Name)
		}
		health := p.HealthPath
		if health == "" {
			health = "/"
		}
		procs[p.Name] = cty.ObjectVal(map[string]cty.Value{
			"command":     cty.BoolVal(p.Command),
			"count":       cty.NumberIntVal(int64(p.Count)),
			"cpu":         cty.NumberIntVal(int64(p.CPU)),
			"memory":      cty.NumberIntVal(int64(p.MemoryMB)),
			"http":        cty.BoolVal(p.HTTP),
			"health_path": cty.StringVal(health),
		})
	}
	vals["service_name"] = cty.StringVal(v.ServiceName)
	vals["processes"] = cty.ObjectVal(procs)
	if u := v.Update; u != nil {
		vals["update"] = cty.ObjectVal(map[string]cty.Value{
			"min_healthy_time":  cty.StringVal(u.MinHealthyTime),
			"healthy_deadline":  cty.StringVal(u.HealthyDeadline),
			"progress_deadline": cty.StringVal(u.ProgressDeadline),
		})
	}
	return vals, nil
}

// ReleaseVars are release.nomad.hcl's values.
type ReleaseVars struct {
	Common
	MemoryMB int // the template's default when zero
	// Process is WHARF_PROCESS: "release" when empty; "run" for a one-off command.
	Process string
}

// Template names release.nomad.hcl.
func (ReleaseVars) Template() Name { return Release }

func (v ReleaseVars) values() (map[string]cty.Value, error) {
	vals, err := v.Common.values()
	if err != nil {
		return nil, err
	}
	if v.MemoryMB > 0 {
		vals["memory"] = cty.NumberIntVal(int64(v.MemoryMB))
	}
	if v.Process != "" {
		if !processPattern.MatchString(v.Process) {
			return nil, platform.Errorf(platform.Invalid, "process name %q is not a lower-case name", v.Process)
		}
		vals["process"] = cty.StringVal(v.Process)
	}
	return vals, nil
}

// CronVars are cron.nomad.hcl's values.
type CronVars struct {
	Common
	Name     string
	Schedule string // a cron expression, validated by the caller
	MemoryMB int    // the template's default when zero
}

// Template names cron.nomad.hcl.
func (CronVars) Template() Name { return Cron }

func (v CronVars) values() (map[string]cty.Value, error) {
	vals, err := v.Common.values()
	if err != nil {
		return nil, err
	}
	if !processPattern.MatchString(v.Name) {
		return nil, platform.Errorf(platform.Invalid, "cron name %q is not a lower-case name", v.Name)
	}
	vals["name"] = cty.StringVal(v.Name)
	vals["schedule"] = cty.StringVal(v.Schedule)
	if v.MemoryMB > 0 {
		vals["memory"] = cty.NumberIntVal(int64(v.MemoryMB))
	}
	return vals, nil
}

// BuildVars are build.nomad.hcl's values.
type BuildVars struct {
	Region      string
	Datacenters []string
	NodePool    string
	Builder     string // path of wharf-builder on the builder nodes
	SpecURL     string // the build spec: a registry blob URL
	SpecDigest  string
	// Network is the Docker network of the build's RUN steps; "none" when empty.
	Network string
	// VaultPolicy and CredentialPath (a KV v2 data path) hand the builder its registry
	// credential through Vault; both empty when the registry asks for none.
	VaultPolicy, CredentialPath string
	Meta                        map[string]string
}

// Template names build.nomad.hcl.
func (BuildVars) Template() Name { return Build }

var dockerNetworkPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

var plainURLPattern = regexp.MustCompile(`^https?://[A-Za-z0-9.:/_@-]+$`)

func (v BuildVars) values() (map[string]cty.Value, error) {
	switch {
	case v.Region == "":
		return nil, platform.Errorf(platform.Invalid, "region is empty")
	case !filepathPattern.MatchString(v.Builder):
		return nil, platform.Errorf(platform.Invalid, "builder path %q is not a plain absolute path", v.Builder)
	case !plainURLPattern.MatchString(v.SpecURL):
		return nil, platform.Errorf(platform.Invalid, "spec URL %q is not a plain URL", v.SpecURL)
	case v.Network != "" && !dockerNetworkPattern.MatchString(v.Network):
		return nil, platform.Errorf(platform.Invalid, "build network %q is not a Docker network name", v.Network)
	case v.CredentialPath != "" && !vaultPathPattern.MatchString(v.CredentialPath):
		return nil, platform.Errorf(platform.Invalid, "credential path %q is not a plain Vault path", v.CredentialPath)
	case v.CredentialPath != "" && !strings.HasPrefix(v.VaultPolicy, platform.BuildPolicyPrefix):
		return nil, platform.Errorf(platform.Invalid, "vault policy %q is not a build's", v.VaultPolicy)
	}
	network := v.Network
	if network == "" {
		network = "none"
	}
	dcs := v.Datacenters
	if len(dcs) == 0 {
		dcs = []string{"*"}
	}
	pool := v.NodePool
	if pool == "" {
		pool = "default"
	}
	vals := map[string]cty.Value{
		"region":      cty.StringVal(v.Region),
		"datacenters": stringList(dcs),
		"node_pool":   cty.StringVal(pool),
		"builder":     cty.StringVal(v.Builder),
		"spec_url":    cty.StringVal(v.SpecURL),
		"spec_digest": cty.StringVal(v.SpecDigest),
		"network":     cty.StringVal(network),
		"meta":        stringMap(v.Meta),
	}
	// Set only when the registry asks for a credential, so a build without one renders
	// as before.
	if v.CredentialPath != "" {
		vals["vault_policy"], vals["credential_path"] = cty.StringVal(v.VaultPolicy), cty.StringVal(v.CredentialPath)
	}
	return vals, nil
}

// BackupVars are backup.nomad.hcl's values: a backup when RestoreURL is empty, a
// restore of the dump at RestoreURL otherwise.
type BackupVars struct {
	Region      string
	Datacenters []string
	NodePool    string
	VaultPolicy string
	Role        string // the Vault database role
	Address     string // host:port of the PostgreSQL cluster
	Database    string
	PgBin       string // the template's default when empty
	RestoreURL  string
	// RegistryTokenPath (a KV v2 data path under the backup policy), for a restore from
	// a registry that asks for a token: the job fetches the dump itself with the token
	// its template reads there.
	RegistryTokenPath string
	// Schedule, a cron expression, makes the job periodic: one backup per run.
	Schedule string
	// NetworkMode is the group's network mode: "bridge" (the default) or "host".
	NetworkMode string
	Meta        map[string]string
}

// Template names backup.nomad.hcl.
func (BackupVars) Template() Name { return Backup }

func (v BackupVars) values() (map[string]cty.Value, error) {
	host, port, ok := strings.Cut(v.Address, ":")
	n, err := strconv.Atoi(port)
	switch {
	case v.Region == "":
		return nil, platform.Errorf(platform.Invalid, "region is empty")
	case !backupPolicyPattern.MatchString(v.VaultPolicy):
		return nil, platform.Errorf(platform.Invalid, "vault policy %q is not a backup policy", v.VaultPolicy)
	case !serviceRolePattern.MatchString(v.Role):
		return nil, platform.Errorf(platform.Invalid, "role %q is not a plain Vault role", v.Role)
	case !ok || !serviceAddrPattern.MatchString(v.Address) || err != nil:
		return nil, platform.Errorf(platform.Invalid, "address %q is not host:port", v.Address)
	case !serviceDBPattern.MatchString(v.Database):
		return nil, platform.Errorf(platform.Invalid, "database %q is not a plain name", v.Database)
	case v.PgBin != "" && !filepathPattern.MatchString(v.PgBin):
		return nil, platform.Errorf(platform.Invalid, "pg_bin %q is not a plain absolute path", v.PgBin)
	case v.RestoreURL != "" && !plainURLPattern.MatchString(v.RestoreURL):
		return nil, platform.Errorf(platform.Invalid, "restore URL %q is not a plain URL", v.RestoreURL)
	case v.RegistryTokenPath != "" && (v.RestoreURL == "" || !vaultPathPattern.MatchString(v.RegistryTokenPath)):
		return nil, platform.Errorf(platform.Invalid, "registry token path %q is not a plain Vault path of a restore", v.RegistryTokenPath)
	case v.Schedule != "" && (v.RestoreURL != "" || platform.CheckCronSchedule(v.Schedule) != ""):
		return nil, platform.Errorf(platform.Invalid, "schedule %q is not a cron expression of a backup", v.Schedule)
	}
	mode, err := networkMode(v.NetworkMode)
	if err != nil {
		return nil, err
	}
	dcs := v.Datacenters
	if len(dcs) == 0 {
		dcs = []string{"*"}
	}
	pool := v.NodePool
	if pool == "" {
		pool = "default"
	}
	vals := map[string]cty.Value{
		"network_mode": cty.StringVal(mode),
		"region":       cty.StringVal(v.Region),
		"datacenters":  stringList(dcs),
		"node_pool":    cty.StringVal(pool),
		"vault_policy": cty.StringVal(v.VaultPolicy),
		"role":         cty.StringVal(v.Role),
		"host":         cty.StringVal(host),
		"port":         cty.NumberIntVal(int64(n)),
		"database":     cty.StringVal(v.Database),
		"restore_url":  cty.StringVal(v.RestoreURL),
		"schedule":     cty.StringVal(v.Schedule),
		"meta":         stringMap(v.Meta),
	}
	if v.PgBin != "" {
		vals["pg_bin"] = cty.StringVal(v.PgBin)
	}
	if v.RegistryTokenPath != "" {
		vals["registry_token_path"] = cty.StringVal(v.RegistryTokenPath)
	}
	return vals, nil
}

// networkMode checks a group network mode, "bridge" when empty.
func networkMode(m string) (string, error) {
	switch m {
	case "", "bridge":
		return "bridge", nil
	case "host":
		return m, nil
	}
	return "", platform.Errorf(platform.Invalid, "network mode %q is neither bridge nor host", m)
}

var filepathPattern = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

func stringList(ss []string) cty.Value {
	if len(ss) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.ListVal(vals)
}

func stringMap(m map[string]string) cty.Value {
	if len(m) == 0 {
		return cty.MapValEmpty(cty.String)
	}
	vals := make(map[string]cty.Value, len(m))
	for k, v := range m {
		vals[k] = cty.StringVal(v)
	}
	return cty.MapVal(vals)
}
