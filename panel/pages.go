package panel

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// signinPage shows the sign-in form. Before a session exists, its CSRF protection is a
// double-submitted random value: a cookie and a hidden field that must match.
func (p *Panel) signinPage(c echo.Context) error {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	c.SetCookie(&http.Cookie{Name: signinCookie, Value: v, Path: "/signin", HttpOnly: true, Secure: secure(c), SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return p.render(c, http.StatusOK, "signin", view{Title: "Sign in", CSRF: v})
}

func (p *Panel) signin(c echo.Context) error {
	ck, err := c.Cookie(signinCookie)
	form := c.FormValue("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 || !sameOrigin(c) {
		return p.fail(c, view{}, platform.Errorf(platform.Forbidden, "the form's CSRF token is missing or wrong; reload the page and try again"))
	}
	token := strings.TrimSpace(c.FormValue("token"))
	ctx := c.Request().Context()
	who, err := p.m.Authenticate(ctx, token)
	if err != nil {
		if platform.ErrorCode(err) == platform.Unauthorized {
			return p.render(c, http.StatusUnauthorized, "signin", view{Title: "Sign in", CSRF: ck.Value, Data: "That token is not valid."})
		}
		return p.fail(c, view{}, err)
	}
	// A session lasts SessionLifetime, and never beyond its token's expiry.
	until := time.Now().Add(SessionLifetime)
	if who.ExpiresAt != nil && who.ExpiresAt.Before(until) {
		until = *who.ExpiresAt
	}
	id, err := p.sessions.createUntil(ctx, token, until)
	if err != nil {
		return p.fail(c, view{}, err)
	}
	if err := p.sessions.sweep(ctx); err != nil {
		p.log.Warn("sweep expired sessions", "error", err)
	}
	c.SetCookie(&http.Cookie{Name: signinCookie, Value: "", Path: "/signin", MaxAge: -1})
	c.SetCookie(&http.Cookie{Name: sessionCookieName(c), Value: id, Path: "/", HttpOnly: true, Secure: secure(c),
		SameSite: http.SameSiteStrictMode, MaxAge: int(time.Until(until) / time.Second)})
	return c.Redirect(http.StatusSeeOther, "/")
}

func (p *Panel) signout(r *request) error {
	if ck, err := r.Cookie(sessionCookieName(r)); err == nil {
		if err := p.sessions.end(r.ctx(), ck.Value); err != nil {
			return err
		}
	}
	r.SetCookie(&http.Cookie{Name: sessionCookieName(r), Value: "", Path: "/", HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
	return back(r, "/signin")
}

// homeData is the home page: the caller's organisations, and the applications shared
// with the caller outside them.
type homeData struct {
	Orgs   []platform.Organisation
	Shared []platform.Collaborator
}

func (p *Panel) home(r *request) error {
	var d homeData
	var err error
	if d.Orgs, err = all(func(pr platform.PageRequest) (platform.Page[platform.Organisation], error) {
		return p.m.ListOrganisations(r.ctx(), r.who, pr)
	}); err != nil {
		return err
	}
	if d.Shared, err = p.m.ListMyCollaborations(r.ctx(), r.who); err != nil {
		return err
	}
	return p.show(r, "home", "Organisations", d)
}

type adminData struct {
	People      []platform.Person
	Cloudspaces []platform.Cloudspace
	Plans       []platform.Plan
	Vendors     []string
	Tenancies   []string
}

func (p *Panel) admin(r *request) error {
	if !r.who.Admin {
		return platform.Errorf(platform.Forbidden, "only a platform administrator may manage cloudspaces and plans")
	}
	var d adminData
	var err error
	if d.Cloudspaces, err = all(func(pr platform.PageRequest) (platform.Page[platform.Cloudspace], error) {
		return p.m.ListCloudspaces(r.ctx(), r.who, pr)
	}); err != nil {
		return err
	}
	if d.Plans, err = all(func(pr platform.PageRequest) (platform.Page[platform.Plan], error) {
		return p.m.ListPlans(r.ctx(), r.who, pr)
	}); err != nil {
		return err
	}
	if d.People, err = all(func(pr platform.PageRequest) (platform.Page[platform.Person], error) {
		return p.m.ListPeople(r.ctx(), r.who, pr)
	}); err != nil {
		return err
	}
	d.Vendors, d.Tenancies = platform.Vendors, platform.Tenancies
	return p.show(r, "admin", "Administration", d)
}

func (p *Panel) createCloudspace(r *request) error {
	_, err := p.m.CreateCloudspace(r.ctx(), r.who, platform.Cloudspace{
		Name: r.FormValue("name"), Vendor: r.FormValue("vendor"), Location: r.FormValue("location"), Tenancy: r.FormValue("tenancy"),
		Region: r.FormValue("region"), NodePool: r.FormValue("node_pool"), IngressDomain: r.FormValue("ingress_domain"), Registry: r.FormValue("registry"),
	})
	if err != nil {
		return err
	}
	return back(r, "/admin")
}

func (p *Panel) createPlan(r *request) error {
	n := func(field string) int { v, _ := strconv.Atoi(r.FormValue(field)); return v }
	// Limits the form leaves out take their defaults; a plan is public unless the
	// form restricts it.
	or := func(field string, def int) int {
		if r.FormValue(field) == "" {
			return def
		}
		return n(field)
	}
	_, err := p.m.CreatePlan(r.ctx(), r.who, platform.Plan{Name: r.FormValue("name"), Public: r.FormValue("restricted") == "", Limits: platform.Limits{
		Environments: n("environments"), InstancesPerProcess: n("instances_per_process"),
		MemoryMBPerInstance: n("memory_mb_per_instance"), ServiceInstances: n("service_instances"),
		CustomDomains: or("custom_domains", platform.DefaultCustomDomains), UploadMB: or("upload_mb", platform.DefaultUploadMB),
	}})
	if err != nil {
		return err
	}
	return back(r, "/admin")
}

// envRow is one environment at a glance.
type envRow struct {
	Name   string
	Status platform.EnvStatus
	Error  string
}

type appRow struct {
	App  platform.Application
	Envs []envRow
}

type orgData struct {
	Org         platform.Organisation
	Members     []platform.Member
	Roles       []platform.Role
	Apps        []appRow
	Can         can
	Cloudspaces []platform.Cloudspace
	Plans       []platform.Plan
}

func (p *Panel) envRows(r *request, a platform.Application) []envRow {
	var rows []envRow
	for _, e := range a.Environments {
		st, err := p.m.Status(r.ctx(), r.who, platform.Ref(a.Org, a.Name, e))
		row := envRow{Name: e, Status: st}
		if err != nil {
			row.Error = platform.ErrorMessage(err)
		}
		rows = append(rows, row)
	}
	return rows
}

func (p *Panel) org(r *request) error {
	org := r.Param("org")
	o, err := p.m.GetOrganisation(r.ctx(), r.who, org)
	if err != nil {
		return err
	}
	apps, err := all(func(pr platform.PageRequest) (platform.Page[platform.Application], error) {
		return p.m.ListApplications(r.ctx(), r.who, org, pr)
	})
	if err != nil {
		return err
	}
	d := orgData{Org: o, Can: canFor(p.role(r, org, "")), Roles: roles}
	if d.Members, err = all(func(pr platform.PageRequest) (platform.Page[platform.Member], error) {
		return p.m.ListMembers(r.ctx(), r.who, org, pr)
	}); err != nil {
		return err
	}
	for _, a := range apps {
		d.Apps = append(d.Apps, appRow{App: a, Envs: p.envRows(r, a)})
	}
	if d.Can.Manage {
		d.Cloudspaces, _ = all(func(pr platform.PageRequest) (platform.Page[platform.Cloudspace], error) {
			return p.m.ListCloudspaces(r.ctx(), r.who, pr)
		})
		d.Plans, _ = all(func(pr platform.PageRequest) (platform.Page[platform.Plan], error) {
			return p.m.ListPlans(r.ctx(), r.who, pr)
		})
	}
	return p.show(r, "org", o.Name, d)
}

func (p *Panel) audit(r *request) error {
	org := r.Param("org")
	events, err := all(func(pr platform.PageRequest) (platform.Page[platform.AuditEvent], error) {
		return p.m.ListAudit(r.ctx(), r.who, org, pr)
	})
	if err != nil {
		return err
	}
	slices.Reverse(events) // newest first
	return p.show(r, "audit", "Audit log of "+org, events)
}

// platformAudit shows the audit log of people, tokens, cloudspaces and plans.
func (p *Panel) platformAudit(r *request) error {
	events, err := all(func(pr platform.PageRequest) (platform.Page[platform.AuditEvent], error) {
		return p.m.ListPlatformAudit(r.ctx(), r.who, pr)
	})
	if err != nil {
		return err
	}
	slices.Reverse(events)
	return p.show(r, "audit", "Audit log of the platform", events)
}

func (p *Panel) createApp(r *request) error {
	org := r.Param("org")
	a, err := p.m.CreateApplication(r.ctx(), r.who, org, platform.Application{Name: r.FormValue("name"), Cloudspace: r.FormValue("cloudspace"), Plan: r.FormValue("plan")})
	if err != nil {
		return err
	}
	return back(r, "/orgs/"+org+"/apps/"+a.Name)
}

type appData struct {
	App           platform.Application
	Builds        []platform.Build
	Envs          []envRow
	Collaborators []platform.Collaborator
	Can           can
	Roles         []platform.Role
}

func (p *Panel) app(r *request) error {
	org, name := r.Param("org"), r.Param("app")
	a, err := p.m.GetApplication(r.ctx(), r.who, org, name)
	if err != nil {
		return err
	}
	d := appData{App: a, Envs: p.envRows(r, a), Can: canFor(p.role(r, org, name)), Roles: roles}
	if d.Collaborators, err = all(func(pr platform.PageRequest) (platform.Page[platform.Collaborator], error) {
		return p.m.ListCollaborators(r.ctx(), r.who, org, name, pr)
	}); err != nil {
		return err
	}
	if d.Builds, err = all(func(pr platform.PageRequest) (platform.Page[platform.Build], error) {
		return p.m.ListBuilds(r.ctx(), r.who, org, name, pr)
	}); err != nil {
		return err
	}
	slices.Reverse(d.Builds)
	if len(d.Builds) > 20 {
		d.Builds = d.Builds[:20]
	}
	return p.show(r, "app", a.Name, d)
}

func appPath(r *request) string { return "/orgs/" + r.Param("org") + "/apps/" + r.Param("app") }
func envPath(r *request) string { return appPath(r) + "/envs/" + r.Param("env") }

func (p *Panel) putCollaborator(r *request) error {
	_, err := p.m.PutCollaborator(r.ctx(), r.who, r.Param("org"), r.Param("app"), r.FormValue("person"), platform.Role(r.FormValue("role")))
	if err != nil {
		return err
	}
	return back(r, appPath(r))
}

func (p *Panel) deleteCollaborator(r *request) error {
	if err := p.m.DeleteCollaborator(r.ctx(), r.who, r.Param("org"), r.Param("app"), r.FormValue("person")); err != nil {
		return err
	}
	return back(r, appPath(r))
}

type envData struct {
	Org, App string
	Env      platform.Environment
	Status   platform.EnvStatus
	Vars     []platform.Variable
	Procfile platform.Procfile
	Services []platform.EnvService
	Domains  []platform.Domain
	Routing  platform.Routing
	Releases []platform.Release
	Deploys  []platform.Deploy
	Can      can
	// Scale lists the processes to show scale for: the environment's and the procfile's.
	Scale []scaleRow
	// Graphs are the metrics' charts (inline SVG), and MetricEvents the window's OOM
	// kills (graphs.go).
	Graphs       []template.HTML
	MetricEvents []platform.MetricEvent
}

type scaleRow struct {
	Process string
	platform.ProcessScale
}

func (p *Panel) env(r *request) error {
	ctx, org, app, name := r.ctx(), r.Param("org"), r.Param("app"), r.Param("env")
	e, err := p.m.GetEnvironment(ctx, r.who, platform.Ref(org, app, name))
	if err != nil {
		return err
	}
	d := envData{Org: org, App: app, Env: e, Can: canFor(p.role(r, org, app))}
	if d.Status, err = p.m.Status(ctx, r.who, platform.Ref(org, app, name)); err != nil {
		return err
	}
	if d.Vars, err = all(func(pr platform.PageRequest) (platform.Page[platform.Variable], error) {
		return p.m.ListVariables(ctx, r.who, platform.Ref(org, app, name), pr)
	}); err != nil {
		return err
	}
	if d.Domains, err = p.m.ListDomains(ctx, r.who, platform.Ref(org, app, name)); err != nil {
		return err
	}
	if d.Routing, err = p.m.GetRouting(ctx, r.who, platform.Ref(org, app, name)); err != nil {
		return err
	}
	if d.Services, err = all(func(pr platform.PageRequest) (platform.Page[platform.EnvService], error) {
		return p.m.ListServices(ctx, r.who, platform.Ref(org, app, name), pr)
	}); err != nil {
		return err
	}
	if d.Procfile, err = p.m.GetProcfile(ctx, r.who, platform.Ref(org, app, name)); err != nil && platform.ErrorCode(err) != platform.NotFound {
		return err
	}
	if d.Releases, err = all(func(pr platform.PageRequest) (platform.Page[platform.Release], error) {
		return p.m.ListReleases(ctx, r.who, platform.Ref(org, app, name), pr)
	}); err != nil {
		return err
	}
	slices.Reverse(d.Releases)
	page, err := p.m.ListDeploys(ctx, r.who, platform.Ref(org, app, name), platform.PageRequest{Limit: platform.MaxPageSize})
	if err != nil {
		return err
	}
	d.Deploys = page.Items
	slices.SortFunc(d.Deploys, func(a, b platform.Deploy) int { return strings.Compare(b.ID, a.ID) })
	if len(d.Deploys) > 20 {
		d.Deploys = d.Deploys[:20]
	}
	procs := map[string]platform.ProcessScale{}
	for k := range d.Procfile.Processes {
		procs[k] = platform.ProcessScale{Instances: 1, MemoryMB: platform.DefaultMemoryMB}
	}
	for k, v := range e.Processes {
		procs[k] = v
	}
	if len(procs) == 0 {
		procs["web"] = platform.ProcessScale{Instances: 1, MemoryMB: platform.DefaultMemoryMB}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range procs {
			if !yield(k) {
				return
			}
		}
	}) {
		d.Scale = append(d.Scale, scaleRow{Process: k, ProcessScale: procs[k]})
	}
	d.Graphs, d.MetricEvents = p.graphs(r, org, app, name)
	return p.show(r, "env", app+" · "+name, d)
}

func (p *Panel) putVariable(r *request) error {
	name := strings.TrimSpace(r.FormValue("name"))
	in := platform.VariableInput{Value: r.FormValue("value"), Secret: r.FormValue("secret") == "on"}
	if _, _, err := p.m.PutVariable(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), name, in, 0); err != nil {
		return err
	}
	return back(r, envPath(r)+"#variables")
}

func (p *Panel) deleteVariable(r *request) error {
	if err := p.m.DeleteVariable(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), r.FormValue("name"), 0); err != nil {
		return err
	}
	return back(r, envPath(r)+"#variables")
}

// putProcfile sets one process's command (and the release command), keeping the rest
// of the procfile.
func (p *Panel) putProcfile(r *request) error {
	ctx, org, app, env := r.ctx(), r.Param("org"), r.Param("app"), r.Param("env")
	cur, err := p.m.GetProcfile(ctx, r.who, platform.Ref(org, app, env))
	if err != nil && platform.ErrorCode(err) != platform.NotFound {
		return err
	}
	procs := map[string]platform.ProcessDef{}
	for k, v := range cur.Processes {
		procs[k] = v
	}
	process := strings.TrimSpace(r.FormValue("process"))
	if process == "" {
		process = "web"
	}
	if r.FormValue("remove") == "on" {
		delete(procs, process)
	} else {
		procs[process] = platform.ProcessDef{Command: r.FormValue("command"), HealthPath: strings.TrimSpace(r.FormValue("health_path"))}
	}
	next := platform.Procfile{Processes: procs, ReleaseCommand: r.FormValue("release_command"), Cron: cur.Cron}
	if _, err := p.m.PutProcfile(ctx, r.who, platform.Ref(org, app, env), next, cur.Index); err != nil {
		return err
	}
	return back(r, envPath(r)+"#procfile")
}

func (p *Panel) deployed(r *request, d platform.Deploy, err error) error {
	if err != nil {
		return err
	}
	return back(r, envPath(r)+"/deploys/"+d.ID)
}

func (p *Panel) deploy(r *request) error {
	d, err := p.m.CreateDeploy(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), platform.DeployRequest{
		Kind: platform.DeployRelease, Image: strings.TrimSpace(r.FormValue("image")), GitCommit: strings.TrimSpace(r.FormValue("git_commit")),
	})
	return p.deployed(r, d, err)
}

