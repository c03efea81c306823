package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// The handlers' needs from the model, one small interface per group of resources; a
// *platform.Service satisfies them all.
type (
	people interface {
		CreatePerson(ctx context.Context, p platform.Principal, in platform.Person) (platform.Person, error)
		GetPerson(ctx context.Context, p platform.Principal, id string) (platform.Person, error)
		UpdatePerson(ctx context.Context, p platform.Principal, id string, patch platform.PersonPatch, ifMatch uint64) (platform.Person, error)
		DeletePerson(ctx context.Context, p platform.Principal, id string, ifMatch uint64) error
		ListPeople(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Person], error)
		CreateTokenExpiring(ctx context.Context, p platform.Principal, person, name string, expiresIn time.Duration) (platform.Token, platform.Secret, error)
		ListTokens(ctx context.Context, p platform.Principal, person string, pr platform.PageRequest) (platform.Page[platform.Token], error)
		DeleteToken(ctx context.Context, p platform.Principal, person, id string) error
	}
	catalog interface {
		CreateCloudspace(ctx context.Context, p platform.Principal, in platform.Cloudspace) (platform.Cloudspace, error)
		GetCloudspace(ctx context.Context, p platform.Principal, name string) (platform.Cloudspace, error)
		ListCloudspaces(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Cloudspace], error)
		UpdateCloudspace(ctx context.Context, p platform.Principal, name string, patch platform.CloudspacePatch, ifMatch uint64) (platform.Cloudspace, error)
		DeleteCloudspace(ctx context.Context, p platform.Principal, name string, ifMatch uint64) error
		CreatePlan(ctx context.Context, p platform.Principal, in platform.Plan) (platform.Plan, error)
		GetPlan(ctx context.Context, p platform.Principal, name string) (platform.Plan, error)
		ListPlans(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Plan], error)
		UpdatePlan(ctx context.Context, p platform.Principal, name string, patch platform.PlanPatch, ifMatch uint64) (platform.Plan, error)
		DeletePlan(ctx context.Context, p platform.Principal, name string, ifMatch uint64) error
	}
	organisations interface {
		CreateOrganisation(ctx context.Context, p platform.Principal, in platform.Organisation) (platform.Organisation, error)
		GetOrganisation(ctx context.Context, p platform.Principal, org string) (platform.Organisation, error)
		ListOrganisations(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Organisation], error)
		UpdateOrganisation(ctx context.Context, p platform.Principal, org string, patch platform.OrganisationPatch, ifMatch uint64) (platform.Organisation, error)
		DeleteOrganisation(ctx context.Context, p platform.Principal, org string, ifMatch uint64) error
		ListMembers(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.Member], error)
		PutMember(ctx context.Context, p platform.Principal, org, person string, role platform.Role) (platform.Member, error)
		DeleteMember(ctx context.Context, p platform.Principal, org, person string) error
		ListAudit(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error)
		ListPlatformAudit(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error)
	}
	entitlements interface {
		ListEntitlements(ctx context.Context, p platform.Principal, org string) ([]platform.Entitlement, error)
		GrantEntitlement(ctx context.Context, p platform.Principal, org, kind, name string) (platform.Entitlement, error)
		RevokeEntitlement(ctx context.Context, p platform.Principal, org, kind, name string) error
	}
	applications interface {
		CreateApplication(ctx context.Context, p platform.Principal, org string, in platform.Application) (platform.Application, error)
		GetApplication(ctx context.Context, p platform.Principal, org, app string) (platform.Application, error)
		ListApplications(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.Application], error)
		UpdateApplication(ctx context.Context, p platform.Principal, org, app string, patch platform.ApplicationPatch, ifMatch uint64) (platform.Application, error)
		DeleteApplication(ctx context.Context, p platform.Principal, org, app string, ifMatch uint64) error
		ListCollaborators(ctx context.Context, p platform.Principal, org, app string, pr platform.PageRequest) (platform.Page[platform.Collaborator], error)
		PutCollaborator(ctx context.Context, p platform.Principal, org, app, person string, role platform.Role) (platform.Collaborator, error)
		DeleteCollaborator(ctx context.Context, p platform.Principal, org, app, person string) error
	}
	environments interface {
		CreateEnvironment(ctx context.Context, p platform.Principal, org, app string, in platform.Environment) (platform.Environment, error)
		GetEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Environment, error)
		ListEnvironments(ctx context.Context, p platform.Principal, org, app string, pr platform.PageRequest) (platform.Page[platform.Environment], error)
		UpdateEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef, patch platform.EnvironmentPatch, ifMatch uint64) (platform.Environment, error)
		DeleteEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef, ifMatch uint64) error
	}
	variables interface {
		ListVariables(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Variable], error)
		GetVariable(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.Variable, error)
		PutVariable(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, in platform.VariableInput, ifMatch uint64) (platform.Variable, bool, error)
		DeleteVariable(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, ifMatch uint64) error
	}
)

