package platform

import (
	"encoding/json"
	"testing"
)

// FuzzEnvironmentCheck feeds environments decoded from arbitrary JSON through the
// validator and the plan's limits: neither may panic, and what they accept must be
// within bounds.
func FuzzEnvironmentCheck(f *testing.F) {
	for _, s := range []string{
		`{"name":"staging","processes":{"web":{"instances":2,"memory_mb":512}},"services":[{"name":"db","kind":"postgres"}]}`,
		`{"name":"x","processes":{"-bad":{"instances":-1}}}`,
		`{"name":"x","services":[{"name":"a","kind":"storage"},{"name":"a","kind":"storage"}]}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	plan := Plan{Name: "p", Limits: Limits{Environments: 3, InstancesPerProcess: 2, MemoryMBPerInstance: 512, ServiceInstances: 1}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Environment
		if json.Unmarshal(b, &e) != nil {
			return
		}
		e.normalise()
		if len(e.check()) > 0 {
			return
		}
		for name, p := range e.Processes {
			if CheckName(name) != "" || p.Instances < 0 || p.MemoryMB < MinMemoryMB {
				t.Fatalf("accepted process %q %+v", name, p)
			}
		}
		err := limitErr(plan, e)
		for _, p := range e.Processes {
			if (p.Instances > 2 || p.MemoryMB > 512) && err == nil {
				t.Fatalf("limits accepted %+v", e)
			}
		}
		if err != nil && ErrorCode(err) != LimitExceeded {
			t.Fatalf("limit error of code %s", ErrorCode(err))
		}
	})
}
