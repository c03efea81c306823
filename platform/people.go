package platform

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// TokenPrefix starts every API token, so a leaked one is easy to recognise.
const TokenPrefix = "wharf_"

// Me names the caller wherever a person is named in a path.
const Me = "me"

// BootstrapPerson is the platform administrator that Bootstrap creates.
const BootstrapPerson = "admin"

func checkPersonID(id string) string {
	if id == Me {
		return `"me" is reserved`
	}
	return CheckName(id)
}

func (p Person) check() FieldErrors {
	var fe FieldErrors
	fe.Check("id", checkPersonID(p.ID))
	fe.Check("name", CheckText(p.Name, 200))
	fe.Check("email", CheckText(p.Email, 254))
	if p.Email != "" && !strings.Contains(p.Email, "@") {
		fe.Add("email", "must be an email address")
	}
	return fe
}

// resolve turns "me" into the caller's id.
func resolve(p Principal, person string) string {
	if person == Me {
		return p.Person
	}
	return person
}

// selfOrAdmin returns not_found unless p is person or an administrator, so people cannot
// learn of each other.
func selfOrAdmin(p Principal, person string) error {
	if p.Admin || p.Person == person {
		return nil
	}
	return Errorf(NotFound, "person %q not found", person)
}

// CreatePerson adds a person. Only an administrator may. It returns invalid, forbidden
// or conflict.
func (s *Service) CreatePerson(ctx context.Context, p Principal, in Person) (Person, error) {
	if err := requireAdmin(p, "add people"); err != nil {
		return Person{}, err
	}
	if err := in.check().Err(); err != nil {
		return Person{}, err
	}
	if ok, err := exists(ctx, s.KV, personKey(in.ID)); err != nil {
		return Person{}, err
	} else if ok {
		return Person{}, Errorf(Conflict, "person %q already exists", in.ID)
	}
	in.Meta = Meta{}
	stamp(&in.Meta, s.now())
	var t txn
	t.create(personKey(in.ID), encode(in))
	s.audit(&t, p, "", "person.create", personKey(in.ID))
	if err := s.commit(ctx, &t, "person "+in.ID); err != nil {
		return Person{}, err
	}
	return s.GetPerson(ctx, p, in.ID)
}

// GetPerson returns a person: the caller, or anyone for an administrator.
func (s *Service) GetPerson(ctx context.Context, p Principal, id string) (Person, error) {
	id = resolve(p, id)
	if err := selfOrAdmin(p, id); err != nil {
		return Person{}, err
	}
	return load[Person](ctx, s.KV, personKey(id), "person "+id)
}

// UpdatePerson changes a person: the caller's own name and email, or anything of
// anyone's for an administrator, who may not take away their own admin flag (so an
// administrator always remains).
func (s *Service) UpdatePerson(ctx context.Context, p Principal, id string, patch PersonPatch, ifMatch uint64) (Person, error) {
	id = resolve(p, id)
	if err := selfOrAdmin(p, id); err != nil {
		return Person{}, err
	}
	if patch.Admin != nil && !p.Admin {
		return Person{}, Errorf(Forbidden, "only a platform administrator may change who is one")
	}
	if patch.Admin != nil && !*patch.Admin && id == p.Person {
		return Person{}, Errorf(Conflict, "an administrator cannot take away their own admin flag")
	}
	person, err := load[Person](ctx, s.KV, personKey(id), "person "+id)
	if err != nil {
		return Person{}, err
	}
	if patch.Name != nil {
		person.Name = *patch.Name
	}
	if patch.Email != nil {
		person.Email = *patch.Email
	}
	if patch.Admin != nil {
		person.Admin = *patch.Admin
	}
	if err := person.check().Err(); err != nil {
		return Person{}, err
	}
	stamp(&person.Meta, s.now())
	var t txn
	t.update(personKey(id), encode(person), casIndex(person.Index, ifMatch))
	s.audit(&t, p, "", "person.update", personKey(id))
	if err := s.commit(ctx, &t, "person "+id); err != nil {
		return Person{}, err
	}
	return load[Person](ctx, s.KV, personKey(id), "person "+id)
}

