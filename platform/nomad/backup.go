package nomad

import (
	"context"
	"io"
	"time"

	nomadapi "github.com/hashicorp/nomad/api"

	"github.com/wharf-platform/wharf/jobspecs"
	"github.com/wharf-platform/wharf/platform"
)

// maxDump bounds the dump a backup job may hand back.
const maxDump = 1 << 30

var _ platform.BackupRunner = (*Client)(nil)

// RunBackup runs pg_dump as a batch job and returns the dump it wrote into the
// allocation's data directory. The job is purged afterwards. Errors: invalid, conflict
// (pg_dump failed), unavailable, and ctx's error.
func (c *Client) RunBackup(ctx context.Context, job platform.BackupJob) ([]byte, error) {
	alloc, err := c.runBackupJob(ctx, job)
	if err != nil {
		return nil, err
	}
	defer c.purge(job)
	rc, err := c.api.AllocFS().Cat(alloc, "alloc/data/dump.pgc", c.query(ctx, job.Region))
	if err != nil {
		return nil, translate(err, "read the dump")
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxDump))
	if err != nil {
		return nil, platform.Wrap(platform.Unavailable, err, "read the dump")
	}
	return b, nil
}

// RunRestore runs pg_restore of job.RestoreURL as a batch job and waits until it ends.
// Errors: invalid, conflict (pg_restore failed), unavailable, and ctx's error.
func (c *Client) RunRestore(ctx context.Context, job platform.BackupJob) error {
	_, err := c.runBackupJob(ctx, job)
	c.purge(job)
	return err
}

func (c *Client) purge(job platform.BackupJob) {
	dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.api.Jobs().Deregister(job.ID, true, c.write(dctx, job.Region))
}

// ScheduleBackups registers job as a periodic job on the cron schedule, one backup per
// run. Registering the same job again changes nothing. Errors: invalid, unavailable.
func (c *Client) ScheduleBackups(ctx context.Context, bj platform.BackupJob, schedule string) error {
	job, err := jobspecs.Render(ctx, c, bj.ID, c.backupVars(bj, schedule))
	if err != nil {
		return err
	}
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, bj.Region)); err != nil {
		return translate(err, "register the backup schedule")
	}
	return nil
}

// BackupSchedules lists the region's periodic backup jobs: job ID to the database role
// each backs up. Errors: unavailable.
func (c *Client) BackupSchedules(ctx context.Context, region string) (map[string]string, error) {
	stubs, _, err := c.api.Jobs().List((&nomadapi.QueryOptions{Region: region, Prefix: platform.EnvJobsPrefix}).WithContext(ctx))
	if err != nil {
		return nil, translate(err, "list jobs")
	}
	out := map[string]string{}
	for _, s := range stubs {
		if !s.Periodic || s.ParentID != "" || !platform.IsBackupsJobID(s.ID) {
			continue
		}
		job, _, err := c.api.Jobs().Info(s.ID, c.query(ctx, region))
		if err != nil {
			continue
		}
		if role := job.Meta[backupRoleMeta]; role != "" {
			out[s.ID] = role
		}
	}
	return out, nil
}

// UnscheduleBackups removes a periodic backup job. Errors: unavailable.
func (c *Client) UnscheduleBackups(ctx context.Context, region, id string) error {
	if _, _, err := c.api.Jobs().Deregister(id, true, c.write(ctx, region)); err != nil {
		if platform.ErrorCode(translate(err, "")) == platform.NotFound {
			return nil
		}
		return translate(err, "remove the backup schedule")
	}
	return nil
}

