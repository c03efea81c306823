package provider

import (
	"context"
	"net/http"
	"strconv"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/wharf-platform/wharf/internal/client"
)

// wharf_deploy: what an environment runs. Applying it ships a release (of an image, or
// of a build of a git repository) with the environment's configuration at that moment
// and waits until the release is live and healthy; a failed deploy (a failing release
// command, instances that never become healthy) is an error naming why, and the
// environment keeps running what it ran. Any change of its arguments, triggers
// included, ships a new release; so does a release made outside Terraform (a deploy or
// rollback with the CLI), which shows as drift. Destroying it stops the environment.

type deployResource struct{ base }

type deployModel struct {
	ID       types.String `tfsdk:"id"`
	Org      types.String `tfsdk:"org"`
	App      types.String `tfsdk:"app"`
	Env      types.String `tfsdk:"env"`
	Image    types.String `tfsdk:"image"`
	GitURL   types.String `tfsdk:"git_url"`
	GitRef   types.String `tfsdk:"git_ref"`
	Triggers types.Map    `tfsdk:"triggers"`
	Release  types.Int64  `tfsdk:"release"`
	DeployID types.String `tfsdk:"deploy_id"`
	URL      types.String `tfsdk:"url"`
}

// deployedKey is the private state key holding the release this resource shipped.
const deployedKey = "deployed_release"

func newDeploy() resource.Resource { return &deployResource{} }

func (r *deployResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_deploy"
}

func (r *deployResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "What an environment runs: applying ships a release of an image (or of a build of a git repository) and waits until it is live and healthy. " +
			"A failed deploy is an error and leaves the environment running what it ran. Destroying it stops the environment.",
		Attributes: map[string]schema.Attribute{
			"id":  id("org/app/env"),
			"org": name("The organisation."),
			"app": name("The application."),
			"env": name("The environment."),
			"image": schema.StringAttribute{
				Optional: true, Description: "The image to deploy, as registry/name:tag or by digest.",
			},
			"git_url": schema.StringAttribute{
				Optional: true, Description: "Instead of image: a git repository (https://) to build, with a Dockerfile.",
			},
			"git_ref": schema.StringAttribute{
				Optional: true, Description: "The branch, tag or commit of git_url to build.",
			},
			"triggers": schema.MapAttribute{
				ElementType: types.StringType, Optional: true,
				Description: "Any change ships a new release: name here what the release should follow (variables' versions, processes' commands).",
			},
			"release": schema.Int64Attribute{
				Computed: true, Description: "The release this deploy made live.",
			},
			"deploy_id": schema.StringAttribute{
				Computed: true, Description: "The deploy that made it live.",
			},
			"url": schema.StringAttribute{
				Computed: true, Description: "Where the environment answers.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *deployResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m deployModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if m.Image.IsNull() == m.GitURL.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("image"), "One source is needed", "Give exactly one of image and git_url.")
	}
	if m.GitURL.IsNull() && !m.GitRef.IsNull() {
		resp.Diagnostics.AddAttributeError(path.Root("git_ref"), "git_ref without git_url", "git_ref names what to build of git_url.")
	}
}

func (r *deployResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || req.State.Raw.IsNull() {
		return
	}
	var plan, state deployModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	b, diags := req.Private.GetKey(ctx, deployedKey)
	resp.Diagnostics.Append(diags...)
	deployed, _ := strconv.ParseInt(string(b), 10, 64)
	imported, d := req.Private.GetKey(ctx, importedKey)
	resp.Diagnostics.Append(d...)
	// Imported, the triggers were never known: the configuration's are adopted. So is a
	// git source, when what runs came from a build (its image cannot be compared with a
	// repository and a ref); an image is compared with the one that runs.
	adoptTriggers := len(imported) > 0 && state.Triggers.IsNull()
	adoptSource := len(imported) > 0 && state.GitURL.IsNull() && !plan.GitURL.IsNull()
	changed := (!adoptSource && (!plan.Image.Equal(state.Image) || !plan.GitURL.Equal(state.GitURL) || !plan.GitRef.Equal(state.GitRef))) ||
		(!adoptTriggers && !plan.Triggers.Equal(state.Triggers))
	// Another release went live since this one (a deploy or rollback outside Terraform).
	drift := len(b) > 0 && deployed != state.Release.ValueInt64()
	if changed || drift {
		plan.Release, plan.DeployID = types.Int64Unknown(), types.StringUnknown()
	} else {
		plan.Release, plan.DeployID = state.Release, state.DeployID
	}
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &plan)...)
}

