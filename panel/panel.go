// Package panel is Wharf's Control Panel: server-rendered HTML pages (html/template,
// templates and CSS embedded) over the same domain services as the API, with the same
// permission checks, since every action goes through the platform method that checks
// them. A browser signs in with an API token and then holds a session cookie; every
// form carries a CSRF token.
//
// It imports no HashiCorp SDK and no adapter package; cmd/wharfd wires it into the
// API's Echo server through api.Config.Panel.
package panel

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Model is what the panel needs from the control plane; *platform.Deployer is one.
type Model interface {
	Authenticate(ctx context.Context, token string) (platform.Principal, error)
	ListOrganisations(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Organisation], error)
	ListMyCollaborations(ctx context.Context, p platform.Principal) ([]platform.Collaborator, error)
	GetOrganisation(ctx context.Context, p platform.Principal, org string) (platform.Organisation, error)
	ListMembers(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.Member], error)
	PutMember(ctx context.Context, p platform.Principal, org, person string, role platform.Role) (platform.Member, error)
	DeleteMember(ctx context.Context, p platform.Principal, org, person string) error
	ListPeople(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Person], error)
	CreatePerson(ctx context.Context, p platform.Principal, in platform.Person) (platform.Person, error)
	CreateToken(ctx context.Context, p platform.Principal, person, name string) (platform.Token, platform.Secret, error)
	ListAudit(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error)
	ListPlatformAudit(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.AuditEvent], error)
	ListCloudspaces(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Cloudspace], error)
	CreateCloudspace(ctx context.Context, p platform.Principal, in platform.Cloudspace) (platform.Cloudspace, error)
	ListPlans(ctx context.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Plan], error)
	CreatePlan(ctx context.Context, p platform.Principal, in platform.Plan) (platform.Plan, error)
	CreateApplication(ctx context.Context, p platform.Principal, org string, in platform.Application) (platform.Application, error)
	GetApplication(ctx context.Context, p platform.Principal, org, app string) (platform.Application, error)
	ListApplications(ctx context.Context, p platform.Principal, org string, pr platform.PageRequest) (platform.Page[platform.Application], error)
	ListCollaborators(ctx context.Context, p platform.Principal, org, app string, pr platform.PageRequest) (platform.Page[platform.Collaborator], error)
	PutCollaborator(ctx context.Context, p platform.Principal, org, app, person string, role platform.Role) (platform.Collaborator, error)
	DeleteCollaborator(ctx context.Context, p platform.Principal, org, app, person string) error
	GetEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Environment, error)
	UpdateEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef, patch platform.EnvironmentPatch, ifMatch uint64) (platform.Environment, error)
	ListVariables(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Variable], error)
	PutVariable(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, in platform.VariableInput, ifMatch uint64) (platform.Variable, bool, error)
	DeleteVariable(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, ifMatch uint64) error
	GetProcfile(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Procfile, error)
	PutProcfile(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.Procfile, ifMatch uint64) (platform.Procfile, error)
	CreateDeploy(ctx context.Context, p platform.Principal, ref platform.EnvRef, req platform.DeployRequest) (platform.Deploy, error)
	GetDeploy(ctx context.Context, p platform.Principal, ref platform.EnvRef, id string) (platform.Deploy, error)
	ListDeploys(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Deploy], error)
	ListReleases(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Release], error)
	Status(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.EnvStatus, error)
	Logs(ctx context.Context, p platform.Principal, ref platform.EnvRef, process string, follow bool, emit func(platform.LogLine)) error
	ListDomains(ctx context.Context, p platform.Principal, ref platform.EnvRef) ([]platform.Domain, error)
	PutDomain(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, primary bool) (platform.Domain, error)
	DeleteDomain(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) error
	GetRouting(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Routing, error)
	SetRouting(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.RoutingInput, ifMatch uint64) (platform.Routing, error)
	ListServices(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.EnvService], error)
	AttachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.ServiceInput) (platform.EnvService, error)
	DetachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)
	ReattachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)
	RemoveService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name, confirm string) error
	CreateBuild(ctx context.Context, p platform.Principal, org, app string, src platform.BuildSource, tarball []byte) (platform.Build, error)
	GetBuild(ctx context.Context, p platform.Principal, org, app, id string) (platform.Build, error)
	ListBuilds(ctx context.Context, p platform.Principal, org, app string, pr platform.PageRequest) (platform.Page[platform.Build], error)
	BuildLog(ctx context.Context, p platform.Principal, org, app, id string, from int) ([]string, error)
	CancelBuild(ctx context.Context, p platform.Principal, org, app, id string) (platform.Build, error)
}

