package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/internal/agenttest"
	"github.com/wharf-platform/wharf/platform"
	"github.com/wharf-platform/wharf/platform/consul"
)

// newEdgeStack is a real Consul with the API in front of it, builds and domains served
// by a Deployer without a scheduler (nothing here reaches one).
func newEdgeStack(t *testing.T) *stack {
	t.Helper()
	ca := agenttest.Consul(t)
	cc, err := consul.New(consul.Config{Address: ca.Addr, Token: ca.WharfdToken})
	if err != nil {
		t.Fatal(err)
	}
	model := &platform.Service{KV: cc.Store(consul.DefaultPrefix)}
	_, token, err := model.Bootstrap(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := &platform.Deployer{Service: model}
	s := &stack{h: api.New(api.Config{Model: model, Builds: d, Domains: d, Health: fixedHealth{Healthy: true}})}
	s.admin = client{s: s, token: token.Reveal()}
	s.admin.do(t, 201, "POST", "/v1/cloudspaces", `{"name":"local","vendor":"on-premises","location":"Lab","tenancy":"public","region":"local","ingress_domain":"apps.local.test","registry":"127.0.0.1:15000"}`)
	s.admin.do(t, 201, "POST", "/v1/plans", `{"name":"tiny","limits":{"environments":2,"instances_per_process":1,"memory_mb_per_instance":64,"service_instances":0,"custom_domains":2,"upload_mb":1}}`)
	return s
}

// countingBody counts what a handler reads of a request body.
type countingBody struct {
	r    io.Reader
	read int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

// TestEdges holds the edge to its limits: an upload is authorised before a byte of it
// is read and is held to the plan's upload limit; custom domains to the plan's limit;
// expired tokens are refused.
func TestEdges(t *testing.T) {
	s := newEdgeStack(t)
	owner := s.person(t, "edge-owner")
	viewer := s.person(t, "edge-viewer")
	stranger := s.person(t, "edge-stranger")
	owner.do(t, 201, "POST", "/v1/orgs", `{"name":"edge"}`)
	owner.do(t, 201, "POST", "/v1/orgs/edge/apps", `{"name":"shop","cloudspace":"local","plan":"tiny"}`)
	owner.do(t, 200, "PUT", "/v1/orgs/edge/members/edge-viewer", `{"role":"viewer"}`)

	t.Run("uploads are authorised before they are read", func(t *testing.T) {
		upload := func(c client, path string, size int) (int, int) {
			body := &countingBody{r: strings.NewReader(strings.Repeat("x", size))}
			req := httptest.NewRequest(http.MethodPost, path, body)
			req.ContentLength = int64(size) // as a client sends it
			req.Header.Set("Content-Type", api.UploadContentType)
			req.Header.Set("Authorization", "Bearer "+c.token)
			rec := httptest.NewRecorder()
			s.h.ServeHTTP(rec, req)
			return rec.Code, body.read
		}
		for _, tt := range []struct {
			name   string
			who    client
			path   string
			size   int
			status int
		}{
			{"a viewer", viewer, "/v1/orgs/edge/apps/shop/builds", 4 << 20, 403},
			{"a viewer deploying", viewer, "/v1/orgs/edge/apps/shop/envs/test/deploys/source", 4 << 20, 403},
			{"a stranger", stranger, "/v1/orgs/edge/apps/shop/builds", 4 << 20, 404},
			{"beyond the plan's 1 MiB", owner, "/v1/orgs/edge/apps/shop/builds", 2 << 20, 413},
		} {
			code, read := upload(tt.who, tt.path, tt.size)
			if code != tt.status || read != 0 {
				t.Errorf("%s: %d after reading %d bytes, want %d having read nothing", tt.name, code, read, tt.status)
			}
		}
	})

	t.Run("custom domains are limited by the plan", func(t *testing.T) {
		owner.do(t, 200, "PUT", "/v1/orgs/edge/apps/shop/envs/test/domains/a.edge.test", `{"primary":true}`)
		owner.do(t, 200, "PUT", "/v1/orgs/edge/apps/shop/envs/test/domains/b.edge.test", `{}`)
		r := owner.do(t, 422, "PUT", "/v1/orgs/edge/apps/shop/envs/test/domains/c.edge.test", `{}`)
		if problemCode(t, r) != "limit_exceeded" {
			t.Errorf("third domain: %s", r.Body)
		}
		// Changing one it has is not adding one.
		owner.do(t, 200, "PUT", "/v1/orgs/edge/apps/shop/envs/test/domains/b.edge.test", `{"primary":true}`)
		owner.do(t, 204, "DELETE", "/v1/orgs/edge/apps/shop/envs/test/domains/a.edge.test", "")
		owner.do(t, 200, "PUT", "/v1/orgs/edge/apps/shop/envs/test/domains/c.edge.test", `{}`)
	})

	t.Run("tokens expire", func(t *testing.T) {
		owner.do(t, 400, "POST", "/v1/people/me/tokens", `{"name":"x","expires_in":0}`)
		owner.do(t, 400, "POST", "/v1/people/me/tokens", `{"name":"x","expires_in":99999999999}`)
		made := owner.do(t, 201, "POST", "/v1/people/me/tokens", `{"name":"short","expires_in":3}`).json(t)
		short := client{s: s, token: made["token"].(string)}
		if made["expires_at"] == nil {
			t.Fatalf("no expires_at: %v", made)
		}
		// A token made with an expiring token expires no later than it.
		child := short.do(t, 201, "POST", "/v1/people/me/tokens", `{"name":"child"}`).json(t)
		if child["expires_at"] != made["expires_at"] {
			t.Errorf("a token made by one expiring at %v expires at %v", made["expires_at"], child["expires_at"])
		}
		short.do(t, 200, "GET", "/v1/orgs", "")
		time.Sleep(3100 * time.Millisecond)
		r := short.do(t, 401, "GET", "/v1/orgs", "")
		if !strings.Contains(string(r.Body), "expired") {
			t.Errorf("expired token: %s", r.Body)
		}
		client{s: s, token: child["token"].(string)}.do(t, 401, "GET", "/v1/orgs", "")
		owner.do(t, 200, "GET", "/v1/orgs", "")
	})
}