// Model is everything the resource routes need; *platform.Service is one.
type Model interface {
	authenticator
	people
	catalog
	organisations
	entitlements
	applications
	environments
	variables
}

// Request bodies. They name exactly the fields a client may send; any other is refused.
type (
	personInput struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
		Admin bool   `json:"admin"`
	}
	tokenInput struct {
		Name string `json:"name"`
		// ExpiresIn is the token's lifetime in seconds; left out, it does not expire.
		ExpiresIn *int64 `json:"expires_in"`
	}
	cloudspaceInput struct {
		Name          string `json:"name"`
		Vendor        string `json:"vendor"`
		Location      string `json:"location"`
		Tenancy       string `json:"tenancy"`
		Region        string `json:"region"`
		NodePool      string `json:"node_pool"`
		IngressDomain string `json:"ingress_domain"`
		IngressPort   int    `json:"ingress_port"`
		Registry      string `json:"registry"`
	}
	planInput struct {
		Name string `json:"name"`
		// Public is true when left out: every organisation may choose the plan.
		Public *bool           `json:"public"`
		Limits platform.Limits `json:"limits"`
	}
	organisationInput struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
	}
	roleInput struct {
		Role platform.Role `json:"role"`
	}
	applicationInput struct {
		Name       string `json:"name"`
		Cloudspace string `json:"cloudspace"`
		Plan       string `json:"plan"`
	}
	environmentInput struct {
		Name      string                           `json:"name"`
		Processes map[string]platform.ProcessScale `json:"processes"`
		Services  []platform.ServiceInstance       `json:"services"`
	}
)

// createdToken is the one response that shows a token's value.
type createdToken struct {
	platform.Token
	Value string `json:"token"`
}

// etagged is a resource with a version.
type etagged interface{ ETag() string }

