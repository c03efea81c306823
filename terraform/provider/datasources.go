package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wharf-platform/wharf/internal/client"
)

// Data sources: a cloudspace, a plan, and an environment's status.

type cloudspaceData struct{ dataBase }

func newCloudspaceData() datasource.DataSource { return &cloudspaceData{} }

func (d *cloudspaceData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_cloudspace"
}

func (d *cloudspaceData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.StringAttribute {
		return schema.StringAttribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "A cloudspace, by name.",
		Attributes: map[string]schema.Attribute{
			"id":             computed("The name."),
			"name":           schema.StringAttribute{Required: true, Description: "The cloudspace's name."},
			"vendor":         computed("aws, azure, gcp or on-premises."),
			"location":       computed("Where it is."),
			"tenancy":        computed("public or dedicated."),
			"region":         computed("Its Nomad region."),
			"node_pool":      computed("Its Nomad node pool."),
			"ingress_domain": computed("Its ingress domain."),
			"ingress_port":   schema.Int64Attribute{Computed: true, Description: "Its ingress's HTTP port, when not 80."},
			"registry":       computed("Its image registry."),
		},
	}
}

func (d *cloudspaceData) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m cloudspaceModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var c cloudspace
	if _, err := d.api.get(ctx, client.Path("cloudspaces", m.Name.ValueString()), &c); err != nil {
		fail(&resp.Diagnostics, "read the cloudspace", err)
		return
	}
	m.set(c)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

type planData struct{ dataBase }

func newPlanData() datasource.DataSource { return &planData{} }

func (d *planData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_plan"
}

func (d *planData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	limit := func(desc string) schema.Int64Attribute {
		return schema.Int64Attribute{Computed: true, Description: desc}
	}
	resp.Schema = schema.Schema{
		Description: "A plan and its limits, by name.",
		Attributes: map[string]schema.Attribute{
			"id":                     schema.StringAttribute{Computed: true, Description: "The name."},
			"name":                   schema.StringAttribute{Required: true, Description: "The plan's name."},
			"public":                 schema.BoolAttribute{Computed: true, Description: "Whether every organisation may choose it."},
			"environments":           limit("Environments per application."),
			"instances_per_process":  limit("Instances per process."),
			"memory_mb_per_instance": limit("Memory per instance, in MB."),
			"service_instances":      limit("Service instances per environment."),
			"custom_domains":         limit("Custom domains per environment."),
			"upload_mb":              limit("The largest source upload, in MiB."),
		},
	}
}

func (d *planData) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m planModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var p plan
	if _, err := d.api.get(ctx, client.Path("plans", m.Name.ValueString()), &p); err != nil {
		fail(&resp.Diagnostics, "read the plan", err)
		return
	}
	m.set(p)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

type statusData struct{ dataBase }

type statusModel struct {
	ID               types.String `tfsdk:"id"`
	Org              types.String `tfsdk:"org"`
	App              types.String `tfsdk:"app"`
	Env              types.String `tfsdk:"env"`
	Release          types.Int64  `tfsdk:"release"`
	Stopped          types.Bool   `tfsdk:"stopped"`
	Deploying        types.String `tfsdk:"deploying"`
	URL              types.String `tfsdk:"url"`
	Instances        types.Int64  `tfsdk:"instances"`
	HealthyInstances types.Int64  `tfsdk:"healthy_instances"`
}

func newStatusData() datasource.DataSource { return &statusData{} }

func (d *statusData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_environment_status"
}

func (d *statusData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "What an environment runs now: its live release, a deploy in progress, its URL and instances.",
		Attributes: map[string]schema.Attribute{
			"id":                schema.StringAttribute{Computed: true, Description: "org/app/env."},
			"org":               schema.StringAttribute{Required: true, Description: "The organisation."},
			"app":               schema.StringAttribute{Required: true, Description: "The application."},
			"env":               schema.StringAttribute{Required: true, Description: "The environment."},
			"release":           schema.Int64Attribute{Computed: true, Description: "The live release, 0 before the first deploy."},
			"stopped":           schema.BoolAttribute{Computed: true, Description: "Whether it was stopped."},
			"deploying":         schema.StringAttribute{Computed: true, Description: "The deploy in progress, if any."},
			"url":               schema.StringAttribute{Computed: true, Description: "Where it answers."},
			"instances":         schema.Int64Attribute{Computed: true, Description: "Its instances."},
			"healthy_instances": schema.Int64Attribute{Computed: true, Description: "Those passing their checks."},
		},
	}
}

func (d *statusData) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var m statusModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var st envStatus
	if _, err := d.api.get(ctx, envPath(m.Org.ValueString(), m.App.ValueString(), m.Env.ValueString(), "status"), &st); err != nil {
		fail(&resp.Diagnostics, "read the environment's status", err)
		return
	}
	healthy := 0
	for _, in := range st.Instances {
		if in.Healthy != nil && *in.Healthy {
			healthy++
		}
	}
	m.ID = types.StringValue(m.Org.ValueString() + "/" + m.App.ValueString() + "/" + m.Env.ValueString())
	m.Release, m.Stopped = types.Int64Value(int64(st.Release)), types.BoolValue(st.Stopped)
	m.Deploying, m.URL = types.StringValue(st.Deploying), types.StringValue(st.URL)
	m.Instances, m.HealthyInstances = types.Int64Value(int64(len(st.Instances))), types.Int64Value(int64(healthy))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// wharf_cloudspaces and wharf_plans: the names of every cloudspace and plan the token
// may see.

type namesData struct {
	dataBase
	kind, desc string // "cloudspaces" or "plans"
}

type namesModel struct {
	ID    types.String `tfsdk:"id"`
	Names types.List   `tfsdk:"names"`
}

func newCloudspacesData() datasource.DataSource {
	return &namesData{kind: "cloudspaces", desc: "The names of every cloudspace."}
}

func newPlansData() datasource.DataSource {
	return &namesData{kind: "plans", desc: "The names of every plan the token may choose or see."}
}

func (d *namesData) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_" + d.kind
}

func (d *namesData) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: d.desc,
		Attributes: map[string]schema.Attribute{
			"id":    schema.StringAttribute{Computed: true, Description: "The kind listed."},
			"names": schema.ListAttribute{ElementType: types.StringType, Computed: true, Description: "Their names, sorted."},
		},
	}
}

func (d *namesData) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	var items []struct {
		Name string `json:"name"`
	}
	if err := d.api.list(ctx, client.Path(d.kind), &items); err != nil {
		fail(&resp.Diagnostics, "list the "+d.kind, err)
		return
	}
	names := make([]string, 0, len(items))
	for _, it := range items {
		names = append(names, it.Name)
	}
	sort.Strings(names)
	list, diags := types.ListValueFrom(ctx, types.StringType, names)
	resp.Diagnostics.Append(diags...)
	m := namesModel{ID: types.StringValue(d.kind), Names: list}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
