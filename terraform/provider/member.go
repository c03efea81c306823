package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// wharf_member: a person's role in an organisation.

type memberResource struct{ base }

type memberModel struct {
	ID     types.String `tfsdk:"id"`
	Org    types.String `tfsdk:"org"`
	Person types.String `tfsdk:"person"`
	Role   types.String `tfsdk:"role"`
}

func newMember() resource.Resource { return &memberResource{} }

func (r *memberResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_member"
}

func (r *memberResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A person's role in an organisation: owner, admin, developer or viewer. An organisation always keeps an owner.",
		Attributes: map[string]schema.Attribute{
			"id":     id("org/person"),
			"org":    name("The organisation."),
			"person": name("The person's id."),
			"role": schema.StringAttribute{
				Required: true, Description: "owner, admin, developer or viewer.",
			},
		},
	}
}

func memberPath(m memberModel) string {
	return client.Path("orgs", m.Org.ValueString(), "members", m.Person.ValueString())
}

func (r *memberResource) put(ctx context.Context, m *memberModel) error {
	var mb member
	if err := r.api.send(ctx, http.MethodPut, memberPath(*m), "", map[string]string{"role": m.Role.ValueString()}, &mb); err != nil {
		return err
	}
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.Person.ValueString())
	m.Role = types.StringValue(mb.Role)
	return nil
}

func (r *memberResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m memberModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		fail(&resp.Diagnostics, "add the member", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *memberResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m memberModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var members []member
	err := r.api.list(ctx, client.Path("orgs", m.Org.ValueString(), "members"), &members)
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the members", err)
		return
	}
	for _, mb := range members {
		if mb.Person == m.Person.ValueString() {
			m.ID = types.StringValue(m.Org.ValueString() + "/" + mb.Person)
			m.Role = types.StringValue(mb.Role)
			resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
			return
		}
	}
	resp.State.RemoveResource(ctx)
}

func (r *memberResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m memberModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		fail(&resp.Diagnostics, "change the member's role", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *memberResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m memberModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, memberPath(m), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "remove the member", err)
	}
}

func (r *memberResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "person")
}