var _ Model = (*platform.Deployer)(nil)

// Config is what the panel needs.
type Config struct {
	Model Model
	// Sessions is the state store that keeps sessions (Consul KV, in production).
	Sessions platform.KV
	Logger   *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Metrics, when set, draws the environment page's graphs (graphs.go).
	Metrics MetricsSource
}

// Panel serves the Control Panel.
type Panel struct {
	m        Model
	sessions *sessions
	log      *slog.Logger
	pages    map[string]*template.Template
	metrics  MetricsSource
}

// New returns the panel, its templates parsed.
func New(cfg Config) *Panel {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Panel{m: cfg.Model, sessions: &sessions{kv: cfg.Sessions, now: cfg.Now}, log: cfg.Logger, pages: map[string]*template.Template{}, metrics: cfg.Metrics}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		p.pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, n))
	}
	return p
}

var funcs = template.FuncMap{
	"glance": glanceOf,
	"deref":  func(b *bool) bool { return b != nil && *b },
	"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"iso":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
}

// glance counts an environment's instances: those of its newest job version (the
// release it runs, or the one rolling out), how many of them are healthy, and the older
// ones still stopping after a deploy.
type glance struct {
	Current, Healthy, Old int
	Instances             []platform.Instance
}

func glanceOf(st platform.EnvStatus) glance {
	var g glance
	var newest uint64
	for _, i := range st.Instances {
		newest = max(newest, i.Version)
	}
	for _, i := range st.Instances {
		if i.Version != newest {
			g.Old++
			continue
		}
		g.Current++
		g.Instances = append(g.Instances, i)
		if i.Healthy != nil && *i.Healthy {
			g.Healthy++
		}
	}
	return g
}

// Register adds the panel's routes to e, outside /v1.
func (p *Panel) Register(e *echo.Echo) {
	static, _ := fs.Sub(staticFS, "static")
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServer(http.FS(static)))), headers)
	e.GET("/signin", p.signinPage, headers)
	e.POST("/signin", p.signin, headers)
	e.POST("/signout", p.page(p.signout))
	e.GET("/", p.page(p.home))
	e.GET("/admin", p.page(p.admin))
	e.POST("/admin/cloudspaces", p.page(p.createCloudspace))
	e.POST("/admin/plans", p.page(p.createPlan))
	e.GET("/admin/audit", p.page(p.platformAudit))
	e.POST("/admin/people", p.page(p.createPerson))
	e.POST("/admin/tokens", p.page(p.createToken))
	const (
		org = "/orgs/:org"
		app = org + "/apps/:app"
		env = app + "/envs/:env"
	)
	e.GET(org, p.page(p.org))
	e.GET(org+"/audit", p.page(p.audit))
	e.POST(org+"/apps", p.page(p.createApp))
	e.POST(org+"/members", p.page(p.putMember))
	e.POST(org+"/members/delete", p.page(p.deleteMember))
	e.GET(app, p.page(p.app))
	e.POST(app+"/collaborators", p.page(p.putCollaborator))
	e.POST(app+"/collaborators/delete", p.page(p.deleteCollaborator))
	e.POST(app+"/builds", p.page(p.createBuild))
	e.GET(app+"/builds/:build", p.page(p.buildView))
	e.GET(app+"/builds/:build/events", p.page(p.buildEvents))
	e.POST(app+"/builds/:build/cancel", p.page(p.cancelBuild))
	e.POST(app+"/builds/:build/deploy", p.page(p.deployBuild))
	e.GET(env, p.page(p.env))
	e.POST(env+"/vars", p.page(p.putVariable))
	e.POST(env+"/vars/delete", p.page(p.deleteVariable))
	e.POST(env+"/procfile", p.page(p.putProcfile))
	e.POST(env+"/domains", p.page(p.putDomain))
	e.POST(env+"/domains/delete", p.page(p.deleteDomain))
	e.POST(env+"/routing", p.page(p.setRouting))
	e.POST(env+"/services", p.page(p.attachService))
	e.POST(env+"/services/state", p.page(p.serviceState))
	e.POST(env+"/services/remove", p.page(p.removeService))
	e.POST(env+"/deploys", p.page(p.deploy))
	e.POST(env+"/rollback", p.page(p.rollback))
	e.POST(env+"/scale", p.page(p.scale))
	e.POST(env+"/lifecycle", p.page(p.lifecycle))
	e.GET(env+"/deploys/:deploy", p.page(p.deployView))
	e.GET(env+"/deploys/:deploy/events", p.page(p.deployEvents))
	e.GET(env+"/logs", p.page(p.logs))
	e.GET(env+"/logs/events", p.page(p.logEvents))
}

