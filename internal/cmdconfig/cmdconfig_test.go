package cmdconfig_test

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/internal/cmdconfig"
)

type conf struct{ A, B, Wait string }

var settings = []cmdconfig.Setting[conf]{
	cmdconfig.Opt("T_A", "a", "option a", cmdconfig.String[conf](func(c *conf) *string { return &c.A })),
	cmdconfig.Opt("T_B", "", "", cmdconfig.String[conf](func(c *conf) *string { return &c.B })), // a secret: no flag
	cmdconfig.Opt("T_WAIT", "wait", "a duration", cmdconfig.Duration[conf](func(c *conf) *string { return &c.Wait })),
}

// file reads "a=..." lines, enough to stand in for a command's HCL.
func file(c *conf, path string, idx cmdconfig.Index[conf]) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var values []cmdconfig.Value[conf]
	for _, line := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(line, "=")
		values = append(values, cmdconfig.V(&v, idx.ByFlag[k]))
	}
	return cmdconfig.ApplyValues(c, path, values...)
}

func TestLoadPrecedence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	os.WriteFile(path, []byte("a=file wait=1m"), 0o600)
	tests := []struct {
		name    string
		args    []string
		env     []string
		want    conf
		wantErr string
	}{
		{"defaults", nil, nil, conf{A: "default"}, ""},
		{"file", []string{"-config", path}, nil, conf{A: "file", Wait: "1m"}, ""},
		{"file named by env", nil, []string{"T_CONFIG=" + path}, conf{A: "file", Wait: "1m"}, ""},
		{"env over file", []string{"-config", path}, []string{"T_A=env", "T_B=secret"}, conf{A: "env", B: "secret", Wait: "1m"}, ""},
		{"flag over env", []string{"-config", path, "-a", "flag"}, []string{"T_A=env"}, conf{A: "flag", Wait: "1m"}, ""},
		{"bad duration names its flag", []string{"-wait", "soon"}, nil, conf{}, "-wait"},
		{"bad duration names its variable", nil, []string{"T_WAIT=-1s"}, conf{}, "T_WAIT"},
		{"a secret has no flag", []string{"-b", "x"}, nil, conf{}, "not defined"},
		{"stray argument", []string{"x"}, nil, conf{}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conf{A: "default"}
			err := cmdconfig.Load("t", tt.args, tt.env, io.Discard, "T_CONFIG", settings, &c, file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || c != tt.want {
				t.Fatalf("got %+v, %v; want %+v", c, err, tt.want)
			}
		})
	}
	if err := cmdconfig.Load("t", []string{"-h"}, nil, io.Discard, "T_CONFIG", settings, &conf{}, file); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h = %v, want flag.ErrHelp", err)
	}
}
