package main

import (
	"strings"
	"testing"
)

func TestCheckDockerfile(t *testing.T) {
	own := []string{"127.0.0.1:5000/acme/shop", "127.0.0.1:5000/acme/base"}
	for _, tc := range []struct {
		name, dockerfile, refused string // refused: a part of the error; "" when accepted
	}{
		{"plain", "FROM wharf/busybox:1\nCOPY www /www\nADD app.tar.gz /app\nADD --chown=1:1 a b /dst/\nRUN wget -O- http://example.com/\n", ""},
		{"own image and stages", "FROM 127.0.0.1:5000/acme/base@sha256:ab AS b\nFROM scratch\nCOPY --from=b /x /x\nCOPY --from=0 /y /y\nCOPY --from=127.0.0.1:5000/acme/shop:build-1 /z /z\n", ""},
		{"ADD of the local Consul", "FROM wharf/busybox:1\nADD http://127.0.0.1:8500/v1/kv/?recurse /kv\n", "remote sources"},
		{"lower case, indented", "FROM wharf/busybox:1\n   add   https://169.254.169.254/ /x\n", "remote sources"},
		{"ONBUILD", "FROM wharf/busybox:1\nONBUILD ADD http://127.0.0.1:8500/ /x\n", "remote sources"},
		{"continued", "FROM wharf/busybox:1\nADD \\\n  http://127.0.0.1:8500/v1/agent/self \\\n  /x\n", "remote sources"},
		{"continued with a comment between", "FROM wharf/busybox:1\nADD \\\n# c\n  http://127.0.0.1:8500/ /x\n", "remote sources"},
		{"escape directive", "# escape=`\nFROM wharf/busybox:1\nADD `\n  http://127.0.0.1:8500/ /x\n", "remote sources"},
		{"through a variable", "FROM wharf/busybox:1\nARG U=http://127.0.0.1:8500/\nADD $U /x\n", "remote sources"},
		{"through escapes", "FROM wharf/busybox:1\nADD http\\:\\/\\/127.0.0.1:8500/ /x\n", "remote sources"},
		{"JSON form", "FROM wharf/busybox:1\nADD [\"http://127.0.0.1:8500/\", \"/x\"]\n", "remote sources"},
		{"flag spelling a URL", "FROM wharf/busybox:1\nADD --chown=http://127.0.0.1:8500/ a /x\n", "remote sources"},
		{"another tenant's image", "FROM 127.0.0.1:5000/victim/app@sha256:ab\n", "own images"},
		{"another name for the registry", "FROM localhost:5000/acme/shop\n", "own images"},
		{"a prefix of an own repository", "FROM 127.0.0.1:5000/acme/shopx\n", "own images"},
		{"COPY from another tenant", "FROM wharf/busybox:1\nCOPY --from=127.0.0.1:5000/victim/app /app /app\n", "own images"},
		{"FROM a variable", "ARG B=127.0.0.1:5000/victim/app\nFROM $B\n", "variable"},
		{"the registry of the node's agents", "FROM 127.0.0.1:8500/v1/kv\n", "own images"},
	} {
		err := checkDockerfile(tc.dockerfile, own)
		if tc.refused == "" && err != nil || tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused)) {
			t.Errorf("%s: checkDockerfile = %v, want refused for %q", tc.name, err, tc.refused)
		}
	}
}

// TestScopeCache: the scope's ARG follows every FROM, after its continuation lines,
// and nothing else changes.
func TestScopeCache(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"one stage", "FROM wharf/busybox:1\nRUN echo hi\n", "FROM wharf/busybox:1\nARG WHARF_BUILD_CACHE_SCOPE\nRUN echo hi\n"},
		{"two stages, lower case", "from a AS b\nRUN x\nFROM b\nRUN y", "from a AS b\nARG WHARF_BUILD_CACHE_SCOPE\nRUN x\nFROM b\nARG WHARF_BUILD_CACHE_SCOPE\nRUN y"},
		{"continued FROM", "FROM \\\n# c\n  wharf/busybox:1 \\\n  AS base\nRUN z", "FROM \\\n# c\n  wharf/busybox:1 \\\n  AS base\nARG WHARF_BUILD_CACHE_SCOPE\nRUN z"},
		{"ONBUILD is no FROM", "FROM a\nONBUILD RUN from x\n", "FROM a\nARG WHARF_BUILD_CACHE_SCOPE\nONBUILD RUN from x\n"},
		{"a RUN mentioning FROM", "FROM a\nRUN echo FROM b", "FROM a\nARG WHARF_BUILD_CACHE_SCOPE\nRUN echo FROM b"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := scopeCache(c.in); got != c.want {
				t.Errorf("scopeCache(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}
