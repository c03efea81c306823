package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/platform"
)

type fixedHealth platform.Health

func (h fixedHealth) Check(context.Context) platform.Health { return platform.Health(h) }

func serve(t *testing.T, e http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != api.ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q; body %s", ct, api.ProblemContentType, rec.Body)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body: %v: %s", err, rec.Body)
	}
	return p
}

// tokenModel is a stand-in for the model at the edge: "admin" is an administrator's
// token, "dev" anyone else's, and every other value is refused.
type tokenModel struct{ api.Model }

func (tokenModel) Authenticate(_ context.Context, token string) (platform.Principal, error) {
	switch token {
	case "admin":
		return platform.Principal{Person: "admin", Admin: true}, nil
	case "dev":
		return platform.Principal{Person: "dev"}, nil
	}
	return platform.Principal{}, platform.Errorf(platform.Unauthorized, "the bearer token is not valid")
}

// TestHealth holds /v1/health to answering up or down to anyone, and each
// dependency's state (which names internal addresses) only to an administrator.
func TestHealth(t *testing.T) {
	healthy := fixedHealth{Healthy: true, Components: []platform.ComponentStatus{
		{Name: "consul", Healthy: true, Detail: "leader x"},
		{Name: "vault", Healthy: true, Detail: "unsealed"},
	}}
	down := fixedHealth{Healthy: false, Components: []platform.ComponentStatus{
		{Name: "consul", Healthy: true, Detail: "leader 10.0.0.1:8300"},
		{Name: "vault", Healthy: false, Detail: "vault unreachable"},
	}}
	get := func(h fixedHealth, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/health", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		api.New(api.Config{Health: h, Model: tokenModel{}}).ServeHTTP(rec, req)
		return rec
	}

	rec := get(healthy, "admin")
	var h platform.Health
	json.Unmarshal(rec.Body.Bytes(), &h)
	if rec.Code != http.StatusOK || !h.Healthy || len(h.Components) != 2 {
		t.Errorf("healthy, as an administrator: %d %s", rec.Code, rec.Body)
	}
	rec = get(down, "admin")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("vault down, as an administrator: status %d", rec.Code)
	}
	p := decodeProblem(t, rec)
	if p["code"] != "unavailable" || !strings.Contains(p["detail"].(string), "vault") || strings.Contains(p["detail"].(string), "consul") {
		t.Errorf("problem = %v, want code unavailable naming vault only", p)
	}
	if comps, _ := p["components"].([]any); len(comps) != 2 {
		t.Errorf("problem lists components %v, want both", p["components"])
	}

	for _, token := range []string{"", "dev"} {
		rec := get(healthy, token)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "leader") || strings.Contains(rec.Body.String(), "consul") {
			t.Errorf("healthy, token %q: %d %s, want 200 without details", token, rec.Code, rec.Body)
		}
		rec = get(down, token)
		if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "vault") || strings.Contains(rec.Body.String(), "10.0.0.1") {
			t.Errorf("vault down, token %q: %d %s, want 503 without details", token, rec.Code, rec.Body)
		}
	}
	if rec := get(healthy, "wharf_wrong"); rec.Code != http.StatusUnauthorized {
		t.Errorf("a refused token: %d, want 401", rec.Code)
	}
}

func TestProblemResponses(t *testing.T) {
	e := api.New(api.Config{Health: fixedHealth{Healthy: true}, BodyLimit: "1K"})
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown route", http.MethodGet, "/v1/nope", "", 404, "not_found"},
		{"wrong method", http.MethodDelete, "/v1/version", "", 405, "invalid"},
		{"body too large", http.MethodPost, "/v1/health", strings.Repeat("x", 4096), 413, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, e, tt.method, tt.path, tt.body)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			p := decodeProblem(t, rec)
			if p["code"] != tt.code || p["status"] != float64(tt.status) || p["request_id"] == "" || p["instance"] != tt.path {
				t.Errorf("problem = %v", p)
			}
			if rec.Header().Get("X-Request-Id") != p["request_id"] {
				t.Errorf("request id header %q differs from body %v", rec.Header().Get("X-Request-Id"), p["request_id"])
			}
		})
	}
}

func TestVersionAndMetrics(t *testing.T) {
	e := api.New(api.Config{Version: api.Version{Version: "1.2.3", GoVersion: "go"}, Health: fixedHealth{Healthy: true}})
	rec := serve(t, e, http.MethodGet, "/v1/version", "")
	var v api.Version
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || v.Version != "1.2.3" {
		t.Fatalf("version = %s (%v)", rec.Body, err)
	}
	rec = serve(t, e, http.MethodGet, "/metrics", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `wharfd_http_requests_total{code="200",host="example.com",method="GET",url="/v1/version"} 1`) {
		t.Fatalf("metrics do not count the version request:\n%s", rec.Body)
	}
}
