package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
)

// BackupJob is one run of pg_dump or pg_restore against a service instance's database,
// under Policy, a Vault policy granting the instance's credentials only.
type BackupJob struct {
	ID         string // names the job
	Region     string
	Policy     string
	Role       string
	Address    string
	Database   string
	RestoreURL string // empty for a backup
	// RegistryTokenPath (KV v2, below the mount), for a restore from a registry that
	// asks for a token: where the job's template finds a token pulling the dump.
	RegistryTokenPath string
}

// BackupRunner runs backup and restore jobs on the cloudspace (Nomad, through
// platform/nomad). Errors: invalid, conflict (the job failed), unavailable.
type BackupRunner interface {
	// RunBackup dumps the database and returns the dump.
	RunBackup(ctx context.Context, job BackupJob) ([]byte, error)
	// RunRestore restores the dump at job.RestoreURL into the database, replacing what
	// the dump holds.
	RunRestore(ctx context.Context, job BackupJob) error
	// ScheduleBackups makes job a periodic job on the cron schedule, one backup per run;
	// repeating it changes nothing.
	ScheduleBackups(ctx context.Context, job BackupJob, schedule string) error
	// BackupSchedules lists the region's periodic backup jobs: ID to the role each backs
	// up.
	BackupSchedules(ctx context.Context, region string) (map[string]string, error)
	// UnscheduleBackups removes a periodic backup job.
	UnscheduleBackups(ctx context.Context, region, id string) error
	// HarvestBackups hands store the dump of each run of the periodic job that ended
	// well, and forgets every ended run.
	HarvestBackups(ctx context.Context, region, id string, store func(dump []byte) error) error
}

// BackupPolicies writes the policy backup and restore jobs of an instance run under
// (platform/vault). Errors: unavailable, internal.
type BackupPolicies interface {
	PutBackupPolicy(ctx context.Context, role string) (string, error)
}

// Backup is one dump of a service instance's database, kept in the cloudspace's
// registry. Backups are kept with a retention: the newest of each of the last Daily days
// and of each of the last Weekly weeks that have one.
type Backup struct {
	ID      string `json:"id"`
	Org     string `json:"org"`
	App     string `json:"app"`
	Env     string `json:"env"`
	Service string `json:"service"`
	Trigger string `json:"trigger"` // manual or scheduled
	Digest  string `json:"digest"`
	Size    int    `json:"size"`
	Meta
}

// RestoreInput names the instance a backup is restored into: any of the organisation's.
type RestoreInput struct {
	App     string `json:"app"`
	Env     string `json:"env"`
	Service string `json:"service"`
}

// BlobDeleter deletes dumps from the cloudspace's registry (platform/registry).
// Errors: unavailable.
type BlobDeleter interface {
	DeleteBlob(ctx context.Context, repo, digest string) error
}

// Backups takes, keeps and restores backups of database service instances.
type Backups struct {
	*Deployer
	Runner   BackupRunner
	Policies BackupPolicies
	// Blobs, when set, deletes the dumps the retention no longer keeps.
	Blobs BlobDeleter
	// Daily and Weekly are the retention: 7 and 4 when zero.
	Daily, Weekly int
	// Schedule is when every instance is backed up (cron, UTC): DefaultBackupSchedule
	// when empty.
	Schedule string
}

// DefaultBackupSchedule backs every instance up daily at 03:00 UTC.
const DefaultBackupSchedule = "0 3 * * *"

// envBackupsPrefix is the subtree of an environment's backup records; backupPrefix one
// service instance's within it.
func envBackupsPrefix(org, app, env string) string {
	return "backups/" + org + "/" + app + "/" + env + "/"
}

func backupPrefix(org, app, env, svc string) string {
	return envBackupsPrefix(org, app, env) + svc + "/"
}

func (b *Backups) ready() error {
	if b.Runner == nil || b.Policies == nil || b.Artifacts == nil {
		return Errorf(Unavailable, "backups are not configured on this cloudspace")
	}
	return b.databases()
}

// readyFor says whether instances of kind can be backed up here: databases through
// Nomad jobs and the registry, storage buckets through the object store.
func (b *Backups) readyFor(kind string) error {
	if kind == ServiceStorage {
		return b.objectStore()
	}
	return b.ready()
}

