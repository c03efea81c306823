package devstack

import (
	"slices"
	"testing"
)

// TestShellWords splits iptables -S lines as iptables wrote them, so that cleanCNI can
// delete a rule by repeating it.
func TestShellWords(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{`-A CNI-HOSTPORT-DNAT -p tcp -m comment --comment "dnat name: \"nomad\" id: \"054a\"" -m multiport --dports 26987 -j CNI-DN-d746`,
			[]string{"-A", "CNI-HOSTPORT-DNAT", "-p", "tcp", "-m", "comment", "--comment", `dnat name: "nomad" id: "054a"`, "-m", "multiport", "--dports", "26987", "-j", "CNI-DN-d746"}},
		{`-A POSTROUTING -s 172.26.64.70/32 -m comment --comment "name: \"nomad\" id: \"x\"" -j CNI-d746`,
			[]string{"-A", "POSTROUTING", "-s", "172.26.64.70/32", "-m", "comment", "--comment", `name: "nomad" id: "x"`, "-j", "CNI-d746"}},
		{`-N CNI-FORWARD`, []string{"-N", "CNI-FORWARD"}},
		{`-A X --comment ""`, []string{"-A", "X", "--comment", ""}},
		{``, nil},
	} {
		if got := shellWords(tc.line); !slices.Equal(got, tc.want) {
			t.Errorf("shellWords(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
