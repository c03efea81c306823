package provider

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// wharf_variable: one environment variable of an environment. A plain one's value is
// kept in state and read back; a secret one's is a write-only argument (value_wo), so
// the engine never stores it: the state keeps the version wharfd gave it, and a secret
// changed outside Terraform (a newer version than the one this resource wrote) plans
// an update that writes the configured value again. Variables take effect with the
// environment's next deploy.

type variableResource struct{ base }

type variableModel struct {
	ID             types.String `tfsdk:"id"`
	Org            types.String `tfsdk:"org"`
	App            types.String `tfsdk:"app"`
	Env            types.String `tfsdk:"env"`
	Name           types.String `tfsdk:"name"`
	Value          types.String `tfsdk:"value"`
	ValueWO        types.String `tfsdk:"value_wo"`
	ValueWOVersion types.Int64  `tfsdk:"value_wo_version"`
	Secret         types.Bool   `tfsdk:"secret"`
	Version        types.Int64  `tfsdk:"version"`
}

// The private state keys: the version this resource last wrote, and a mark that it was
// imported (so the versions of write-only values it never wrote are adopted from the
// configuration rather than written again).
const (
	writtenKey  = "written_version"
	importedKey = "imported"
)

func newVariable() resource.Resource { return &variableResource{} }

func (r *variableResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_variable"
}

func (r *variableResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "An environment variable. Give `value` for a plain one, or `value_wo` for a secret one, which is kept in Vault and never in state. " +
			"Variables take effect with the environment's next deploy.",
		Attributes: map[string]schema.Attribute{
			"id":   id("org/app/env/name"),
			"org":  name("The organisation."),
			"app":  name("The application."),
			"env":  name("The environment."),
			"name": name("The variable's name (A-Z, 0-9, _)."),
			"value": schema.StringAttribute{
				Optional: true, Description: "A plain variable's value, kept in state and read back.",
			},
			"value_wo": schema.StringAttribute{
				Optional: true, Sensitive: true, WriteOnly: true,
				Description: "A secret variable's value: write-only, so it is never kept in plan or state. " +
					"Change value_wo_version to write a new value.",
			},
			"value_wo_version": schema.Int64Attribute{
				Optional:    true,
				Description: "Any change writes value_wo again (the engine cannot compare a value it does not keep).",
			},
			"secret": schema.BoolAttribute{
				Computed: true, Description: "Whether the variable is secret (value_wo is set).",
			},
			"version": schema.Int64Attribute{
				Computed: true, Description: "The value's version in wharfd (for a secret, Vault's).",
			},
		},
	}
}

func (r *variableResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m variableModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	plain, secret := !m.Value.IsNull(), !m.ValueWO.IsNull()
	if plain == secret {
		resp.Diagnostics.AddAttributeError(path.Root("value"), "One value is needed",
			"Give exactly one of value (a plain variable) and value_wo (a secret one).")
	}
	if plain && !m.ValueWOVersion.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("value_wo_version"), "value_wo_version without value_wo",
			"value_wo_version versions a secret value; a plain value is compared as it is.")
	}
}

func (r *variableResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return // destroy
	}
	var plan, config variableModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	secret := !config.ValueWO.IsNull()
	plan.Secret = types.BoolValue(secret)
	if req.State.Raw.IsNull() {
		plan.Version = types.Int64Unknown()
		resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
		return
	}
	var state variableModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	write := state.Secret.ValueBool() != secret
	if secret {
		written, diags := writtenVersion(ctx, req.Private)
		resp.Diagnostics.Append(diags...)
		// A version other than the one written: someone changed the secret since.
		drift := written != 0 && written != state.Version.ValueInt64()
		imported, d := req.Private.GetKey(ctx, importedKey)
		resp.Diagnostics.Append(d...)
		adopt := len(imported) > 0 && state.ValueWOVersion.IsNull()
		write = write || drift || (!adopt && !plan.ValueWOVersion.Equal(state.ValueWOVersion))
	} else {
		write = write || !plan.Value.Equal(state.Value)
	}
	if write {
		plan.Version = types.Int64Unknown()
	} else {
		plan.Version = state.Version
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// privateGetter is the private state of a plan or read request.
type privateGetter interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

// privateSetter is the private state of a response.
type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

// writtenVersion is the version this resource last wrote, 0 when it does not know.
func writtenVersion(ctx context.Context, p privateGetter) (int64, diag.Diagnostics) {
	b, diags := p.GetKey(ctx, writtenKey)
	if len(b) == 0 {
		return 0, diags
	}
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n, diags
}

func varPath(m variableModel) string {
	return envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "vars", m.Name.ValueString())
}

// write puts the configured value and records the version it got.
func (r *variableResource) write(ctx context.Context, config tfsdkGetter, m *variableModel, priv privateSetter, diags *diag.Diagnostics) {
	var wo types.String
	diags.Append(config.GetAttribute(ctx, path.Root("value_wo"), &wo)...)
	if diags.HasError() {
		return
	}
	in := struct {
		Value  string `json:"value"`
		Secret bool   `json:"secret"`
	}{Value: m.Value.ValueString()}
	if !wo.IsNull() {
		in.Value, in.Secret = wo.ValueString(), true
	}
	var v variable
	if err := r.api.send(ctx, http.MethodPut, varPath(*m), "", in, &v); err != nil {
		fail(diags, "set the variable", err)
		return
	}
	m.set(v)
	diags.Append(priv.SetKey(ctx, writtenKey, []byte(strconv.Itoa(v.Version)))...)
}

// tfsdkGetter is a request's config.
type tfsdkGetter interface {
	GetAttribute(ctx context.Context, p path.Path, target any) diag.Diagnostics
}

func (m *variableModel) set(v variable) {
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString() + "/" + v.Name)
	m.Secret = types.BoolValue(v.Secret)
	m.Version = types.Int64Value(int64(v.Version))
	m.ValueWO = types.StringNull()
	if v.Secret {
		m.Value = types.StringNull()
	} else if v.Value != nil {
		m.Value = types.StringValue(*v.Value)
	}
}

func (r *variableResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m variableModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.write(ctx, req.Config, &m, resp.Private, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *variableResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m variableModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var v variable
	if _, err := r.api.get(ctx, varPath(m), &v); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the variable", err)
		return
	}
	m.set(v)
	// Imported (or written by an older provider): take what is there as written.
	if n, diags := writtenVersion(ctx, req.Private); n == 0 && !diags.HasError() {
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, writtenKey, []byte(strconv.Itoa(v.Version)))...)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *variableResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m variableModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, nil)...)
	// A known version was planned: nothing to write, only value_wo_version to record
	// (after an import).
	if m.Version.IsUnknown() {
		r.write(ctx, req.Config, &m, resp.Private, &resp.Diagnostics)
	}
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *variableResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m variableModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, varPath(m), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the variable", err)
	}
}

func (r *variableResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env", "name")
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, []byte("true"))...)
}