// ListBackups lists an instance's backups, oldest first.
func (b *Backups) ListBackups(ctx context.Context, p Principal, ref EnvRef, svc string, pr PageRequest) (Page[Backup], error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if _, err := b.GetService(ctx, p, Ref(org, app, env), svc); err != nil {
		return Page[Backup]{}, err
	}
	return loadPage[Backup](ctx, b.KV, backupPrefix(org, app, env, svc), pr)
}

// CreateBackup takes a backup of the instance now (developer). Errors: not_found,
// forbidden, conflict (the dump failed), unavailable.
func (b *Backups) CreateBackup(ctx context.Context, p Principal, ref EnvRef, svc string) (Backup, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if err := b.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Backup{}, err
	}
	s, err := load[EnvService](ctx, b.KV, serviceKey(org, app, env, svc), "service instance "+svc)
	if err != nil {
		return Backup{}, err
	}
	if err := b.readyFor(s.Kind); err != nil {
		return Backup{}, err
	}
	bk, err := b.backup(ctx, s, "manual")
	if err != nil {
		return Backup{}, err
	}
	return bk, nil
}

func (b *Backups) job(ctx context.Context, s EnvService, kind string) (BackupJob, error) {
	t, err := b.target(ctx, s.Org, s.App, s.Env)
	if err != nil {
		return BackupJob{}, err
	}
	policy, err := b.Policies.PutBackupPolicy(ctx, s.CredentialsRole)
	if err != nil {
		return BackupJob{}, err
	}
	job := BackupJob{Region: t.Cloudspace.Region, Policy: policy, Role: s.CredentialsRole, Address: s.Address, Database: s.Database}
	var r [4]byte
	_, _ = rand.Read(r[:])
	// Every one is one of the environment's jobs, so deleting the environment stops it too.
	switch kind {
	case "scheduled":
		job.ID = t.BackupsJobID(s.Name)
	case "restore":
		job.ID = t.RestoreJobID(s.Name, hex.EncodeToString(r[:]))
	default:
		job.ID = t.BackupJobID(s.Name, hex.EncodeToString(r[:]))
	}
	return job, nil
}

// restoreToken hands a restore job, through Vault, a registry token that pulls from
// repo only and expires in 15 minutes (no job specification holds it), when the
// registry asks for tokens. It returns a cleanup removing it.
func (b *Backups) restoreToken(ctx context.Context, job *BackupJob, repo string) (func(), error) {
	if b.Registry == nil {
		return func() {}, nil
	}
	tok, err := b.Registry.Token("restore:"+job.ID, []RegistryAccess{{Type: "repository", Name: repo, Actions: []string{"pull"}}}, 15*time.Minute)
	if err != nil {
		return nil, Wrap(Internal, err, "sign the restore's registry token")
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	path := RestoreTokenPath(job.Role, hex.EncodeToString(nonce[:]))
	rel := strings.TrimPrefix(path, "wharf/") // the secret store's paths are below wharf/
	if _, err := b.Secrets.PutSecret(ctx, rel, Secret(tok), 0); err != nil {
		return nil, err
	}
	job.RegistryTokenPath = path
	return func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := b.Secrets.DeleteSecret(cctx, rel); err != nil {
			b.log().Warn("remove a restore's registry token", "job", job.ID, "error", err)
		}
	}, nil
}

func (b *Backups) backup(ctx context.Context, s EnvService, trigger string) (Backup, error) {
	if s.Kind == ServiceStorage {
		return b.archive(ctx, s, trigger)
	}
	job, err := b.job(ctx, s, "backup")
	if err != nil {
		return Backup{}, err
	}
	dump, err := b.Runner.RunBackup(ctx, job)
	if err != nil {
		return Backup{}, err
	}
	return b.keep(ctx, s, trigger, dump)
}

