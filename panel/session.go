package panel

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// sessionPrefix is where session records live in the state store.
const sessionPrefix = "panel-sessions/"

// SessionLifetime is how long a sign-in lasts.
const SessionLifetime = 12 * time.Hour

// sessions keeps signed-in sessions in the state store (Consul KV), so every wharfd
// replica serves every session and signing out ends it everywhere.
//
// A session id is 32 random bytes and lives only in the browser's cookie. The store
// keys the record by the id's SHA-256 and holds the API token sealed (AES-256-GCM) under
// a key derived from the id: whoever reads Consul KV learns neither the id nor the
// token, and wharfd needs no key of its own in its configuration. Each request opens
// the token and authenticates it again, so a revoked token or a changed role takes
// effect on the next page.
type sessions struct {
	kv  platform.KV
	now func() time.Time
}

type sessionRecord struct {
	Sealed  string    `json:"sealed"`
	Expires time.Time `json:"expires"`
}

func sessionKey(id []byte) string {
	h := sha256.Sum256(id)
	return sessionPrefix + hex.EncodeToString(h[:])
}

// derive returns a key for one purpose, bound to the session id.
func derive(id []byte, purpose string) []byte {
	m := hmac.New(sha256.New, id)
	m.Write([]byte("wharf-panel " + purpose))
	return m.Sum(nil)
}

func aead(id []byte) cipher.AEAD {
	block, err := aes.NewCipher(derive(id, "token"))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return g
}

// create stores a new session for token and returns the cookie value.
func (s *sessions) create(ctx context.Context, token string) (string, error) {
	return s.createUntil(ctx, token, s.now().Add(SessionLifetime))
}

// createUntil stores a new session for token that ends at until (at the latest
// SessionLifetime from now) and returns the cookie value.
func (s *sessions) createUntil(ctx context.Context, token string, until time.Time) (string, error) {
	if limit := s.now().Add(SessionLifetime); until.After(limit) {
		until = limit
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	g := aead(id)
	nonce := make([]byte, g.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := g.Seal(nonce, nonce, []byte(token), []byte(sessionKey(id)))
	rec := sessionRecord{Sealed: base64.StdEncoding.EncodeToString(sealed), Expires: until}
	b, _ := json.Marshal(rec)
	if err := s.kv.Txn(ctx, []platform.Op{{Kind: platform.OpCreate, Key: sessionKey(id), Value: b}}); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(id), nil
}

// open returns the token of the session a cookie names; not_found when there is none
// or it has expired.
func (s *sessions) open(ctx context.Context, cookie string) (string, []byte, error) {
	none := platform.Errorf(platform.NotFound, "no session")
	id, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(id) != 32 {
		return "", nil, none
	}
	r, err := s.kv.Get(ctx, sessionKey(id))
	if err != nil {
		return "", nil, err
	}
	var rec sessionRecord
	if json.Unmarshal(r.Value, &rec) != nil {
		return "", nil, none
	}
	if !s.now().Before(rec.Expires) {
		_ = s.kv.Txn(ctx, []platform.Op{{Kind: platform.OpDelete, Key: r.Key, Index: r.Index}})
		return "", nil, none
	}
	sealed, err := base64.StdEncoding.DecodeString(rec.Sealed)
	g := aead(id)
	if err != nil || len(sealed) < g.NonceSize() {
		return "", nil, none
	}
	token, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(sessionKey(id)))
	if err != nil {
		return "", nil, none
	}
	return string(token), id, nil
}

// sweep deletes expired sessions, which a browser that never came back leaves behind.
// Sign-ins call it, so the records stay about as many as the live sessions.
func (s *sessions) sweep(ctx context.Context) error {
	recs, err := s.kv.List(ctx, sessionPrefix)
	if err != nil {
		return err
	}
	var ops []platform.Op
	for _, r := range recs {
		var rec sessionRecord
		if json.Unmarshal(r.Value, &rec) == nil && s.now().Before(rec.Expires) {
			continue
		}
		ops = append(ops, platform.Op{Kind: platform.OpDelete, Key: r.Key, Index: r.Index})
	}
	// Consul takes at most 64 operations in a transaction; a record changed meanwhile
	// fails its batch, and the next sweep tries again.
	for len(ops) > 0 {
		n := min(len(ops), 64)
		if err := s.kv.Txn(ctx, ops[:n]); err != nil && platform.ErrorCode(err) != platform.Conflict {
			return err
		}
		ops = ops[n:]
	}
	return nil
}

// end deletes the session a cookie names.
func (s *sessions) end(ctx context.Context, cookie string) error {
	id, err := base64.RawURLEncoding.DecodeString(cookie)
	if err != nil || len(id) != 32 {
		return nil
	}
	r, err := s.kv.Get(ctx, sessionKey(id))
	if platform.ErrorCode(err) == platform.NotFound {
		return nil
	} else if err != nil {
		return err
	}
	return s.kv.Txn(ctx, []platform.Op{{Kind: platform.OpDelete, Key: r.Key, Index: r.Index}})
}

// csrfToken is the value every form of a session carries: a MAC of the session id, so
// it needs no storage and no other site can compute it.
func csrfToken(id []byte) string {
	return base64.RawURLEncoding.EncodeToString(derive(id, "csrf"))
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(id []byte, got string) bool {
	want := csrfToken(id)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