func (p *Panel) rollback(r *request) error {
	n, err := strconv.Atoi(r.FormValue("release"))
	if err != nil || n < 1 {
		var fe platform.FieldErrors
		fe.Add("release", "must be a release number")
		return fe.Err()
	}
	d, err := p.m.CreateDeploy(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), platform.DeployRequest{Kind: platform.DeployRollback, Release: n})
	return p.deployed(r, d, err)
}

func (p *Panel) lifecycle(r *request) error {
	kind := r.FormValue("kind")
	if kind != platform.DeployStop && kind != platform.DeployStart && kind != platform.DeployRestart {
		var fe platform.FieldErrors
		fe.Add("kind", "must be stop, start or restart")
		return fe.Err()
	}
	d, err := p.m.CreateDeploy(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), platform.DeployRequest{Kind: kind})
	return p.deployed(r, d, err)
}

// scale changes one process's scale as the API's scale route does: the environment's
// scale is saved against the version read, and a running environment is redeployed.
func (p *Panel) scale(r *request) error {
	ctx, org, app, env := r.ctx(), r.Param("org"), r.Param("app"), r.Param("env")
	process := strings.TrimSpace(r.FormValue("process"))
	instances, err1 := strconv.Atoi(r.FormValue("instances"))
	memory, err2 := strconv.Atoi(r.FormValue("memory_mb"))
	if err1 != nil || err2 != nil {
		var fe platform.FieldErrors
		fe.Check("instances", map[bool]string{true: "must be a whole number"}[err1 != nil])
		fe.Check("memory_mb", map[bool]string{true: "must be a whole number"}[err2 != nil])
		return fe.Err()
	}
	cur, err := p.m.GetEnvironment(ctx, r.who, platform.Ref(org, app, env))
	if err != nil {
		return err
	}
	procs := map[string]platform.ProcessScale{}
	for k, v := range cur.Processes {
		procs[k] = v
	}
	procs[process] = platform.ProcessScale{Instances: instances, MemoryMB: memory}
	if _, err := p.m.UpdateEnvironment(ctx, r.who, platform.Ref(org, app, env), platform.EnvironmentPatch{Processes: &procs}, cur.Index); err != nil {
		return err
	}
	st, err := p.m.Status(ctx, r.who, platform.Ref(org, app, env))
	if err != nil {
		return err
	}
	if st.Release == 0 {
		return back(r, envPath(r)+"#scale") // it applies with the first deploy
	}
	d, err := p.m.CreateDeploy(ctx, r.who, platform.Ref(org, app, env), platform.DeployRequest{Kind: platform.DeployScale})
	if platform.ErrorCode(err) == platform.Conflict {
		return platform.Wrap(platform.Conflict, err, "the new scale is saved, but "+platform.ErrorMessage(err)+"; it applies with the next deploy")
	}
	return p.deployed(r, d, err)
}

