package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeBuilds is a wharfd stand-in for the source upload: it may declare that deploys
// take a gzipped tarball, records what it is sent, and answers a deploy that succeeds.
type fakeBuilds struct {
	declare  bool
	uploaded []string // the tarball's entries
	ctype    string
}

func (f *fakeBuilds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const env = "/v1/orgs/acme/apps/shop/envs/test"
	switch {
	case r.URL.Path == "/v1/openapi.json":
		source := ""
		if f.declare {
			source = `,"/v1/orgs/{org}/apps/{app}/envs/{env}/deploys/source":{"post":{"requestBody":{"content":{"application/gzip":{}}}}}`
		}
		fmt.Fprintf(w, `{"paths":{"/v1/orgs/{org}/apps/{app}/envs/{env}/deploys":{"post":{"requestBody":{"content":{"application/json":{}}}}}%s}}`, source)
	case r.Method == "POST" && r.URL.Path == env+"/deploys/source":
		f.ctype = r.Header.Get("Content-Type")
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			f.uploaded = append(f.uploaded, h.Name)
		}
		w.WriteHeader(202)
		io.WriteString(w, `{"id":"d1","kind":"release","status":"queued","build":"b1"}`)
	case r.URL.Path == "/v1/orgs/acme/apps/shop/builds/b1/events":
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: log\ndata: \"Step 1/2 : FROM wharf/busybox:1\"\n\n")
		io.WriteString(w, "event: done\ndata: {\"id\":\"b1\",\"status\":\"succeeded\",\"image\":\"reg/acme/shop@sha256:ab\"}\n\n")
	case r.URL.Path == env+"/deploys/d1/events":
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: progress\ndata: {\"phase\":\"build\",\"message\":\"build b1 pushed reg/acme/shop@sha256:ab\"}\n\n")
		io.WriteString(w, ": keep-alive comment\n\n")
		io.WriteString(w, "event: done\ndata: {\"id\":\"d1\",\"kind\":\"release\",\"status\":\"succeeded\",\"release\":7}\n\n")
	case r.URL.Path == env+"/status":
		io.WriteString(w, `{"release":7,"url":"http://test.shop.acme.localhost/","instances":[]}`)
	default:
		http.NotFound(w, r)
	}
}

func TestDeploySource(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"Dockerfile":     "FROM wharf/busybox:1\n",
		".dockerignore":  "*.log\n.git\n",
		"index.html":     "hi",
		"debug.log":      "noise",
		".git/HEAD":      "ref",
		"static/app.css": "body{}",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, declare := range []bool{true, false} {
		t.Run(fmt.Sprintf("declared=%v", declare), func(t *testing.T) {
			f := &fakeBuilds{declare: declare}
			srv := httptest.NewServer(f)
			defer srv.Close()
			env := map[string]string{"WHARF_ADDR": srv.URL, "WHARF_TOKEN": "t", "HOME": t.TempDir()}
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"deploy", "test", "--app", "acme/shop", "--dir", dir},
				func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
			if !declare {
				if code != exitFailure || !strings.Contains(errb.String(), "builds from source are not available") || f.uploaded != nil {
					t.Errorf("without builds: exit %d, stderr %q, uploaded %v", code, errb.String(), f.uploaded)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			sort.Strings(f.uploaded)
			if got := strings.Join(f.uploaded, " "); f.ctype != "application/gzip" || got != ".dockerignore Dockerfile index.html static/ static/app.css" {
				t.Errorf("uploaded %s as %q", got, f.ctype)
			}
			for _, want := range []string{"4 files", "left out by .dockerignore", "Uploading:", "(100%)", "| Step 1/2 : FROM wharf/busybox:1", "Built reg/acme/shop@sha256:ab", "build b1 pushed"} {
				if !strings.Contains(errb.String(), want) {
					t.Errorf("progress lacks %q:\n%s", want, errb.String())
				}
			}
			if got := out.String(); got != "Deploy d1 succeeded: release 7 of acme/shop test is live at http://test.shop.acme.localhost/\n" {
				t.Errorf("stdout = %q", got)
			}
		})
	}
}
