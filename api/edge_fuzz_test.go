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

// echoModel is a stand-in for the model at the HTTP edge, for fuzzing the edge alone:
// it authenticates anyone and hands back what it was given. Any other method panics,
// which the fuzz target reports as a 500.
type echoModel struct{ api.Model }

func (echoModel) Authenticate(context.Context, string) (platform.Principal, error) {
	return platform.Principal{Person: "fuzz"}, nil
}

func (echoModel) CreateEnvironment(_ context.Context, _ platform.Principal, org, app string, in platform.Environment) (platform.Environment, error) {
	in.Org, in.App = org, app
	return in, nil
}

func (echoModel) UpdateEnvironment(_ context.Context, _ platform.Principal, ref platform.EnvRef, patch platform.EnvironmentPatch, _ uint64) (platform.Environment, error) {
	e := platform.Environment{Org: ref.Org, App: ref.App, Name: ref.Env}
	if patch.Processes != nil {
		e.Processes = *patch.Processes
	}
	return e, nil
}

func (echoModel) PutVariable(_ context.Context, _ platform.Principal, _ platform.EnvRef, name string, in platform.VariableInput, _ uint64) (platform.Variable, bool, error) {
	return platform.Variable{Name: name, Secret: in.Secret}, true, nil
}

// FuzzRequestDecoding sends arbitrary bodies, content types and If-Match headers
// through the whole HTTP edge (body limit, strict decoding, error handler): the answer
// is always a success or a 4xx problem+json, never a 5xx or a panic.
func FuzzRequestDecoding(f *testing.F) {
	for _, s := range []struct {
		route         uint8
		body, ct, etg string
	}{
		{0, `{"name":"staging","processes":{"web":{"instances":1}}}`, "application/json", ""},
		{1, `{"processes":{"web":{"instances":"x"}}}`, "application/json", `"12"`},
		{2, `{"value":"v","secret":true}`, "application/json; charset=utf-8", "*"},
		{2, `{"value":`, "text/plain", "W/\"1\""},
		{0, `{"NAME":"x"}`, "", ""},
	} {
		f.Add(s.route, []byte(s.body), s.ct, s.etg)
	}
	e := api.New(api.Config{Model: echoModel{}, Health: fixedHealth{Healthy: true}, BodyLimit: "4K"})
	routes := []struct{ method, path string }{
		{"POST", "/v1/orgs/o/apps/a/envs"},
		{"PATCH", "/v1/orgs/o/apps/a/envs/e"},
		{"PUT", "/v1/orgs/o/apps/a/envs/e/vars/V"},
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte, contentType, ifMatch string) {
		r := routes[int(route)%len(routes)]
		req := httptest.NewRequest(r.method, r.path, strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer x")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %s with %q (%q, If-Match %q) = %d: %s", r.method, r.path, body, contentType, ifMatch, rec.Code, rec.Body)
		case rec.Code >= 400:
			var p api.Problem
			if rec.Header().Get("Content-Type") != api.ProblemContentType || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != rec.Code || p.Code == "" {
				t.Fatalf("a %d that is not problem+json: %s", rec.Code, rec.Body)
			}
		case rec.Code != http.StatusOK && rec.Code != http.StatusCreated:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
