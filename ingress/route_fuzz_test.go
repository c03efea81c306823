package ingress

import (
	"encoding/json"
	"testing"
)

// FuzzParseRoute: any bytes parse without a panic, and a record that parses encodes and
// parses back to itself.
func FuzzParseRoute(f *testing.F) {
	f.Add([]byte(`{"version":1,"cloudspace":"local","app":"a","env":"live","hosts":["a-live.apps.test"],"primary":"a-live.apps.test","service":"a"}`))
	f.Add([]byte(`{"version":1,"hosts":["A.test","127.0.0.1"],"basic_auth":{"username":"u:x","password_hash":"pw"}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRoute(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRoute(again)
		if err != nil || !routesEqual(r, r2) {
			t.Fatalf("%s parsed, but its encoding %s parses to %+v, %v", b, again, r2, err)
		}
		if hostOnly(r.Primary) != r.Primary {
			t.Fatalf("primary %q is not in the form requests are looked up in", r.Primary)
		}
	})
}
