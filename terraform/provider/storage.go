package provider

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// attach attaches a service instance of kind and waits until it is provisioned (or
// failed: its Error says why).
func (a *api) attach(ctx context.Context, org, app, env, name, kind, prefix string) (service, error) {
	in := map[string]string{"name": name, "kind": kind, "prefix": prefix}
	var s service
	if err := a.send(ctx, http.MethodPost, envPath(org, app, env, "services"), "", in, &s); err != nil {
		return s, err
	}
	// Provisioning is quick but not instant: wait until it is attached, or failed.
	for s.State == "provisioning" {
		select {
		case <-ctx.Done():
			return s, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if _, err := a.get(ctx, envPath(org, app, env, "services", name), &s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// remove removes a service instance for good: its credentials, and its data.
func (a *api) remove(ctx context.Context, org, app, env, name string) error {
	p := envPath(org, app, env, "services", name) + "?confirm=" + url.QueryEscape(name)
	if err := a.send(ctx, http.MethodDelete, p, "", nil, nil); err != nil && !notFound(err) {
		return err
	}
	return nil
}

// wharf_storage: media storage (an S3 bucket in the cloudspace's object store) attached
// to an environment. Its tasks get the bucket and keys from Vault from the next deploy,
// as <PREFIX>_STORAGE_DSN (and AWS_*, S3_* for DEFAULT); no key reaches the API or the
// state. Destroying it deletes the bucket, its objects and its keys.

type storageResource struct{ base }

type storageModel struct {
	ID        types.String `tfsdk:"id"`
	Org       types.String `tfsdk:"org"`
	App       types.String `tfsdk:"app"`
	Env       types.String `tfsdk:"env"`
	Name      types.String `tfsdk:"name"`
	Prefix    types.String `tfsdk:"prefix"`
	State     types.String `tfsdk:"state"`
	Bucket    types.String `tfsdk:"bucket"`
	Endpoint  types.String `tfsdk:"endpoint"`
	PublicURL types.String `tfsdk:"public_url"`
}

func newStorage() resource.Resource { return &storageResource{} }

func (r *storageResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_storage"
}

func (r *storageResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc,
			PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}}
	}
	resp.Schema = schema.Schema{
		Description: "Media storage attached to an environment: an S3 bucket of its own in the cloudspace's object store, whose keys its instances get from the next deploy. " +
			"Destroying it deletes the bucket and its objects.",
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
			"state":      schema.StringAttribute{Computed: true, Description: "provisioning, attached, detaching or detached."},
			"bucket":     computed("The bucket's name."),
			"endpoint":   computed("The object store's S3 endpoint."),
			"public_url": computed("Where objects under public/ are served to anyone."),
		},
	}
}

func (m *storageModel) set(s service) {
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString() + "/" + s.Name)
	m.Prefix, m.State = types.StringValue(s.Prefix), types.StringValue(s.State)
	m.Bucket, m.Endpoint, m.PublicURL = types.StringValue(s.Bucket), types.StringValue(s.Endpoint), types.StringValue(s.PublicURL)
}

func (m storageModel) names() (string, string, string, string) {
	return m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), m.Name.ValueString()
}

func (r *storageResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m storageModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org, app, env, n := m.names()
	s, err := r.api.attach(ctx, org, app, env, n, "storage", m.Prefix.ValueString())
	if err != nil {
		fail(&resp.Diagnostics, "attach the storage", err)
		return
	}
	m.set(s)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	if s.Error != "" {
		resp.Diagnostics.AddError("Could not provision the storage", s.Error)
	}
}

func (r *storageResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m storageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org, app, env, n := m.names()
	var s service
	if _, err := r.api.get(ctx, envPath(org, app, env, "services", n), &s); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the storage", err)
		return
	}
	if s.Kind != "storage" {
		resp.Diagnostics.AddError("Not a storage instance", fmt.Sprintf("service instance %s is a %s", n, s.Kind))
		return
	}
	m.set(s)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *storageResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m storageModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *storageResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m storageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org, app, env, n := m.names()
	if err := r.api.remove(ctx, org, app, env, n); err != nil {
		fail(&resp.Diagnostics, "remove the storage "+n, err)
	}
}

func (r *storageResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env", "name")
}
