package consul

import (
	"context"
	"encoding/json"
	"strings"

	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/ingress"
	"github.com/wharf-platform/wharf/platform"
)

// RouteStore reads and writes route records, with check-and-set on their ModifyIndex.
// wharfd writes one record per environment that receives HTTP and deletes it when the
// environment stops receiving HTTP; the ingress only reads them.
type RouteStore struct {
	kv     *consulapi.KV
	prefix string
}

// NewRouteStore returns a RouteStore for records under prefix (DefaultPrefix when empty).
func NewRouteStore(c *consulapi.Client, prefix string) *RouteStore {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &RouteStore{kv: c.KV(), prefix: prefix}
}

// Key returns the Consul KV key of an environment's route record.
func (s *RouteStore) Key(cloudspace, app, env string) string {
	return s.prefix + ingress.RouteKey(cloudspace, app, env)
}

// Get returns an environment's route record and its ModifyIndex, to pass to Put or
// Delete. Errors: NotFound, Invalid (a stored record that does not parse), Unavailable.
func (s *RouteStore) Get(ctx context.Context, cloudspace, app, env string) (ingress.Route, uint64, error) {
	key := s.Key(cloudspace, app, env)
	p, _, err := s.kv.Get(key, (&consulapi.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return ingress.Route{}, 0, translate(err, "read route "+key)
	}
	if p == nil {
		return ingress.Route{}, 0, platform.Errorf(platform.NotFound, "no route record %s", key)
	}
	r, err := ingress.ParseRoute(p.Value)
	return r, p.ModifyIndex, err
}

// Put writes r if its record's ModifyIndex is still index; index 0 writes it only if no
// record exists. Errors: Invalid (r does not validate), Conflict (the record changed or
// exists), Unavailable.
func (s *RouteStore) Put(ctx context.Context, r ingress.Route, index uint64) error {
	b, err := encodeRoute(r)
	if err != nil {
		return err
	}
	key := s.prefix + r.Key()
	ok, _, err := s.kv.CAS(&consulapi.KVPair{Key: key, Value: b, ModifyIndex: index}, (&consulapi.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return translate(err, "write route "+key)
	}
	if !ok {
		return platform.Errorf(platform.Conflict, "route record %s changed since index %d", key, index)
	}
	return nil
}

// Delete removes an environment's route record if its ModifyIndex is still index, or
// whatever it holds when index is 0. Deleting a record that does not exist succeeds when
// index is 0. Errors: Conflict, Unavailable.
func (s *RouteStore) Delete(ctx context.Context, cloudspace, app, env string, index uint64) error {
	key := s.Key(cloudspace, app, env)
	wo := (&consulapi.WriteOptions{}).WithContext(ctx)
	if index == 0 {
		_, err := s.kv.Delete(key, wo)
		return translate(err, "delete route "+key)
	}
	ok, _, err := s.kv.DeleteCAS(&consulapi.KVPair{Key: key, ModifyIndex: index}, wo)
	if err != nil {
		return translate(err, "delete route "+key)
	}
	if !ok {
		return platform.Errorf(platform.Conflict, "route record %s changed since index %d", key, index)
	}
	return nil
}

// Move replaces, in one transaction, the record under (cloudspace, fromApp, env) at
// ModifyIndex fromIndex with r under its own key, which must not exist: the ingress sees
// either the old record or the new one, never both (they would claim the same hosts)
// nor neither. Errors: Invalid, Conflict (either key changed), Unavailable.
func (s *RouteStore) Move(ctx context.Context, cloudspace, fromApp, env string, fromIndex uint64, r ingress.Route) error {
	b, err := encodeRoute(r)
	if err != nil {
		return err
	}
	from, to := s.Key(cloudspace, fromApp, env), s.prefix+r.Key()
	ok, resp, _, err := s.kv.Txn(consulapi.KVTxnOps{
		{Verb: consulapi.KVDeleteCAS, Key: from, Index: fromIndex},
		{Verb: consulapi.KVCAS, Key: to, Value: b, Index: 0},
	}, (&consulapi.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return translate(err, "move route "+from)
	}
	if !ok {
		msg := ""
		if resp != nil && len(resp.Errors) > 0 {
			msg = ": " + resp.Errors[0].What
		}
		return platform.Errorf(platform.Conflict, "route record %s or %s changed%s", from, to, msg)
	}
	return nil
}

// encodeRoute validates r (the current version when it names none) and encodes it as
// its record. Errors: Invalid, Internal.
func encodeRoute(r ingress.Route) ([]byte, error) {
	if r.Version == 0 {
		r.Version = ingress.RouteVersion
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, platform.Wrap(platform.Internal, err, "encode route")
	}
	return b, nil
}
