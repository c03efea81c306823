package objectstore_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/objectstore"
)

// tenant is one storage instance's names and keys, and an S3 client holding only those.
type tenant struct {
	bucket, access, secret string
	c                      *s3.Client
}

func newTenant(t *testing.T, ctx context.Context, st *objectstore.Store, id, secret string) tenant {
	t.Helper()
	n := platform.StorageNames(id)
	if err := st.CreateBucket(ctx, n.Bucket, n.AccessKey, platform.Secret(secret)); err != nil {
		t.Fatalf("create bucket %s: %v", n.Bucket, err)
	}
	return tenant{bucket: n.Bucket, access: n.AccessKey, secret: secret,
		c: objectstore.Client(st.Endpoint(), st.Region(), n.AccessKey, secret, http.DefaultClient)}
}

func put(ctx context.Context, c *s3.Client, bucket, key, body string) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	return err
}

func get(ctx context.Context, c *s3.Client, bucket, key string) (string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// TestStore runs the adapter against a real versitygw: an instance's keys reach its
// bucket; another tenant's keys reach nothing of it; public objects answer anonymous
// GETs, others do not; deleting the bucket leaves no object, bucket or account.
func TestStore(t *testing.T) {
	o := agenttest.ObjectStore(t)
	ctx := context.Background()
	st := objectstore.New(objectstore.Config{Endpoint: o.Endpoint(), Region: o.Region, AccessKey: o.AccessKey, SecretKey: platform.Secret(o.SecretKey)})
	if _, err := st.Probe(ctx); err != nil {
		t.Fatalf("probe: %v", err)
	}
	a := newTenant(t, ctx, st, "00000000000000aa", "secret-of-tenant-a-0123456789")
	b := newTenant(t, ctx, st, "00000000000000bb", "secret-of-tenant-b-0123456789")
	// Repeating it changes nothing and keeps the objects.
	if err := put(ctx, a.c, a.bucket, "media/a.txt", "tenant A's object"); err != nil {
		t.Fatalf("A puts into its bucket: %v", err)
	}
	if err := st.CreateBucket(ctx, a.bucket, a.access, platform.Secret(a.secret)); err != nil {
		t.Fatalf("create bucket again: %v", err)
	}

	t.Run("own bucket", func(t *testing.T) {
		if got, err := get(ctx, a.c, a.bucket, "media/a.txt"); err != nil || got != "tenant A's object" {
			t.Fatalf("A reads its object: %q, %v", got, err)
		}
		out, err := a.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(a.bucket)})
		if err != nil || len(out.Contents) != 1 {
			t.Fatalf("A lists its bucket: %v, %v", out, err)
		}
		if _, err := a.c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("wharf-00000000000000cc")}); err == nil {
			t.Error("a tenant's account created a bucket of its own")
		}
		// The bucket's policy and existence are Wharf's: the account may not change them.
		if _, err := a.c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(a.bucket),
			Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:*"],"Resource":["arn:aws:s3:::` + a.bucket + `/*"]}]}`)}); err == nil {
			t.Error("A rewrote its bucket's policy")
		}
		if _, err := a.c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String(a.bucket)}); err == nil {
			t.Error("A deleted its bucket's policy")
		}
		if _, err := a.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(a.bucket)}); err == nil {
			t.Error("A deleted its bucket itself")
		}
	})

	t.Run("hostile tenant", func(t *testing.T) {
		// B holds valid keys of its own and tries A's bucket by every S3 verb.
		if _, err := b.c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(a.bucket)}); err == nil {
			t.Error("B listed A's bucket")
		} else {
			t.Logf("B lists A's bucket: %s", errCode(err))
		}
		if got, err := get(ctx, b.c, a.bucket, "media/a.txt"); err == nil {
			t.Errorf("B read A's object: %q", got)
		} else {
			t.Logf("B reads A's object: %s", errCode(err))
		}
		if err := put(ctx, b.c, a.bucket, "media/evil.txt", "B was here"); err == nil {
			t.Error("B wrote into A's bucket")
		} else {
			t.Logf("B writes into A's bucket: %s", errCode(err))
		}
		if _, err := b.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(a.bucket), Key: aws.String("media/a.txt")}); err != nil {
			t.Logf("B deletes A's object: %s", errCode(err))
		}
		if _, err := b.c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(a.bucket)}); err != nil {
			t.Logf("B deletes A's bucket: %s", errCode(err))
		}
		if _, err := b.c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String(a.bucket),
			Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:*"],"Resource":["arn:aws:s3:::` + a.bucket + `/*"]}]}`)}); err == nil {
			t.Error("B rewrote A's bucket policy")
		}
		lb, err := b.c.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err == nil {
			for _, bk := range lb.Buckets {
				if aws.ToString(bk.Name) == a.bucket {
					t.Error("B's bucket list shows A's bucket")
				}
			}
		}
		// A's object is still there, unchanged, and B wrote nothing.
		if got, err := get(ctx, a.c, a.bucket, "media/a.txt"); err != nil || got != "tenant A's object" {
			t.Fatalf("A's object after B's attempts: %q, %v", got, err)
		}
		if _, err := get(ctx, a.c, a.bucket, "media/evil.txt"); err == nil {
			t.Error("B's object is in A's bucket")
		}
		// Wrong secret for A's account: refused.
		forged := objectstore.Client(st.Endpoint(), st.Region(), a.access, "not-the-secret", http.DefaultClient)
		if _, err := get(ctx, forged, a.bucket, "media/a.txt"); err == nil {
			t.Error("A's object was read with a forged secret")
		}
		// The admin API refuses anonymous requests and a tenant's keys.
		req, _ := http.NewRequest(http.MethodPatch, st.Endpoint()+"/create-user",
			strings.NewReader("<Account><Access>EVIL</Access><Secret>evil-secret-0123456789</Secret><Role>admin</Role></Account>"))
		if resp, err := http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		} else if resp.Body.Close(); resp.StatusCode < 400 {
			t.Errorf("an anonymous create-user answered %s", resp.Status)
		}
		if _, err := objectstore.Client(st.Endpoint(), st.Region(), "EVIL", "evil-secret-0123456789", http.DefaultClient).ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			t.Error("an anonymously made admin account authenticates")
		}
		if err := objectstore.New(objectstore.Config{Endpoint: st.Endpoint(), AccessKey: b.access, SecretKey: platform.Secret(b.secret)}).
			CreateBucket(ctx, "wharf-00000000000000dd", "WHARF00000000000000DD", "x-secret-0123456789"); err == nil {
			t.Error("B's keys made an account and bucket through the admin API")
		}
	})

	t.Run("public objects", func(t *testing.T) {
		if err := put(ctx, a.c, a.bucket, platform.StoragePublicPrefix+"logo.txt", "public logo"); err != nil {
			t.Fatalf("put public object: %v", err)
		}
		for _, c := range []struct {
			url    string
			status int
			body   string
		}{
			{st.PublicURL(a.bucket) + "logo.txt", 200, "public logo"},
			{st.Endpoint() + "/" + a.bucket + "/media/a.txt", 403, ""}, // private key
			{st.Endpoint() + "/" + a.bucket + "/", 403, ""},            // no anonymous listing
		} {
			resp, err := http.Get(c.url)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.status || (c.body != "" && string(body) != c.body) {
				t.Errorf("GET %s: %d %q, want %d %q", c.url, resp.StatusCode, body, c.status, c.body)
			}
		}
		if !strings.HasPrefix(st.PublicURL(a.bucket), o.Endpoint()+"/"+a.bucket+"/") {
			t.Errorf("public URL %s is not under the bucket", st.PublicURL(a.bucket))
		}
	})

	t.Run("archive and restore", func(t *testing.T) {
		key := platform.Ref("acme", "shop", "live").StorageBackupKey("media", "b1")
		digest, size, err := st.ArchiveBucket(ctx, a.bucket, key)
		if err != nil || size == 0 || !strings.HasPrefix(digest, "sha256:") {
			t.Fatalf("archive: %q %d %v", digest, size, err)
		}
		// The archive is the root account's: neither tenant reaches it.
		for _, tn := range []tenant{a, b} {
			if _, err := get(ctx, tn.c, platform.StorageBackupBucket, key); err == nil {
				t.Errorf("%s read an archive", tn.access)
			}
		}
		if err := put(ctx, a.c, a.bucket, "media/a.txt", "changed"); err != nil {
			t.Fatal(err)
		}
		// Into B's bucket (another instance), then back into A's.
		if err := st.RestoreArchive(ctx, key, b.bucket); err != nil {
			t.Fatalf("restore into B: %v", err)
		}
		if got, err := get(ctx, b.c, b.bucket, "media/a.txt"); err != nil || got != "tenant A's object" {
			t.Errorf("B's bucket after the restore: %q, %v", got, err)
		}
		if err := st.RestoreArchive(ctx, key, a.bucket); err != nil {
			t.Fatalf("restore into A: %v", err)
		}
		if got, err := get(ctx, a.c, a.bucket, "media/a.txt"); err != nil || got != "tenant A's object" {
			t.Errorf("A's object after the restore: %q, %v", got, err)
		}
		if got := anonGet(t, st.PublicURL(b.bucket)+"logo.txt"); got != "public logo" {
			t.Errorf("the restored public object: %q", got)
		}
		if err := st.DeleteArchive(ctx, key); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteArchive(ctx, key); err != nil {
			t.Fatalf("delete the archive again: %v", err)
		}
		if err := st.RestoreArchive(ctx, key, a.bucket); err == nil {
			t.Error("a deleted archive was restored")
		}
	})

	t.Run("delete", func(t *testing.T) {
		for i := range 3 {
			if err := put(ctx, a.c, a.bucket, "many/"+string(rune('a'+i)), "x"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := a.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(a.bucket), Key: aws.String("big")}); err != nil {
			t.Fatalf("start an upload: %v", err)
		}
		if err := st.DeleteBucket(ctx, a.bucket, a.access); err != nil {
			t.Fatalf("delete bucket: %v", err)
		}
		if err := st.DeleteBucket(ctx, a.bucket, a.access); err != nil {
			t.Fatalf("delete bucket again: %v", err)
		}
		root := objectstore.Client(st.Endpoint(), st.Region(), o.AccessKey, o.SecretKey, http.DefaultClient)
		if _, err := root.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(a.bucket)}); err == nil {
			t.Error("the bucket is still there")
		}
		if _, err := a.c.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			t.Error("the deleted account's keys still authenticate")
		}
		// B's bucket is untouched.
		if err := put(ctx, b.c, b.bucket, "k", "v"); err != nil {
			t.Errorf("B's bucket after A's deletion: %v", err)
		}
		var buf bytes.Buffer
		lb, err := root.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, bk := range lb.Buckets {
			buf.WriteString(aws.ToString(bk.Name) + " ")
		}
		if strings.Contains(buf.String(), a.bucket) || !strings.Contains(buf.String(), b.bucket) {
			t.Errorf("buckets left: %s", buf.String())
		}
	})
}

func anonGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