// HarvestBackups hands store the dump of each run of the periodic job id that has ended
// well, then purges the run; a run that failed is purged with nothing stored, and one
// still running is left. Errors: unavailable, and store's.
func (c *Client) HarvestBackups(ctx context.Context, region, id string, store func(dump []byte) error) error {
	stubs, _, err := c.api.Jobs().List((&nomadapi.QueryOptions{Region: region, Prefix: id + "/periodic-"}).WithContext(ctx))
	if err != nil {
		return translate(err, "list backup runs")
	}
	for _, s := range stubs {
		if s.ParentID != id {
			continue
		}
		allocs, _, err := c.api.Jobs().Allocations(s.ID, true, c.query(ctx, region))
		if err != nil || len(allocs) == 0 {
			continue
		}
		switch allocs[0].ClientStatus {
		case nomadapi.AllocClientStatusComplete:
			alloc, _, err := c.api.Allocations().Info(allocs[0].ID, c.query(ctx, region))
			if err != nil {
				return translate(err, "read backup allocation")
			}
			rc, err := c.api.AllocFS().Cat(alloc, "alloc/data/dump.pgc", c.query(ctx, region))
			if err != nil {
				return translate(err, "read the dump")
			}
			dump, err := io.ReadAll(io.LimitReader(rc, maxDump))
			rc.Close()
			if err != nil {
				return platform.Wrap(platform.Unavailable, err, "read the dump")
			}
			if err := store(dump); err != nil {
				return err
			}
		case nomadapi.AllocClientStatusFailed, nomadapi.AllocClientStatusLost:
		default:
			continue
		}
		c.purge(platform.BackupJob{ID: s.ID, Region: region})
	}
	return nil
}

// backupRoleMeta is the meta key naming the role a backup job backs up.
const backupRoleMeta = "wharf_backup_role"

// kvDataPath is a KV v2 path below the mount as a template reads it; "" stays "".
func kvDataPath(path string) string {
	if path == "" {
		return ""
	}
	return "secret/data/" + path
}

func (c *Client) backupVars(bj platform.BackupJob, schedule string) jobspecs.BackupVars {
	return jobspecs.BackupVars{
		Region: bj.Region, Datacenters: c.runtime.Datacenters, VaultPolicy: bj.Policy, Role: bj.Role,
		Address: bj.Address, Database: bj.Database, RestoreURL: bj.RestoreURL, Schedule: schedule,
		NetworkMode:       c.runtime.NetworkMode,
		RegistryTokenPath: kvDataPath(bj.RegistryTokenPath),
		Meta:              map[string]string{"wharf_job": bj.ID, backupRoleMeta: bj.Role},
	}
}

// runBackupJob registers the job and returns its allocation once it has ended well.
func (c *Client) runBackupJob(ctx context.Context, bj platform.BackupJob) (*nomadapi.Allocation, error) {
	job, err := jobspecs.Render(ctx, c, bj.ID, c.backupVars(bj, ""))
	if err != nil {
		return nil, err
	}
	if _, _, err := c.api.Jobs().Register(job, c.write(ctx, bj.Region)); err != nil {
		return nil, translate(err, "register backup job")
	}
	var index uint64
	for {
		q := c.query(ctx, bj.Region)
		q.WaitIndex, q.WaitTime = index, 5*time.Second
		stubs, meta, err := c.api.Jobs().Allocations(bj.ID, true, q)
		if err != nil {
			c.purge(bj)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, translate(err, "watch backup job")
		}
		index = meta.LastIndex
		if len(stubs) == 0 {
			continue
		}
		s := stubs[0]
		switch s.ClientStatus {
		case nomadapi.AllocClientStatusComplete, nomadapi.AllocClientStatusFailed, nomadapi.AllocClientStatusLost:
		default:
			continue
		}
		alloc, _, err := c.api.Allocations().Info(s.ID, c.query(ctx, bj.Region))
		if err != nil {
			c.purge(bj)
			return nil, translate(err, "read backup allocation")
		}
		if alloc.ClientStatus != nomadapi.AllocClientStatusComplete {
			reason := "the job " + alloc.ClientStatus
			if st := alloc.TaskStates["pg"]; st != nil {
				for _, ev := range st.Events {
					if ev.DisplayMessage != "" {
						reason = ev.DisplayMessage
					}
				}
			}
			var out []string
			c.streamTask(ctx, bj.Region, alloc, "pg", "stderr", false, func(l string) { out = append(out, l) })
			if len(out) > 0 {
				reason += ": " + out[len(out)-1]
			}
			c.purge(bj)
			return nil, platform.Errorf(platform.Conflict, "%s", reason)
		}
		return alloc, nil
	}
}
