package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// wharf_database: a PostgreSQL service instance attached to an environment. Its tasks
// get short-lived credentials from Vault from the next deploy, as <PREFIX>_DATABASE_DSN
// (and DATABASE_URL for DEFAULT); no credential reaches wharfd's API or the state.
// Destroying it revokes every credential and drops the database.

type databaseResource struct{ base }

type databaseModel struct {
	ID       types.String `tfsdk:"id"`
	Org      types.String `tfsdk:"org"`
	App      types.String `tfsdk:"app"`
	Env      types.String `tfsdk:"env"`
	Name     types.String `tfsdk:"name"`
	Prefix   types.String `tfsdk:"prefix"`
	State    types.String `tfsdk:"state"`
	Database types.String `tfsdk:"database"`
}

func newDatabase() resource.Resource { return &databaseResource{} }

func (r *databaseResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_database"
}

func (r *databaseResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A PostgreSQL database attached to an environment: from the next deploy its instances get short-lived credentials as <PREFIX>_DATABASE_DSN (and DATABASE_URL for DEFAULT). " +
			"Destroying it revokes every credential and drops the database.",
		Attributes: map[string]schema.Attribute{
			"id":   id("org/app/env/name"),
			"org":  name("The organisation."),
			"app":  name("The application."),
			"env":  name("The environment."),
			"name": name("The service instance's name."),
			"prefix": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("DEFAULT"),
				Description:   "The prefix of its variables (A-Z, 0-9, _).",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
			},
			"state": schema.StringAttribute{
				Computed: true, Description: "provisioning, attached, detaching or detached.",
			},
			"database": schema.StringAttribute{
				Computed: true, Description: "The PostgreSQL database's name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (m databaseModel) path(more ...string) string {
	return envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), append([]string{"services", m.Name.ValueString()}, more...)...)
}

func (m *databaseModel) set(s service) {
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString() + "/" + s.Name)
	m.Prefix = types.StringValue(s.Prefix)
	m.State = types.StringValue(s.State)
	m.Database = types.StringValue(s.Database)
}

func (r *databaseResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m databaseModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, err := r.api.attach(ctx, m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), m.Name.ValueString(), "postgres", m.Prefix.ValueString())
	if err != nil {
		fail(&resp.Diagnostics, "attach the database", err)
		return
	}
	m.set(s)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if s.Error != "" {
		resp.Diagnostics.AddError("Could not provision the database", s.Error)
	}
}

func (r *databaseResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m databaseModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var s service
	if _, err := r.api.get(ctx, m.path(), &s); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the database", err)
		return
	}
	m.set(s)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *databaseResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m databaseModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *databaseResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m databaseModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.remove(ctx, m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), m.Name.ValueString()); err != nil {
		fail(&resp.Diagnostics, fmt.Sprintf("remove the database %s", m.Name.ValueString()), err)
	}
}

func (r *databaseResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env", "name")
}
