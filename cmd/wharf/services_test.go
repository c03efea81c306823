package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestServices(t *testing.T) {
	var got []string // method, path and query, body
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, strings.TrimSpace(r.Method+" "+r.URL.RequestURI()+" "+string(b)))
		const svcs = "/v1/orgs/acme/apps/shop/envs/test/services"
		switch {
		case r.Method == "GET" && r.URL.Path == svcs:
			io.WriteString(w, `{"items":[{"name":"db","kind":"postgres","prefix":"DEFAULT","state":"ready","database":"acme_shop_test_db"},`+
				`{"name":"media","kind":"storage","prefix":"DEFAULT","state":"attached","bucket":"wharf-00112233445566aa","public_url":"http://s3.test/wharf-00112233445566aa/public/"}]}`)
		case r.Method == "POST" && r.URL.Path == svcs:
			var in map[string]string
			json.Unmarshal(b, &in)
			w.WriteHeader(201)
			out := map[string]string{"name": in["name"], "kind": in["kind"], "prefix": in["prefix"], "state": "provisioning"}
			if out["prefix"] == "" {
				out["prefix"] = "DEFAULT"
			}
			if in["kind"] == "storage" {
				out["public_url"] = "http://s3.test/wharf-00112233445566aa/public/"
			}
			json.NewEncoder(w).Encode(out)
		case r.Method == "DELETE":
			w.WriteHeader(204)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer srv.Close()
	env := map[string]string{"WHARF_ADDR": srv.URL, "WHARF_TOKEN": "t", "HOME": t.TempDir()}
	wharf := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(args, "--app", "acme/shop"), func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
		return code, out.String(), errb.String()
	}
	tests := []struct {
		args    []string
		code    int
		stdout  string
		request string
	}{
		{[]string{"services", "list", "test"}, 0, "NAME   KIND      VARIABLES             STATE     DATABASE/BUCKET         PUBLIC URL                                     ERROR\n" +
			"db     postgres  DEFAULT_DATABASE_DSN  ready     acme_shop_test_db       -                                              -\n" +
			"media  storage   DEFAULT_STORAGE_DSN   attached  wharf-00112233445566aa  http://s3.test/wharf-00112233445566aa/public/  -\n",
			"GET /v1/orgs/acme/apps/shop/envs/test/services?limit=500"},
		{[]string{"services", "add", "test", "cache", "--prefix", "CACHE"}, 0, "Added cache (postgres, provisioning) to acme/shop test: deploy to give the app CACHE_DATABASE_DSN\n",
			`POST /v1/orgs/acme/apps/shop/envs/test/services {"kind":"postgres","name":"cache","prefix":"CACHE"}`},
		{[]string{"services", "add", "test", "media", "--kind", "storage"}, 0, "Added media (storage, provisioning) to acme/shop test: deploy to give the app DEFAULT_STORAGE_DSN\n" +
			"Objects under public/ are served to anyone at http://s3.test/wharf-00112233445566aa/public/<key>\n",
			`POST /v1/orgs/acme/apps/shop/envs/test/services {"kind":"storage","name":"media"}`},
		{[]string{"services", "detach", "test", "db"}, 0, "Detached db in acme/shop test; deploy to apply it\n",
			"POST /v1/orgs/acme/apps/shop/envs/test/services/db/detach"},
		{[]string{"services", "remove", "test", "db"}, exitUsage, "", ""},
		{[]string{"services", "remove", "test", "db", "--confirm", "db"}, 0, "Removed db from acme/shop test\n",
			"DELETE /v1/orgs/acme/apps/shop/envs/test/services/db?confirm=db"},
	}
	for _, tt := range tests {
		got = nil
		code, stdout, stderr := wharf(tt.args...)
		if code != tt.code || stdout != tt.stdout {
			t.Errorf("wharf %s = %d, %q (%s); want %d, %q", strings.Join(tt.args, " "), code, stdout, stderr, tt.code, tt.stdout)
		}
		if req := strings.Join(got, "\n"); req != tt.request {
			t.Errorf("wharf %s sent %q, want %q", strings.Join(tt.args, " "), req, tt.request)
		}
	}
}
