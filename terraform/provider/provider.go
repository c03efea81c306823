// Package provider is terraform-provider-wharf: Wharf's organisations, applications,
// environments, variables, processes, domains, services, deploys, cloudspaces and plans
// as Terraform (OpenTofu) resources, over wharfd's HTTP API through the same client as
// the wharf CLI (internal/client). It imports nothing of the server (no api/, no
// platform/): the wire format is its contract, as it is the CLI's.
//
// Secrets never reach the state: a secret variable's value and a routing password are
// write-only arguments, so the engine holds them only for the run; what the state keeps
// is the version wharfd gave the value, from which drift is read.
package provider

import (
	"context"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// Address is the provider's source address: `source = "wharf-platform/wharf"`.
const Address = "registry.opentofu.org/wharf-platform/wharf"

// New returns the provider of the given version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &wharfProvider{version: version} }
}

type wharfProvider struct{ version string }

type providerModel struct {
	Address types.String `tfsdk:"address"`
	Token   types.String `tfsdk:"token"`
}

func (p *wharfProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "wharf"
	resp.Version = p.version
}

func (p *wharfProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Wharf, an application platform over Nomad, Consul and Vault, through wharfd's API.",
		Attributes: map[string]schema.Attribute{
			"address": schema.StringAttribute{
				Optional:    true,
				Description: "wharfd's address, as http://host:port. Defaults to WHARF_ADDR.",
			},
			"token": schema.StringAttribute{
				Optional:    true,
				Sensitive:   true,
				Description: "An API token. Defaults to WHARF_TOKEN. Never stored in state.",
			},
		},
	}
}

func (p *wharfProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	addr, token := os.Getenv("WHARF_ADDR"), os.Getenv("WHARF_TOKEN")
	if !m.Address.IsNull() && !m.Address.IsUnknown() {
		addr = m.Address.ValueString()
	}
	if !m.Token.IsNull() && !m.Token.IsUnknown() {
		token = m.Token.ValueString()
	}
	if addr == "" {
		resp.Diagnostics.AddAttributeError(path.Root("address"), "wharfd's address is missing",
			"Set the provider's address, or WHARF_ADDR, to wharfd's address (http://127.0.0.1:18080 with make dev).")
	}
	if token == "" {
		resp.Diagnostics.AddAttributeError(path.Root("token"), "An API token is missing",
			"Set the provider's token, or WHARF_TOKEN (make dev keeps the administrator's in ~/.local/share/wharf/dev/admin-token).")
	}
	if resp.Diagnostics.HasError() {
		return
	}
	a := &api{c: &client.Client{Addr: strings.TrimSuffix(addr, "/"), Token: token, UserAgent: "terraform-provider-wharf/" + p.version}}
	resp.ResourceData = a
	resp.DataSourceData = a
}

func (p *wharfProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		newOrganisation, newMember, newApplication, newEnvironment, newVariable, newProcess,
		newDomain, newRouting, newDatabase, newStorage, newDeploy, newCloudspace, newPlan,
	}
}

func (p *wharfProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{newCloudspaceData, newCloudspacesData, newPlanData, newPlansData, newStatusData}
}
