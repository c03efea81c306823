package platform

import (
	"context"
	"log/slog"
	"time"
)

// The upgrade moves a cloudspace made by an older wharfd, whose names were joined with
// "-" and could collide across organisations (platform/identity.go, "Legacy names"), to
// the names of the one identity derivation, while every environment keeps serving:
//
//  1. The environment's route record moves to its new key in one Consul transaction,
//     still naming the legacy service, so no moment has two records claiming its hosts
//     (the ingress would serve neither) or none.
//  2. Its new Vault policy is written, and a restart deploy of its current release is
//     queued as wharfd: the controller registers the release under the new job, service
//     and policy names, waits for it to be healthy, and only then points the route at
//     the new service (the ingress keeps sending to the legacy service until it knows
//     the new one's instances).
//  3. Once that deploy succeeded, the environment's legacy jobs (service, cron entries,
//     periodic backups) are stopped and purged, each by its exact ID, each confirmed as
//     the environment's by the meta an older wharfd wrote into it (the names alone are
//     ambiguous).
//  4. When no legacy job runs any more, the legacy Vault policies of every environment
//     and service instance are deleted, by exact name, and the upgrade is recorded as
//     done; later starts do nothing.
//
// Each step is repeatable and its progress is kept in Consul KV, so a wharfd that dies
// mid-way leaves the next leader to go on. An environment whose deploy fails keeps
// running its legacy job and is tried again.

// LegacyJob is a Nomad job an older wharfd made under a legacy name.
type LegacyJob struct {
	ID       string
	Region   string
	Type     string // service, batch
	Periodic bool
	Stopped  bool   // stopped or dead: nothing to stop
	Ref      EnvRef // from its wharf_org, wharf_app, wharf_env meta; zero without
	// BackupRole is a periodic backup job's credentials role (its wharf_backup_role meta).
	BackupRole string
}

// LegacyScheduler finds and stops what an older wharfd ran (platform/nomad).
type LegacyScheduler interface {
	// LegacyJobs lists the region's jobs whose IDs start with LegacyJobPrefix, but for
	// the children of periodic jobs.
	LegacyJobs(ctx context.Context, region string) ([]LegacyJob, error)
	// StopJob stops and purges the job with exactly this ID; a missing job is no error.
	StopJob(ctx context.Context, region, id string) error
}

// LegacyRouter moves an environment's legacy route record (cmd/wharfd).
type LegacyRouter interface {
	// AdoptLegacyRoute replaces, in one transaction, the record under the environment's
	// legacy key with one under its key, with spec's names, still served by service.
	// When no legacy record is left it does nothing.
	AdoptLegacyRoute(ctx context.Context, t Target, spec RouteSpec, service string) error
}

// LegacyPolicies deletes legacy Vault policies (platform/vault).
type LegacyPolicies interface {
	// DeleteLegacyPolicy deletes the policy with exactly this name; a missing one is no
	// error.
	DeleteLegacyPolicy(ctx context.Context, name string) error
}

// Upgrade moves an older cloudspace's environments to the current names. The leading
// wharfd runs it.
type Upgrade struct {
	Deployer *Deployer
	Jobs     LegacyScheduler
	Routes   LegacyRouter // nil: no routes to move
	Policies LegacyPolicies
	Log      *slog.Logger
}

// upgradeRecord is an environment's progress through the upgrade, and the upgrade's end.
type upgradeRecord struct {
	Deploy   string `json:"deploy,omitempty"` // the restart deploy moving it
	Attempts int    `json:"attempts"`
	Done     bool   `json:"done"`
	Meta
}

const upgradeDoneKey = "upgrades/names"

func upgradeEnvKey(r EnvRef) string {
	return "upgrades/names-envs/" + r.Org + "/" + r.App + "/" + r.Env
}

// upgradePrincipal is who the upgrade's deploys and audit entries name.
var upgradePrincipal = Principal{Person: "wharfd-upgrade"}

