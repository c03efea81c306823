package platform

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"strconv"
	"strings"
)

// This file is the one place that names what Wharf makes outside itself: Nomad jobs,
// Consul services, Vault policies and paths, route records, generated hosts, registry
// repositories, PostgreSQL databases and roles, object store buckets and accounts.
// Nothing else builds such a name.
//
// Organisation, application and environment names (and process, cron entry, service
// instance names) are DNS labels (CheckName): [a-z0-9-], at most 63 characters, and they
// may contain "--". Joining them with "-" is therefore ambiguous (org acme/app my-shop and
// org acme-my/app shop both gave "acme-my-shop"). Every name here is instead either
//
//   - joined with a separator outside the label alphabet ("." or "/"), in a fixed number
//     of fields after a fixed kind word, so the name parses back to exactly one kind and
//     one reference: injective by construction; or,
//   - where the target system allows only [a-z0-9-] and at most 63 characters (Consul
//     service names, RFC 1123), a readable prefix plus 26 base32 characters (130 bits)
//     of SHA-256 over a length-prefixed encoding of the kind and every field. There,
//     injectivity rests on SHA-256 (a second name would need a collision of its
//     truncated output).
//
// Kinds never meet: each name starts with its kind ("wharf-env." policies and
// "wharf-backup." policies; "wharf.env." jobs and "wharf.build." jobs), so no
// environment policy can equal a backup policy, and no environment's job can equal a
// build job or another environment's job.

// EnvRef names one environment: organisation, application, environment. Each is a DNS
// label (CheckName).
type EnvRef struct {
	Org, App, Env string
}

// AppRef names one application within its organisation.
type AppRef struct {
	Org, App string
}

// Ref returns the environment's reference.
func Ref(org, app, env string) EnvRef { return EnvRef{Org: org, App: app, Env: env} }

// AppRef returns the environment's application.
func (r EnvRef) AppRef() AppRef { return AppRef{Org: r.Org, App: r.App} }

// Env returns the reference of the application's environment env.
func (a AppRef) Env(env string) EnvRef { return EnvRef{Org: a.Org, App: a.App, Env: env} }

// String is "org/app/env", for messages.
func (r EnvRef) String() string { return r.Org + "/" + r.App + "/" + r.Env }

// String is "org/app", for messages.
func (a AppRef) String() string { return a.Org + "/" + a.App }

// Check reports, as an invalid Error, which of the reference's names is not a DNS label.
func (r EnvRef) Check() error {
	var fe FieldErrors
	fe.Check("org", CheckName(r.Org))
	fe.Check("app", CheckName(r.App))
	fe.Check("env", CheckName(r.Env))
	return fe.Err()
}

// ---- Nomad jobs ----------------------------------------------------------------------

// Job ID kinds. An environment's jobs all start with JobPrefix; the word after it says
// which of them a job is.
const (
	jobKindService = "service"
	jobKindRelease = "release"
	jobKindCron    = "cron"
	jobKindBackups = "backups" // the scheduled (periodic) backup job of one instance
	jobKindBackup  = "backup"  // one backup run now
	jobKindRestore = "restore" // one restore into an instance
	jobKindRun     = "run"     // one one-off command (Runs)
)

// JobPrefix is the prefix every Nomad job of the environment has, and no job of any
// other environment or kind: "wharf.env.<org>.<app>.<env>.". Names hold no ".", so the
// environment's fields end exactly where the dots say.
func (r EnvRef) JobPrefix() string {
	return EnvJobsPrefix + r.Org + "." + r.App + "." + r.Env + "."
}

// JobID is the environment's service job: "wharf.env.<org>.<app>.<env>.service".
func (r EnvRef) JobID() string { return r.JobPrefix() + jobKindService }

// ReleaseJobID is the batch job running release n's release command.
func (r EnvRef) ReleaseJobID(n int) string {
	return r.JobPrefix() + jobKindRelease + "." + strconv.Itoa(n)
}