// registerResources adds every resource route under v1, each behind requireToken.
func registerResources(v1 *echo.Group, m Model) {
	auth := requireToken(m)
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const (
		person = "/people/:person"
		cs     = "/cloudspaces/:cloudspace"
		plan   = "/plans/:plan"
		org    = "/orgs/:org"
		app    = org + "/apps/:app"
		env    = app + "/envs/:env"
		vr     = env + "/vars/:name"
	)

	r(http.MethodGet, "/people", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Person], error) {
		return m.ListPeople(c.Request().Context(), p, pr)
	}))
	r(http.MethodPost, "/people", create(func(c echo.Context, p platform.Principal, in personInput) (platform.Person, string, error) {
		v, err := m.CreatePerson(c.Request().Context(), p, platform.Person{ID: in.ID, Name: in.Name, Email: in.Email, Admin: in.Admin})
		return v, v.ID, err
	}))
	r(http.MethodGet, person, get(func(c echo.Context, p platform.Principal) (platform.Person, error) {
		return m.GetPerson(c.Request().Context(), p, c.Param("person"))
	}))
	r(http.MethodPatch, person, update(func(c echo.Context, p platform.Principal, in platform.PersonPatch, ifMatch uint64) (platform.Person, error) {
		return m.UpdatePerson(c.Request().Context(), p, c.Param("person"), in, ifMatch)
	}))
	r(http.MethodDelete, person, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeletePerson(c.Request().Context(), p, c.Param("person"), ifMatch)
	}))
	r(http.MethodGet, person+"/tokens", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Token], error) {
		return m.ListTokens(c.Request().Context(), p, c.Param("person"), pr)
	}))
	r(http.MethodPost, person+"/tokens", func(c echo.Context) error {
		var in tokenInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		var expiresIn time.Duration
		if in.ExpiresIn != nil {
			if *in.ExpiresIn < 1 || *in.ExpiresIn > int64(platform.MaxTokenLifetime/time.Second) {
				var fe platform.FieldErrors
				fe.Add("expires_in", "must be between 1 and %d seconds, or left out for a token that does not expire", int64(platform.MaxTokenLifetime/time.Second))
				return fe.Err()
			}
			expiresIn = time.Duration(*in.ExpiresIn) * time.Second
		}
		tok, value, err := m.CreateTokenExpiring(c.Request().Context(), principal(c), c.Param("person"), in.Name, expiresIn)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		c.Response().Header().Set(echo.HeaderLocation, c.Request().URL.Path+"/"+tok.ID)
		return c.JSON(http.StatusCreated, createdToken{Token: tok, Value: value.Reveal()})
	})
	r(http.MethodDelete, person+"/tokens/:token", del(func(c echo.Context, p platform.Principal, _ uint64) error {
		return m.DeleteToken(c.Request().Context(), p, c.Param("person"), c.Param("token"))
	}))

	r(http.MethodGet, "/cloudspaces", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Cloudspace], error) {
		return m.ListCloudspaces(c.Request().Context(), p, pr)
	}))
	r(http.MethodPost, "/cloudspaces", create(func(c echo.Context, p platform.Principal, in cloudspaceInput) (platform.Cloudspace, string, error) {
		v, err := m.CreateCloudspace(c.Request().Context(), p, platform.Cloudspace{Name: in.Name, Vendor: in.Vendor, Location: in.Location,
			Tenancy: in.Tenancy, Region: in.Region, NodePool: in.NodePool, IngressDomain: in.IngressDomain, IngressPort: in.IngressPort, Registry: in.Registry})
		return v, v.Name, err
	}))
	r(http.MethodGet, cs, get(func(c echo.Context, p platform.Principal) (platform.Cloudspace, error) {
		return m.GetCloudspace(c.Request().Context(), p, c.Param("cloudspace"))
	}))
	r(http.MethodPatch, cs, update(func(c echo.Context, p platform.Principal, in platform.CloudspacePatch, ifMatch uint64) (platform.Cloudspace, error) {
		return m.UpdateCloudspace(c.Request().Context(), p, c.Param("cloudspace"), in, ifMatch)
	}))
	r(http.MethodDelete, cs, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeleteCloudspace(c.Request().Context(), p, c.Param("cloudspace"), ifMatch)
	}))

	r(http.MethodGet, "/plans", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Plan], error) {
		return m.ListPlans(c.Request().Context(), p, pr)
	}))
	r(http.MethodPost, "/plans", create(func(c echo.Context, p platform.Principal, in planInput) (platform.Plan, string, error) {
		public := in.Public == nil || *in.Public
		v, err := m.CreatePlan(c.Request().Context(), p, platform.Plan{Name: in.Name, Public: public, Limits: in.Limits})
		return v, v.Name, err
	}))
	r(http.MethodGet, plan, get(func(c echo.Context, p platform.Principal) (platform.Plan, error) {
		return m.GetPlan(c.Request().Context(), p, c.Param("plan"))
	}))
	r(http.MethodPatch, plan, update(func(c echo.Context, p platform.Principal, in platform.PlanPatch, ifMatch uint64) (platform.Plan, error) {
		return m.UpdatePlan(c.Request().Context(), p, c.Param("plan"), in, ifMatch)
	}))
	r(http.MethodDelete, plan, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeletePlan(c.Request().Context(), p, c.Param("plan"), ifMatch)
	}))

	r(http.MethodGet, "/audit", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error) {
		return m.ListPlatformAudit(c.Request().Context(), p, pr)
	}))
	r(http.MethodGet, "/orgs", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Organisation], error) {
		return m.ListOrganisations(c.Request().Context(), p, pr)
	}))
	r(http.MethodPost, "/orgs", create(func(c echo.Context, p platform.Principal, in organisationInput) (platform.Organisation, string, error) {
		v, err := m.CreateOrganisation(c.Request().Context(), p, platform.Organisation{Name: in.Name, DisplayName: in.DisplayName})
		return v, v.Name, err
	}))
	r(http.MethodGet, org, get(func(c echo.Context, p platform.Principal) (platform.Organisation, error) {
		return m.GetOrganisation(c.Request().Context(), p, c.Param("org"))
	}))
	r(http.MethodPatch, org, update(func(c echo.Context, p platform.Principal, in platform.OrganisationPatch, ifMatch uint64) (platform.Organisation, error) {
		return m.UpdateOrganisation(c.Request().Context(), p, c.Param("org"), in, ifMatch)
	}))
	r(http.MethodDelete, org, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeleteOrganisation(c.Request().Context(), p, c.Param("org"), ifMatch)
	}))
	r(http.MethodGet, org+"/members", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Member], error) {
		return m.ListMembers(c.Request().Context(), p, c.Param("org"), pr)
	}))
	r(http.MethodPut, org+"/members/:person", update(func(c echo.Context, p platform.Principal, in roleInput, _ uint64) (platform.Member, error) {
		return m.PutMember(c.Request().Context(), p, c.Param("org"), c.Param("person"), in.Role)
	}))
	r(http.MethodDelete, org+"/members/:person", del(func(c echo.Context, p platform.Principal, _ uint64) error {
		return m.DeleteMember(c.Request().Context(), p, c.Param("org"), c.Param("person"))
	}))
	r(http.MethodGet, org+"/audit", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error) {
		return m.ListAudit(c.Request().Context(), p, c.Param("org"), pr)
	}))

	r(http.MethodGet, org+"/entitlements", func(c echo.Context) error {
		es, err := m.ListEntitlements(c.Request().Context(), principal(c), c.Param("org"))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, platform.Page[platform.Entitlement]{Items: es})
	})
	for _, kind := range []string{platform.EntitlePlan, platform.EntitleCloudspace} {
		path := org + "/entitlements/" + kind + "s/:" + kind
		r(http.MethodPut, path, func(c echo.Context) error {
			e, err := m.GrantEntitlement(c.Request().Context(), principal(c), c.Param("org"), kind, c.Param(kind))
			if err != nil {
				return err
			}
			return writeResource(c, http.StatusOK, e)
		})
		r(http.MethodDelete, path, del(func(c echo.Context, p platform.Principal, _ uint64) error {
			return m.RevokeEntitlement(c.Request().Context(), p, c.Param("org"), kind, c.Param(kind))
		}))
	}

	r(http.MethodGet, org+"/apps", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Application], error) {
		return m.ListApplications(c.Request().Context(), p, c.Param("org"), pr)
	}))
	r(http.MethodPost, org+"/apps", create(func(c echo.Context, p platform.Principal, in applicationInput) (platform.Application, string, error) {
		v, err := m.CreateApplication(c.Request().Context(), p, c.Param("org"), platform.Application{Name: in.Name, Cloudspace: in.Cloudspace, Plan: in.Plan})
		return v, v.Name, err
	}))
	r(http.MethodGet, app, get(func(c echo.Context, p platform.Principal) (platform.Application, error) {
		return m.GetApplication(c.Request().Context(), p, c.Param("org"), c.Param("app"))
	}))
	r(http.MethodPatch, app, update(func(c echo.Context, p platform.Principal, in platform.ApplicationPatch, ifMatch uint64) (platform.Application, error) {
		return m.UpdateApplication(c.Request().Context(), p, c.Param("org"), c.Param("app"), in, ifMatch)
	}))
	r(http.MethodDelete, app, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeleteApplication(c.Request().Context(), p, c.Param("org"), c.Param("app"), ifMatch)
	}))
	r(http.MethodGet, app+"/collaborators", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Collaborator], error) {
		return m.ListCollaborators(c.Request().Context(), p, c.Param("org"), c.Param("app"), pr)
	}))
	r(http.MethodPut, app+"/collaborators/:person", update(func(c echo.Context, p platform.Principal, in roleInput, _ uint64) (platform.Collaborator, error) {
		return m.PutCollaborator(c.Request().Context(), p, c.Param("org"), c.Param("app"), c.Param("person"), in.Role)
	}))
	r(http.MethodDelete, app+"/collaborators/:person", del(func(c echo.Context, p platform.Principal, _ uint64) error {
		return m.DeleteCollaborator(c.Request().Context(), p, c.Param("org"), c.Param("app"), c.Param("person"))
	}))

	r(http.MethodGet, app+"/envs", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Environment], error) {
		return m.ListEnvironments(c.Request().Context(), p, c.Param("org"), c.Param("app"), pr)
	}))
	r(http.MethodPost, app+"/envs", create(func(c echo.Context, p platform.Principal, in environmentInput) (platform.Environment, string, error) {
		v, err := m.CreateEnvironment(c.Request().Context(), p, c.Param("org"), c.Param("app"), platform.Environment{Name: in.Name, Processes: in.Processes, Services: in.Services})
		return v, v.Name, err
	}))
	r(http.MethodGet, env, get(func(c echo.Context, p platform.Principal) (platform.Environment, error) {
		return m.GetEnvironment(c.Request().Context(), p, envRef(c))
	}))
	r(http.MethodPatch, env, update(func(c echo.Context, p platform.Principal, in platform.EnvironmentPatch, ifMatch uint64) (platform.Environment, error) {
		return m.UpdateEnvironment(c.Request().Context(), p, envRef(c), in, ifMatch)
	}))
	r(http.MethodDelete, env, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeleteEnvironment(c.Request().Context(), p, envRef(c), ifMatch)
	}))

	r(http.MethodGet, env+"/vars", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Variable], error) {
		return m.ListVariables(c.Request().Context(), p, envRef(c), pr)
	}))
	r(http.MethodGet, vr, get(func(c echo.Context, p platform.Principal) (platform.Variable, error) {
		return m.GetVariable(c.Request().Context(), p, envRef(c), c.Param("name"))
	}))
	r(http.MethodPut, vr, func(c echo.Context) error {
		var in platform.VariableInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ifMatch, err := parseIfMatch(c)
		if err != nil {
			return err
		}
		v, created, err := m.PutVariable(c.Request().Context(), principal(c), envRef(c), c.Param("name"), in, ifMatch)
		if err != nil {
			return err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return writeResource(c, status, v)
	})
	r(http.MethodDelete, vr, del(func(c echo.Context, p platform.Principal, ifMatch uint64) error {
		return m.DeleteVariable(c.Request().Context(), p, envRef(c), c.Param("name"), ifMatch)
	}))
}