// headers sets the security headers of every panel response: no framing, no script or
// style from elsewhere, no sniffing.
func headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		return next(c)
	}
}

// request is one signed-in request: the caller, and the session's CSRF token.
type request struct {
	echo.Context
	who  platform.Principal
	csrf string
}

func (r *request) ctx() context.Context { return r.Request().Context() }

// view is what every page template gets.
type view struct {
	Title string
	Who   platform.Principal
	CSRF  string
	Org   string
	Data  any
}

const (
	cookieName       = "wharf_session"
	secureCookieName = "__Host-wharf_session"
	signinCookie     = "wharf_signin"
)

// secure reports whether the request came over TLS, when cookies must be Secure.
func secure(c echo.Context) bool { return c.Request().TLS != nil }

func sessionCookieName(c echo.Context) string {
	if secure(c) {
		return secureCookieName
	}
	return cookieName
}

// page wraps a handler that needs a session: it sends a caller without one to sign in,
// refuses a POST whose CSRF token is not the session's, and renders errors as pages.
func (p *Panel) page(h func(r *request) error) echo.HandlerFunc {
	return headers(func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		// As the API does: a path naming something that cannot exist is not found.
		for i, name := range c.ParamNames() {
			if v := c.ParamValues()[i]; platform.CheckName(v) != "" {
				return p.fail(c, view{}, platform.Errorf(platform.NotFound, "%s %q not found", name, v))
			}
		}
		ck, err := c.Cookie(sessionCookieName(c))
		if err != nil {
			return p.toSignin(c)
		}
		token, id, err := p.sessions.open(c.Request().Context(), ck.Value)
		if platform.ErrorCode(err) == platform.NotFound {
			return p.toSignin(c)
		} else if err != nil {
			return p.fail(c, view{}, err)
		}
		who, err := p.m.Authenticate(c.Request().Context(), token)
		if platform.ErrorCode(err) == platform.Unauthorized {
			_ = p.sessions.end(c.Request().Context(), ck.Value)
			return p.toSignin(c)
		} else if err != nil {
			return p.fail(c, view{}, err)
		}
		r := &request{Context: c, who: who, csrf: csrfToken(id)}
		if c.Request().Method == http.MethodPost {
			if !validCSRF(id, c.FormValue("csrf")) || !sameOrigin(c) {
				return p.fail(c, view{Who: who, CSRF: r.csrf}, platform.Errorf(platform.Forbidden, "the form's CSRF token is missing or wrong; reload the page and try again"))
			}
		}
		if err := h(r); err != nil {
			return p.fail(c, view{Who: who, CSRF: r.csrf, Org: c.Param("org")}, err)
		}
		return nil
	})
}

// sameOrigin refuses a POST whose Origin header names another origin; browsers send
// it on every cross-origin POST.
func sameOrigin(c echo.Context) bool {
	o := c.Request().Header.Get("Origin")
	if o == "" {
		return true
	}
	scheme := "http://"
	if secure(c) {
		scheme = "https://"
	}
	return o == scheme+c.Request().Host
}

func (p *Panel) toSignin(c echo.Context) error {
	if c.Request().Method != http.MethodGet || strings.HasSuffix(c.Path(), "/events") {
		return p.fail(c, view{}, platform.Errorf(platform.Unauthorized, "sign in first"))
	}
	return c.Redirect(http.StatusSeeOther, "/signin")
}

