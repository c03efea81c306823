package panel

import (
	"io"
	"strings"
	"testing"

	"github.com/wharf-platform/wharf/platform"
)

// TestTemplates renders every page with empty data and with a viewer, so a template
// that fails at run time fails here first.
func TestTemplates(t *testing.T) {
	p := New(Config{})
	healthy := true
	data := map[string]any{
		"error":  failure{Status: 403, Code: platform.Forbidden, Message: "no"},
		"signin": "That token is not valid.",
		"home":   homeData{Orgs: []platform.Organisation{{Name: "acme"}}, Shared: []platform.Collaborator{{Org: "other", App: "shop", Role: platform.RoleDeveloper}}},
		"admin":  adminData{Cloudspaces: []platform.Cloudspace{{Name: "local"}}, Plans: []platform.Plan{{Name: "dev"}}},
		"org": orgData{Org: platform.Organisation{Name: "acme"}, Apps: []appRow{{App: platform.Application{Org: "acme", Name: "shop"},
			Envs: []envRow{{Name: "test", Status: platform.EnvStatus{Release: 2, URL: "http://x/", Instances: []platform.Instance{{Version: 1, Healthy: &healthy}, {Version: 0}}}}}}}},
		"audit": []platform.AuditEvent{{Action: "application.create"}},
		"app":   appData{App: platform.Application{Org: "acme", Name: "shop"}, Builds: []platform.Build{{ID: "b1"}}},
		"env": envData{Org: "acme", App: "shop", Env: platform.Environment{Name: "test"}, Vars: []platform.Variable{{Name: "S", Secret: true}},
			Services: []platform.EnvService{{Name: "db", Prefix: "DEFAULT", State: platform.ServiceAttached}, {Name: "old", Prefix: "OLD", State: platform.ServiceDetached},
				{Name: "media", Kind: platform.ServiceStorage, Prefix: "DEFAULT", State: platform.ServiceAttached, Bucket: "wharf-00112233445566aa", PublicURL: "http://s3.test/wharf-00112233445566aa/public/"}},
			Domains: []platform.Domain{{Name: "www.example.com", Primary: true}, {Name: "example.com"}},
			Routing: platform.Routing{ProtectionUser: "preview"},
			Can:     can{Configure: true, Manage: true}},
		"deploy": deployData{Deploy: platform.Deploy{ID: "d1", Build: "b1"}, Build: &buildData{Build: platform.Build{ID: "b1"}}},
		"build":  buildData{Build: platform.Build{ID: "b1", Status: platform.BuildRunning}, Envs: []string{"test"}},
		"logs":   logsData{Lines: []platform.LogLine{{Line: "<hi>"}}},
		"token":  tokenData{Token: platform.Token{ID: "t1", Person: "vera"}, Value: "wharf_x"},
	}
	for name, tmpl := range p.pages {
		d, ok := data[name]
		if !ok {
			t.Errorf("no test data for the %s page", name)
			continue
		}
		for _, who := range []platform.Principal{{}, {Person: "vera"}, {Person: "admin", Admin: true}} {
			var b strings.Builder
			if err := tmpl.ExecuteTemplate(io.MultiWriter(&b), "layout.html", view{Title: name, Who: who, CSRF: "tok", Org: "acme", Data: d}); err != nil {
				t.Errorf("render %s: %v", name, err)
			}
			if name == "env" && (!strings.Contains(b.String(), "<code>DEFAULT_STORAGE_DSN</code>") || !strings.Contains(b.String(), "http://s3.test/wharf-00112233445566aa/public/") ||
				!strings.Contains(b.String(), `<option value="storage">`)) {
				t.Errorf("the environment page does not show the storage instance's variables and public URL, or the storage kind")
			}
			if name == "logs" && strings.Contains(b.String(), "<hi>") {
				t.Errorf("the logs page does not escape output")
			}
		}
	}
	if g := glanceOf(platform.EnvStatus{Instances: []platform.Instance{{Version: 2, Healthy: &healthy}, {Version: 2}, {Version: 1, Healthy: &healthy}}}); g.Current != 2 || g.Healthy != 1 || g.Old != 1 {
		t.Errorf("glance = %+v, want 1/2 healthy and 1 old", g)
	}
}
