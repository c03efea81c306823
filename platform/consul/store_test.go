package consul_test

import (
	"context"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
)

// TestStore holds the store to its contract against a real Consul: check-and-set on
// every write, all-or-nothing transactions, and Consul's failures translated into
// platform codes.
func TestStore(t *testing.T) {
	agent := agenttest.Consul(t)
	c, err := consul.New(consul.Config{Address: agent.Addr, Token: agent.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Store("")
	ctx := context.Background()
	create := func(key, value string) platform.Op {
		return platform.Op{Kind: platform.OpCreate, Key: key, Value: []byte(value)}
	}

	if err := s.Txn(ctx, []platform.Op{create("a/1", "one"), create("a/2", "two")}); err != nil {
		t.Fatalf("create: %v", err)
	}
	r, err := s.Get(ctx, "a/1")
	if err != nil || string(r.Value) != "one" || r.Index == 0 || r.Key != "a/1" {
		t.Fatalf("Get = %+v, %v", r, err)
	}
	tests := []struct {
		name string
		ops  []platform.Op
		code platform.Code
	}{
		{"create over an existing key", []platform.Op{create("a/1", "again")}, platform.Conflict},
		{"update at a stale index", []platform.Op{{Kind: platform.OpUpdate, Key: "a/1", Value: []byte("x"), Index: r.Index - 1}}, platform.Conflict},
		{"delete at a stale index", []platform.Op{{Kind: platform.OpDelete, Key: "a/1", Index: r.Index + 100}}, platform.Conflict},
		{"failed check undoes the rest", []platform.Op{create("a/3", "three"), {Kind: platform.OpCheck, Key: "a/2", Index: 1}}, platform.Conflict},
		{"update without an index", []platform.Op{{Kind: platform.OpUpdate, Key: "a/1", Value: []byte("x")}}, platform.Internal},
		{"update at the current index", []platform.Op{{Kind: platform.OpUpdate, Key: "a/1", Value: []byte("uno"), Index: r.Index}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platform.ErrorCode(s.Txn(ctx, tt.ops)); got != tt.code {
				t.Errorf("code = %q, want %q", got, tt.code)
			}
		})
	}
	if _, err := s.Get(ctx, "a/3"); platform.ErrorCode(err) != platform.NotFound {
		t.Errorf("a/3 after a failed transaction: %v, want not_found", err)
	}
	recs, err := s.List(ctx, "a/")
	if err != nil || len(recs) != 2 || recs[0].Key != "a/1" || string(recs[0].Value) != "uno" || recs[1].Key != "a/2" {
		t.Fatalf("List = %+v, %v", recs, err)
	}
	if err := s.Txn(ctx, []platform.Op{{Kind: platform.OpDeleteTree, Key: "a/"}}); err != nil {
		t.Fatal(err)
	}
	if recs, _ := s.List(ctx, "a/"); len(recs) != 0 {
		t.Errorf("after delete tree: %+v", recs)
	}
	// Everything lives under the prefix (seen by the operator: wharfd may not look
	// elsewhere).
	op, err := consul.New(consul.Config{Address: agent.Addr, Token: agent.ManagementToken})
	if err != nil {
		t.Fatal(err)
	}
	if pairs, err := op.Store("elsewhere/").List(ctx, ""); err != nil || len(pairs) != 0 {
		t.Errorf("another prefix sees %+v, %v", pairs, err)
	}
}

func TestStoreUnavailable(t *testing.T) {
	c, err := consul.New(consul.Config{Address: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Store("")
	ctx := context.Background()
	if _, err := s.Get(ctx, "x"); platform.ErrorCode(err) != platform.Unavailable {
		t.Errorf("Get = %v, want unavailable", err)
	}
	if err := s.Txn(ctx, []platform.Op{{Kind: platform.OpCreate, Key: "x"}}); platform.ErrorCode(err) != platform.Unavailable {
		t.Errorf("Txn = %v, want unavailable", err)
	}
}

// TestStoreRefusedByACLs: a transaction Consul's ACLs refuse is an internal error (the
// token is wrong), never a conflict that callers would take for a concurrent change.
func TestStoreRefusedByACLs(t *testing.T) {
	agent := agenttest.Consul(t)
	c, err := consul.New(consul.Config{Address: agent.Addr}) // anonymous
	if err != nil {
		t.Fatal(err)
	}
	err = c.Store("").Txn(context.Background(), []platform.Op{{Kind: platform.OpCreate, Key: "x", Value: []byte("1")}})
	if platform.ErrorCode(err) != platform.Internal {
		t.Errorf("anonymous Txn = %v (%s), want internal", err, platform.ErrorCode(err))
	}
}
