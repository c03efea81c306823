package platform_test

import (
	"regexp"
	"testing"

	"github.com/wharf-platform/wharf/platform"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"simple", "web", true},
		{"digits and hyphens", "a-1-b", true},
		{"leading digit", "1st", true},
		{"one character", "a", true},
		{"63 characters", string(make63('a')), true},
		{"64 characters", string(make63('a')) + "a", false},
		{"empty", "", false},
		{"capital", "Web", false},
		{"underscore", "a_b", false},
		{"dot", "a.b", false},
		{"leading hyphen", "-a", false},
		{"trailing hyphen", "a-", false},
		{"slash", "a/b", false},
		{"unicode", "wéb", false},
		{"space", "a b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := platform.CheckName(tt.in) == ""; got != tt.valid {
				t.Errorf("CheckName(%q) valid = %v, want %v (%s)", tt.in, got, tt.valid, platform.CheckName(tt.in))
			}
		})
	}
}

func make63(c byte) []byte {
	b := make([]byte, 63)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestCheckVariableName(t *testing.T) {
	tests := []struct {
		in    string
		valid bool
	}{
		{"DATABASE_URL", true}, {"_x", true}, {"a1", true}, {"1A", false}, {"", false},
		{"A-B", false}, {"A.B", false}, {"A/B", false}, {"Ä", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := platform.CheckVariableName(tt.in) == ""; got != tt.valid {
				t.Errorf("CheckVariableName(%q) valid = %v, want %v", tt.in, got, tt.valid)
			}
		})
	}
}

func TestCheckHostPort(t *testing.T) {
	tests := []struct {
		in    string
		valid bool
	}{
		{"registry.local", true}, {"127.0.0.1:5000", true}, {"a:1", true}, {"a:65535", true},
		{"a:0", false}, {"a:65536", false}, {"a:", false}, {":80", false}, {"a:b", false},
		{"a..b", false}, {"", false}, {"a:1:2", false}, {"A.test", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := platform.CheckHostPort(tt.in) == ""; got != tt.valid {
				t.Errorf("CheckHostPort(%q) valid = %v, want %v", tt.in, got, tt.valid)
			}
		})
	}
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	varName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// skipLong skips inputs far longer than any valid value: each validator refuses them by
// their length first, and the fuzzer's minimisation of long inputs (quadratic in their
// length) would otherwise stall a run for a minute at a time.
func skipLong(t *testing.T, s string) {
	if len(s) > 512 {
		t.Skip()
	}
}

// FuzzCheckName holds CheckName to the DNS label grammar, written as a regular
// expression.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"web", "a-b", "-a", "a-", "", "A", "a.b", "0", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		skipLong(t, s)
		if got, want := platform.CheckName(s) == "", dnsLabel.MatchString(s); got != want {
			t.Fatalf("CheckName(%q) valid = %v, the grammar says %v", s, got, want)
		}
	})
}

// FuzzCheckVariableName holds CheckVariableName to its grammar.
func FuzzCheckVariableName(f *testing.F) {
	for _, s := range []string{"PATH", "_", "1A", "", "A B", "A\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		skipLong(t, s)
		if got, want := platform.CheckVariableName(s) == "", varName.MatchString(s); got != want {
			t.Fatalf("CheckVariableName(%q) valid = %v, the grammar says %v", s, got, want)
		}
	})
}

// FuzzCheckHostPort checks that an accepted host[:port] is a host name and a port.
func FuzzCheckHostPort(f *testing.F) {
	for _, s := range []string{"a:1", "127.0.0.1:5000", "a:99999", "a::", ":"} {
		f.Add(s)
	}
	hostPort := regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$`)
	f.Fuzz(func(t *testing.T, s string) {
		skipLong(t, s)
		if platform.CheckHostPort(s) == "" && (!hostPort.MatchString(s) || len(s) > 253+6) {
			t.Fatalf("CheckHostPort accepted %q", s)
		}
	})
}