type deployData struct {
	Deploy  platform.Deploy
	EnvPath string
	Events  string // the stream the page follows
	// Build is the build the deploy waits for, if any, with its log so far.
	Build *buildData
	// Phases are the phases of a deploy, in order, and whether this one reached each.
	Phases []phase
}

type phase struct {
	Name    string
	Reached bool
}

// phaseOrder lists a deploy's phases; a deploy skips those it has no use for (a
// release command when there is none, a new release for a scale).
var phaseOrder = []string{platform.PhaseQueued, platform.PhaseRelease, platform.PhaseReleaseCommand, platform.PhaseRegistered, platform.PhaseRollout, platform.PhaseDone}

func phasesOf(d platform.Deploy) []phase {
	seen := map[string]bool{d.Phase: true}
	for _, e := range d.Events {
		seen[e.Phase] = true
	}
	out := make([]phase, len(phaseOrder))
	for i, name := range phaseOrder {
		out[i] = phase{Name: name, Reached: seen[name]}
	}
	return out
}

func (p *Panel) deployView(r *request) error {
	d, err := p.m.GetDeploy(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), r.Param("deploy"))
	if err != nil {
		return err
	}
	data := deployData{Deploy: d, EnvPath: envPath(r), Events: envPath(r) + "/deploys/" + url.PathEscape(d.ID) + "/events", Phases: phasesOf(d)}
	if d.Build != "" {
		b, err := p.build(r, d.Build)
		if err != nil {
			return err
		}
		data.Build = &b
	}
	return p.show(r, "deploy", "Deploy "+d.ID, data)
}

