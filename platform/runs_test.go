package platform_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wharf-platform/wharf/platform"
)

// TestRunRequestLine holds the command line a run's arguments become to what a real
// POSIX shell makes of it: the same arguments, each as it was given.
func TestRunRequestLine(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("no sh to check the quoting against:", err)
	}
	for _, args := range [][]string{
		{"echo", "plain"},
		{"echo", "$HOME", "${#X}", "`id`", "$(id)"},
		{"printf", "%s\n", "it's", "'", "''", `\'`, `"`, "a  b", "", " ", "\t", "x\ny"},
		{"echo", "*", "?", "[a]", "~", "a;b", "a|b", "a&b", "a>b", "#c"},
		{"naïve", "ünïcode", "日本"},
	} {
		line := platform.RunRequest{Args: args}.Line()
		// "$@" after the line's own words shows what the shell parsed.
		out, err := exec.Command(sh, "-c", "set -- "+line+`; for a in "$@"; do printf '%s\000' "$a"; done`).Output()
		if err != nil {
			t.Fatalf("sh -c on %q: %v", line, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if !slices.Equal(got, args) {
			t.Errorf("args %q became line %q, which the shell reads as %q", args, line, got)
		}
	}
	if got := (platform.RunRequest{Command: "echo $X | wc -c"}).Line(); got != "echo $X | wc -c" {
		t.Errorf("a command line is run as it is; got %q", got)
	}
}

func TestRunRequestCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		in   platform.RunRequest
		ok   bool
	}{
		{"command", platform.RunRequest{Command: "true"}, true},
		{"args", platform.RunRequest{Args: []string{"echo", "x"}}, true},
		{"neither", platform.RunRequest{}, false},
		{"both", platform.RunRequest{Command: "true", Args: []string{"true"}}, false},
		{"NUL", platform.RunRequest{Args: []string{"a\x00b"}}, false},
		{"too long", platform.RunRequest{Command: strings.Repeat("x", platform.MaxCommandLength+1)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.in.Check().Err()
			if (err == nil) != c.ok || (err != nil && platform.ErrorCode(err) != platform.Invalid) {
				t.Errorf("Check() = %v, want ok %v", err, c.ok)
			}
		})
	}
}

// TestRunLost reads a run whose driving wharfd stopped without ending it (no write for
// longer than a heartbeat allows) as failed, and leaves a live or ended one as it is.
func TestRunLost(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	run := func(status string, ago time.Duration) platform.Run {
		return platform.Run{Status: status, Meta: platform.Meta{UpdatedAt: now.Add(-ago)}}
	}
	for _, c := range []struct {
		name string
		in   platform.Run
		want string
	}{
		{"running, written lately", run(platform.RunRunning, time.Minute), platform.RunRunning},
		{"running, silent too long", run(platform.RunRunning, 10*time.Minute), platform.RunFailed},
		{"ended long ago", run(platform.RunSucceeded, time.Hour), platform.RunSucceeded},
	} {
		if got := platform.RunLostAt(c.in, now); got.Status != c.want {
			t.Errorf("%s: %s, want %s", c.name, got.Status, c.want)
		}
	}
}