// Run upgrades every environment, a pass every interval, until none is left or ctx
// ends.
func (u *Upgrade) Run(ctx context.Context, every time.Duration) {
	for {
		done, err := u.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			u.Log.Warn("upgrade pass failed; trying again", "error", err)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Pass takes every legacy environment one step further. It reports whether the upgrade
// is done.
func (u *Upgrade) Pass(ctx context.Context) (bool, error) {
	d := u.Deployer
	if _, err := load[upgradeRecord](ctx, d.KV, upgradeDoneKey, "upgrade"); err == nil {
		return true, nil
	} else if ErrorCode(err) != NotFound {
		return false, err
	}
	css, err := loadAll[Cloudspace](ctx, d.KV, cloudspaceKey(""))
	if err != nil {
		return false, err
	}
	var jobs []LegacyJob
	seen := map[string]bool{}
	for _, cs := range css {
		if cs.Region == "" || seen[cs.Region] {
			continue
		}
		seen[cs.Region] = true
		js, err := u.Jobs.LegacyJobs(ctx, cs.Region)
		if err != nil {
			return false, err
		}
		jobs = append(jobs, js...)
	}
	byEnv := map[EnvRef][]LegacyJob{}
	running := 0
	for _, j := range jobs {
		if j.Stopped {
			continue
		}
		running++
		if j.Ref != (EnvRef{}) {
			byEnv[j.Ref] = append(byEnv[j.Ref], j)
		}
	}
	for ref, js := range byEnv {
		if err := u.move(ctx, ref, js, jobs); err != nil {
			u.Log.Warn("upgrade: environment not moved yet", "env", ref.String(), "error", err)
		}
	}
	svcs, err := loadDeep[EnvService](ctx, d.KV, "services/", 4)
	if err != nil {
		return false, err
	}
	if err := u.stopOrphanBackups(ctx, jobs, svcs); err != nil {
		return false, err
	}
	if running > 0 {
		return false, nil
	}
	// Nothing runs under a legacy name any more: its policies can go.
	envs, err := loadDeep[Environment](ctx, d.KV, "envs/", 3)
	if err != nil {
		return false, err
	}
	for _, e := range envs {
		if err := u.Policies.DeleteLegacyPolicy(ctx, Ref(e.Org, e.App, e.Name).LegacyVaultPolicy()); err != nil {
			return false, err
		}
	}
	for _, s := range svcs {
		if s.CredentialsRole != "" {
			if err := u.Policies.DeleteLegacyPolicy(ctx, LegacyBackupPolicy(s.CredentialsRole)); err != nil {
				return false, err
			}
		}
	}
	now := d.now()
	rec := upgradeRecord{Done: true}
	stamp(&rec.Meta, now)
	if err := d.KV.Txn(ctx, []Op{{Kind: OpCreate, Key: upgradeDoneKey, Value: encode(rec)}}); err != nil && ErrorCode(err) != Conflict {
		return false, err
	}
	u.Log.Info("upgrade done: every environment runs under its new names; legacy policies deleted")
	return true, nil
}

// move takes one environment a step: route and policy, then a restart deploy under the
// new names, then its legacy jobs stopped. js are its running legacy jobs, all the
// region's legacy jobs.
func (u *Upgrade) move(ctx context.Context, ref EnvRef, js, all []LegacyJob) error {
	d := u.Deployer
	region := js[0].Region
	t, err := d.target(ctx, ref.Org, ref.App, ref.Env)
	if ErrorCode(err) == NotFound {
		// An older wharfd's job of an environment that no longer exists.
		u.Log.Warn("upgrade: stopping legacy jobs of an environment that no longer exists", "env", ref.String())
		return u.stopLegacy(ctx, ref, region, js, all)
	}
	if err != nil {
		return err
	}
	if _, err := load[Environment](ctx, d.KV, envKey(ref.Org, ref.App, ref.Env), "environment"); ErrorCode(err) == NotFound {
		u.Log.Warn("upgrade: stopping legacy jobs of an environment that no longer exists", "env", ref.String())
		return u.stopLegacy(ctx, ref, region, js, all)
	}
	rec, err := load[upgradeRecord](ctx, d.KV, upgradeEnvKey(ref), "upgrade")
	if err != nil && ErrorCode(err) != NotFound {
		return err
	}
	if rec.Deploy != "" {
		dep, err := d.getDeploy(ctx, ref.Org, ref.App, ref.Env, rec.Deploy)
		if err != nil {
			return err
		}
		switch dep.Status {
		case DeploySucceeded:
			if err := u.stopLegacy(ctx, ref, region, js, all); err != nil {
				return err
			}
			rec.Done = true
			u.Log.Info("upgrade: environment moved to its new names", "env", ref.String(), "deploy", dep.ID)
			return u.save(ctx, ref, rec)
		case DeployFailed:
			u.Log.Warn("upgrade: the deploy moving the environment failed; its legacy job keeps serving and it is tried again",
				"env", ref.String(), "deploy", dep.ID, "error", dep.Error)
		default:
			return nil // under way
		}
	}
	if rec.Done {
		return u.stopLegacy(ctx, ref, region, js, all)
	}

	state, err := d.envState(ctx, ref.Org, ref.App, ref.Env)
	if err != nil {
		return err
	}
	if state.Release == 0 {
		return Errorf(Conflict, "environment %s runs a legacy job but has no release on record", ref)
	}
	rel, err := load[Release](ctx, d.KV, releaseKey(ref.Org, ref.App, ref.Env, state.Release), "release")
	if err != nil {
		return err
	}
	// The record first: from here on the environment's route names its legacy host too
	// (RouteSpec), whoever publishes it.
	rec.Attempts++
	rec.Deploy = ""
	if err := u.save(ctx, ref, rec); err != nil {
		return err
	}
	if _, web := rel.Config.Processes["web"]; web && u.Routes != nil {
		spec, err := d.RouteSpec(ctx, t)
		if err != nil {
			return err
		}
		if err := u.Routes.AdoptLegacyRoute(ctx, t, spec, ref.LegacyJobID()); err != nil {
			return err
		}
	}
	if err := d.Runtime.PutEnvPolicy(ctx, t, rel.Config.Services); err != nil {
		return err
	}
	dep, err := d.queueDeploy(ctx, upgradePrincipal, ref.Org, ref.App, ref.Env, DeployRequest{Kind: DeployRestart})
	if ErrorCode(err) == Conflict {
		return nil // a deploy is under way; the next pass queues ours
	}
	if err != nil {
		return err
	}
	rec, err = load[upgradeRecord](ctx, d.KV, upgradeEnvKey(ref), "upgrade")
	if err != nil {
		return err
	}
	rec.Deploy = dep.ID
	u.Log.Info("upgrade: moving the environment to its new names", "env", ref.String(), "deploy", dep.ID, "attempt", rec.Attempts)
	return u.save(ctx, ref, rec)
}

// stopLegacy stops the environment's running legacy jobs: those whose meta names it
// (service, cron entries, release commands), and the periodic backups of its service
// instances, each confirmed by the credentials role in its meta.
func (u *Upgrade) stopLegacy(ctx context.Context, ref EnvRef, region string, js, all []LegacyJob) error {
	for _, j := range js {
		if err := u.Jobs.StopJob(ctx, region, j.ID); err != nil {
			return err
		}
	}
	svcs, err := loadAll[EnvService](ctx, u.Deployer.KV, servicePrefix(ref.Org, ref.App, ref.Env))
	if err != nil {
		return err
	}
	for _, s := range svcs {
		id := ref.LegacyBackupsJobID(s.Name)
		for _, j := range all {
			if j.ID == id && !j.Stopped && s.CredentialsRole != "" && j.BackupRole == s.CredentialsRole {
				if err := u.Jobs.StopJob(ctx, j.Region, j.ID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// stopOrphanBackups stops legacy periodic backup jobs (which carry no environment meta)
// whose instance's environment was moved, or whose instance no longer exists. The
// instance is found by the credentials role in the job's meta, which is random per
// instance, never by the job's ambiguous name alone.
func (u *Upgrade) stopOrphanBackups(ctx context.Context, jobs []LegacyJob, svcs []EnvService) error {
	byRole := map[string]EnvService{}
	for _, s := range svcs {
		if s.CredentialsRole != "" {
			byRole[s.CredentialsRole] = s
		}
	}
	for _, j := range jobs {
		if j.Stopped || j.BackupRole == "" || j.Ref != (EnvRef{}) {
			continue
		}
		s, ok := byRole[j.BackupRole]
		if ok {
			ref := Ref(s.Org, s.App, s.Env)
			if j.ID != ref.LegacyBackupsJobID(s.Name) {
				continue // not the instance's legacy backup job: not the upgrade's to stop
			}
			rec, err := load[upgradeRecord](ctx, u.Deployer.KV, upgradeEnvKey(ref), "upgrade")
			if ErrorCode(err) == NotFound || (err == nil && !rec.Done) {
				continue // its environment has not moved yet
			}
			if err != nil {
				return err
			}
		}
		if err := u.Jobs.StopJob(ctx, j.Region, j.ID); err != nil {
			return err
		}
	}
	return nil
}

func (u *Upgrade) save(ctx context.Context, ref EnvRef, rec upgradeRecord) error {
	d := u.Deployer
	now := d.now()
	t := &txn{}
	if rec.Index == 0 {
		stamp(&rec.Meta, now)
		t.create(upgradeEnvKey(ref), encode(rec))
	} else {
		rec.UpdatedAt = now
		t.update(upgradeEnvKey(ref), encode(rec), rec.Index)
	}
	return d.KV.Txn(ctx, t.ops)
}

// upgraded reports whether the environment was moved from legacy names (its route then
// keeps its legacy generated host, so links to it keep working).
func (d *Deployer) upgraded(ctx context.Context, ref EnvRef) (bool, error) {
	_, err := load[upgradeRecord](ctx, d.KV, upgradeEnvKey(ref), "upgrade")
	if ErrorCode(err) == NotFound {
		return false, nil
	}
	return err == nil, err
}