// CronJobPrefix is the prefix of the environment's periodic jobs, and nothing else's.
func (r EnvRef) CronJobPrefix() string { return r.JobPrefix() + jobKindCron + "." }

// CronJobID is the periodic job of the cron entry name (a DNS label).
func (r EnvRef) CronJobID(name string) string { return r.CronJobPrefix() + name }

// BackupsJobID is the periodic job backing up the environment's service instance svc.
// It is one of the environment's jobs, so deleting the environment stops it too.
func (r EnvRef) BackupsJobID(svc string) string {
	return r.JobPrefix() + jobKindBackups + "." + svc
}

// BackupJobID is a one-off job dumping instance svc now; nonce (hex) tells runs apart.
func (r EnvRef) BackupJobID(svc, nonce string) string {
	return r.JobPrefix() + jobKindBackup + "." + svc + "." + nonce
}

// RestoreJobID is a one-off job restoring a dump into instance svc; nonce (hex) tells
// runs apart.
func (r EnvRef) RestoreJobID(svc, nonce string) string {
	return r.JobPrefix() + jobKindRestore + "." + svc + "." + nonce
}

// RunJobID is the batch job of the environment's one-off command run (ids hold no ".").
func (r EnvRef) RunJobID(run string) string {
	return r.JobPrefix() + jobKindRun + "." + run
}

// EnvJobsPrefix is the prefix of every environment's jobs, and of no other kind's.
const EnvJobsPrefix = "wharf.env."

// ParseServiceJobID returns the environment whose service job (JobID) id is, and
// whether it is one.
func ParseServiceJobID(id string) (EnvRef, bool) {
	rest, ok := strings.CutPrefix(id, EnvJobsPrefix)
	f := strings.Split(rest, ".")
	if !ok || len(f) != 4 || f[3] != jobKindService {
		return EnvRef{}, false
	}
	r := EnvRef{Org: f[0], App: f[1], Env: f[2]}
	return r, r.Check() == nil
}

// ParseRouteName returns the environment a route of the ingress is named after
// ("<org>.<app>/<env>", RouteApp and the environment, as the ingress labels its
// metrics), and whether it is one.
func ParseRouteName(name string) (EnvRef, bool) {
	oa, env, ok := strings.Cut(name, "/")
	org, app, ok2 := strings.Cut(oa, ".")
	r := EnvRef{Org: org, App: app, Env: env}
	return r, ok && ok2 && r.Check() == nil
}

// IsBackupsJobID reports whether id is an environment's periodic backup job
// (BackupsJobID): exactly its fields, its kind word in its place.
func IsBackupsJobID(id string) bool {
	rest, ok := strings.CutPrefix(id, EnvJobsPrefix)
	f := strings.Split(rest, ".")
	return ok && len(f) == 5 && f[3] == jobKindBackups
}

// BuildJobID is the Nomad job of one build of the application:
// "wharf.build.<org>.<app>.<build>". Build ids hold no ".".
func (a AppRef) BuildJobID(build string) string {
	return "wharf.build." + a.Org + "." + a.App + "." + build
}

// ---- Consul -------------------------------------------------------------------------

// ServiceName is the Consul service of the environment's web process. Consul (through
// Nomad) takes only RFC 1123 labels, [a-z0-9-] of at most 63 characters, so there is no
// separator to spare: the name is "wharf-" and the start of "<org>-<app>-<env>" for
// people, then "-" and 26 base32 characters of SHA-256 over the kind and the
// length-prefixed fields. Its injectivity rests on SHA-256.
func (r EnvRef) ServiceName() string {
	return readableHashed("wharf-"+r.Org+"-"+r.App+"-"+r.Env, "consul-service", r.Org, r.App, r.Env)
}

// ---- Vault --------------------------------------------------------------------------

// Policy families. The token role Nomad derives task tokens from may grant only these
// (EnvPolicyGlob, BackupPolicyGlob), and wharfd's own policy may write only these.
const (
	EnvPolicyPrefix    = "wharf-env."
	BackupPolicyPrefix = "wharf-backup."
	BuildPolicyPrefix  = "wharf-build."
	EnvPolicyGlob      = EnvPolicyPrefix + "*"
	BackupPolicyGlob   = BackupPolicyPrefix + "*"
	BuildPolicyGlob    = BuildPolicyPrefix + "*"
)

