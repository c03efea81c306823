package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/wharf-platform/wharf/platform"
)

func TestDecodeBody(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		ok     bool
		fields []string
	}{
		{"valid", `{"name":"web","processes":{"web":{"instances":1}},"services":[{"name":"db","kind":"postgres"}]}`, true, nil},
		{"unknown field", `{"name":"web","colour":"red"}`, false, []string{"colour"}},
		{"wrong type", `{"name":1}`, false, []string{"name"}},
		{"malformed", `{"name":`, false, nil},
		{"syntax", `{name:"web"}`, false, nil},
		{"trailing value", `{} {}`, false, nil},
		{"trailing garbage", `{} x`, false, nil},
		{"empty", ``, false, nil},
		{"array", `[]`, false, []string{"(body)"}},
		{"null", `null`, true, nil},
		{"field in other case", `{"NAME":"web"}`, false, []string{"NAME"}},
		{"nested field in other case", `{"name":"x","processes":{"web":{"Instances":1}}}`, false, []string{"processes.web.Instances"}},
		{"map keys are data", `{"name":"x","processes":{"Web":{"instances":1}}}`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in environmentInput
			err := decodeBody([]byte(tt.body), &in)
			if (err == nil) != tt.ok {
				t.Fatalf("decodeBody(%s) = %v, want ok %v", tt.body, err, tt.ok)
			}
			if err == nil {
				return
			}
			if platform.ErrorCode(err) != platform.Invalid {
				t.Errorf("code = %s, want invalid", platform.ErrorCode(err))
			}
			var fe platform.FieldErrors
			errors.As(err, &fe)
			var got []string
			for _, f := range fe {
				got = append(got, f.Field)
			}
			if len(got) != len(tt.fields) || (len(got) > 0 && got[0] != tt.fields[0]) {
				t.Errorf("fields = %v, want %v", got, tt.fields)
			}
		})
	}
}

// FuzzDecodeBody feeds arbitrary bodies to the strict decoder for each kind of request
// body: it must never panic, must refuse with an invalid error only, and what it accepts
// must survive a round trip through JSON unchanged.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"staging","processes":{"web":{"instances":2,"memory_mb":512}},"services":[{"name":"db","kind":"postgres"}]}`,
		`{"value":"x","secret":true}`,
		`{"name":"eu","vendor":"aws","location":"x","tenancy":"public","region":"eu","ingress_domain":"a.b","registry":"r:5000"}`,
		`{"name":"p","limits":{"environments":2}}`, `{"role":"owner"}`, `{"a":1}`, `[1]`, `"x"`, `{"name":1e400}`, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	targets := []func() any{
		func() any { return new(environmentInput) },
		func() any { return new(platform.VariableInput) },
		func() any { return new(cloudspaceInput) },
		func() any { return new(planInput) },
		func() any { return new(roleInput) },
		func() any { return new(platform.EnvironmentPatch) },
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 16<<10 {
			// Larger bodies take the same paths; the fuzzer's minimisation of them
			// would stall the run.
			t.Skip()
		}
		for _, target := range targets {
			v := target()
			err := decodeBody(b, v)
			if err != nil {
				if platform.ErrorCode(err) != platform.Invalid {
					t.Fatalf("decodeBody(%q) into %T = %v, not invalid", b, v, err)
				}
				continue
			}
			again, _ := json.Marshal(v)
			w := target()
			if err := decodeBody(again, w); err != nil {
				t.Fatalf("%T %s decoded from %q does not decode again: %v", v, again, b, err)
			}
			if twice, _ := json.Marshal(w); string(twice) != string(again) {
				t.Fatalf("round trip of %q into %T: %s then %s", b, v, again, twice)
			}
		}
	})
}
