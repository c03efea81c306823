package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/internal/devstack"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/registry"
)

// builds is a read-only store holding build records: what the token endpoint reads to
// know whether a build still runs.
type builds struct {
	mu     sync.Mutex
	status map[string]string // "org/app/id" -> status
}

func (b *builds) Get(_ context.Context, key string) (platform.Record, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id, ok := strings.CutPrefix(key, "builds/")
	st, found := b.status[id]
	if !ok || !found {
		return platform.Record{}, platform.Errorf(platform.NotFound, "no %s", key)
	}
	f := strings.Split(id, "/")
	v, _ := json.Marshal(map[string]any{"schema": 1, "data": platform.Build{ID: f[2], Org: f[0], App: f[1], Status: st}})
	return platform.Record{Key: key, Value: v, Index: 1}, nil
}
func (b *builds) List(context.Context, string) ([]platform.Record, error) { return nil, nil }
func (b *builds) Txn(context.Context, []platform.Op) error {
	return platform.Errorf(platform.Internal, "read-only")
}

func (b *builds) set(id, status string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.status[id] = status
}

// nodeImages is what Nomad would say the node runs.
type nodeImages map[string][]string

func (n nodeImages) NodeImages(_ context.Context, region, node string) ([]string, error) {
	imgs, ok := n[region+"/"+node]
	if !ok {
		return nil, platform.Errorf(platform.NotFound, "no node %s", node)
	}
	return imgs, nil
}

