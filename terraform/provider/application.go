package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/setplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// wharf_application: an application in a cloudspace under a plan, created with its
// environments test and live. Destroying it stops and removes every environment,
// including what they run, their variables, domains and services.

type applicationResource struct{ base }

type applicationModel struct {
	ID           types.String `tfsdk:"id"`
	Org          types.String `tfsdk:"org"`
	Name         types.String `tfsdk:"name"`
	Cloudspace   types.String `tfsdk:"cloudspace"`
	Plan         types.String `tfsdk:"plan"`
	Environments types.Set    `tfsdk:"environments"`
}

func newApplication() resource.Resource { return &applicationResource{} }

func (r *applicationResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_application"
}

func (r *applicationResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An application: its environments (test and live from the start; more with wharf_environment) run in one cloudspace under one plan. " +
			"Destroying it stops every environment and removes their configuration, releases, domains and services.",
		Attributes: map[string]schema.Attribute{
			"id":         id("org/name"),
			"org":        name("The organisation."),
			"name":       name("The application's name, a DNS label."),
			"cloudspace": name("The cloudspace it runs in."),
			"plan": schema.StringAttribute{
				Required: true, Description: "The plan whose limits it runs under; may change in place.",
			},
			"environments": schema.SetAttribute{
				ElementType: types.StringType, Computed: true,
				Description:   "Its environments' names, those made with wharf_environment included.",
				PlanModifiers: []planmodifier.Set{setplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func appPath(org, app string) string { return client.Path("orgs", org, "apps", app) }

func (m *applicationModel) set(a application) {
	m.ID = types.StringValue(a.Org + "/" + a.Name)
	m.Org = types.StringValue(a.Org)
	m.Name = types.StringValue(a.Name)
	m.Cloudspace = types.StringValue(a.Cloudspace)
	m.Plan = types.StringValue(a.Plan)
	envs := make([]types.String, 0, len(a.Environments))
	for _, e := range a.Environments {
		envs = append(envs, types.StringValue(e))
	}
	m.Environments, _ = types.SetValueFrom(context.Background(), types.StringType, envs)
}

func (r *applicationResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var a application
	in := map[string]string{"name": m.Name.ValueString(), "cloudspace": m.Cloudspace.ValueString(), "plan": m.Plan.ValueString()}
	if err := r.api.send(ctx, http.MethodPost, client.Path("orgs", m.Org.ValueString(), "apps"), "", in, &a); err != nil {
		fail(&resp.Diagnostics, "create the application", err)
		return
	}
	m.set(a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *applicationResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var a application
	if _, err := r.api.get(ctx, appPath(m.Org.ValueString(), m.Name.ValueString()), &a); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the application", err)
		return
	}
	m.set(a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *applicationResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var a application
	if err := r.api.send(ctx, http.MethodPatch, appPath(m.Org.ValueString(), m.Name.ValueString()), "", map[string]string{"plan": m.Plan.ValueString()}, &a); err != nil {
		fail(&resp.Diagnostics, "change the application's plan", err)
		return
	}
	m.set(a)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *applicationResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m applicationModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// wharfd refuses while a deploy or build is in progress (the last one of a
	// destroyed wharf_deploy, say): send waits for it rather than fail.
	err := r.api.send(ctx, http.MethodDelete, appPath(m.Org.ValueString(), m.Name.ValueString()), "", nil, nil)
	if err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the application", err)
	}
}

func (r *applicationResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "name")
}

// wharf_environment: a custom environment of an application (test and live come with
// it). Destroying it stops what it runs and removes its configuration.

type environmentResource struct{ base }

type environmentModel struct {
	ID   types.String `tfsdk:"id"`
	Org  types.String `tfsdk:"org"`
	App  types.String `tfsdk:"app"`
	Name types.String `tfsdk:"name"`
	URL  types.String `tfsdk:"url"`
}

func newEnvironment() resource.Resource { return &environmentResource{} }

func (r *environmentResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_environment"
}

func (r *environmentResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A custom environment of an application (test and live come with the application). Destroying it stops what it runs and removes its configuration.",
		Attributes: map[string]schema.Attribute{
			"id":   id("org/app/name"),
			"org":  name("The organisation."),
			"app":  name("The application."),
			"name": name("The environment's name, a DNS label other than test and live."),
			"url": schema.StringAttribute{
				Computed: true, Description: "Where it answers once deployed.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *environmentResource) read(ctx context.Context, m *environmentModel) error {
	var e environment
	if _, err := r.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Name.ValueString()), &e); err != nil {
		return err
	}
	var st envStatus
	if _, err := r.api.get(ctx, envPath(e.Org, e.App, e.Name, "status"), &st); err != nil {
		return err
	}
	m.ID = types.StringValue(e.Org + "/" + e.App + "/" + e.Name)
	m.URL = types.StringValue(st.URL)
	return nil
}

func (r *environmentResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	p := client.Path("orgs", m.Org.ValueString(), "apps", m.App.ValueString(), "envs")
	if err := r.api.send(ctx, http.MethodPost, p, "", map[string]string{"name": m.Name.ValueString()}, nil); err != nil {
		fail(&resp.Diagnostics, "create the environment", err)
		return
	}
	if err := r.read(ctx, &m); err != nil {
		fail(&resp.Diagnostics, "read the environment", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *environmentResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.read(ctx, &m); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the environment", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *environmentResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	// Every argument forces a new environment; nothing changes in place.
	var m environmentModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *environmentResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m environmentModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.api.send(ctx, http.MethodDelete, envPath(m.Org.ValueString(), m.App.ValueString(), m.Name.ValueString()), "", nil, nil)
	if err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the environment", err)
	}
}

func (r *environmentResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "name")
}

// importParts sets the attributes names from an import id of that many parts.
func importParts(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse, names ...string) {
	parts, err := splitID(req.ID, names...)
	if err != nil {
		resp.Diagnostics.AddError("Invalid import id", err.Error())
		return
	}
	for i, n := range names {
		resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root(n), parts[i])...)
	}
}
