package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Record is one stored key with its value and the store's modify index, which changes
// on every write and is the record's version (and the API's ETag).
type Record struct {
	Key   string
	Value []byte
	Index uint64
}

// OpKind is what one operation of a transaction does.
type OpKind int

// The operations a transaction is made of. Every write is a check-and-set: a create
// fails when the key exists, an update or a delete when the key's index is not the one
// given.
const (
	OpCreate     OpKind = iota // set Key to Value if Key does not exist
	OpUpdate                   // set Key to Value if Key's index is Index
	OpDelete                   // delete Key if its index is Index
	OpDeleteTree               // delete every key under the prefix Key, which ends in "/"
	OpCheck                    // fail unless Key's index is Index
	OpDeleteKey                // delete Key, whatever its index; nothing when it is missing
)

// Op is one operation of a transaction.
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
	Index uint64
}

// KV is the state store: Consul KV under Wharf's prefix, in production. Keys are
// relative to that prefix.
//
// Get returns not_found for a missing key. List returns every record under prefix,
// sorted by key. Txn applies all its operations or none: a failed check returns
// conflict. All return unavailable when the store cannot be reached.
type KV interface {
	Get(ctx context.Context, key string) (Record, error)
	List(ctx context.Context, prefix string) ([]Record, error)
	Txn(ctx context.Context, ops []Op) error
}

// schemaVersion is the version of the stored JSON records. A reader refuses a record
// written by a newer schema rather than misreading it.
const schemaVersion = 1

// envelope is how every record is stored: the schema version beside the data.
type envelope[T any] struct {
	Schema int `json:"schema"`
	Data   T   `json:"data"`
}

// Meta is what every stored resource carries: its store index (the version the API
// shows as its ETag) and when it was created and last changed.
type Meta struct {
	Index     uint64    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (m *Meta) meta() *Meta { return m }

// ETag is the resource's version as an HTTP entity tag.
func (m Meta) ETag() string { return `"` + uitoa(m.Index) + `"` }

func uitoa(n uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// metaer is a pointer to a resource that embeds Meta.
type metaer[T any] interface {
	*T
	meta() *Meta
}

func encode[T any](v T) []byte {
	b, err := json.Marshal(envelope[T]{Schema: schemaVersion, Data: v})
	if err != nil {
		// Every stored type is plain data; failing to encode one is a bug.
		panic("platform: encode record: " + err.Error())
	}
	return b
}

func decode[T any, P metaer[T]](r Record) (T, error) {
	var env envelope[T]
	if err := json.Unmarshal(r.Value, &env); err != nil {
		return env.Data, Wrap(Internal, err, "corrupt record "+r.Key)
	}
	if env.Schema > schemaVersion {
		return env.Data, Errorf(Internal, "record %s has schema %d, newer than this wharfd's %d", r.Key, env.Schema, schemaVersion)
	}
	P(&env.Data).meta().Index = r.Index
	return env.Data, nil
}

// load reads and decodes one record; what names the resource in a not_found message.
func load[T any, P metaer[T]](ctx context.Context, kv KV, key, what string) (T, error) {
	r, err := kv.Get(ctx, key)
	if err != nil {
		var zero T
		if ErrorCode(err) == NotFound {
			return zero, Errorf(NotFound, "%s not found", what)
		}
		return zero, err
	}
	return decode[T, P](r)
}

// exists reports whether key is stored.
func exists(ctx context.Context, kv KV, key string) (bool, error) {
	_, err := kv.Get(ctx, key)
	switch ErrorCode(err) {
	case "":
		return true, nil
	case NotFound:
		return false, nil
	}
	return false, err
}

// loadDeep reads and decodes every record depth path components under prefix
// ("envs/", 3: every envs/<org>/<app>/<env>).
func loadDeep[T any, P metaer[T]](ctx context.Context, kv KV, prefix string, depth int) ([]T, error) {
	recs, err := kv.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, r := range recs {
		if strings.Count(r.Key[len(prefix):], "/") != depth-1 {
			continue
		}
		v, err := decode[T, P](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// loadAll reads and decodes every record directly under prefix.
func loadAll[T any, P metaer[T]](ctx context.Context, kv KV, prefix string) ([]T, error) {
	recs, err := kv.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		if strings.Contains(r.Key[len(prefix):], "/") {
			continue
		}
		v, err := decode[T, P](r)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// PageRequest asks for one page of a list: the items after Cursor (from a previous
// page's Next), at most Limit of them.
type PageRequest struct {
	Cursor string
	Limit  int
}

// Page is one page of a list, in key order. Next is empty on the last page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next_cursor,omitempty"`
}

// Page sizes.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Check reports the request's invalid fields.
func (pr PageRequest) Check() FieldErrors {
	var fe FieldErrors
	if pr.Limit < 0 || pr.Limit > MaxPageSize {
		fe.Add("limit", "must be between 1 and %d", MaxPageSize)
	}
	if _, err := base64.RawURLEncoding.DecodeString(pr.Cursor); err != nil {
		fe.Add("cursor", "is not a cursor this API returned")
	}
	return fe
}

// loadPage reads one page of the records directly under prefix. The cursor is the last
// returned key, encoded, so a page stays correct when records are added or removed
// between requests.
func loadPage[T any, P metaer[T]](ctx context.Context, kv KV, prefix string, pr PageRequest) (Page[T], error) {
	if err := pr.Check().Err(); err != nil {
		return Page[T]{}, err
	}
	after, _ := base64.RawURLEncoding.DecodeString(pr.Cursor)
	limit := pr.Limit
	if limit == 0 {
		limit = DefaultPageSize
	}
	recs, err := kv.List(ctx, prefix)
	if err != nil {
		return Page[T]{}, err
	}
	page := Page[T]{Items: []T{}}
	var lastName string
	for _, r := range recs {
		name := r.Key[len(prefix):]
		if strings.Contains(name, "/") || name <= string(after) {
			continue
		}
		if len(page.Items) == limit {
			page.Next = base64.RawURLEncoding.EncodeToString([]byte(lastName))
			break
		}
		v, err := decode[T, P](r)
		if err != nil {
			return Page[T]{}, err
		}
		page.Items = append(page.Items, v)
		lastName = name
	}
	return page, nil
}

// txn builds one transaction.
type txn struct {
	ops []Op
}

func (t *txn) create(key string, value []byte) {
	t.ops = append(t.ops, Op{Kind: OpCreate, Key: key, Value: value})
}

func (t *txn) update(key string, value []byte, index uint64) {
	t.ops = append(t.ops, Op{Kind: OpUpdate, Key: key, Value: value, Index: index})
}

func (t *txn) delete(key string, index uint64) {
	t.ops = append(t.ops, Op{Kind: OpDelete, Key: key, Index: index})
}

// deleteTree deletes a subtree. prefix must end in "/": a bare name as a prefix would
// also delete the keys of every name it begins (shop.co and shop.com), so a key is
// deleted with deleteKey. A prefix without the slash is a bug, and panics.
func (t *txn) deleteTree(prefix string) {
	if !strings.HasSuffix(prefix, "/") {
		panic("platform: delete tree " + prefix + ": a subtree must end in /; use deleteKey for one key")
	}
	t.ops = append(t.ops, Op{Kind: OpDeleteTree, Key: prefix})
}

// deleteKey deletes exactly one key, at whatever index it has.
func (t *txn) deleteKey(key string) {
	t.ops = append(t.ops, Op{Kind: OpDeleteKey, Key: key})
}

func (t *txn) check(key string, index uint64) {
	t.ops = append(t.ops, Op{Kind: OpCheck, Key: key, Index: index})
}
