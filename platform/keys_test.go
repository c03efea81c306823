package platform_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
)

// TestForgetExactKeys forgets environment "stage" of an application beside "stage2" and
// checks, against a real Consul, that stage2's records stay: its routing, procfile and
// the claim of domain shop.com when stage's shop.co went (a delete by prefix took them).
func TestForgetExactKeys(t *testing.T) {
	d, kv, admin, must := keysPlatform(t)
	ctx := context.Background()
	must(d.CreateCloudspace(ctx, admin, platform.Cloudspace{Name: "local", Vendor: "on-premises", Location: "Lab", Tenancy: "public", Region: "local", IngressDomain: "apps.test", Registry: "127.0.0.1:5000"}))
	must(d.CreatePlan(ctx, admin, platform.Plan{Name: "small", Public: true, Limits: platform.Limits{Environments: 5, InstancesPerProcess: 2, MemoryMBPerInstance: 256, ServiceInstances: 1, CustomDomains: 5, UploadMB: 256}}))
	must(d.CreateOrganisation(ctx, admin, platform.Organisation{Name: "keys"}))
	must(d.CreateApplication(ctx, admin, "keys", platform.Application{Name: "shop", Cloudspace: "local", Plan: "small"}))
	yes := true
	for env, domain := range map[string]string{"stage": "shop.co", "stage2": "shop.com"} {
		must(d.CreateEnvironment(ctx, admin, "keys", "shop", platform.Environment{Name: env}))
		must(d.PutDomain(ctx, admin, platform.Ref("keys", "shop", env), domain, true))
		must(d.SetRouting(ctx, admin, platform.Ref("keys", "shop", env), platform.RoutingInput{HTTPSRedirect: &yes}, 0))
		must(d.PutProcfile(ctx, admin, platform.Ref("keys", "shop", env), platform.Procfile{Processes: map[string]platform.ProcessDef{"web": {Command: "httpd"}}}, 0))
	}
	if err := d.Forget(ctx, "keys", "shop", "stage"); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]bool{
		"domain-claims/shop.co":      false,
		"domain-claims/shop.com":     true,
		"routing/keys/shop/stage":    false,
		"routing/keys/shop/stage2":   true,
		"procfiles/keys/shop/stage":  false,
		"procfiles/keys/shop/stage2": true,
	} {
		_, err := kv.Get(ctx, key)
		if got := err == nil; got != want {
			t.Errorf("%s kept = %v, want %v (%v)", key, got, want, err)
		}
	}
	// The claim is enforced as well as stored: another environment cannot take it.
	must(d.CreateEnvironment(ctx, admin, "keys", "shop", platform.Environment{Name: "other"}))
	if _, err := d.PutDomain(ctx, admin, platform.Ref("keys", "shop", "other"), "shop.com", false); platform.ErrorCode(err) != platform.Conflict {
		t.Errorf("claiming shop.com again = %v, want conflict", err)
	}
}

// TestDeleteTreeNeedsSlash holds the store to refusing a subtree delete whose prefix
// does not end in "/", which would reach other names' keys.
func TestDeleteTreeNeedsSlash(t *testing.T) {
	agent := agenttest.Consul(t)
	c, err := consul.New(consul.Config{Address: agent.Addr, Token: agent.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	kv := c.Store("")
	ctx := context.Background()
	if err := kv.Txn(ctx, []platform.Op{{Kind: platform.OpCreate, Key: "a/shop.co"}, {Kind: platform.OpCreate, Key: "a/shop.com"}}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Txn(ctx, []platform.Op{{Kind: platform.OpDeleteTree, Key: "a/shop.co"}}); platform.ErrorCode(err) != platform.Internal {
		t.Errorf("delete tree without a slash = %v, want internal", err)
	}
	if err := kv.Txn(ctx, []platform.Op{{Kind: platform.OpDeleteKey, Key: "a/shop.co"}, {Kind: platform.OpDeleteKey, Key: "a/missing"}}); err != nil {
		t.Fatalf("delete key: %v", err)
	}
	if recs, _ := kv.List(ctx, "a/"); len(recs) != 1 || recs[0].Key != "a/shop.com" {
		t.Errorf("after deleting a/shop.co: %+v", recs)
	}
}

// TestConcurrentDomainsKeepTheLimit adds many custom domains to one environment at once,
// against a real Consul: however they interleave, no more than the plan's limit land
// (each addition saw room for one more; only one of those racing may win).
func TestConcurrentDomainsKeepTheLimit(t *testing.T) {
	d, _, admin, must := keysPlatform(t)
	ctx := context.Background()
	const limit = 2
	must(d.CreateCloudspace(ctx, admin, platform.Cloudspace{Name: "local", Vendor: "on-premises", Location: "Lab", Tenancy: "public", Region: "local", IngressDomain: "apps.test", Registry: "127.0.0.1:5000"}))
	must(d.CreatePlan(ctx, admin, platform.Plan{Name: "small", Public: true, Limits: platform.Limits{Environments: 5, InstancesPerProcess: 2, MemoryMBPerInstance: 256, ServiceInstances: 1, CustomDomains: limit, UploadMB: 256}}))
	must(d.CreateOrganisation(ctx, admin, platform.Organisation{Name: "race"}))
	must(d.CreateApplication(ctx, admin, "race", platform.Application{Name: "shop", Cloudspace: "local", Plan: "small"}))
	must(d.CreateEnvironment(ctx, admin, "race", "shop", platform.Environment{Name: "stage"}))
	for round := range 5 {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := d.PutDomain(ctx, admin, platform.Ref("race", "shop", "stage"), fmt.Sprintf("r%d-%d.shop.test", round, i), false)
				if code := platform.ErrorCode(err); err != nil && code != platform.Conflict && code != platform.LimitExceeded {
					t.Errorf("add a domain: %v", err)
				}
			}()
		}
		wg.Wait()
		doms, err := d.ListDomains(ctx, admin, platform.Ref("race", "shop", "stage"))
		if err != nil {
			t.Fatal(err)
		}
		if len(doms) > limit {
			t.Fatalf("round %d: %d custom domains landed, the plan allows %d", round, len(doms), limit)
		}
		for _, dom := range doms {
			if err := d.DeleteDomain(ctx, admin, platform.Ref("race", "shop", "stage"), dom.Name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// keysPlatform is a bootstrapped platform model on a real Consul: the model, its store,
// the administrator, and a check that fails the test on an error.
func keysPlatform(t *testing.T) (*platform.Deployer, platform.KV, platform.Principal, func(any, error)) {
	agent := agenttest.Consul(t)
	c, err := consul.New(consul.Config{Address: agent.Addr, Token: agent.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	kv := c.Store("")
	d := &platform.Deployer{Service: &platform.Service{KV: kv}}
	admin := platform.Principal{Person: platform.BootstrapPerson, Admin: true}
	if _, _, err := d.Bootstrap(context.Background()); err != nil {
		t.Fatal(err)
	}
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	return d, kv, admin, must
}
