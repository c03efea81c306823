package platform_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

func TestExpired(t *testing.T) {
	day := func(d int, h int) platform.Backup {
		at := time.Date(2026, 11, 30, h, 0, 0, 0, time.UTC).AddDate(0, 0, -d)
		return platform.Backup{ID: at.Format("0102-15"), Meta: platform.Meta{CreatedAt: at}}
	}
	ids := func(bs []platform.Backup) []string {
		var out []string
		for _, b := range bs {
			out = append(out, b.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name          string
		backups       []platform.Backup
		daily, weekly int
		want          []string
	}{
		{name: "none", want: nil},
		{name: "two a day: the older of each day goes", backups: []platform.Backup{day(0, 3), day(0, 9), day(1, 3), day(1, 9)}, want: []string{"1129-03", "1130-03"}},
		{name: "40 daily backups: 7 days and 4 weeks kept", backups: func() []platform.Backup {
			var bs []platform.Backup
			for d := range 40 {
				bs = append(bs, day(d, 3))
			}
			return bs
		}(), want: func() []string {
			// Kept: 11-24..11-30 (7 days) and the newest of the weeks before:
			// 2026-11-30 is a Monday, so weeks start on 11-30, 11-23, 11-16, 11-09.
			keep := map[string]bool{"1130-03": true, "1129-03": true, "1128-03": true, "1127-03": true, "1126-03": true, "1125-03": true, "1124-03": true, "1122-03": true, "1115-03": true}
			var out []string
			for d := range 40 {
				if id := day(d, 3).ID; !keep[id] {
					out = append(out, id)
				}
			}
			slices.Sort(out)
			return out
		}()},
		{name: "custom retention", backups: []platform.Backup{day(0, 3), day(1, 3), day(2, 3)}, daily: 1, weekly: 1, want: []string{"1128-03", "1129-03"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(platform.Expired(tt.backups, tt.daily, tt.weekly))
			if !slices.Equal(got, tt.want) {
				t.Errorf("expired = %v, want %v", got, tt.want)
			}
		})
	}
}
