package provider

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
)

// TestSchema asks the provider for its schema as the engine does, so that every
// resource's and data source's schema passes the framework's own checks (a write-only
// attribute that is also computed, say, is refused there), and checks that no secret
// argument can reach the state: each is write-only.
func TestSchema(t *testing.T) {
	srv, err := providerserver.NewProtocol6WithError(New("test")())()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		t.Errorf("schema: %s: %s", d.Summary, d.Detail)
	}
	var resources, data []string
	for name := range resp.ResourceSchemas {
		resources = append(resources, name)
	}
	for name := range resp.DataSourceSchemas {
		data = append(data, name)
	}
	sort.Strings(resources)
	sort.Strings(data)
	wantResources := "wharf_application wharf_cloudspace wharf_database wharf_deploy wharf_domain wharf_environment wharf_member wharf_organisation wharf_plan wharf_process wharf_routing wharf_storage wharf_variable"
	if got := strings.Join(resources, " "); got != wantResources {
		t.Errorf("resources = %s, want %s", got, wantResources)
	}
	if got, want := strings.Join(data, " "), "wharf_cloudspace wharf_cloudspaces wharf_environment_status wharf_plan wharf_plans"; got != want {
		t.Errorf("data sources = %s, want %s", got, want)
	}
	secrets := map[string]string{"wharf_variable": "value_wo", "wharf_routing": "protection_password_wo"}
	for res, s := range resp.ResourceSchemas {
		for _, a := range s.Block.Attributes {
			if a.Sensitive && !a.WriteOnly {
				t.Errorf("%s.%s is sensitive but not write-only: its value would be kept in state", res, a.Name)
			}
			if a.Name == secrets[res] && !a.WriteOnly {
				t.Errorf("%s.%s is not write-only", res, a.Name)
			}
		}
	}
	for res, attr := range secrets {
		found := false
		for _, a := range resp.ResourceSchemas[res].Block.Attributes {
			found = found || a.Name == attr
		}
		if !found {
			t.Errorf("%s has no %s", res, attr)
		}
	}
}

// TestSplitID: import ids name every part, none empty, and no more.
func TestSplitID(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		want     string // parts joined with |, or "" for an error
	}{
		{"variable", "acme/shop/test/GREETING", "acme|shop|test|GREETING"},
		{"too few", "acme/shop/test", ""},
		{"too many", "acme/shop/test/A/B", ""},
		{"empty part", "acme//test/A", ""},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parts, err := splitID(tc.id, "org", "app", "env", "name")
			if got := strings.Join(parts, "|"); got != tc.want || (err == nil) != (tc.want != "") {
				t.Errorf("splitID(%q) = %q, %v; want %q", tc.id, got, err, tc.want)
			}
		})
	}
}
