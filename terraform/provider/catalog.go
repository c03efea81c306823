package provider

import (
	"context"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// wharf_cloudspace and wharf_plan: what platform administrators offer. Both need an
// administrator's token.

type cloudspaceResource struct{ base }

type cloudspaceModel struct {
	ID            types.String `tfsdk:"id"`
	Name          types.String `tfsdk:"name"`
	Vendor        types.String `tfsdk:"vendor"`
	Location      types.String `tfsdk:"location"`
	Tenancy       types.String `tfsdk:"tenancy"`
	Region        types.String `tfsdk:"region"`
	NodePool      types.String `tfsdk:"node_pool"`
	IngressDomain types.String `tfsdk:"ingress_domain"`
	IngressPort   types.Int64  `tfsdk:"ingress_port"`
	Registry      types.String `tfsdk:"registry"`
}

func newCloudspace() resource.Resource { return &cloudspaceResource{} }

func (r *cloudspaceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cloudspace"
}

func (r *cloudspaceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	str := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Required: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "A cloudspace (operators): a Nomad region, or a node pool in one for a dedicated cloudspace, with its ingress domain and registry.",
		Attributes: map[string]schema.Attribute{
			"id":       id("the name"),
			"name":     name("The cloudspace's name."),
			"vendor":   str("aws, azure, gcp or on-premises."),
			"location": str("Where it is, for people."),
			"tenancy": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("public"),
				Description: "public, or dedicated (bound to the organisations entitled to it).",
			},
			"region": str("Its Nomad region."),
			"node_pool": schema.StringAttribute{
				Optional: true, Computed: true, Default: stringdefault.StaticString("default"),
				Description: "The Nomad node pool its applications run in.",
			},
			"ingress_domain": str("The domain under which environments get their generated hosts."),
			"ingress_port": schema.Int64Attribute{
				Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				Description: "The port its ingress answers HTTP on, when not 80.",
			},
			"registry": str("Its image registry, host:port."),
		},
	}
}

func (m *cloudspaceModel) wire() cloudspace {
	return cloudspace{Name: m.Name.ValueString(), Vendor: m.Vendor.ValueString(), Location: m.Location.ValueString(),
		Tenancy: m.Tenancy.ValueString(), Region: m.Region.ValueString(), NodePool: m.NodePool.ValueString(),
		IngressDomain: m.IngressDomain.ValueString(), IngressPort: int(m.IngressPort.ValueInt64()), Registry: m.Registry.ValueString()}
}

func (m *cloudspaceModel) set(c cloudspace) {
	m.ID, m.Name = types.StringValue(c.Name), types.StringValue(c.Name)
	m.Vendor, m.Location, m.Tenancy = types.StringValue(c.Vendor), types.StringValue(c.Location), types.StringValue(c.Tenancy)
	m.Region, m.NodePool = types.StringValue(c.Region), types.StringValue(c.NodePool)
	m.IngressDomain, m.IngressPort = types.StringValue(c.IngressDomain), types.Int64Value(int64(c.IngressPort))
	m.Registry = types.StringValue(c.Registry)
}

