package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Backups of storage instances are archives of their buckets: wharfd copies every object
// into one tar archive kept in the object store's own bucket of backups
// (StorageBackupBucket, which no tenant's account reaches), records it as a Backup, and
// keeps them with the same retention as database dumps. A restore puts the archive's
// objects into any storage instance of the organisation. Scheduled backups are taken by
// the controller's leader when the backup schedule has come round since the last one.

// archive takes a backup of storage instance s now.
func (b *Backups) archive(ctx context.Context, s EnvService, trigger string) (Backup, error) {
	now := b.now()
	var r [3]byte
	_, _ = rand.Read(r[:])
	bk := Backup{ID: "b" + now.Format("20060102-150405") + "-" + hex.EncodeToString(r[:]), Org: s.Org, App: s.App, Env: s.Env, Service: s.Name, Trigger: trigger}
	digest, size, err := b.ObjectStore.ArchiveBucket(ctx, s.Bucket, Ref(s.Org, s.App, s.Env).StorageBackupKey(s.Name, bk.ID))
	if err != nil {
		return Backup{}, err
	}
	bk.Digest, bk.Size = digest, int(size)
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

// deleteArchives deletes the archives of the given backups of s.
func (d *Deployer) deleteArchives(ctx context.Context, s EnvService, bks []Backup) {
	for _, bk := range bks {
		if err := d.ObjectStore.DeleteArchive(ctx, Ref(s.Org, s.App, s.Env).StorageBackupKey(s.Name, bk.ID)); err != nil {
			d.log().Warn("delete a storage backup's archive", "backup", bk.ID, "error", ErrorMessage(err))
		}
	}
}

// forgetArchives deletes every archive of storage instance s, which is being removed.
func (d *Deployer) forgetArchives(ctx context.Context, s EnvService) {
	if s.Kind != ServiceStorage || d.ObjectStore == nil {
		return
	}
	bks, err := loadAll[Backup](ctx, d.KV, backupPrefix(s.Org, s.App, s.Env, s.Name))
	if err == nil {
		d.deleteArchives(ctx, s, bks)
	}
}

// scheduledStorage takes a scheduled backup of every attached or detached storage
// instance whose schedule has come round since its last backup (and since it was made).
func (b *Backups) scheduledStorage(ctx context.Context, now time.Time) {
	schedule := b.Schedule
	if schedule == "" {
		schedule = DefaultBackupSchedule
	}
	due, ok := lastCronTime(schedule, now)
	if !ok {
		return
	}
	recs, err := b.KV.List(ctx, "services/")
	if err != nil {
		return
	}
	for _, r := range recs {
		s, err := decode[EnvService](r)
		if err != nil || s.Kind != ServiceStorage || s.State == ServiceProvisioning || !s.CreatedAt.Before(due) {
			continue
		}
		bks, err := loadAll[Backup](ctx, b.KV, backupPrefix(s.Org, s.App, s.Env, s.Name))
		if err != nil {
			continue
		}
		// A backup of any trigger since the schedule came round serves it: the retention
		// would keep only the newer of the two anyway.
		taken := false
		for _, bk := range bks {
			if !bk.CreatedAt.Before(due) {
				taken = true
			}
		}
		if taken {
			continue
		}
		if _, err := b.archive(ctx, s, "scheduled"); err != nil {
			b.log().Warn("scheduled storage backup", "service", s.Org+"/"+s.App+"/"+s.Env+"/"+s.Name, "error", ErrorMessage(err))
		}
	}
}

// lastCronTime is the latest minute at or before now (UTC) that the five-field cron
// schedule names, looking back at most eight days (a weekly schedule's period and a
// day); false when there is none in that time.
func lastCronTime(schedule string, now time.Time) (time.Time, bool) {
	fields := strings.Fields(schedule)
	if len(fields) != 5 {
		return time.Time{}, false
	}
	t := now.UTC().Truncate(time.Minute)
	for range 8 * 24 * 60 {
		if cronMatches(fields, t) {
			return t, true
		}
		t = t.Add(-time.Minute)
	}
	return time.Time{}, false
}

// cronMatches reports whether t is a minute the schedule's fields name. As cron does,
// when both day fields are restricted a day matches either.
func cronMatches(f []string, t time.Time) bool {
	dom, domAny := cronFieldMatches(f[2], t.Day(), 1, 31)
	dow, dowAny := cronFieldMatches(f[4], int(t.Weekday()), 0, 7)
	if !dow && int(t.Weekday()) == 0 {
		dow, _ = cronFieldMatches(f[4], 7, 0, 7) // 7 is Sunday too
	}
	day := dom && dow
	if !domAny && !dowAny {
		day = dom || dow
	}
	minute, _ := cronFieldMatches(f[0], t.Minute(), 0, 59)
	hour, _ := cronFieldMatches(f[1], t.Hour(), 0, 23)
	month, _ := cronFieldMatches(f[3], int(t.Month()), 1, 12)
	return minute && hour && month && day
}

// cronFieldMatches reports whether v is in field (a list of *, n, a-b, each with an optional
// /step) and whether the field is "*".
func cronFieldMatches(field string, v, lo, hi int) (bool, bool) {
	for _, part := range strings.Split(field, ",") {
		rng, stepText, stepped := strings.Cut(part, "/")
		step := 1
		if stepped {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 {
				return false, false
			}
			step = n
		}
		from, to := lo, hi
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			x, err := strconv.Atoi(a)
			if err != nil {
				return false, false
			}
			from, to = x, x
			if isRange {
				if to, err = strconv.Atoi(b); err != nil {
					return false, false
				}
			} else if stepped {
				to = hi
			}
		}
		if v >= from && v <= to && (v-from)%step == 0 {
			return true, field == "*"
		}
	}
	return false, field == "*"
}