// VaultPolicy is the environment's Vault policy, "wharf-env.<org>.<app>.<env>": its tasks
// may read its runtime configuration and its service instances' credentials.
func (r EnvRef) VaultPolicy() string {
	return EnvPolicyPrefix + r.Org + "." + r.App + "." + r.Env
}

// BackupPolicy is the policy of a service instance's backup and restore jobs,
// "wharf-backup.<credentials role>": it reads that instance's credentials only. Its prefix
// is not an environment policy's, so the two families never meet.
func BackupPolicy(credentialsRole string) string { return BackupPolicyPrefix + credentialsRole }

// BuildPolicy is the policy of one build's job, "wharf-build.<org>.<app>.<build>": it
// reads that build's registry credential (BuildCredentialPath) only. Build ids hold no
// ".", and the prefix is neither an environment's nor a backup's.
func (a AppRef) BuildPolicy(build string) string {
	return BuildPolicyPrefix + a.Org + "." + a.App + "." + build
}

// BuildCredentialPath is where one build's registry credential waits for its job in
// Vault KV v2, relative to the mount: "wharf/_builds/<org>/<app>/<build>". Names are
// DNS labels, so "_builds" is no organisation's.
func (a AppRef) BuildCredentialPath(build string) string {
	return "wharf/_builds/" + a.Org + "/" + a.App + "/" + build
}

// RestoreTokenPath is where one restore's registry token (a pull of the dump) waits
// for its job in Vault KV v2, relative to the mount:
// "wharf/_restores/<credentials role>/<nonce>"; the instance's backup policy reads
// "wharf/_restores/<credentials role>/*".
func RestoreTokenPath(credentialsRole, nonce string) string {
	return "wharf/_restores/" + credentialsRole + "/" + nonce
}

// RuntimePath is the environment's runtime configuration in Vault KV v2, relative to the
// mount: "wharf/_runtime/<org>/<app>/<env>". Names are DNS labels, so "_runtime" is no
// organisation's.
func (r EnvRef) RuntimePath() string {
	return "wharf/_runtime/" + r.Org + "/" + r.App + "/" + r.Env
}

// RunsPath is where the environment's one-off commands' configuration lives in Vault
// KV v2, relative to the mount, one version per run: "wharf/_runs/<org>/<app>/<env>".
// "_runs" is no organisation's, and no other path of the environment's is under it.
func (r EnvRef) RunsPath() string {
	return "wharf/_runs/" + r.Org + "/" + r.App + "/" + r.Env
}

// GitHookSecretPath is where the secret of the environment's git hook lives, relative
// to the secrets store's own prefix ("wharf/" in Vault): "_hooks/<org>/<app>/<env>".
// "_hooks" is no organisation's, so it is never a secret variable's path (SecretPath).
func (r EnvRef) GitHookSecretPath() string {
	return "_hooks/" + r.Org + "/" + r.App + "/" + r.Env
}

// SecretKeyPath is where the environment's SECRET_KEY lives in Vault KV v2, relative to
// the mount: under "_platform", which no organisation can be named.
func (r EnvRef) SecretKeyPath() string {
	return "wharf/_platform/" + r.Org + "/" + r.App + "/" + r.Env + "/secret-key"
}

// SecretPath is where the secret variable name of the environment lives, relative to
// the secrets store's own prefix ("wharf/" in Vault): "<org>/<app>/<env>/<name>".
func (r EnvRef) SecretPath(name string) string {
	return r.Org + "/" + r.App + "/" + r.Env + "/" + name
}

// ---- Routes and hosts ----------------------------------------------------------------

// RouteApp names the environment's application in its route record (key
// "<cloudspace>/<org>.<app>/<env>" below the routes prefix): "<org>.<app>".
func (r EnvRef) RouteApp() string { return r.Org + "." + r.App }

