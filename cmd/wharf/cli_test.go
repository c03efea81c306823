package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/internal/client"
)

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name  string
		tab   table
		empty string
		want  string
	}{
		{"aligned with a capital header", table{header: []string{"name", "image"}, rows: [][]string{{"v1", "wharf/busybox:1"}, {"v10", "x"}}}, "",
			"NAME  IMAGE\nv1    wharf/busybox:1\nv10   x\n"},
		{"empty cells show a dash", table{header: []string{"a", "b"}, rows: [][]string{{"", "y"}}}, "", "A  B\n-  y\n"},
		{"tabs in a cell do not break columns", table{rows: [][]string{{"a\tb", "c"}}}, "", "a b  c\n"},
		{"no rows says so", table{header: []string{"name"}}, "No applications.", "No applications.\n"},
		{"no rows and nothing to say prints the header", table{header: []string{"name"}}, "", "NAME\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := writeTable(&b, tt.tab, tt.empty); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

func TestShowFormats(t *testing.T) {
	raw := json.RawMessage(`{"name":"shop","unknown_to_the_cli":[1,2]}`)
	tab := func() (table, string, error) {
		return table{header: []string{"name"}, rows: [][]string{{"shop"}}}, "", nil
	}
	for _, tt := range []struct{ output, want string }{
		{"table", "NAME\nshop\n"},
		// JSON is the API's answer as it came, every field kept, indented.
		{"json", "{\n  \"name\": \"shop\",\n  \"unknown_to_the_cli\": [\n    1,\n    2\n  ]\n}\n"},
	} {
		var out bytes.Buffer
		c := &cli{stdout: &out, output: tt.output}
		if err := c.show(raw, tab); err != nil {
			t.Fatal(err)
		}
		if out.String() != tt.want {
			t.Errorf("--output %s = %q, want %q", tt.output, out.String(), tt.want)
		}
	}
	if got := string(jsonArray(nil)); got != "[]" {
		t.Errorf("an empty list as JSON = %s, want []", got)
	}
	if got := string(jsonArray([]json.RawMessage{json.RawMessage(`{"a":1}`), json.RawMessage(`2`)})); got != `[{"a":1},2]` {
		t.Errorf("jsonArray = %s", got)
	}
}

func TestFormatStatus(t *testing.T) {
	yes := true
	got := formatStatus(ref{"acme", "shop", "test"}, envStatus{Release: 3, Deploying: "d1", URL: "http://test.shop.acme.localhost/",
		Instances: []instance{{Process: "web", Index: 1, Status: "running", Version: 2}, {Process: "web", Index: 0, Status: "running", Healthy: &yes, Version: 2}}})
	want := `Environment  acme/shop test
Release      v3
State        running
Deploying    d1
URL          http://test.shop.acme.localhost/

INSTANCE  STATUS   HEALTHY  JOB VERSION
web.0     running  true     2
web.1     running  pending  2
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := formatStatus(ref{"a", "b", "c"}, envStatus{}); !strings.Contains(got, "never deployed") {
		t.Errorf("a never deployed environment: %s", got)
	}
}

func TestFormatLogLine(t *testing.T) {
	for _, tt := range []struct {
		l    logLine
		want string
	}{
		{logLine{Process: "web", Instance: "web.0", Stream: "stdout", Line: "hello"}, "[web.0] hello\n"},
		{logLine{Process: "web", Instance: "web.1", Stream: "stderr", Line: "oops"}, "[web.1 stderr] oops\n"},
		{logLine{Process: "release", Stream: "stdout", Line: "migrating"}, "[release] migrating\n"},
	} {
		if got := formatLogLine(tt.l); got != tt.want {
			t.Errorf("formatLogLine(%+v) = %q, want %q", tt.l, got, tt.want)
		}
	}
}

func TestParseScale(t *testing.T) {
	cur := map[string]processScale{"web": {Instances: 1, MemoryMB: 64}}
	tests := []struct {
		args    []string
		want    map[string]processScale
		wantErr string
	}{
		{[]string{"web=3"}, map[string]processScale{"web": {3, 64}}, ""},
		{[]string{"web=2:128"}, map[string]processScale{"web": {2, 128}}, ""},
		{[]string{"web=2:128MB", "worker=1:32"}, map[string]processScale{"web": {2, 128}, "worker": {1, 32}}, ""},
		{[]string{"web=0"}, map[string]processScale{"web": {0, 64}}, ""},
		{[]string{"web"}, nil, "want PROCESS=INSTANCES"},
		{[]string{"=3"}, nil, "want PROCESS=INSTANCES"},
		{[]string{"web=lots"}, nil, "instances must be a whole number"},
		{[]string{"web=-1"}, nil, "instances must be a whole number"},
		{[]string{"web=1:big"}, nil, "memory must be"},
		{[]string{"web=1", "web=2"}, nil, "scaled twice"},
	}
	for _, tt := range tests {
		got, err := parseScale(tt.args, cur)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseScale(%q) error = %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseScale(%q) = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
}

func TestProcfile(t *testing.T) {
	text := "# the shop\nweb: exec httpd -f -p \"$PORT\"\nworker: ./work --queue a:b\nrelease: ./migrate\ncron nightly 0 3 * * *: ./cleanup\n"
	pf, err := parseProcfile(text)
	if err != nil {
		t.Fatal(err)
	}
	if pf.Processes["web"].Command != `exec httpd -f -p "$PORT"` || pf.Processes["worker"].Command != "./work --queue a:b" ||
		pf.ReleaseCommand != "./migrate" || len(pf.Cron) != 1 || pf.Cron[0] != (cronEntry{"nightly", "0 3 * * *", "./cleanup"}) {
		t.Errorf("parseProcfile = %+v", pf)
	}
	// What formatProcfile writes reads back the same.
	again, err := parseProcfile(formatProcfile(pf))
	if err != nil || fmt.Sprint(again) != fmt.Sprint(pf) {
		t.Errorf("round trip = %+v, %v; want %+v", again, err, pf)
	}
	js, err := parseProcfile(`{"processes":{"web":{"command":"run","health_path":"/up"}}}`)
	if err != nil || js.Processes["web"].HealthPath != "/up" || js.Cron == nil {
		t.Errorf("JSON procfile = %+v, %v", js, err)
	}
	for _, bad := range []string{"web", "web:", "web: a\nweb: b", "cron x 1 2: y", "two words: x", `{"processes":{},"nope":1}`} {
		if _, err := parseProcfile(bad); err == nil {
			t.Errorf("parseProcfile(%q) accepted it", bad)
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		line string
	}{
		{"usage", usageErrorf("bad"), exitUsage, "bad"},
		{"invalid", &client.Error{Status: 400, Code: "invalid", Detail: "the request is invalid", RequestID: "r1",
			Fields: []client.FieldError{{Field: "name", Message: "must be a DNS label"}, {Field: "value", Message: "is too long"}}},
			exitUsage, "the request is invalid: name must be a DNS label; value is too long (request r1)"},
		{"invalid, the detail telling the fields", &client.Error{Status: 400, Code: "invalid", Detail: "invalid request: name must start with a letter",
			Fields: []client.FieldError{{Field: "name", Message: "must start with a letter"}}}, exitUsage, "invalid request: name must start with a letter"},
		{"unauthorized", &client.Error{Status: 401, Code: "unauthorized", Detail: "the bearer token is not valid"}, exitAuth,
			"the bearer token is not valid; log in again with `wharf login` (or set WHARF_TOKEN)"},
		{"forbidden", &client.Error{Status: 403, Code: "forbidden", Detail: "no"}, exitAuth, "no"},
		{"not found", &client.Error{Status: 404, Code: "not_found", Detail: `application "x" not found`}, exitNotFound, `application "x" not found`},
		{"conflict", &client.Error{Status: 409, Code: "conflict", Detail: "a deploy runs"}, exitConflict, "a deploy runs"},
		{"limit", &client.Error{Status: 422, Code: "limit_exceeded", Detail: "over"}, exitConflict, "over"},
		{"unavailable", &client.Error{Status: 503, Code: "unavailable", Detail: "nomad is down"}, exitServer, "nomad is down"},
		{"internal without detail", &client.Error{Status: 500, Code: "internal"}, exitServer, "wharfd answered 500 Internal Server Error"},
		{"unreachable", &client.Unreachable{Addr: "http://x", Err: errors.New("refused")}, exitServer, "cannot reach wharfd at http://x: refused"},
		{"interrupted", context.Canceled, exitInterrupted, "interrupted"},
		{"other", errors.New("deploy d failed:\nrelease command"), exitFailure, "deploy d failed: release command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.code {
				t.Errorf("exit code %d, want %d", got, tt.code)
			}
			if got := message(tt.err); got != tt.line {
				t.Errorf("message %q, want %q", got, tt.line)
			}
		})
	}
}

// TestRunAgainstProblems runs commands against a server answering problem+json and
// plain errors, and checks the exit code and the one line on stderr.
func TestRunAgainstProblems(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/apps/gone"):
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404,"code":"not_found","detail":"application \"gone\" not found","request_id":"abc"}`))
		case strings.HasSuffix(r.URL.Path, "/apps/proxy"):
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(502)
			w.Write([]byte("<html>\n<body>Bad Gateway</body>\n</html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	env := map[string]string{"WHARF_ADDR": srv.URL, "WHARF_TOKEN": "t", "HOME": t.TempDir()}
	for _, tt := range []struct {
		app  string
		code int
		line string
	}{
		{"gone", exitNotFound, "wharf: application \"gone\" not found (request abc)\n"},
		{"proxy", exitServer, "wharf: wharfd answered 502 Bad Gateway\n"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"apps", "show", "--org", "acme", tt.app}, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
		if code != tt.code || errb.String() != tt.line || out.Len() != 0 {
			t.Errorf("apps show %s = %d, stderr %q, stdout %q; want %d and %q", tt.app, code, errb.String(), out.String(), tt.code, tt.line)
		}
	}
}

func TestConfigStoredPrivately(t *testing.T) {
	home := t.TempDir()
	c := newCLI(func(k string) string { return map[string]string{"HOME": home}[k] }, nil, nil, nil)
	p, err := c.saveConfig(config{Addr: "http://x", Token: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	if p != filepath.Join(home, ".config", "wharf", "config.json") {
		t.Errorf("stored in %s", p)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, %v; want 0700", fi.Mode(), err)
	}
	got, err := c.loadConfig()
	if err != nil || got != (config{Addr: "http://x", Token: "secret"}) {
		t.Errorf("loadConfig = %+v, %v", got, err)
	}
	// WHARF_ADDR and WHARF_TOKEN win over what is stored.
	c.getenv = func(k string) string {
		return map[string]string{"HOME": home, "WHARF_ADDR": "127.0.0.1:9/", "WHARF_TOKEN": "other"}[k]
	}
	cl, err := c.client()
	if err != nil || cl.Addr != "http://127.0.0.1:9" || cl.Token != "other" {
		t.Errorf("client = %+v, %v", cl, err)
	}
}

func TestApplicationNamed(t *testing.T) {
	orgs := `{"items":[{"name":"solo"}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(orgs)) }))
	defer srv.Close()
	cl := &client.Client{Addr: srv.URL}
	root := t.TempDir()
	sub := filepath.Join(root, "src", "deep")
	os.MkdirAll(sub, 0o755)
	t.Chdir(sub)
	ctx := context.Background()
	tests := []struct {
		name, link, org, app string
		wantOrg, wantApp     string
		wantErr              string
	}{
		{name: "nothing names it", wantErr: "no application named"},
		{name: "--app with the only organisation", app: "shop", wantOrg: "solo", wantApp: "shop"},
		{name: "--app ORG/NAME", app: "acme/shop", wantOrg: "acme", wantApp: "shop"},
		{name: "a .wharf file in a parent", link: `{"org":"acme","app":"shop"}`, wantOrg: "acme", wantApp: "shop"},
		{name: "--org over the .wharf file", link: `{"org":"acme","app":"shop"}`, org: "other", wantOrg: "other", wantApp: "shop"},
		{name: "--app over the .wharf file", link: `{"org":"acme","app":"shop"}`, app: "blog", wantOrg: "acme", wantApp: "blog"},
		{name: "a broken .wharf file", link: `{`, wantErr: ".wharf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(filepath.Join(root, ".wharf"))
			if tt.link != "" {
				os.WriteFile(filepath.Join(root, ".wharf"), []byte(tt.link), 0o644)
			}
			c := &cli{org: tt.org, app: tt.app}
			org, app, err := c.appRef(ctx, cl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || org != tt.wantOrg || app != tt.wantApp {
				t.Errorf("= %s/%s, %v; want %s/%s", org, app, err, tt.wantOrg, tt.wantApp)
			}
		})
	}
	orgs = `{"items":[{"name":"a"},{"name":"b"}]}`
	os.Remove(filepath.Join(root, ".wharf"))
	if _, _, err := (&cli{app: "shop"}).appRef(ctx, cl); exitCode(err) != exitUsage || !strings.Contains(err.Error(), "--org") {
		t.Errorf("two organisations and no --org: %v", err)
	}
}
