package devstack_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/objectstore"
)

// TestObjectStoreResumes starts the object store, makes an instance's account and bucket
// and an object in it, stops the store and starts it again on the same directory (as a
// second `make dev` does): the root keys are the kept ones (0600), and the account, the
// bucket and the object are still there. Anonymous requests are refused.
func TestObjectStoreResumes(t *testing.T) {
	t.Parallel()
	o := agenttest.ObjectStore(t) // another store: its keys must differ, and it checks the binary is there
	bin := devstack.DefaultBinaries(os.Getenv("WHARF_BIN_DIR")).ObjectStore
	dir := t.TempDir()
	logf := func(agent, line string) { t.Logf("%s: %s", agent, line) }
	ctx := context.Background()
	names := platform.StorageNames("00000000000000ee")

	first, err := devstack.StartObjectStore(devstack.ObjectStoreConfig{Binary: bin, DataDir: dir, Log: logf})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if o.SecretKey == first.SecretKey {
		t.Errorf("two stores share a root secret key")
	}
	if fi, err := os.Stat(first.SecretKeyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("root secret key file: %v %v", fi, err)
	}
	st := objectstore.New(objectstore.Config{Endpoint: first.Endpoint(), Region: first.Region, AccessKey: first.AccessKey, SecretKey: platform.Secret(first.SecretKey)})
	if err := st.CreateBucket(ctx, names.Bucket, names.AccessKey, "kept-secret-0123456789"); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	c := objectstore.Client(first.Endpoint(), first.Region, names.AccessKey, "kept-secret-0123456789", http.DefaultClient)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(names.Bucket), Key: aws.String("k"), Body: strings.NewReader("kept")}); err != nil {
		t.Fatalf("put: %v", err)
	}
	secret := first.SecretKey
	if err := first.Stop(); err != nil {
		t.Error(err)
	}

	again, err := devstack.StartObjectStore(devstack.ObjectStoreConfig{Binary: bin, DataDir: dir, Log: logf})
	if err != nil {
		t.Fatalf("start again: %v", err)
	}
	t.Cleanup(func() { again.Stop() })
	if again.SecretKey != secret {
		t.Errorf("the root secret key was made anew instead of kept")
	}
	c = objectstore.Client(again.Endpoint(), again.Region, names.AccessKey, "kept-secret-0123456789", http.DefaultClient)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(names.Bucket), Key: aws.String("k")})
	if err != nil {
		t.Fatalf("the account or its object did not survive the restart: %v", err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if string(b) != "kept" {
		t.Errorf("object after restart = %q", b)
	}
	resp, err := http.Get(again.Endpoint() + "/" + names.Bucket + "/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous GET of a private object: %s", resp.Status)
	}
}