// tokenRegistry starts a real registry whose token realm is wharfd's token endpoint
// (the API's route, over platform.Deployer) in an httptest server, and returns wharfd's
// own client, the issuer, the store of builds and the registry's base URL.
func tokenRegistry(t *testing.T, images nodeImages) (*registry.Client, *registry.Issuer, *builds, string) {
	t.Helper()
	b := agenttest.Binaries(t)
	var handler http.Handler
	realm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(realm.Close)
	r, err := devstack.StartRegistry(devstack.RegistryConfig{Binary: b.Registry, DataDir: t.TempDir(), TokenRealm: realm.URL + "/v1/registry/token",
		Log: func(_, l string) { t.Log("registry: " + l) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	iss, err := registry.LoadIssuer(r.TokenKeyFile, devstack.RegistryTokenIssuer, devstack.RegistryTokenService)
	if err != nil {
		t.Fatal(err)
	}
	store := &builds{status: map[string]string{}}
	own := registry.New(r.Addr, nil).WithIssuer(iss)
	d := &platform.Deployer{Service: &platform.Service{KV: store}, Artifacts: own, Registry: iss, Nodes: images}
	handler = api.New(api.Config{Registry: d})
	return own, iss, store, "http://" + r.Addr
}

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

// call asks the token endpoint as the registry's client would (following the
// registry's challenge, with user and credential as basic authentication), then makes
// the request with the token it got; without a credential it makes it anonymously. It
// returns the registry's status.
func call(t *testing.T, method, u, user, credential string) int {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || credential == "" {
		return resp.StatusCode
	}
	ch := resp.Header.Get("WWW-Authenticate")
	params := map[string]string{}
	for _, m := range challengeParam.FindAllStringSubmatch(ch, -1) {
		params[m[1]] = m[2]
	}
	tu := params["realm"] + "?service=" + url.QueryEscape(params["service"]) + "&scope=" + url.QueryEscape(params["scope"])
	treq, _ := http.NewRequest(http.MethodGet, tu, nil)
	treq.SetBasicAuth(user, credential)
	tresp, err := http.DefaultClient.Do(treq)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	json.NewDecoder(tresp.Body).Decode(&tok)
	tresp.Body.Close()
	if tresp.StatusCode != http.StatusOK {
		return tresp.StatusCode // the token endpoint's own refusal (401, 400)
	}
	req, _ = http.NewRequest(method, u, nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenScopes holds the token endpoint's decisions against a real registry with
// wharfd as its token issuer: what a running build, a build that ended, a node, a
// forged credential and no credential may do, request by request on the registry's
// own HTTP API; and wharfd's own client, which alone deletes.
func TestTokenScopes(t *testing.T) {
	images := nodeImages{}
	own, iss, store, base := tokenRegistry(t, images)
	ctx := context.Background()
	// wharfd's own client puts blobs: a source of acme/shop, a dump of acme/shop, a
	// source of globex/shop, and an "image" blob of each application.
	put := func(repo, content string) string {
		d, err := own.PutBlob(ctx, repo, []byte(content))
		if err != nil {
			t.Fatalf("wharfd's own PutBlob to %s: %v", repo, err)
		}
		return d
	}
	src := put("acme/shop/sources", "acme's source")
	dump := put("acme/shop/backups", "acme's dump")
	globexSrc := put("globex/shop/sources", "globex's source")
	acmeImg := put("acme/shop", "acme's layer")
	acmeOther := put("acme/blog", "acme's other layer")
	globexImg := put("globex/shop", "globex's layer")
	if _, err := own.Probe(ctx); err != nil {
		t.Fatalf("wharfd's own probe: %v", err)
	}
	// Nomad would say node-1 places acme/blog's image (and another registry's).
	images["local/node-1"] = []string{own.Host() + "/acme/blog@" + acmeOther, "127.0.0.1:1/acme/shop@" + acmeImg}
	blob := func(repo, digest string) string { return base + "/v2/" + repo + "/blobs/" + digest }
	upload := func(repo string) string { return base + "/v2/" + repo + "/blobs/uploads/" }

	store.set("acme/shop/b1", platform.BuildRunning)
	build, err := iss.Credential(platform.RegistryCredential{Kind: platform.CredentialBuild, Org: "acme", App: "shop", Build: "b1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nodeCred, _ := iss.Credential(platform.RegistryCredential{Kind: platform.CredentialNode, Region: "local", Node: "node-1"}, time.Hour)
	strangerNode, _ := iss.Credential(platform.RegistryCredential{Kind: platform.CredentialNode, Region: "local", Node: "node-2"}, time.Hour)
	strangerKey := filepath.Join(t.TempDir(), "key.pem")
	if err := registry.GenerateTokenKey(strangerKey, filepath.Join(t.TempDir(), "cert.pem")); err != nil {
		t.Fatal(err)
	}
	stranger, _ := registry.LoadIssuer(strangerKey, devstack.RegistryTokenIssuer, devstack.RegistryTokenService)
	forged, _ := stranger.Credential(platform.RegistryCredential{Kind: platform.CredentialBuild, Org: "acme", App: "shop", Build: "b1"}, time.Hour)
	// A registry token is no credential (another audience).
	regToken, _ := iss.Token("build:acme/shop/b1", []platform.RegistryAccess{{Type: "repository", Name: "acme/shop", Actions: []string{"push"}}}, time.Hour)

	for _, c := range []struct {
		name, method, url, user, cred string
		want                          int
	}{
		{"anonymous catalog", "GET", base + "/v2/_catalog", "", "", 401},
		{"anonymous source", "GET", blob("acme/shop/sources", src), "", "", 401},
		{"anonymous delete", "DELETE", blob("acme/shop/backups", dump), "", "", 401},
		{"anonymous push", "POST", upload("acme/shop"), "", "", 401},

		{"build reads its source", "GET", blob("acme/shop/sources", src), "build", build.Reveal(), 200},
		{"build pulls its image", "GET", blob("acme/shop", acmeImg), "build", build.Reveal(), 200},
		{"build pulls its organisation's image", "GET", blob("acme/blog", acmeOther), "build", build.Reveal(), 200},
		{"build pushes its image", "POST", upload("acme/shop"), "build", build.Reveal(), 202},
		{"build pushes another app's image", "POST", upload("acme/blog"), "build", build.Reveal(), 401},
		{"build pushes another org's image", "POST", upload("globex/shop"), "build", build.Reveal(), 401},
		{"build pulls another org's image", "GET", blob("globex/shop", globexImg), "build", build.Reveal(), 401},
		{"build reads another org's source", "GET", blob("globex/shop/sources", globexSrc), "build", build.Reveal(), 401},
		{"build reads its dumps", "GET", blob("acme/shop/backups", dump), "build", build.Reveal(), 401},
		{"build deletes its source", "DELETE", blob("acme/shop/sources", src), "build", build.Reveal(), 401},
		{"build lists the catalog", "GET", base + "/v2/_catalog", "build", build.Reveal(), 401},
		{"build pushes a source", "POST", upload("acme/shop/sources"), "build", build.Reveal(), 401},
		{"build credential as a node's", "GET", blob("acme/shop", acmeImg), "node", build.Reveal(), 401},

		{"forged build credential", "GET", blob("acme/shop/sources", src), "build", forged.Reveal(), 401},
		{"registry token as a credential", "POST", upload("acme/shop"), "build", regToken, 401},

		{"node pulls the image it places", "GET", blob("acme/blog", acmeOther), "node", nodeCred.Reveal(), 200},
		{"node pulls an image it does not run", "GET", blob("acme/shop", acmeImg), "node", nodeCred.Reveal(), 401},
		{"node pulls another org's image", "GET", blob("globex/shop", globexImg), "node", nodeCred.Reveal(), 401},
		{"node deletes the image it places", "DELETE", blob("acme/blog", acmeOther), "node", nodeCred.Reveal(), 401},
		{"unknown node", "GET", blob("acme/blog", acmeOther), "node", strangerNode.Reveal(), 401},
		{"node reads a source", "GET", blob("acme/shop/sources", src), "node", nodeCred.Reveal(), 401},
		{"node pushes", "POST", upload("acme/shop"), "node", nodeCred.Reveal(), 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := call(t, c.method, c.url, c.user, c.cred); got != c.want {
				t.Errorf("%s %s = %d, want %d", c.method, c.url, got, c.want)
			}
		})
	}

	// A registry token of one scope opens nothing else.
	req, _ := http.NewRequest("GET", blob("acme/shop/sources", src), nil)
	req.Header.Set("Authorization", "Bearer "+regToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("a push token of acme/shop read acme/shop/sources: %v %v", resp.StatusCode, err)
	}

	// The build ends: its credential opens nothing any more.
	store.set("acme/shop/b1", platform.BuildSucceeded)
	if got := call(t, "GET", blob("acme/shop/sources", src), "build", build.Reveal()); got != 401 {
		t.Errorf("an ended build read its source: %d", got)
	}
	if got := call(t, "POST", upload("acme/shop"), "build", build.Reveal()); got != 401 {
		t.Errorf("an ended build pushed: %d", got)
	}

	// wharfd alone deletes.
	if err := own.DeleteBlob(ctx, "acme/shop/backups", dump); err != nil {
		t.Fatalf("wharfd's own delete: %v", err)
	}
	if got := call(t, "GET", blob("acme/shop/backups", dump), "", ""); got != 401 {
		t.Errorf("anonymous GET of a deleted dump = %d", got)
	}
	if ok, err := own.HasManifest(ctx, "acme/shop", "latest"); err != nil || ok {
		t.Errorf("HasManifest of nothing = %v, %v", ok, err)
	}
}