// deployEvents streams a deploy's progress as server-sent events, as the API's
// /deploys/{id}/events does, to a browser signed in with a session cookie (an
// EventSource cannot send a bearer token).
func (p *Panel) deployEvents(r *request) error {
	ctx := r.ctx()
	org, app, env, id := r.Param("org"), r.Param("app"), r.Param("env"), r.Param("deploy")
	d, err := p.m.GetDeploy(ctx, r.who, platform.Ref(org, app, env), id)
	if err != nil {
		return err
	}
	w := r.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sent := 0
	for {
		for ; sent < len(d.Events); sent++ {
			b, _ := json.Marshal(d.Events[sent])
			fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b)
		}
		if d.Done() {
			b, _ := json.Marshal(d)
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", b)
			w.Flush()
			return nil
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		next, err := p.m.GetDeploy(ctx, r.who, platform.Ref(org, app, env), id)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(w, "event: failure\ndata: %q\n\n", platform.ErrorMessage(err))
			}
			return nil
		}
		if len(next.Events) < sent {
			sent = 0
		}
		d = next
	}
}

type logsData struct {
	EnvPath string
	Process string
	Lines   []platform.LogLine
	Cut     bool
}

// maxLogLines bounds a logs page.
const maxLogLines = 2000

func (p *Panel) logs(r *request) error {
	ctx, cancel := context.WithTimeout(r.ctx(), 20*time.Second)
	defer cancel()
	process := r.QueryParam("process")
	d := logsData{EnvPath: envPath(r), Process: process}
	if process != "" && platform.CheckName(process) != "" {
		return platform.Errorf(platform.NotFound, "process %q not found", process)
	}
	err := p.m.Logs(ctx, r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), process, false, func(l platform.LogLine) {
		d.Lines = append(d.Lines, l)
		if len(d.Lines) > maxLogLines {
			d.Lines = d.Lines[1:]
			d.Cut = true
		}
	})
	if err != nil {
		return err
	}
	return p.show(r, "logs", "Logs of "+r.Param("app")+" · "+r.Param("env"), d)
}

