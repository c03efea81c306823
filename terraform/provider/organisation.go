package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// wharf_organisation: an organisation, which owns applications and has members. Its
// creator becomes its owner.

type organisationResource struct{ base }

type organisationModel struct {
	ID          types.String `tfsdk:"id"`
	Name        types.String `tfsdk:"name"`
	DisplayName types.String `tfsdk:"display_name"`
}

func newOrganisation() resource.Resource { return &organisationResource{} }

func (r *organisationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_organisation"
}

func (r *organisationResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An organisation: it owns applications and has members. Whoever creates it becomes its owner.",
		Attributes: map[string]schema.Attribute{
			"id":   id("the name"),
			"name": name("The organisation's name, a DNS label."),
			"display_name": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString(""),
				Description: "A name for people.",
			},
		},
	}
}

func orgPath(org string) string { return client.Path("orgs", org) }

func (m *organisationModel) set(o organisation) {
	m.ID = types.StringValue(o.Name)
	m.Name = types.StringValue(o.Name)
	m.DisplayName = types.StringValue(o.DisplayName)
}

func (r *organisationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m organisationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var o organisation
	if err := r.api.send(ctx, http.MethodPost, client.Path("orgs"), "", organisation{Name: m.Name.ValueString(), DisplayName: m.DisplayName.ValueString()}, &o); err != nil {
		fail(&resp.Diagnostics, "create the organisation", err)
		return
	}
	m.set(o)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *organisationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m organisationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var o organisation
	if _, err := r.api.get(ctx, orgPath(m.Name.ValueString()), &o); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the organisation", err)
		return
	}
	m.set(o)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *organisationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m organisationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var o organisation
	dn := m.DisplayName.ValueString()
	if err := r.api.send(ctx, http.MethodPatch, orgPath(m.Name.ValueString()), "", map[string]any{"display_name": dn}, &o); err != nil {
		fail(&resp.Diagnostics, "change the organisation", err)
		return
	}
	m.set(o)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *organisationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m organisationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, orgPath(m.Name.ValueString()), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the organisation", err)
	}
}

func (r *organisationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}
