package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/platform"
)

// DefaultPrefix is where Wharf keeps its state in Consul KV.
const DefaultPrefix = "wharf/"

// maxTxnOps is Consul's limit on the operations of one transaction.
const maxTxnOps = 64

// Store is Wharf's state store in Consul KV: every key lives under one prefix, every
// write is a check-and-set on the key's ModifyIndex, and a change to several keys is one
// Consul transaction. Reads use Consul's default consistency mode (served by the
// leader, without a round to confirm its leadership): a read that is stale during a
// leader change can only make the write that follows it fail its check-and-set.
type Store struct {
	kv     *consulapi.KV
	txn    *consulapi.Txn
	prefix string
}

// Store returns the state store under prefix (DefaultPrefix when empty).
func (c *Client) Store(prefix string) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{kv: c.api.KV(), txn: c.api.Txn(), prefix: prefix}
}

var _ platform.KV = (*Store)(nil)

// Get returns the record at key; not_found when there is none.
func (s *Store) Get(ctx context.Context, key string) (platform.Record, error) {
	pair, _, err := s.kv.Get(s.prefix+key, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return platform.Record{}, translate(err, "read "+key)
	}
	if pair == nil {
		return platform.Record{}, platform.Errorf(platform.NotFound, "%s not found", key)
	}
	return platform.Record{Key: key, Value: pair.Value, Index: pair.ModifyIndex}, nil
}

// List returns every record under prefix, sorted by key.
func (s *Store) List(ctx context.Context, prefix string) ([]platform.Record, error) {
	pairs, _, err := s.kv.List(s.prefix+prefix, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, translate(err, "list "+prefix)
	}
	recs := make([]platform.Record, 0, len(pairs))
	for _, p := range pairs {
		recs = append(recs, platform.Record{Key: strings.TrimPrefix(p.Key, s.prefix), Value: p.Value, Index: p.ModifyIndex})
	}
	return recs, nil
}

// Txn applies ops atomically. A failed check-and-set rolls the whole transaction back
// and returns conflict.
func (s *Store) Txn(ctx context.Context, ops []platform.Op) error {
	if len(ops) > maxTxnOps {
		return platform.Errorf(platform.Internal, "a transaction of %d operations exceeds Consul's limit of %d", len(ops), maxTxnOps)
	}
	txn := make(consulapi.TxnOps, 0, len(ops))
	for _, op := range ops {
		kv := &consulapi.KVTxnOp{Key: s.prefix + op.Key, Value: op.Value, Index: op.Index}
		switch op.Kind {
		case platform.OpCreate:
			kv.Verb, kv.Index = consulapi.KVCAS, 0
		case platform.OpUpdate:
			kv.Verb = consulapi.KVCAS
		case platform.OpDelete:
			kv.Verb = consulapi.KVDeleteCAS
		case platform.OpDeleteTree:
			if !strings.HasSuffix(op.Key, "/") {
				// A prefix without the slash deletes every key that merely begins
				// with it: another name's records.
				return platform.Errorf(platform.Internal, "delete tree %s: a subtree must end in /", op.Key)
			}
			kv.Verb = consulapi.KVDeleteTree
		case platform.OpDeleteKey:
			kv.Verb = consulapi.KVDelete
		case platform.OpCheck:
			kv.Verb = consulapi.KVCheckIndex
		default:
			return platform.Errorf(platform.Internal, "unknown transaction operation %d", op.Kind)
		}
		if op.Kind == platform.OpUpdate || op.Kind == platform.OpDelete || op.Kind == platform.OpCheck {
			if op.Index == 0 {
				// Consul reads a CAS at index 0 as "create"; an update must name
				// the version it replaces.
				return platform.Errorf(platform.Internal, "%s on %s without an index", kv.Verb, op.Key)
			}
		}
		txn = append(txn, &consulapi.TxnOp{KV: kv})
	}
	ok, resp, _, err := s.txn.Txn(txn, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return translate(err, "transaction")
	}
	if !ok {
		msgs := make([]string, 0, len(resp.Errors))
		denied := false
		for _, e := range resp.Errors {
			msgs = append(msgs, fmt.Sprintf("op %d: %s", e.OpIndex, e.What))
			denied = denied || strings.Contains(strings.ToLower(e.What), "permission denied")
		}
		err := errors.New(strings.Join(msgs, "; "))
		if denied {
			// Consul's ACLs refused the token: wharfd's configuration is at fault, not
			// a concurrent change.
			return platform.Wrap(platform.Internal, err, "consul refused the transaction to this token")
		}
		return platform.Wrap(platform.Conflict, err, "a concurrent change won")
	}
	return nil
}

// translate turns a Consul client error into a platform error: a connection failure or
// a 5xx is unavailable, anything else internal.
func translate(err error, what string) error {
	var se consulapi.StatusError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return platform.Wrap(platform.Unavailable, err, "consul did not answer in time")
	case errors.Is(err, syscall.ECONNREFUSED), errors.As(err, &ne):
		return platform.Wrap(platform.Unavailable, err, "consul unreachable")
	case errors.As(err, &se) && se.Code >= http.StatusInternalServerError:
		return platform.Wrap(platform.Unavailable, err, "consul failed to "+what)
	}
	return platform.Wrap(platform.Internal, err, "consul "+what)
}
