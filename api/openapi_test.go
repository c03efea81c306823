package api_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/api"
	"github.com/wharf-platform/wharf/platform"
)

// TestOpenAPIMatchesRoutes holds the served OpenAPI document to the routes Echo serves
// under /v1: every route is documented, and every documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := api.New(api.Config{Health: fixedHealth{Healthy: true}, Model: &platform.Service{}, Deploys: &platform.Deployer{}, Builds: &platform.Deployer{}, Services: &platform.Deployer{}, Backups: &platform.Backups{}, Domains: &platform.Deployer{}, Runs: &platform.Runs{}, Execs: &platform.Runs{}, EnvMetrics: &platform.Runs{}, GitHooks: &platform.Runs{}, Registry: &platform.Deployer{}})
	rec := serve(t, e, http.MethodGet, "/v1/openapi.json", "")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("GET /v1/openapi.json = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+param.ReplaceAllString(path, ":$1"))
		}
	}
	var served []string
	for _, r := range e.Routes() {
		if strings.HasPrefix(r.Path, "/v1/") && !strings.HasPrefix(r.Method, "echo_") {
			served = append(served, r.Method+" "+r.Path)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not documented: %s", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("documented but not served: %s", d)
		}
	}
	if len(served) < 40 {
		t.Errorf("only %d routes served; the resource routes are missing", len(served))
	}
}