// Host is the environment's generated host, "<env>.<app>.<org>.<ingress domain>". Each
// field is a whole DNS label, so two environments never share a host under one
// domain, and hosts under "localhost" still resolve to the loopback address. A custom
// domain under an ingress domain is refused unless it is this host (PutDomain), so no
// one else can claim it.
func (r EnvRef) Host(ingressDomain string) string {
	return r.Env + "." + r.App + "." + r.Org + "." + ingressDomain
}

// ---- Registry -----------------------------------------------------------------------

// ImageRepo is the application's image repository, "<org>/<app>".
func (a AppRef) ImageRepo() string { return a.Org + "/" + a.App }

// SourceRepo keeps the application's uploaded sources and build specs,
// "<org>/<app>/sources"; it has three path components, an image repository two.
func (a AppRef) SourceRepo() string { return a.Org + "/" + a.App + "/sources" }

// ParseImageRepo reads an image repository name back to its application: two
// components, each a DNS label. Sources and backups (three components) are no image
// repository.
func ParseImageRepo(repo string) (AppRef, bool) {
	org, app, ok := strings.Cut(repo, "/")
	if !ok || CheckName(org) != "" || CheckName(app) != "" {
		return AppRef{}, false
	}
	return AppRef{Org: org, App: app}, true
}

// BackupRepo keeps the application's database dumps, "<org>/<app>/backups".
func (a AppRef) BackupRepo() string { return a.Org + "/" + a.App + "/backups" }

// ---- Databases ----------------------------------------------------------------------

// InstanceNames are the names of one database service instance outside Wharf. They
// come from a random 64-bit id (16 hex digits), not from the environment, so a
// re-attached instance never meets what is left of an earlier one.
type InstanceNames struct {
	Database        string // PostgreSQL database, "wharf_<id>"
	Owner           string // its NOLOGIN owner role, "wharf_<id>_owner"
	CredentialsRole string // Vault database role and connection, "wharf-<id>"
}

// DatabaseNames derives an instance's names from its id (16 hex digits). All are at
// most 28 bytes, within PostgreSQL's 63.
func DatabaseNames(id string) InstanceNames {
	return InstanceNames{Database: "wharf_" + id, Owner: "wharf_" + id + "_owner", CredentialsRole: "wharf-" + id}
}

// DatabaseOwner is the owner role of database db.
func DatabaseOwner(db string) string { return db + "_owner" }

// ---- Object storage -----------------------------------------------------------------

// StorageInstanceNames are the names of one storage service instance outside Wharf. Like
// a database instance's, they come from a random 64-bit id (16 hex digits), never from
// the environment, so a re-attached instance never meets what is left of an earlier one,
// and no tenant's names can be made to equal another's.
type StorageInstanceNames struct {
	Bucket          string // S3 bucket, "wharf-<id>" (3 to 63 of [a-z0-9-], as S3 wants)
	AccessKey       string // the object store account reaching only that bucket, "WHARF<ID>"
	CredentialsRole string // names the instance's keys in Vault, "wharf-<id>"
}

// StorageNames derives a storage instance's names from its id (16 lower-case hex
// digits).
func StorageNames(id string) StorageInstanceNames {
	return StorageInstanceNames{Bucket: "wharf-" + id, AccessKey: "WHARF" + strings.ToUpper(id), CredentialsRole: "wharf-" + id}
}

// StorageCredentialsPath is where a storage instance's keys live in Vault KV v2,
// relative to the mount: "wharf/_storage/<credentials role>". "_storage" is no
// organisation's name (names are DNS labels), so no secret variable or runtime
// configuration can be there.
func StorageCredentialsPath(credentialsRole string) string {
	return "wharf/_storage/" + credentialsRole
}

// StorageBackupBucket is the object store's bucket of storage backups (archives of
// instances' buckets). It is the store's root account's, which no tenant's account
// reaches, and no instance's bucket ("wharf-<16 hex digits>") can be named so.
const StorageBackupBucket = "wharf-backups"