// keep stores a dump of s in the registry, records it and applies the retention.
func (b *Backups) keep(ctx context.Context, s EnvService, trigger string, dump []byte) (Backup, error) {
	digest, err := b.Artifacts.PutBlob(ctx, AppRef{Org: s.Org, App: s.App}.BackupRepo(), dump)
	if err != nil {
		return Backup{}, err
	}
	now := b.now()
	var r [3]byte
	_, _ = rand.Read(r[:])
	// Ids sort by time and are DNS labels, as every name in a path is.
	bk := Backup{ID: "b" + now.Format("20060102-150405") + "-" + hex.EncodeToString(r[:]), Org: s.Org, App: s.App, Env: s.Env, Service: s.Name,
		Trigger: trigger, Digest: digest, Size: len(dump)}
	stamp(&bk.Meta, now)
	t := &txn{}
	t.create(backupPrefix(s.Org, s.App, s.Env, s.Name)+bk.ID, encode(bk))
	if err := b.commit(ctx, t, "the backup"); err != nil {
		return Backup{}, err
	}
	if err := b.prune(ctx, s); err != nil {
		return Backup{}, err
	}
	return load[Backup](ctx, b.KV, backupPrefix(s.Org, s.App, s.Env, s.Name)+bk.ID, "backup")
}

// prune forgets the backups the retention does not keep.
func (b *Backups) prune(ctx context.Context, s EnvService) error {
	all, err := loadAll[Backup](ctx, b.KV, backupPrefix(s.Org, s.App, s.Env, s.Name))
	if err != nil {
		return err
	}
	expired := Expired(all, b.Daily, b.Weekly)
	t := &txn{}
	gone := map[string]bool{}
	for _, bk := range expired {
		t.delete(backupPrefix(s.Org, s.App, s.Env, s.Name)+bk.ID, bk.Index)
		gone[bk.ID] = true
	}
	if len(t.ops) == 0 {
		return nil
	}
	if err := b.KV.Txn(ctx, t.ops); err != nil {
		return err
	}
	if s.Kind == ServiceStorage {
		b.deleteArchives(ctx, s, expired)
		return nil
	}
	if b.Blobs == nil {
		return nil
	}
	// Equal dumps are one blob: delete only those no kept backup shares.
	kept := map[string]bool{}
	for _, bk := range all {
		if !gone[bk.ID] {
			kept[bk.Digest] = true
		}
	}
	for _, bk := range expired {
		if !kept[bk.Digest] {
			if err := b.Blobs.DeleteBlob(ctx, AppRef{Org: s.Org, App: s.App}.BackupRepo(), bk.Digest); err != nil {
				b.log().Warn("delete an expired backup's dump", "backup", bk.ID, "error", ErrorMessage(err))
			}
			kept[bk.Digest] = true // deleted once
		}
	}
	return nil
}

// Expired returns the backups a retention of daily days and weekly weeks (7 and 4 when
// zero) does not keep: it keeps the newest backup of each of the last daily days that
// have one, and of each of the last weekly ISO weeks that have one.
func Expired(all []Backup, daily, weekly int) []Backup {
	if daily <= 0 {
		daily = 7
	}
	if weekly <= 0 {
		weekly = 4
	}
	sorted := append([]Backup(nil), all...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].CreatedAt.After(sorted[j].CreatedAt) })
	keep := map[string]bool{}
	days, weeks := map[string]bool{}, map[string]bool{}
	for _, bk := range sorted {
		day := bk.CreatedAt.UTC().Format(time.DateOnly)
		y, w := bk.CreatedAt.UTC().ISOWeek()
		week := fmt.Sprintf("%d-W%02d", y, w)
		if !days[day] && len(days) < daily {
			days[day] = true
			keep[bk.ID] = true
		}
		if !weeks[week] && len(weeks) < weekly {
			weeks[week] = true
			keep[bk.ID] = true
		}
	}
	var out []Backup
	for _, bk := range sorted {
		if !keep[bk.ID] {
			out = append(out, bk)
		}
	}
	return out
}