// checkParams answers 404 for a path naming something that cannot exist: a name that is
// not a DNS label (or, for a variable, not a variable name). A variable being set is
// left to the model, which says what is wrong with its name.
func checkParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		for i, name := range c.ParamNames() {
			v := c.ParamValues()[i]
			msg := platform.CheckName(v)
			if name == "domain" {
				if c.Request().Method == http.MethodPut {
					continue // the model says what is wrong with a domain being added
				}
				msg = platform.CheckDomainName(v)
			}
			if name == "name" {
				if c.Request().Method == http.MethodPut {
					continue
				}
				msg = platform.CheckVariableName(v)
			}
			if msg != "" {
				return platform.Errorf(platform.NotFound, "%s %q not found", name, v)
			}
		}
		return next(c)
	}
}

// writeResource writes v as JSON with its version as the ETag.
func writeResource(c echo.Context, status int, v any) error {
	if e, ok := v.(etagged); ok {
		c.Response().Header().Set("ETag", e.ETag())
	}
	return c.JSON(status, v)
}

// parseIfMatch reads If-Match: one strong entity tag this API gave, or "*" (any
// version). It returns 0 when there is no precondition.
func parseIfMatch(c echo.Context) (uint64, error) {
	h := strings.TrimSpace(c.Request().Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	n, err := strconv.ParseUint(strings.Trim(h, `"`), 10, 64)
	if err != nil || n == 0 || !strings.HasPrefix(h, `"`) || !strings.HasSuffix(h, `"`) {
		var fe platform.FieldErrors
		fe.Add("If-Match", "must be one entity tag from an ETag header of this API")
		return 0, fe.Err()
	}
	return n, nil
}

// parsePage reads ?cursor= and ?limit=.
func parsePage(c echo.Context) (platform.PageRequest, error) {
	pr := platform.PageRequest{Cursor: c.QueryParam("cursor")}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			var fe platform.FieldErrors
			fe.Add("limit", "must be a whole number between 1 and %d", platform.MaxPageSize)
			return pr, fe.Err()
		}
		pr.Limit = n
	}
	return pr, pr.Check().Err()
}

func list[T any](f func(echo.Context, platform.Principal, platform.PageRequest) (platform.Page[T], error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		pr, err := parsePage(c)
		if err != nil {
			return err
		}
		page, err := f(c, principal(c), pr)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, page)
	}
}

func get[T any](f func(echo.Context, platform.Principal) (T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		v, err := f(c, principal(c))
		if err != nil {
			return err
		}
		return writeResource(c, http.StatusOK, v)
	}
}

func create[In, T any](f func(echo.Context, platform.Principal, In) (T, string, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in In
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, name, err := f(c, principal(c), in)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, c.Request().URL.Path+"/"+name)
		return writeResource(c, http.StatusCreated, v)
	}
}

func update[In, T any](f func(echo.Context, platform.Principal, In, uint64) (T, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		var in In
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ifMatch, err := parseIfMatch(c)
		if err != nil {
			return err
		}
		v, err := f(c, principal(c), in, ifMatch)
		if err != nil {
			return err
		}
		return writeResource(c, http.StatusOK, v)
	}
}

func del(f func(echo.Context, platform.Principal, uint64) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		ifMatch, err := parseIfMatch(c)
		if err != nil {
			return err
		}
		if err := f(c, principal(c), ifMatch); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}
