package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	consulapi "github.com/hashicorp/consul/api"

	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/objectstore"
)

// s3Report is what the test application (testdata/s3app) answers at /report.
type s3Report struct {
	HasDSN    bool   `json:"has_dsn"`
	Bucket    string `json:"bucket"`
	Endpoint  string `json:"endpoint"`
	PublicURL string `json:"public_url"`
	EnvSame   bool   `json:"env_same"`
	Error     string `json:"error"`
}

type storageService struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Prefix          string `json:"prefix"`
	State           string `json:"state"`
	Bucket          string `json:"bucket"`
	Endpoint        string `json:"endpoint"`
	PublicURL       string `json:"public_url"`
	CredentialsRole string `json:"credentials_role"`
}

// TestStorage attaches a storage instance (kind storage) to an environment of each of
// two applications and deploys the test application to both, through the real wharfd,
// Vault, Nomad, Docker and the object store (versitygw): each writes and reads objects
// of its own bucket with a real S3 client configured only from what it was given
// (DEFAULT_STORAGE_DSN, and AWS_*/S3_* saying the same); each is refused on the other's
// bucket, from inside its task and with its keys anywhere; a public object answers an
// anonymous GET at the instance's public URL, a private one does not; another
// organisation cannot see, detach, attach or remove the instance through the API;
// detaching and attaching take effect with the next deploy; removal needs confirmation
// and leaves no object, bucket, account or key; deleting the environment does the same.
// No key reaches Consul KV, wharfd's log or an API response.
func TestStorage(t *testing.T) {
	s := agenttest.Stack(t)
	image := buildStaticImage(t, "s3app")
	token := bootstrap(t, s)
	// The daily backup comes round once, two minutes from now: after the instances are
	// made, and at one known minute, so it cannot prune the backup the test takes itself.
	due := time.Now().UTC().Add(2 * time.Minute)
	w := startWharfd(t, s, "-backup-schedule", fmt.Sprintf("%d %d * * *", due.Minute(), due.Hour()), "-backup-interval", "2s",
		"-deploy-healthy-deadline", "30s", "-deploy-progress-deadline", "60s", "-log-level", "debug")
	c := &client{t: t, url: w.URL, token: token}
	var responses []string
	call := func(want int, method, path string, body any) json.RawMessage {
		t.Helper()
		var raw json.RawMessage
		if got := c.do(method, path, body, &raw); got != want {
			t.Fatalf("%s %s = %d, want %d: %s", method, path, got, want, raw)
		}
		responses = append(responses, string(raw))
		return raw
	}
	ctx := context.Background()
	root := objectstore.Client(s.ObjectStore.Endpoint(), s.ObjectStore.Region, s.ObjectStore.AccessKey, s.ObjectStore.SecretKey, http.DefaultClient)
	bucketExists := func(b string) bool {
		_, err := root.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(b)})
		return err == nil
	}

	call(201, "POST", "/v1/cloudspaces", map[string]any{"name": "local", "vendor": "on-premises", "location": "test", "tenancy": "public",
		"region": s.Nomad.Region, "node_pool": "default", "ingress_domain": "localhost", "registry": s.Registry.Addr})
	call(201, "POST", "/v1/plans", map[string]any{"name": "dev", "limits": map[string]int{"environments": 3, "instances_per_process": 2, "memory_mb_per_instance": 128, "service_instances": 2}})
	call(201, "POST", "/v1/orgs", map[string]any{"name": "acme"})
	envPath := func(app string) string { return "/v1/orgs/acme/apps/" + app + "/envs/review" }
	svc := map[string]storageService{}
	for _, app := range []string{"one", "two"} {
		call(201, "POST", "/v1/orgs/acme/apps", map[string]any{"name": app, "cloudspace": "local", "plan": "dev"})
		call(201, "POST", "/v1/orgs/acme/apps/"+app+"/envs", map[string]any{"name": "review"})
		call(200, "POST", envPath(app)+"/scale", map[string]any{"processes": map[string]any{"web": map[string]int{"instances": 1, "memory_mb": 64}}})
		var sv storageService
		json.Unmarshal(call(201, "POST", envPath(app)+"/services", map[string]any{"name": "media", "kind": "storage"}), &sv)
		if sv.State != "attached" || sv.Kind != "storage" || sv.Prefix != "DEFAULT" || !bucketExists(sv.Bucket) ||
			!strings.HasPrefix(sv.PublicURL, s.ObjectStore.Endpoint()+"/"+sv.Bucket+"/") {
			t.Fatalf("attach %s: %+v", app, sv)
		}
		svc[app] = sv
	}
	env1, env2 := envPath("one"), envPath("two")
	if svc["one"].Bucket == svc["two"].Bucket {
		t.Fatalf("two instances share bucket %s", svc["one"].Bucket)
	}

	t.Run("plan limit, prefixes and kinds", func(t *testing.T) {
		call(409, "POST", env1+"/services", map[string]any{"name": "media2", "kind": "storage"}) // DEFAULT is taken for storage
		call(400, "POST", env1+"/services", map[string]any{"name": "media2", "kind": "nfs"})
		var extra storageService
		json.Unmarshal(call(201, "POST", env1+"/services", map[string]any{"name": "archive", "kind": "storage", "prefix": "ARCHIVE"}), &extra)
		call(422, "POST", env1+"/services", map[string]any{"name": "third", "kind": "storage", "prefix": "THIRD"})
		call(400, "DELETE", env1+"/services/archive?confirm=media", nil)
		call(204, "DELETE", env1+"/services/archive?confirm=archive", nil)
		if bucketExists(extra.Bucket) {
			t.Errorf("the removed instance's bucket %s survives", extra.Bucket)
		}
	})

	for _, app := range []string{"one", "two"} {
		var d deploy
		json.Unmarshal(call(202, "POST", envPath(app)+"/deploys", map[string]any{"image": image}), &d)
		if d = c.follow(envPath(app), d.ID); d.Status != "succeeded" {
			t.Fatalf("deploy %s: %s (%s)", app, d.Status, d.Error)
		}
	}
	url1 := appURL(t, s, platform.Ref("acme", "one", "review").ServiceName())
	url2 := appURL(t, s, platform.Ref("acme", "two", "review").ServiceName())
	for app, u := range map[string]string{"one": url1, "two": url2} {
		var r s3Report
		json.Unmarshal([]byte(httpGet(t, u+"/report")), &r)
		if !r.HasDSN || r.Error != "" || r.Bucket != svc[app].Bucket || r.Endpoint != s.ObjectStore.Endpoint() || r.PublicURL != svc[app].PublicURL || !r.EnvSame {
			t.Fatalf("app %s reports %+v (instance %+v)", app, r, svc[app])
		}
		if got := appDo(t, "PUT", u+"/objects/media/hello.txt", "hello from "+app); got.status != 201 {
			t.Fatalf("app %s writes an object: %d %s", app, got.status, got.body)
		}
		if got := appDo(t, "GET", u+"/objects/media/hello.txt", ""); got.status != 200 || got.body != "hello from "+app {
			t.Fatalf("app %s reads its object: %d %q", app, got.status, got.body)
		}
		if got := httpGet(t, u+"/list"); !strings.Contains(got, "media/hello.txt") {
			t.Fatalf("app %s lists %s", app, got)
		}
	}
	dsn1, dsn2 := httpGet(t, url1+"/dsn"), httpGet(t, url2+"/dsn")
	keys := func(dsn string) (string, string) {
		u, err := url.Parse(dsn)
		if err != nil || u.User == nil {
			t.Fatalf("the DSN does not parse")
		}
		pw, _ := u.User.Password()
		return u.User.Username(), pw
	}
	key1, secret1 := keys(dsn1)
	_, secret2 := keys(dsn2)

	var mallory string // another organisation's owner's token
	t.Run("hostile tenant: one application's keys reach nothing of another's bucket", func(t *testing.T) {
		// From inside each application's task, with its own keys, against the other's
		// bucket.
		for _, c := range []struct{ from, url, to string }{{"one", url1, "two"}, {"two", url2, "one"}} {
			var tried map[string]string
			json.Unmarshal([]byte(httpGet(t, c.url+"/try?bucket="+svc[c.to].Bucket+"&key=media/hello.txt")), &tried)
			for _, op := range []string{"list", "get", "put", "delete"} {
				if tried[op] != "AccessDenied" {
					t.Errorf("app %s's %s on app %s's bucket: %q, want AccessDenied", c.from, op, c.to, tried[op])
				}
			}
		}
		// With app one's keys from anywhere, every S3 verb on app two's bucket.
		as1 := objectstore.Client(s.ObjectStore.Endpoint(), s.ObjectStore.Region, key1, secret1, http.DefaultClient)
		b2 := aws.String(svc["two"].Bucket)
		if _, err := as1.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b2}); err == nil {
			t.Error("app one's keys list app two's bucket")
		}
		if _, err := as1.GetObject(ctx, &s3.GetObjectInput{Bucket: b2, Key: aws.String("media/hello.txt")}); err == nil {
			t.Error("app one's keys read app two's object")
		}
		if _, err := as1.PutObject(ctx, &s3.PutObjectInput{Bucket: b2, Key: aws.String("x"), Body: strings.NewReader("x")}); err == nil {
			t.Error("app one's keys write into app two's bucket")
		}
		as1.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b2, Key: aws.String("media/hello.txt")})
		as1.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b2})
		if _, err := as1.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("wharf-00000000000000ff")}); err == nil {
			t.Error("app one's keys created a bucket")
		}
		// Each one's object is still there, and nothing of the other's was written.
		if got := appDo(t, "GET", url2+"/objects/media/hello.txt", ""); got.status != 200 || got.body != "hello from two" {
			t.Errorf("app two's object after the attempts: %d %q", got.status, got.body)
		}
		if got := httpGet(t, url2+"/list"); strings.Contains(got, "intruder") || strings.Contains(got, `"x"`) {
			t.Errorf("app two's bucket holds another's objects: %s", got)
		}
		// And app one still reaches its own (so the refusals are about the bucket).
		if got := appDo(t, "GET", url1+"/objects/media/hello.txt", ""); got.status != 200 || got.body != "hello from one" {
			t.Errorf("app one's own object: %d %s", got.status, got.body)
		}
		if got := httpGet(t, url1+"/list"); strings.Contains(got, "intruder") {
			t.Errorf("app one's bucket holds another's objects: %s", got)
		}

		// Another organisation's owner cannot see or act on the instance through the API.
		evil := isoPerson(t, c, "mallory")
		mallory = evil.token
		evil.must(201, "POST", "/v1/orgs", map[string]any{"name": "evil"}, nil)
		for _, r := range []struct{ method, path string }{
			{"GET", env1 + "/services"}, {"GET", env1 + "/services/media"},
			{"POST", env1 + "/services/media/detach"}, {"POST", env1 + "/services/media/attach"},
			{"DELETE", env1 + "/services/media?confirm=media"},
		} {
			var raw json.RawMessage
			if got := evil.do(r.method, r.path, nil, &raw); got != 404 {
				t.Errorf("mallory's %s %s = %d, want 404: %s", r.method, r.path, got, raw)
			}
		}
		if got := evil.do("POST", env1+"/services", map[string]any{"name": "steal", "kind": "storage"}, nil); got != 404 {
			t.Errorf("mallory attached an instance to acme's environment: %d", got)
		}
		if got := evil.do("POST", env1+"/services/media/backups/b1/restore", map[string]any{}, nil); got != 404 {
			t.Errorf("mallory's restore of acme's instance = %d, want 404", got)
		}
		if got := evil.do("POST", env1+"/services/media/backups", nil, nil); got != 404 {
			t.Errorf("mallory's backup of acme's instance = %d, want 404", got)
		}
		if got := evil.do("GET", env1+"/services/media/backups", nil, nil); got != 404 {
			t.Errorf("mallory's list of acme's backups = %d, want 404", got)
		}
		var sv storageService
		json.Unmarshal(call(200, "GET", env1+"/services/media", nil), &sv)
		if sv.State != "attached" || !bucketExists(sv.Bucket) {
			t.Errorf("after mallory's attempts the instance is %+v", sv)
		}
	})

	t.Run("public objects answer anonymous requests, private ones do not", func(t *testing.T) {
		if got := appDo(t, "PUT", url1+"/objects/"+platform.StoragePublicPrefix+"logo.txt", "public logo"); got.status != 201 {
			t.Fatalf("write a public object: %d %s", got.status, got.body)
		}
		if got := anonGet(t, svc["one"].PublicURL+"logo.txt"); got.status != 200 || got.body != "public logo" {
			t.Errorf("GET %slogo.txt: %d %q", svc["one"].PublicURL, got.status, got.body)
		}
		for _, u := range []string{
			s.ObjectStore.Endpoint() + "/" + svc["one"].Bucket + "/media/hello.txt",
			s.ObjectStore.Endpoint() + "/" + svc["one"].Bucket + "/",
		} {
			if got := anonGet(t, u); got.status != 403 {
				t.Errorf("anonymous GET %s: %d %q, want 403", u, got.status, got.body)
			}
		}
	})

	t.Run("detaching and attaching take effect with the next deploy", func(t *testing.T) {
		var sv storageService
		json.Unmarshal(call(200, "POST", env2+"/services/media/detach", nil), &sv)
		if sv.State != "detaching" {
			t.Fatalf("detach: %+v", sv)
		}
		redeploy := func() string {
			var d deploy
			json.Unmarshal(call(202, "POST", env2+"/deploys", map[string]any{"image": image}), &d)
			if d = c.follow(env2, d.ID); d.Status != "succeeded" {
				t.Fatalf("deploy: %s (%s)", d.Status, d.Error)
			}
			return appURL(t, s, platform.Ref("acme", "two", "review").ServiceName())
		}
		u := redeploy()
		json.Unmarshal(call(200, "GET", env2+"/services/media", nil), &sv)
		var r s3Report
		json.Unmarshal([]byte(httpGet(t, u+"/report")), &r)
		if sv.State != "detached" || r.HasDSN || !bucketExists(svc["two"].Bucket) {
			t.Errorf("after detaching and a deploy: instance %s, app reports %+v, bucket kept %v", sv.State, r, bucketExists(svc["two"].Bucket))
		}
		json.Unmarshal(call(200, "POST", env2+"/services/media/attach", nil), &sv)
		u = redeploy()
		if got := appDo(t, "GET", u+"/objects/media/hello.txt", ""); got.status != 200 || got.body != "hello from two" {
			t.Errorf("after attaching again, app two reads %d %q", got.status, got.body)
		}
		url2 = u
	})

	archives := func(prefix string) []string {
		var keys []string
		out, err := root.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(platform.StorageBackupBucket), Prefix: aws.String(prefix)})
		if err != nil && !strings.Contains(err.Error(), "NoSuchBucket") {
			t.Fatalf("list the archives: %v", err)
		}
		if out != nil {
			for _, o := range out.Contents {
				keys = append(keys, aws.ToString(o.Key))
			}
		}
		return keys
	}

	t.Run("backups: scheduled, on demand, restored into the instance and into another", func(t *testing.T) {
		type backup struct {
			ID      string `json:"id"`
			Trigger string `json:"trigger"`
			Digest  string `json:"digest"`
			Size    int    `json:"size"`
		}
		list := func(env string) []backup {
			var page struct {
				Items []backup `json:"items"`
			}
			json.Unmarshal(call(200, "GET", env+"/services/media/backups", nil), &page)
			return page.Items
		}
		var scheduled backup
		waitFor(t, "the scheduled backup of app one's bucket", func() bool {
			for _, b := range list(env1) {
				if b.Trigger == "scheduled" {
					scheduled = b
					return true
				}
			}
			return false
		})
		if scheduled.Size == 0 || len(archives("acme/one/review/media/")) != 1 {
			t.Errorf("scheduled backup %+v, archives %v", scheduled, archives("acme/one/review/media/"))
		}
		var bk backup
		json.Unmarshal(call(201, "POST", env1+"/services/media/backups", nil), &bk)
		if bk.Trigger != "manual" || bk.Size == 0 || !strings.HasPrefix(bk.Digest, "sha256:") {
			t.Fatalf("backup: %+v", bk)
		}
		// The retention keeps the newest of the day: the scheduled one and its archive go.
		if got := list(env1); len(got) != 1 || got[0].ID != bk.ID {
			t.Errorf("backups after a second one the same day: %+v", got)
		}
		if got := archives("acme/one/review/media/"); len(got) != 1 || !strings.Contains(got[0], bk.ID) {
			t.Errorf("archives after the retention: %v", got)
		}
		appDo(t, "PUT", url1+"/objects/media/hello.txt", "changed")
		appDo(t, "PUT", url1+"/objects/media/extra.txt", "extra")
		call(200, "POST", env1+"/services/media/backups/"+bk.ID+"/restore", map[string]any{})
		if got := appDo(t, "GET", url1+"/objects/media/hello.txt", ""); got.body != "hello from one" {
			t.Errorf("after the restore app one reads %d %q", got.status, got.body)
		}
		if got := appDo(t, "GET", url1+"/objects/media/extra.txt", ""); got.body != "extra" {
			t.Errorf("the restore removed an object the backup did not hold: %d %q", got.status, got.body)
		}
		// Into another application's instance of the organisation.
		call(200, "POST", env1+"/services/media/backups/"+bk.ID+"/restore", map[string]any{"app": "two", "env": "review", "service": "media"})
		if got := appDo(t, "GET", url2+"/objects/media/hello.txt", ""); got.body != "hello from one" {
			t.Errorf("after restoring app one's backup into app two, it reads %d %q", got.status, got.body)
		}
		if got := appDo(t, "GET", url2+"/objects/"+platform.StoragePublicPrefix+"logo.txt", ""); got.body != "public logo" {
			t.Errorf("app two lacks the restored public object: %d %q", got.status, got.body)
		}
		// Not into a database, nor from another organisation.
		call(404, "POST", env1+"/services/media/backups/"+bk.ID+"/restore", map[string]any{"app": "two", "env": "review", "service": "nothing"})
		evil := &client{t: t, url: w.URL, token: mallory}
		if got := evil.do("POST", env1+"/services/media/backups/"+bk.ID+"/restore", map[string]any{"app": "two", "env": "review", "service": "media"}, nil); got != 404 {
			t.Errorf("mallory restored acme's backup: %d", got)
		}
	})

	t.Run("removal needs confirmation and leaves no object, bucket, account or key", func(t *testing.T) {
		call(400, "DELETE", env1+"/services/media", nil)
		call(204, "DELETE", env1+"/services/media?confirm=media", nil)
		call(404, "GET", env1+"/services/media", nil)
		if bucketExists(svc["one"].Bucket) {
			t.Errorf("bucket %s survives its instance", svc["one"].Bucket)
		}
		as1 := objectstore.Client(s.ObjectStore.Endpoint(), s.ObjectStore.Region, key1, secret1, http.DefaultClient)
		if _, err := as1.ListBuckets(ctx, &s3.ListBucketsInput{}); err == nil {
			t.Error("app one's keys still authenticate")
		}
		if got := anonGet(t, svc["one"].PublicURL+"logo.txt"); got.status == 200 {
			t.Error("the public object survives")
		}
		vc, _ := s.Vault.Client()
		if sec, err := vc.Logical().Read("secret/data/" + platform.StorageCredentialsPath(svc["one"].CredentialsRole)); err != nil || sec != nil {
			t.Errorf("the instance's keys survive in Vault: %v %v", sec, err)
		}
		if got := archives("acme/one/review/media/"); len(got) != 0 {
			t.Errorf("the instance's backups survive it: %v", got)
		}
	})

	t.Run("deleting the environment deletes its buckets and keys", func(t *testing.T) {
		vc, _ := s.Vault.Client()
		path := "secret/data/" + platform.StorageCredentialsPath(svc["two"].CredentialsRole)
		if sec, err := vc.Logical().Read(path); err != nil || sec == nil {
			t.Fatalf("app two's keys are not in Vault before (so the check below proves nothing): %v", err)
		}
		call(204, "DELETE", env2, nil)
		if bucketExists(svc["two"].Bucket) {
			t.Errorf("bucket %s survives its environment", svc["two"].Bucket)
		}
		if sec, err := vc.Logical().Read(path); err != nil || sec != nil {
			t.Errorf("app two's keys survive in Vault: %v %v", sec, err)
		}
		lb, err := root.ListBuckets(ctx, &s3.ListBucketsInput{})
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range lb.Buckets {
			if aws.ToString(b.Name) != platform.StorageBackupBucket {
				t.Errorf("bucket %s is left in the store", aws.ToString(b.Name))
			}
		}
		if got := archives(""); len(got) != 0 {
			t.Errorf("archives left in the store: %v", got)
		}
	})

	t.Run("no key in Consul KV, wharfd's log or an API response", func(t *testing.T) {
		forbidden := map[string]string{
			"app one's secret key": secret1, "app two's secret key": secret2,
			"the object store's root secret key": s.ObjectStore.SecretKey,
		}
		cc, _ := consulapi.NewClient(&consulapi.Config{Address: s.Consul.Addr, Token: s.Consul.ManagementToken})
		pairs, _, err := cc.KV().List("", nil)
		if err != nil || len(pairs) == 0 {
			t.Fatalf("read Consul KV: %d keys, %v", len(pairs), err)
		}
		var kv strings.Builder
		for _, p := range pairs {
			kv.WriteString(p.Key + "=" + string(p.Value) + "\n")
		}
		if !strings.Contains(kv.String(), svc["one"].Bucket) {
			t.Fatalf("Consul KV does not hold the instances' releases (so its check proves nothing)")
		}
		for what, v := range forbidden {
			if len(v) < 16 {
				t.Fatalf("%s is too short to look for", what)
			}
			if strings.Contains(kv.String(), v) {
				t.Errorf("%s is in Consul KV", what)
			}
			if strings.Contains(w.Log(), v) {
				t.Errorf("%s is in wharfd's log", what)
			}
			for _, r := range responses {
				if strings.Contains(r, v) {
					t.Errorf("%s is in an API response: %s", what, r)
				}
			}
		}
	})
}

type appResponse struct {
	status int
	body   string
}

// appDo sends body (when not empty) to the test application.
func appDo(t *testing.T, method, u, body string) appResponse {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return appResponse{resp.StatusCode, strings.TrimSpace(string(b))}
}

// anonGet GETs u with no credentials.
func anonGet(t *testing.T, u string) appResponse { return appDo(t, "GET", u, "") }