// RestoreBackup restores one of an instance's backups into an instance of any
// environment of the same organisation (the instance itself, or another), replacing
// the objects the dump holds. It needs the developer role on the source application
// (whose data the restore copies: a viewer may not copy it into an application where
// they can read it) and on the target's.
// Errors: invalid, not_found, forbidden, conflict (the restore failed), unavailable.
func (b *Backups) RestoreBackup(ctx context.Context, p Principal, ref EnvRef, svc, id string, to RestoreInput) (Backup, error) {
	org, app, env := ref.Org, ref.App, ref.Env
	if to.App == "" {
		to.App = app
	}
	if to.Env == "" {
		to.Env = env
	}
	if to.Service == "" {
		to.Service = svc
	}
	src, err := b.GetService(ctx, p, Ref(org, app, env), svc)
	if err != nil {
		return Backup{}, err
	}
	if err := b.authorize(ctx, p, org, app, ActConfigure); err != nil {
		return Backup{}, err
	}
	if err := b.authorize(ctx, p, org, to.App, ActConfigure); err != nil {
		return Backup{}, err
	}
	if err := b.readyFor(src.Kind); err != nil {
		return Backup{}, err
	}
	bk, err := load[Backup](ctx, b.KV, backupPrefix(org, app, env, svc)+id, "backup "+id)
	if err != nil {
		return Backup{}, err
	}
	target, err := load[EnvService](ctx, b.KV, serviceKey(org, to.App, to.Env, to.Service), "service instance "+to.Service)
	if err != nil {
		return Backup{}, err
	}
	if target.Kind != src.Kind {
		return Backup{}, Errorf(Invalid, "a %s backup cannot be restored into a %s instance", src.Kind, target.Kind)
	}
	if src.Kind == ServiceStorage {
		if err := b.ObjectStore.RestoreArchive(ctx, Ref(org, app, env).StorageBackupKey(svc, bk.ID), target.Bucket); err != nil {
			return Backup{}, err
		}
	} else {
		job, err := b.job(ctx, target, "restore")
		if err != nil {
			return Backup{}, err
		}
		job.RestoreURL = b.Artifacts.BlobURL(AppRef{Org: org, App: app}.BackupRepo(), bk.Digest)
		drop, err := b.restoreToken(ctx, &job, AppRef{Org: org, App: app}.BackupRepo())
		if err != nil {
			return Backup{}, err
		}
		err = b.Runner.RunRestore(ctx, job)
		drop()
		if err != nil {
			return Backup{}, err
		}
	}
	t := &txn{}
	b.audit(t, p, org, "backup.restore", app+"/"+env+"/"+svc+"/"+id+" -> "+to.App+"/"+to.Env+"/"+to.Service)
	if err := b.commit(ctx, t, "the audit log"); err != nil {
		return Backup{}, err
	}
	return bk, nil
}

// RunSchedule keeps a periodic Nomad backup job (on Schedule) for every service
// instance and none for instances that are gone, and collects the dumps of the jobs'
// runs as scheduled backups, every interval until ctx ends. One replica runs it (the
// controller's leader).
func (b *Backups) RunSchedule(ctx context.Context, interval time.Duration) {
	for {
		if b.ready() == nil {
			b.scheduled(ctx)
		}
		if b.objectStore() == nil {
			b.scheduledStorage(ctx, time.Now())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (b *Backups) scheduled(ctx context.Context) {
	schedule := b.Schedule
	if schedule == "" {
		schedule = DefaultBackupSchedule
	}
	recs, err := b.KV.List(ctx, "services/")
	if err != nil {
		return
	}
	roles := map[string]bool{}
	regions := map[string]bool{}
	for _, r := range recs {
		s, err := decode[EnvService](r)
		if err != nil {
			continue
		}
		roles[s.CredentialsRole] = true
		if s.State == ServiceProvisioning || s.Kind == ServiceStorage {
			continue
		}
		job, err := b.job(ctx, s, "scheduled")
		if err == nil {
			regions[job.Region] = true
			err = b.Runner.ScheduleBackups(ctx, job, schedule)
		}
		if err == nil {
			err = b.Runner.HarvestBackups(ctx, job.Region, job.ID, func(dump []byte) error {
				_, err := b.keep(ctx, s, "scheduled", dump)
				return err
			})
		}
		if err != nil {
			b.log().Warn("scheduled backups", "service", s.Org+"/"+s.App+"/"+s.Env+"/"+s.Name, "error", ErrorMessage(err))
		}
	}
	// Periodic jobs of instances that were removed go too, in every cloudspace.
	if css, err := loadAll[Cloudspace](ctx, b.KV, cloudspaceKey("")); err == nil {
		for _, cs := range css {
			regions[cs.Region] = true
		}
	}
	for region := range regions {
		jobs, err := b.Runner.BackupSchedules(ctx, region)
		if err != nil {
			continue
		}
		for id, role := range jobs {
			if !roles[role] {
				_ = b.Runner.UnscheduleBackups(ctx, region, id)
			}
		}
	}
}
