package panel

import (
	"context"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// TestSessionEndsWithItsToken holds a session to its token's expiry when that comes
// before SessionLifetime, and to SessionLifetime otherwise.
func TestSessionEndsWithItsToken(t *testing.T) {
	ctx := context.Background()
	kv := &memKV{recs: map[string]platform.Record{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessions{kv: kv, now: func() time.Time { return now }}
	const token = "wharf_abcdef0123456789"

	short, err := s.createUntil(ctx, token, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	long, err := s.createUntil(ctx, token, now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour + time.Second)
	if _, _, err := s.open(ctx, short); err == nil {
		t.Error("a session opens after its token expired")
	}
	if _, _, err := s.open(ctx, long); err != nil {
		t.Errorf("a session within SessionLifetime: %v", err)
	}
	now = now.Add(SessionLifetime)
	if _, _, err := s.open(ctx, long); err == nil {
		t.Error("a session outlives SessionLifetime because its token lasts longer")
	}
}
