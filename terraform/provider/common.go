package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
)

// base is what every resource and data source shares: the connection Configure hands it.
type base struct{ api *api }

func (b *base) configure(data any, diags *diag.Diagnostics) {
	if data == nil {
		return // the provider is not configured yet (validation)
	}
	a, ok := data.(*api)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("got %T", data))
		return
	}
	b.api = a
}

func (b *base) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	b.configure(req.ProviderData, &resp.Diagnostics)
}

// dataBase is base for data sources.
type dataBase struct{ base }

func (b *dataBase) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	b.configure(req.ProviderData, &resp.Diagnostics)
}

// splitID splits an import id of the form a/b/c into its n parts.
func splitID(id string, names ...string) ([]string, error) {
	parts := strings.Split(id, "/")
	if len(parts) != len(names) {
		return nil, fmt.Errorf("the import id %q must be %s", id, strings.Join(names, "/"))
	}
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("the import id %q has no %s", id, names[i])
		}
	}
	return parts, nil
}

// fail adds err as an error diagnostic of what was being done.
func fail(diags *diag.Diagnostics, what string, err error) {
	diags.AddError("Could not "+what, err.Error())
}

// name is a required string that names the resource and cannot change in place.
func name(desc string) schema.StringAttribute {
	return schema.StringAttribute{
		Required:      true,
		Description:   desc,
		PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
	}
}

// id is the computed import id.
func id(form string) schema.StringAttribute {
	return schema.StringAttribute{
		Computed:      true,
		Description:   "The import id: " + form + ".",
		PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
	}
}

// errDiag makes an error of diagnostics that hold one.
func errDiag(d diag.Diagnostics) error {
	for _, e := range d.Errors() {
		return fmt.Errorf("%s: %s", e.Summary(), e.Detail())
	}
	return nil
}
