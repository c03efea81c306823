package registry_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform/registry"
)

// TestBlobs puts a blob, reads it back at its URL, deletes it (twice: the second time
// finds nothing and is no error) and finds it gone.
func TestBlobs(t *testing.T) {
	b := agenttest.Binaries(t)
	r, err := devstack.StartRegistry(devstack.RegistryConfig{Binary: b.Registry, DataDir: t.TempDir(), Log: func(_, l string) { t.Log("registry: " + l) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	ctx := context.Background()
	c := registry.New(r.Addr, nil)
	digest, err := c.PutBlob(ctx, "acme/shop/backups", []byte("a dump"))
	if err != nil {
		t.Fatal(err)
	}
	status := func() int {
		resp, err := http.Get(c.BlobURL("acme/shop/backups", digest))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := status(); s != http.StatusOK {
		t.Fatalf("GET the blob = %d", s)
	}
	for range 2 {
		if err := c.DeleteBlob(ctx, "acme/shop/backups", digest); err != nil {
			t.Fatalf("delete: %v", err)
		}
	}
	if s := status(); s != http.StatusNotFound {
		t.Errorf("GET a deleted blob = %d, want 404", s)
	}
}
