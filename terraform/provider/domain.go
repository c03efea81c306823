package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// wharf_domain: a custom domain of an environment, routed by the ingress once the
// environment is deployed.

type domainResource struct{ base }

type domainModel struct {
	ID      types.String `tfsdk:"id"`
	Org     types.String `tfsdk:"org"`
	App     types.String `tfsdk:"app"`
	Env     types.String `tfsdk:"env"`
	Name    types.String `tfsdk:"name"`
	Primary types.Bool   `tfsdk:"primary"`
}

func newDomain() resource.Resource { return &domainResource{} }

func (r *domainResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_domain"
}

func (r *domainResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A custom domain of an environment: the ingress routes it to the environment's healthy instances. A domain belongs to one environment of the platform at a time.",
		Attributes: map[string]schema.Attribute{
			"id":   id("org/app/env/name"),
			"org":  name("The organisation."),
			"app":  name("The application."),
			"env":  name("The environment."),
			"name": name("The host name, such as www.example.com."),
			"primary": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Whether it is the environment's primary domain, the one its URL names.",
			},
		},
	}
}

func domainPath(m domainModel) string {
	return envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "domains", m.Name.ValueString())
}

func (m *domainModel) set(d domain) {
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString() + "/" + d.Name)
	m.Name = types.StringValue(d.Name)
	m.Primary = types.BoolValue(d.Primary)
}

func (r *domainResource) put(ctx context.Context, m *domainModel) error {
	var d domain
	if err := r.api.send(ctx, http.MethodPut, domainPath(*m), "", map[string]bool{"primary": m.Primary.ValueBool()}, &d); err != nil {
		return err
	}
	m.set(d)
	return nil
}

func (r *domainResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m domainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		fail(&resp.Diagnostics, "add the domain", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *domainResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m domainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var page struct {
		Items []domain `json:"items"`
	}
	_, err := r.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "domains"), &page)
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the domains", err)
		return
	}
	for _, d := range page.Items {
		if d.Name == m.Name.ValueString() {
			m.set(d)
			resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
			return
		}
	}
	resp.State.RemoveResource(ctx)
}

func (r *domainResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m domainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.put(ctx, &m); err != nil {
		fail(&resp.Diagnostics, "change the domain", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *domainResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m domainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, domainPath(m), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "remove the domain", err)
	}
}

func (r *domainResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env", "name")
}

// wharf_routing: how the ingress treats an environment beyond its names: HTTPS
// redirection and basic-auth protection, whose password is write-only.

type routingResource struct{ base }

type routingModel struct {
	ID                          types.String `tfsdk:"id"`
	Org                         types.String `tfsdk:"org"`
	App                         types.String `tfsdk:"app"`
	Env                         types.String `tfsdk:"env"`
	HTTPSRedirect               types.Bool   `tfsdk:"https_redirect"`
	ProtectionUser              types.String `tfsdk:"protection_user"`
	ProtectionPasswordWO        types.String `tfsdk:"protection_password_wo"`
	ProtectionPasswordWOVersion types.Int64  `tfsdk:"protection_password_wo_version"`
}

func newRouting() resource.Resource { return &routingResource{} }

func (r *routingResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_routing"
}

func (r *routingResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An environment's routing: HTTPS redirection and basic-auth protection. Destroying it turns both off.",
		Attributes: map[string]schema.Attribute{
			"id":  id("org/app/env"),
			"org": name("The organisation."),
			"app": name("The application."),
			"env": name("The environment."),
			"https_redirect": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(false),
				Description: "Whether plain HTTP is redirected to HTTPS.",
			},
			"protection_user": schema.StringAttribute{
				Optional: true, Description: "The basic-auth user; unset leaves the environment unprotected.",
			},
			"protection_password_wo": schema.StringAttribute{
				Optional: true, Sensitive: true, WriteOnly: true,
				Description: "The basic-auth password: write-only, never kept in state (wharfd keeps a bcrypt hash).",
			},
			"protection_password_wo_version": schema.Int64Attribute{
				Optional: true, Description: "Any change writes protection_password_wo again.",
			},
		},
	}
}

func (r *routingResource) read(ctx context.Context, m *routingModel) error {
	var rt routing
	if _, err := r.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "routing"), &rt); err != nil {
		return err
	}
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString())
	m.HTTPSRedirect = types.BoolValue(rt.HTTPSRedirect)
	if rt.ProtectionUser == "" {
		m.ProtectionUser = types.StringNull()
	} else {
		m.ProtectionUser = types.StringValue(rt.ProtectionUser)
	}
	m.ProtectionPasswordWO = types.StringNull()
	return nil
}

func (r *routingResource) write(ctx context.Context, config tfsdkGetter, m *routingModel, withPassword bool) error {
	// wharfd takes the user only with its password (it keeps a hash of the pair), so
	// the protection is sent only when it is set, changed or removed.
	in := map[string]any{"https_redirect": m.HTTPSRedirect.ValueBool()}
	if withPassword {
		in["protection_user"] = m.ProtectionUser.ValueString()
		if !m.ProtectionUser.IsNull() {
			var pw types.String
			if d := config.GetAttribute(ctx, path.Root("protection_password_wo"), &pw); d.HasError() {
				return errDiag(d)
			}
			in["protection_password"] = pw.ValueString()
		}
	}
	if err := r.api.send(ctx, http.MethodPatch, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "routing"), "", in, nil); err != nil {
		return err
	}
	version := m.ProtectionPasswordWOVersion
	if err := r.read(ctx, m); err != nil {
		return err
	}
	m.ProtectionPasswordWOVersion = version
	return nil
}

func (r *routingResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m routingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.write(ctx, req.Config, &m, true); err != nil {
		fail(&resp.Diagnostics, "set the routing", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routingResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m routingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.read(ctx, &m); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the routing", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routingResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, state routingModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	// The password is sent again when its version or the user changes.
	withPassword := !m.ProtectionPasswordWOVersion.Equal(state.ProtectionPasswordWOVersion) || !m.ProtectionUser.Equal(state.ProtectionUser)
	if err := r.write(ctx, req.Config, &m, withPassword); err != nil {
		fail(&resp.Diagnostics, "change the routing", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *routingResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m routingModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	in := map[string]any{"https_redirect": false, "protection_user": ""}
	if err := r.api.send(ctx, http.MethodPatch, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "routing"), "", in, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "reset the routing", err)
	}
}

func (r *routingResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env")
}
