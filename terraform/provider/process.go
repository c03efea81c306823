package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// wharf_process: one process of an environment's procfile (web receives HTTP on $PORT;
// any other name runs without a port) and its scale. The procfile and the scale are
// each one record per environment that several wharf_process resources share, so each
// change is a read-modify-write on the record's version, retried when another writer
// got there first. A command change takes effect with the next deploy (tie it to
// wharf_deploy's triggers); a scale change is applied at once when the environment runs.

type processResource struct{ base }

type processModel struct {
	ID         types.String `tfsdk:"id"`
	Org        types.String `tfsdk:"org"`
	App        types.String `tfsdk:"app"`
	Env        types.String `tfsdk:"env"`
	Name       types.String `tfsdk:"name"`
	Command    types.String `tfsdk:"command"`
	HealthPath types.String `tfsdk:"health_path"`
	Instances  types.Int64  `tfsdk:"instances"`
	MemoryMB   types.Int64  `tfsdk:"memory_mb"`
}

// The platform's defaults for a process the environment's scale does not name.
const (
	defaultInstances = 1
	defaultMemoryMB  = 256
)

func newProcess() resource.Resource { return &processResource{} }

func (r *processResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_process"
}

func (r *processResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A process of an environment (a procfile entry: web receives HTTP on $PORT) and its scale. " +
			"A command takes effect with the next deploy; a scale is applied at once when the environment runs.",
		Attributes: map[string]schema.Attribute{
			"id":   id("org/app/env/name"),
			"org":  name("The organisation."),
			"app":  name("The application."),
			"env":  name("The environment."),
			"name": name("The process's name: web, or another DNS label."),
			"command": schema.StringAttribute{
				Optional: true, Description: "What the process runs (in a shell); unset runs the image's own command.",
			},
			"health_path": schema.StringAttribute{
				Optional: true, Description: "web only: the HTTP path its health check asks.",
			},
			"instances": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(defaultInstances),
				Description: "How many instances run.",
			},
			"memory_mb": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(defaultMemoryMB),
				Description: "Memory per instance, in MB.",
			},
		},
	}
}

func (m processModel) env() (string, string, string) {
	return m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString()
}

// editProcfile changes the environment's procfile with edit, retrying on a newer version.
func (r *processResource) editProcfile(ctx context.Context, m processModel, edit func(*procfile)) error {
	org, app, env := m.env()
	return retry(ctx, func() error {
		var pf procfile
		etag, err := r.api.get(ctx, envPath(org, app, env, "procfile"), &pf)
		if err != nil {
			return err
		}
		if etag == `"0"` || etag == "" {
			// No procfile yet: what wharfd shows is its default (web running the
			// image's command), not something to keep.
			pf.Processes, etag = nil, ""
		}
		if pf.Processes == nil {
			pf.Processes = map[string]processDef{}
		}
		if pf.Cron == nil {
			pf.Cron = []cronEntry{}
		}
		edit(&pf)
		return r.api.send(ctx, http.MethodPut, envPath(org, app, env, "procfile"), etag, pf, nil)
	})
}

// scale sets the process's scale: saved, and rolled out when the environment runs.
func (r *processResource) scale(ctx context.Context, m processModel) error {
	org, app, env := m.env()
	in := map[string]map[string]processScale{"processes": {m.Name.ValueString(): {
		Instances: int(m.Instances.ValueInt64()), MemoryMB: int(m.MemoryMB.ValueInt64()),
	}}}
	d, ok, err := r.api.startDeploy(ctx, org, app, env, "scale", in)
	if err != nil || !ok {
		return err
	}
	return r.api.follow(ctx, org, app, env, d.ID, nil)
}

func (r *processResource) write(ctx context.Context, m processModel, prior *processModel) error {
	def := processDef{Command: m.Command.ValueString(), HealthPath: m.HealthPath.ValueString()}
	if prior == nil || !prior.Command.Equal(m.Command) || !prior.HealthPath.Equal(m.HealthPath) {
		if err := r.editProcfile(ctx, m, func(pf *procfile) { pf.Processes[m.Name.ValueString()] = def }); err != nil {
			return err
		}
	}
	if prior == nil || !prior.Instances.Equal(m.Instances) || !prior.MemoryMB.Equal(m.MemoryMB) {
		return r.scale(ctx, m)
	}
	return nil
}

// read fills m from the procfile and the environment's scale; ok is false when the
// procfile has no such process.
func (r *processResource) read(ctx context.Context, m *processModel) (bool, error) {
	org, app, env := m.env()
	var pf procfile
	etag, err := r.api.get(ctx, envPath(org, app, env, "procfile"), &pf)
	if err != nil {
		return false, err
	}
	def, ok := pf.Processes[m.Name.ValueString()]
	if !ok || etag == `"0"` {
		return false, nil
	}
	var e environment
	if _, err := r.api.get(ctx, envPath(org, app, env), &e); err != nil {
		return false, err
	}
	s, ok := e.Processes[m.Name.ValueString()]
	if !ok {
		s = processScale{Instances: defaultInstances, MemoryMB: defaultMemoryMB}
	}
	m.ID = types.StringValue(org + "/" + app + "/" + env + "/" + m.Name.ValueString())
	m.Command = optString(def.Command)
	m.HealthPath = optString(def.HealthPath)
	m.Instances = types.Int64Value(int64(s.Instances))
	m.MemoryMB = types.Int64Value(int64(s.MemoryMB))
	return true, nil
}

// optString is s, or null when empty.
func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

func (r *processResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m processModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.write(ctx, m, nil); err != nil {
		fail(&resp.Diagnostics, "set the process", err)
		return
	}
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString() + "/" + m.Name.ValueString())
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *processResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m processModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ok, err := r.read(ctx, &m)
	if notFound(err) || (err == nil && !ok) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the process", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *processResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m, prior processModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.write(ctx, m, &prior); err != nil {
		fail(&resp.Diagnostics, "change the process", err)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *processResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m processModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org, app, env := m.env()
	err := r.editProcfile(ctx, m, func(pf *procfile) { delete(pf.Processes, m.Name.ValueString()) })
	if err == nil {
		// Its scale goes too, so a process of the same name starts from the defaults.
		err = retry(ctx, func() error {
			var e environment
			etag, err := r.api.get(ctx, envPath(org, app, env), &e)
			if err != nil {
				return err
			}
			if _, ok := e.Processes[m.Name.ValueString()]; !ok {
				return nil
			}
			delete(e.Processes, m.Name.ValueString())
			return r.api.send(ctx, http.MethodPatch, envPath(org, app, env), etag, map[string]any{"processes": e.Processes}, nil)
		})
	}
	if err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "remove the process", err)
	}
}

func (r *processResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	importParts(ctx, req, resp, "org", "app", "env", "name")
}