// StorageBackupKey is where backup id of the environment's storage instance svc is kept
// in StorageBackupBucket: "<org>/<app>/<env>/<svc>/<id>.tar". Every field is a DNS
// label, so keys of two backups never meet, and an environment's archives are exactly
// those under "<org>/<app>/<env>/".
func (r EnvRef) StorageBackupKey(svc, id string) string {
	return r.Org + "/" + r.App + "/" + r.Env + "/" + svc + "/" + id + ".tar"
}

// StoragePublicPrefix is the key prefix of a bucket's public objects: anyone may read
// those (not list them) at the instance's public URL; every other key needs its keys.
const StoragePublicPrefix = "public/"

// ---- hashing ------------------------------------------------------------------------

const hashChars = 26 // base32 characters: 130 bits

var nameBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// nameHash is the first hashChars base32 characters of SHA-256 over kind and fields,
// each preceded by its length (8 bytes, big endian), so no two lists of strings
// encode alike.
func nameHash(kind string, fields ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range append([]string{kind}, fields...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return nameBase32.EncodeToString(h.Sum(nil))[:hashChars]
}

// readableHashed is readable cut to fit 63 characters with "-" and the hash of kind and
// fields after it.
func readableHashed(readable, kind string, fields ...string) string {
	const max = 63 - 1 - hashChars
	if len(readable) > max {
		readable = readable[:max]
	}
	readable = strings.TrimRight(readable, "-")
	return readable + "-" + nameHash(kind, fields...)
}

// ---- Legacy names (before this derivation) -------------------------------------------

// The names below are those Wharf gave before this file existed (up to commit ca8c846):
// fields joined with "-", so two environments could share one. They are derived here only
// so the upgrade (platform/upgrade.go) can find what an older wharfd made and move it to
// the names above; nothing creates them any more. Because they are ambiguous, a legacy
// job is taken for an environment's only when its wharf_org/wharf_app/wharf_env meta
// name that environment.

// LegacyJobID is the environment's legacy service job, "wharf-<org>-<app>-<env>"; it was
// also its Consul service's name.
func (r EnvRef) LegacyJobID() string { return "wharf-" + r.Org + "-" + r.App + "-" + r.Env }

// LegacyCronJobID is the legacy periodic job of the environment's cron entry name.
func (r EnvRef) LegacyCronJobID(name string) string { return r.LegacyJobID() + "-cron-" + name }

// LegacyBackupsJobID is the legacy periodic backup job of the environment's instance svc.
func (r EnvRef) LegacyBackupsJobID(svc string) string { return r.LegacyJobID() + "-backups-" + svc }

// LegacyReleaseJobID is the legacy batch job of release n's release command.
func (r EnvRef) LegacyReleaseJobID(n int) string {
	return r.LegacyJobID() + "-release-" + strconv.Itoa(n)
}

// LegacyVaultPolicy is the environment's legacy policy, "wharf-env-<org>-<app>-<env>".
func (r EnvRef) LegacyVaultPolicy() string {
	return "wharf-env-" + r.Org + "-" + r.App + "-" + r.Env
}

// LegacyBackupPolicy is a service instance's legacy backup policy,
// "wharf-env-backup-<credentials role>" (which was also an environment policy's form).
func LegacyBackupPolicy(credentialsRole string) string { return "wharf-env-backup-" + credentialsRole }

// LegacyRouteApp named the environment's application in its legacy route record's key:
// "<org>-<app>".
func (r EnvRef) LegacyRouteApp() string { return r.Org + "-" + r.App }

// LegacyHost was the environment's generated host, "<app>-<env>.<ingress domain>".
func (r EnvRef) LegacyHost(ingressDomain string) string {
	return r.App + "-" + r.Env + "." + ingressDomain
}

// LegacyJobPrefix starts every legacy job ID and no job ID of this derivation (which
// start with "wharf."): "wharf-".
const LegacyJobPrefix = "wharf-"