// logEvents follows the environment's output as server-sent events, one "line" event
// (a platform.LogLine) each, until the browser leaves.
func (p *Panel) logEvents(r *request) error {
	process := r.QueryParam("process")
	if process != "" && platform.CheckName(process) != "" {
		return platform.Errorf(platform.NotFound, "process %q not found", process)
	}
	w := r.Response()
	started := false
	start := func() {
		if !started {
			w.Header().Set(echo.HeaderContentType, "text/event-stream")
			w.Header().Set("X-Accel-Buffering", "no")
			w.WriteHeader(http.StatusOK)
			started = true
		}
	}
	err := p.m.Logs(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), process, true, func(l platform.LogLine) {
		start()
		b, _ := json.Marshal(l)
		fmt.Fprintf(w, "event: line\ndata: %s\n\n", b)
		w.Flush()
	})
	if err != nil && !started {
		return err
	}
	start()
	w.Flush()
	return nil
}

func (p *Panel) createPerson(r *request) error {
	_, err := p.m.CreatePerson(r.ctx(), r.who, platform.Person{ID: strings.TrimSpace(r.FormValue("id")), Name: r.FormValue("name"),
		Email: strings.TrimSpace(r.FormValue("email")), Admin: r.FormValue("admin") == "on"})
	if err != nil {
		return err
	}
	return back(r, "/admin#people")
}