// statusOf maps error codes to statuses, as the API does.
var statusOf = map[platform.Code]int{
	platform.Invalid:       http.StatusBadRequest,
	platform.Unauthorized:  http.StatusUnauthorized,
	platform.Forbidden:     http.StatusForbidden,
	platform.NotFound:      http.StatusNotFound,
	platform.Conflict:      http.StatusConflict,
	platform.LimitExceeded: http.StatusUnprocessableEntity,
	platform.Unavailable:   http.StatusServiceUnavailable,
	platform.Internal:      http.StatusInternalServerError,
}

type failure struct {
	Status  int
	Code    platform.Code
	Message string
	Fields  []platform.FieldError
}

// fail renders err as an error page with the status the API would answer.
func (p *Panel) fail(c echo.Context, v view, err error) error {
	code := platform.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		code, status = platform.Internal, http.StatusInternalServerError
	}
	if status >= 500 {
		p.log.Error("panel request failed", "path", c.Request().URL.Path, "error", err)
	}
	f := failure{Status: status, Code: code, Message: platform.ErrorMessage(err)}
	var fe platform.FieldErrors
	if errors.As(err, &fe) {
		f.Fields = fe
	}
	v.Title = http.StatusText(status)
	v.Data = f
	return p.render(c, status, "error", v)
}

func (p *Panel) render(c echo.Context, status int, name string, v view) error {
	t, ok := p.pages[name]
	if !ok {
		return echo.NewHTTPError(http.StatusInternalServerError, "no template "+name)
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		p.log.Error("render", "page", name, "error", err)
		return c.String(http.StatusInternalServerError, "the page could not be rendered")
	}
	return c.HTML(status, b.String())
}

func (p *Panel) show(r *request, name, title string, data any) error {
	return p.render(r, http.StatusOK, name, view{Title: title, Who: r.who, CSRF: r.csrf, Org: r.Param("org"), Data: data})
}

// back redirects to a page after a form was handled (POST, redirect, GET).
func back(r *request, path string) error { return r.Redirect(http.StatusSeeOther, path) }

// all reads every page of a list.
func all[T any](f func(platform.PageRequest) (platform.Page[T], error)) ([]T, error) {
	var out []T
	pr := platform.PageRequest{Limit: platform.MaxPageSize}
	for {
		page, err := f(pr)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.Next == "" || len(out) >= 10000 {
			return out, nil
		}
		pr.Cursor = page.Next
	}
}

// role returns the caller's effective role in org (on app, when not empty), as the
// platform's authorisation decides it: administrators act as owners, and a
// collaborator's role on app counts when it is higher than the membership's. It only
// decides which buttons a page shows; every action is checked again by the platform.
func (p *Panel) role(r *request, org, app string) platform.Role {
	if r.who.Admin {
		return platform.RoleOwner
	}
	var role platform.Role
	members, _ := all(func(pr platform.PageRequest) (platform.Page[platform.Member], error) {
		return p.m.ListMembers(r.ctx(), r.who, org, pr)
	})
	for _, m := range members {
		if m.Person == r.who.Person {
			role = m.Role
		}
	}
	if app != "" {
		collabs, _ := all(func(pr platform.PageRequest) (platform.Page[platform.Collaborator], error) {
			return p.m.ListCollaborators(r.ctx(), r.who, org, app, pr)
		})
		for _, c := range collabs {
			if c.Person == r.who.Person && rank(c.Role) > rank(role) {
				role = c.Role
			}
		}
	}
	return role
}

var roles = []platform.Role{platform.RoleViewer, platform.RoleDeveloper, platform.RoleAdmin, platform.RoleOwner}

func rank(r platform.Role) int { return slices.Index(roles, r) + 1 }

// can is what a page may offer its caller.
type can struct {
	Configure bool // developer: variables, procfile, deploys, scale
	Manage    bool // admin: applications, collaborators, audit log
}

func canFor(role platform.Role) can {
	return can{Configure: rank(role) >= rank(platform.RoleDeveloper), Manage: rank(role) >= rank(platform.RoleAdmin)}
}