// ship deploys what m names and waits for the outcome.
func (r *deployResource) ship(ctx context.Context, m *deployModel, priv privateSetter) error {
	org, app, env := m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString()
	in := map[string]string{"image": m.Image.ValueString()}
	if !m.GitURL.IsNull() {
		var b build
		body := map[string]string{"git_url": m.GitURL.ValueString(), "git_ref": m.GitRef.ValueString()}
		if err := r.api.send(ctx, http.MethodPost, client.Path("orgs", org, "apps", app, "builds"), "", body, &b); err != nil {
			return err
		}
		in = map[string]string{"build": b.ID}
	}
	d, _, err := r.api.startDeploy(ctx, org, app, env, "deploys", in)
	if err != nil {
		return err
	}
	tflog.Info(ctx, "deploy started", map[string]any{"deploy": d.ID})
	err = r.api.follow(ctx, org, app, env, d.ID, func(ev deployEvent) {
		tflog.Info(ctx, ev.Message, map[string]any{"deploy": d.ID, "phase": ev.Phase})
	})
	if err != nil {
		return err
	}
	if _, err := r.api.get(ctx, envPath(org, app, env, "deploys", d.ID), &d); err != nil {
		return err
	}
	var st envStatus
	if _, err := r.api.get(ctx, envPath(org, app, env, "status"), &st); err != nil {
		return err
	}
	m.ID = types.StringValue(org + "/" + app + "/" + env)
	m.Release = types.Int64Value(int64(d.Release))
	m.DeployID = types.StringValue(d.ID)
	m.URL = types.StringValue(st.URL)
	return errDiag(priv.SetKey(ctx, deployedKey, []byte(strconv.Itoa(d.Release))))
}

func (r *deployResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m deployModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.ship(ctx, &m, resp.Private); err != nil {
		fail(&resp.Diagnostics, "deploy", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *deployResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m deployModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var st envStatus
	_, err := r.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "status"), &st)
	if notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the environment's status", err)
		return
	}
	if st.Release == 0 {
		resp.State.RemoveResource(ctx) // nothing was ever deployed (or the environment is new again)
		return
	}
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString())
	m.Release = types.Int64Value(int64(st.Release))
	m.URL = types.StringValue(st.URL)
	if b, _ := req.Private.GetKey(ctx, deployedKey); len(b) == 0 {
		// Imported: what runs is taken as deployed.
		resp.Diagnostics.Append(resp.Private.SetKey(ctx, deployedKey, []byte(strconv.Itoa(st.Release)))...)
		if m.Image.IsNull() && m.GitURL.IsNull() {
			var rel release
			if _, err := r.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "releases", strconv.Itoa(st.Release)), &rel); err == nil {
				m.Image = types.StringValue(rel.Image)
			}
		}
		if m.DeployID.IsNull() {
			m.DeployID = types.StringValue("")
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *deployResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m deployModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, nil)...)
	// A known release was planned: only the triggers of an imported deploy to record.
	if m.Release.IsUnknown() {
		if err := r.ship(ctx, &m, resp.Private); err != nil {
			fail(&resp.Diagnostics, "deploy", err)
			return
		}
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *deployResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m deployModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org, app, env := m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString()
	d, ok, err := r.api.startDeploy(ctx, org, app, env, "stop", nil)
	if err == nil && ok {
		err = r.api.follow(ctx, org, app, env, d.ID, nil)
	}
	if err != nil && !notFound(err) && !conflict(err) {
		fail(&resp.Diagnostics, "stop the environment", err)
	}
}

func (r *deployResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env")
	resp.Diagnostics.Append(resp.Private.SetKey(ctx, importedKey, []byte("true"))...)
}