// DeletePerson removes a person and revokes their tokens. Only an administrator may,
// not on themselves, and only once the person belongs to no organisation and
// collaborates on no application, so no role outlives its holder to pass to a later
// person of the same id.
func (s *Service) DeletePerson(ctx context.Context, p Principal, id string, ifMatch uint64) error {
	if err := requireAdmin(p, "remove people"); err != nil {
		return err
	}
	id = resolve(p, id)
	if id == p.Person {
		return Errorf(Conflict, "an administrator cannot remove themselves")
	}
	person, err := load[Person](ctx, s.KV, personKey(id), "person "+id)
	if err != nil {
		return err
	}
	for _, prefix := range []string{membershipPrefix(id), collaborationPrefix(id)} {
		recs, err := s.KV.List(ctx, prefix)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			return Errorf(Conflict, "%q still belongs to %d organisations or applications; remove them there first", id, len(recs))
		}
	}
	tokens, err := loadAll[tokenRecord](ctx, s.KV, personTokenPrefix(id))
	if err != nil {
		return err
	}
	var t txn
	t.delete(personKey(id), casIndex(person.Index, ifMatch))
	// A role granted between the check above and this transaction would outlive the
	// person; Consul transactions cannot check that a prefix is empty.
	t.deleteTree(personTokenPrefix(id))
	for _, tok := range tokens {
		t.deleteKey(tokenKey(tok.Hash))
	}
	s.audit(&t, p, "", "person.delete", personKey(id))
	return s.commit(ctx, &t, "person "+id)
}

// ListPeople returns a page of everyone. Only an administrator may.
func (s *Service) ListPeople(ctx context.Context, p Principal, pr PageRequest) (Page[Person], error) {
	if err := requireAdmin(p, "list people"); err != nil {
		return Page[Person]{}, err
	}
	return loadPage[Person](ctx, s.KV, "people/", pr)
}

func newTokenValue() (Secret, string, string) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	value := TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	var id [8]byte
	_, _ = rand.Read(id[:])
	return Secret(value), hashToken(value), hex.EncodeToString(id[:])
}

