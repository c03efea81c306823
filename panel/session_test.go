package panel

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// memKV is an in-memory platform.KV with the store's check-and-set semantics.
type memKV struct {
	mu    sync.Mutex
	recs  map[string]platform.Record
	index uint64
}

func (m *memKV) Get(_ context.Context, key string) (platform.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.recs[key]
	if !ok {
		return platform.Record{}, platform.Errorf(platform.NotFound, "%s not found", key)
	}
	return r, nil
}

func (m *memKV) List(_ context.Context, prefix string) ([]platform.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []platform.Record
	for k, r := range m.recs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *memKV) Txn(_ context.Context, ops []platform.Op) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, op := range ops {
		r, ok := m.recs[op.Key]
		switch op.Kind {
		case platform.OpCreate:
			if ok {
				return platform.Errorf(platform.Conflict, "%s exists", op.Key)
			}
		case platform.OpUpdate, platform.OpDelete:
			if !ok || r.Index != op.Index {
				return platform.Errorf(platform.Conflict, "%s changed", op.Key)
			}
		}
	}
	for _, op := range ops {
		m.index++
		switch op.Kind {
		case platform.OpCreate, platform.OpUpdate:
			m.recs[op.Key] = platform.Record{Key: op.Key, Value: op.Value, Index: m.index}
		case platform.OpDelete:
			delete(m.recs, op.Key)
		}
	}
	return nil
}

func TestSessions(t *testing.T) {
	ctx := context.Background()
	kv := &memKV{recs: map[string]platform.Record{}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessions{kv: kv, now: func() time.Time { return now }}
	const token = "wharf_abcdef0123456789"

	cookie, err := s.create(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	got, id, err := s.open(ctx, cookie)
	if err != nil || got != token {
		t.Fatalf("open = %q, %v; want the token", got, err)
	}
	for k, r := range kv.recs {
		if strings.Contains(string(r.Value), token) || strings.Contains(k, cookie) {
			t.Errorf("the store holds the token or the session id in the clear: %s = %s", k, r.Value)
		}
	}

	t.Run("csrf", func(t *testing.T) {
		if !validCSRF(id, csrfToken(id)) {
			t.Error("the session's own CSRF token is refused")
		}
		other, _ := s.create(ctx, token)
		_, otherID, _ := s.open(ctx, other)
		for name, v := range map[string]string{"empty": "", "another session's": csrfToken(otherID), "guessed": "x"} {
			if validCSRF(id, v) {
				t.Errorf("the %s CSRF token is accepted", name)
			}
		}
	})

	t.Run("unknown or tampered cookies", func(t *testing.T) {
		for name, c := range map[string]string{"empty": "", "not base64": "%%%", "short": "abcd",
			"another id": strings.Repeat("A", 43), "flipped": flip(cookie)} {
			if _, _, err := s.open(ctx, c); platform.ErrorCode(err) != platform.NotFound {
				t.Errorf("%s cookie: %v, want not_found", name, err)
			}
		}
	})

	t.Run("tampered record", func(t *testing.T) {
		c2, _ := s.create(ctx, token)
		for k, r := range kv.recs {
			r.Value = []byte(strings.Replace(string(r.Value), `"sealed":"`, `"sealed":"AAAA`, 1))
			kv.recs[k] = r
		}
		if _, _, err := s.open(ctx, c2); platform.ErrorCode(err) != platform.NotFound {
			t.Errorf("a tampered record opens: %v", err)
		}
	})

	t.Run("expiry and sign-out", func(t *testing.T) {
		c3, _ := s.create(ctx, token)
		now = now.Add(SessionLifetime)
		if _, _, err := s.open(ctx, c3); platform.ErrorCode(err) != platform.NotFound {
			t.Errorf("an expired session opens: %v", err)
		}
		c4, _ := s.create(ctx, token)
		if err := s.end(ctx, c4); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.open(ctx, c4); platform.ErrorCode(err) != platform.NotFound {
			t.Errorf("a session opens after sign-out: %v", err)
		}
		live, _ := s.create(ctx, token)
		if err := s.sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(kv.recs); n != 1 {
			t.Errorf("%d session records after a sweep, want the live one only", n)
		}
		if _, _, err := s.open(ctx, live); err != nil {
			t.Errorf("the sweep ended a live session: %v", err)
		}
	})
}

// flip changes the cookie's first character.
func flip(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}