type tokenData struct {
	Token platform.Token
	Value string
}

// createToken makes an API token for a person and shows its value, this once.
func (p *Panel) createToken(r *request) error {
	tok, value, err := p.m.CreateToken(r.ctx(), r.who, strings.TrimSpace(r.FormValue("person")), strings.TrimSpace(r.FormValue("name")))
	if err != nil {
		return err
	}
	return p.show(r, "token", "New token for "+tok.Person, tokenData{Token: tok, Value: value.Reveal()})
}

func (p *Panel) putMember(r *request) error {
	org := r.Param("org")
	if _, err := p.m.PutMember(r.ctx(), r.who, org, strings.TrimSpace(r.FormValue("person")), platform.Role(r.FormValue("role"))); err != nil {
		return err
	}
	return back(r, "/orgs/"+org+"#members")
}

func (p *Panel) deleteMember(r *request) error {
	org := r.Param("org")
	if err := p.m.DeleteMember(r.ctx(), r.who, org, r.FormValue("person")); err != nil {
		return err
	}
	return back(r, "/orgs/"+org+"#members")
}

// attachService provisions a PostgreSQL database or a storage bucket and attaches it;
// the next deploy hands its credentials to the environment.
func (p *Panel) attachService(r *request) error {
	kind := r.FormValue("kind")
	if kind == "" {
		kind = platform.ServicePostgres
	}
	in := platform.ServiceInput{Name: strings.TrimSpace(r.FormValue("name")), Kind: kind, Prefix: strings.TrimSpace(r.FormValue("prefix"))}
	if _, err := p.m.AttachService(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), in); err != nil {
		return err
	}
	return back(r, envPath(r)+"#services")
}