func hashToken(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// MaxTokenLifetime is the longest expiry a token may be given.
const MaxTokenLifetime = 366 * 24 * time.Hour

// CreateToken issues a token for person (the caller, or anyone for an administrator)
// and returns its description and its value, which is never available again.
func (s *Service) CreateToken(ctx context.Context, p Principal, person, name string) (Token, Secret, error) {
	return s.CreateTokenExpiring(ctx, p, person, name, 0)
}

// CreateTokenExpiring is CreateToken for a token refused (unauthorized) once expiresIn
// has passed; 0 for one that does not expire. A token made by a token that expires
// expires no later than it, so an expiring token cannot be traded for a lasting one.
// It returns invalid, forbidden or not_found.
func (s *Service) CreateTokenExpiring(ctx context.Context, p Principal, person, name string, expiresIn time.Duration) (Token, Secret, error) {
	person = resolve(p, person)
	if err := selfOrAdmin(p, person); err != nil {
		return Token{}, "", err
	}
	var fe FieldErrors
	fe.Check("name", CheckText(name, 100))
	if expiresIn < 0 || expiresIn > MaxTokenLifetime {
		fe.Add("expires_in", "must be between 1 second and %d days, or left out for a token that does not expire", MaxTokenLifetime/(24*time.Hour))
	}
	if err := fe.Err(); err != nil {
		return Token{}, "", err
	}
	var expires *time.Time
	if expiresIn > 0 {
		at := s.now().Add(expiresIn).UTC().Truncate(time.Second)
		expires = &at
	}
	if p.ExpiresAt != nil && (expires == nil || expires.After(*p.ExpiresAt)) {
		at := *p.ExpiresAt
		expires = &at
	}
	owner, err := load[Person](ctx, s.KV, personKey(person), "person "+person)
	if err != nil {
		return Token{}, "", err
	}
	value, hash, id := newTokenValue()
	var t txn
	t.check(personKey(person), owner.Index)
	tok := s.tokenTxn(&t, person, name, id, hash, expires)
	s.audit(&t, p, "", "token.create", personTokenKey(person, id))
	if err := s.commit(ctx, &t, "person "+person); err != nil {
		return Token{}, "", err
	}
	return tok, value, nil
}

func (s *Service) tokenTxn(t *txn, person, name, id, hash string, expires *time.Time) Token {
	now := s.now()
	rec := tokenRecord{Token: Token{ID: id, Person: person, Name: name, ExpiresAt: expires, Meta: Meta{CreatedAt: now, UpdatedAt: now}}, Hash: hash}
	t.create(tokenKey(hash), encode(rec))
	t.create(personTokenKey(person, id), encode(rec))
	return rec.Token
}

// ListTokens returns a page of person's tokens, without their values.
func (s *Service) ListTokens(ctx context.Context, p Principal, person string, pr PageRequest) (Page[Token], error) {
	person = resolve(p, person)
	if err := selfOrAdmin(p, person); err != nil {
		return Page[Token]{}, err
	}
	recs, err := loadPage[tokenRecord](ctx, s.KV, personTokenPrefix(person), pr)
	if err != nil {
		return Page[Token]{}, err
	}
	page := Page[Token]{Items: make([]Token, len(recs.Items)), Next: recs.Next}
	for i, r := range recs.Items {
		page.Items[i] = r.Token
	}
	return page, nil
}

// DeleteToken revokes one of person's tokens.
func (s *Service) DeleteToken(ctx context.Context, p Principal, person, id string) error {
	person = resolve(p, person)
	if err := selfOrAdmin(p, person); err != nil {
		return err
	}
	rec, err := load[tokenRecord](ctx, s.KV, personTokenKey(person, id), "token "+id)
	if err != nil {
		return err
	}
	var t txn
	t.delete(personTokenKey(person, id), rec.Index)
	t.deleteKey(tokenKey(rec.Hash))
	s.audit(&t, p, "", "token.delete", personTokenKey(person, id))
	return s.commit(ctx, &t, "token "+id)
}

// Authenticate returns the principal a token value stands for. It returns unauthorized
// for any value that is not a live token.
func (s *Service) Authenticate(ctx context.Context, value string) (Principal, error) {
	denied := Errorf(Unauthorized, "the bearer token is not valid")
	if !strings.HasPrefix(value, TokenPrefix) || len(value) > 100 {
		return Principal{}, denied
	}
	rec, err := load[tokenRecord](ctx, s.KV, tokenKey(hashToken(value)), "token")
	if ErrorCode(err) == NotFound {
		return Principal{}, denied
	} else if err != nil {
		return Principal{}, err
	}
	if rec.ExpiresAt != nil && !s.now().Before(*rec.ExpiresAt) {
		return Principal{}, Errorf(Unauthorized, "the bearer token expired at %s; log in again", rec.ExpiresAt.Format(time.RFC3339))
	}
	person, err := load[Person](ctx, s.KV, personKey(rec.Person), "person")
	if ErrorCode(err) == NotFound {
		return Principal{}, denied
	} else if err != nil {
		return Principal{}, err
	}
	return Principal{Person: person.ID, Admin: person.Admin, Token: rec.ID, ExpiresAt: rec.ExpiresAt}, nil
}

// Bootstrap creates the first administrator, BootstrapPerson, and a token for it, once
// in the life of a store: a second call, even a concurrent one, returns conflict.
func (s *Service) Bootstrap(ctx context.Context) (Token, Secret, error) {
	now := s.now()
	var t txn
	t.create(bootstrapKey, encode(Meta{CreatedAt: now, UpdatedAt: now}))
	admin := Person{ID: BootstrapPerson, Name: "Administrator", Admin: true, Meta: Meta{CreatedAt: now, UpdatedAt: now}}
	t.create(personKey(admin.ID), encode(admin))
	value, hash, id := newTokenValue()
	tok := s.tokenTxn(&t, admin.ID, "bootstrap", id, hash, nil)
	s.audit(&t, Principal{Person: admin.ID}, "", "platform.bootstrap", personKey(admin.ID))
	if err := s.KV.Txn(ctx, t.ops); err != nil {
		if ErrorCode(err) == Conflict {
			return Token{}, "", Wrap(Conflict, err, "wharf is already bootstrapped")
		}
		return Token{}, "", err
	}
	return tok, value, nil
}
