package platform

import (
	"testing"
	"time"
)

func TestLastCronTime(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		schedule, now, want string
	}{
		{"0 3 * * *", "2026-12-02 16:44", "2026-12-02 03:00"},
		{"0 3 * * *", "2026-12-02 02:59", "2026-12-01 03:00"},
		{"0 3 * * *", "2026-12-02 03:00", "2026-12-02 03:00"},
		{"*/15 * * * *", "2026-12-02 16:44", "2026-12-02 16:30"},
		{"30 2 * * 0", "2026-12-02 16:44", "2026-11-29 02:30"}, // Sunday
		{"30 2 * * 7", "2026-12-02 16:44", "2026-11-29 02:30"}, // 7 is Sunday too
		{"0 0 1 * *", "2026-12-02 16:44", "2026-12-01 00:00"},
		{"0 12 1-5 * 3", "2026-12-06 16:44", "2026-12-05 12:00"}, // day of month or Wednesday
		{"0 9-17/4 * * *", "2026-12-02 16:44", "2026-12-02 13:00"},
		{"5,10 * * * *", "2026-12-02 16:07", "2026-12-02 16:05"},
	} {
		got, ok := lastCronTime(c.schedule, at(c.now))
		if !ok || !got.Equal(at(c.want)) {
			t.Errorf("lastCronTime(%q, %s) = %s %v, want %s", c.schedule, c.now, got.Format("2006-01-02 15:04"), ok, c.want)
		}
	}
	if _, ok := lastCronTime("0 0 31 2 *", at("2026-12-02 16:44")); ok {
		t.Error("a schedule of 31 February came round")
	}
	if _, ok := lastCronTime("daily", at("2026-12-02 16:44")); ok {
		t.Error("a schedule that is not one came round")
	}
}