// serviceState detaches a service instance, or attaches a detached one again.
func (p *Panel) serviceState(r *request) error {
	ctx, org, app, env, name := r.ctx(), r.Param("org"), r.Param("app"), r.Param("env"), r.FormValue("name")
	var err error
	switch r.FormValue("to") {
	case "detach":
		_, err = p.m.DetachService(ctx, r.who, platform.Ref(org, app, env), name)
	case "attach":
		_, err = p.m.ReattachService(ctx, r.who, platform.Ref(org, app, env), name)
	default:
		var fe platform.FieldErrors
		fe.Add("to", "must be attach or detach")
		err = fe.Err()
	}
	if err != nil {
		return err
	}
	return back(r, envPath(r)+"#services")
}

// removeService deletes a service instance and its data, once its name is typed again.
func (p *Panel) removeService(r *request) error {
	if err := p.m.RemoveService(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), r.FormValue("name"), strings.TrimSpace(r.FormValue("confirm"))); err != nil {
		return err
	}
	return back(r, envPath(r)+"#services")
}

// putDomain adds a custom domain, or makes one the primary.
func (p *Panel) putDomain(r *request) error {
	name := strings.ToLower(strings.TrimSpace(r.FormValue("name")))
	if _, err := p.m.PutDomain(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), name, r.FormValue("primary") == "on"); err != nil {
		return err
	}
	return back(r, envPath(r)+"#domains")
}

func (p *Panel) deleteDomain(r *request) error {
	if err := p.m.DeleteDomain(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), r.FormValue("name")); err != nil {
		return err
	}
	return back(r, envPath(r)+"#domains")
}

// setRouting sets the HTTPS redirect and the basic-auth protection. The password is
// write-only: an empty one keeps the current password, an empty user removes the
// protection.
func (p *Panel) setRouting(r *request) error {
	redirect := r.FormValue("https_redirect") == "on"
	user := strings.TrimSpace(r.FormValue("protection_user"))
	in := platform.RoutingInput{HTTPSRedirect: &redirect, ProtectionUser: &user}
	if pw := r.FormValue("protection_password"); pw != "" {
		secret := platform.Secret(pw)
		in.ProtectionPassword = &secret
	}
	if _, err := p.m.SetRouting(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), r.Param("env")), in, 0); err != nil {
		return err
	}
	return back(r, envPath(r)+"#domains")
}