func (r *cloudspaceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m cloudspaceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var c cloudspace
	if err := r.api.send(ctx, http.MethodPost, client.Path("cloudspaces"), "", m.wire(), &c); err != nil {
		fail(&resp.Diagnostics, "create the cloudspace", err)
		return
	}
	m.set(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *cloudspaceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m cloudspaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var c cloudspace
	if _, err := r.api.get(ctx, client.Path("cloudspaces", m.Name.ValueString()), &c); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the cloudspace", err)
		return
	}
	m.set(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *cloudspaceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m cloudspaceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	w := m.wire()
	patch := map[string]any{"vendor": w.Vendor, "location": w.Location, "tenancy": w.Tenancy, "region": w.Region,
		"node_pool": w.NodePool, "ingress_domain": w.IngressDomain, "ingress_port": w.IngressPort, "registry": w.Registry}
	var c cloudspace
	if err := r.api.send(ctx, http.MethodPatch, client.Path("cloudspaces", w.Name), "", patch, &c); err != nil {
		fail(&resp.Diagnostics, "change the cloudspace", err)
		return
	}
	m.set(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *cloudspaceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m cloudspaceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, client.Path("cloudspaces", m.Name.ValueString()), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the cloudspace", err)
	}
}

func (r *cloudspaceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}

type planResource struct{ base }

type planModel struct {
	ID                  types.String `tfsdk:"id"`
	Name                types.String `tfsdk:"name"`
	Public              types.Bool   `tfsdk:"public"`
	Environments        types.Int64  `tfsdk:"environments"`
	InstancesPerProcess types.Int64  `tfsdk:"instances_per_process"`
	MemoryMBPerInstance types.Int64  `tfsdk:"memory_mb_per_instance"`
	ServiceInstances    types.Int64  `tfsdk:"service_instances"`
	CustomDomains       types.Int64  `tfsdk:"custom_domains"`
	UploadMB            types.Int64  `tfsdk:"upload_mb"`
}

func newPlan() resource.Resource { return &planResource{} }

func (r *planResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_plan"
}

func (r *planResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	limit := func(desc string, def int64) schema.Int64Attribute {
		a := schema.Int64Attribute{Required: true, Description: desc}
		if def > 0 {
			a = schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(def), Description: desc}
		}
		return a
	}
	resp.Schema = schema.Schema{
		Description: "A plan (operators): the limits an application runs under. A public plan may be chosen by every organisation.",
		Attributes: map[string]schema.Attribute{
			"id":   id("the name"),
			"name": name("The plan's name."),
			"public": schema.BoolAttribute{
				Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Whether every organisation may choose it (otherwise only those entitled to it).",
			},
			"environments":           limit("Environments per application.", 0),
			"instances_per_process":  limit("Instances per process.", 0),
			"memory_mb_per_instance": limit("Memory per instance, in MB.", 0),
			"service_instances":      limit("Service instances per environment.", 0),
			"custom_domains":         limit("Custom domains per environment.", 20),
			"upload_mb":              limit("The largest source upload of a build, in MiB.", 256),
		},
	}
}

func (m *planModel) limits() limits {
	return limits{Environments: int(m.Environments.ValueInt64()), InstancesPerProcess: int(m.InstancesPerProcess.ValueInt64()),
		MemoryMBPerInstance: int(m.MemoryMBPerInstance.ValueInt64()), ServiceInstances: int(m.ServiceInstances.ValueInt64()),
		CustomDomains: int(m.CustomDomains.ValueInt64()), UploadMB: int(m.UploadMB.ValueInt64())}
}

func (m *planModel) set(p plan) {
	m.ID, m.Name, m.Public = types.StringValue(p.Name), types.StringValue(p.Name), types.BoolValue(p.Public)
	l := p.Limits
	m.Environments, m.InstancesPerProcess = types.Int64Value(int64(l.Environments)), types.Int64Value(int64(l.InstancesPerProcess))
	m.MemoryMBPerInstance, m.ServiceInstances = types.Int64Value(int64(l.MemoryMBPerInstance)), types.Int64Value(int64(l.ServiceInstances))
	m.CustomDomains, m.UploadMB = types.Int64Value(int64(l.CustomDomains)), types.Int64Value(int64(l.UploadMB))
}

func (r *planResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var m planModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var p plan
	in := map[string]any{"name": m.Name.ValueString(), "public": m.Public.ValueBool(), "limits": m.limits()}
	if err := r.api.send(ctx, http.MethodPost, client.Path("plans"), "", in, &p); err != nil {
		fail(&resp.Diagnostics, "create the plan", err)
		return
	}
	m.set(p)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *planResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m planModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var p plan
	if _, err := r.api.get(ctx, client.Path("plans", m.Name.ValueString()), &p); notFound(err) {
		resp.State.RemoveResource(ctx)
		return
	} else if err != nil {
		fail(&resp.Diagnostics, "read the plan", err)
		return
	}
	m.set(p)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *planResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var m planModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var p plan
	in := map[string]any{"public": m.Public.ValueBool(), "limits": m.limits()}
	if err := r.api.send(ctx, http.MethodPatch, client.Path("plans", m.Name.ValueString()), "", in, &p); err != nil {
		fail(&resp.Diagnostics, "change the plan", err)
		return
	}
	m.set(p)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *planResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m planModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.api.send(ctx, http.MethodDelete, client.Path("plans", m.Name.ValueString()), "", nil, nil); err != nil && !notFound(err) {
		fail(&resp.Diagnostics, "delete the plan", err)
	}
}

func (r *planResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}
