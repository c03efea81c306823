package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Deployments is what the deploy routes need; *platform.Deployer is one.
type Deployments interface {
	GetProcfile(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Procfile, error)
	PutProcfile(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.Procfile, ifMatch uint64) (platform.Procfile, error)
	CreateDeploy(ctx context.Context, p platform.Principal, ref platform.EnvRef, req platform.DeployRequest) (platform.Deploy, error)
	GetDeploy(ctx context.Context, p platform.Principal, ref platform.EnvRef, id string) (platform.Deploy, error)
	ListDeploys(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Deploy], error)
	ListReleases(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Release], error)
	GetRelease(ctx context.Context, p platform.Principal, ref platform.EnvRef, n int) (platform.Release, error)
	Status(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.EnvStatus, error)
	Logs(ctx context.Context, p platform.Principal, ref platform.EnvRef, process string, follow bool, emit func(platform.LogLine)) error
	GetEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Environment, error)
	UpdateEnvironment(ctx context.Context, p platform.Principal, ref platform.EnvRef, patch platform.EnvironmentPatch, ifMatch uint64) (platform.Environment, error)
}

var _ Deployments = (*platform.Deployer)(nil)

// Request bodies of the deploy routes.
type (
	procfileInput struct {
		Processes      map[string]platform.ProcessDef `json:"processes"`
		ReleaseCommand string                         `json:"release_command"`
		Cron           []platform.CronEntry           `json:"cron"`
	}
	deployInput struct {
		Image     string `json:"image"`
		Build     string `json:"build"`
		GitCommit string `json:"git_commit"`
	}
	rollbackInput struct {
		Release int `json:"release"`
	}
	scaleInput struct {
		Processes map[string]platform.ProcessScale `json:"processes"`
	}
)

// registerDeploys adds the application controller's routes under an environment.
func registerDeploys(v1 *echo.Group, auth echo.MiddlewareFunc, m Deployments) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const env = "/orgs/:org/apps/:app/envs/:env"
	names := func(c echo.Context) (context.Context, string, string, string) {
		return c.Request().Context(), c.Param("org"), c.Param("app"), c.Param("env")
	}
	// accepted answers a queued deploy: 202, with where to follow it.
	accepted := func(c echo.Context, d platform.Deploy, err error) error {
		if err != nil {
			return err
		}
		loc := fmt.Sprintf("/v1/orgs/%s/apps/%s/envs/%s/deploys/%s", d.Org, d.App, d.Env, d.ID)
		c.Response().Header().Set(echo.HeaderLocation, loc)
		return writeResource(c, http.StatusAccepted, d)
	}
	kind := func(k string) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, org, app, e := names(c)
			d, err := m.CreateDeploy(ctx, principal(c), platform.Ref(org, app, e), platform.DeployRequest{Kind: k})
			return accepted(c, d, err)
		}
	}

	r(http.MethodGet, env+"/procfile", get(func(c echo.Context, p platform.Principal) (platform.Procfile, error) {
		ctx, org, app, e := names(c)
		return m.GetProcfile(ctx, p, platform.Ref(org, app, e))
	}))
	r(http.MethodPut, env+"/procfile", update(func(c echo.Context, p platform.Principal, in procfileInput, ifMatch uint64) (platform.Procfile, error) {
		ctx, org, app, e := names(c)
		return m.PutProcfile(ctx, p, platform.Ref(org, app, e), platform.Procfile{Processes: in.Processes, ReleaseCommand: in.ReleaseCommand, Cron: in.Cron}, ifMatch)
	}))
	r(http.MethodPost, env+"/deploys", func(c echo.Context) error {
		var in deployInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ctx, org, app, e := names(c)
		d, err := m.CreateDeploy(ctx, principal(c), platform.Ref(org, app, e), platform.DeployRequest{Kind: platform.DeployRelease, Image: in.Image, Build: in.Build, GitCommit: in.GitCommit})
		return accepted(c, d, err)
	})
	r(http.MethodGet, env+"/deploys", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Deploy], error) {
		ctx, org, app, e := names(c)
		return m.ListDeploys(ctx, p, platform.Ref(org, app, e), pr)
	}))
	r(http.MethodGet, env+"/deploys/:deploy", get(func(c echo.Context, p platform.Principal) (platform.Deploy, error) {
		ctx, org, app, e := names(c)
		return m.GetDeploy(ctx, p, platform.Ref(org, app, e), c.Param("deploy"))
	}))
	r(http.MethodGet, env+"/deploys/:deploy/events", func(c echo.Context) error {
		return streamDeploy(c, m)
	})
	r(http.MethodGet, env+"/releases", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Release], error) {
		ctx, org, app, e := names(c)
		return m.ListReleases(ctx, p, platform.Ref(org, app, e), pr)
	}))
	r(http.MethodGet, env+"/releases/:release", get(func(c echo.Context, p platform.Principal) (platform.Release, error) {
		n, err := strconv.Atoi(c.Param("release"))
		if err != nil || n < 1 {
			return platform.Release{}, platform.Errorf(platform.NotFound, "release %q not found", c.Param("release"))
		}
		ctx, org, app, e := names(c)
		return m.GetRelease(ctx, p, platform.Ref(org, app, e), n)
	}))
	r(http.MethodPost, env+"/rollback", func(c echo.Context) error {
		var in rollbackInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ctx, org, app, e := names(c)
		d, err := m.CreateDeploy(ctx, principal(c), platform.Ref(org, app, e), platform.DeployRequest{Kind: platform.DeployRollback, Release: in.Release})
		return accepted(c, d, err)
	})
	r(http.MethodPost, env+"/scale", func(c echo.Context) error {
		var in scaleInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		ctx, org, app, e := names(c)
		p := principal(c)
		cur, err := m.GetEnvironment(ctx, p, platform.Ref(org, app, e))
		if err != nil {
			return err
		}
		procs := map[string]platform.ProcessScale{}
		for k, v := range cur.Processes {
			procs[k] = v
		}
		for k, v := range in.Processes {
			procs[k] = v
		}
		// The plan's limits are checked here, against the environment's version read
		// above; a concurrent change makes this a conflict, not a lost update.
		updated, err := m.UpdateEnvironment(ctx, p, platform.Ref(org, app, e), platform.EnvironmentPatch{Processes: &procs}, cur.Index)
		if err != nil {
			return err
		}
		if st, err := m.Status(ctx, p, platform.Ref(org, app, e)); err != nil {
			return err
		} else if st.Release == 0 {
			// Nothing runs yet: the scale applies with the first deploy.
			return writeResource(c, http.StatusOK, updated)
		}
		d, err := m.CreateDeploy(ctx, p, platform.Ref(org, app, e), platform.DeployRequest{Kind: platform.DeployScale})
		if platform.ErrorCode(err) == platform.Conflict {
			return platform.Wrap(platform.Conflict, err, "the new scale is saved, but "+platform.ErrorMessage(err)+"; it applies with the next deploy")
		}
		return accepted(c, d, err)
	})
	r(http.MethodPost, env+"/stop", kind(platform.DeployStop))
	r(http.MethodPost, env+"/start", kind(platform.DeployStart))
	r(http.MethodPost, env+"/restart", kind(platform.DeployRestart))
	r(http.MethodGet, env+"/status", get(func(c echo.Context, p platform.Principal) (platform.EnvStatus, error) {
		ctx, org, app, e := names(c)
		return m.Status(ctx, p, platform.Ref(org, app, e))
	}))
	r(http.MethodGet, env+"/logs", func(c echo.Context) error {
		return streamLogs(c, m)
	})
}

// streamDeploy serves a deploy's progress as server-sent events: every event so far,
// then each new one as it is recorded (by whichever replica drives the deploy), and a
// final "done" event carrying the whole deploy.
func streamDeploy(c echo.Context, m Deployments) error {
	ctx := c.Request().Context()
	org, app, env, id := c.Param("org"), c.Param("app"), c.Param("env"), c.Param("deploy")
	d, err := m.GetDeploy(ctx, principal(c), platform.Ref(org, app, env), id)
	if err != nil {
		return err
	}
	w := startEvents(c)
	sent := 0
	for {
		for ; sent < len(d.Events); sent++ {
			sendEvent(w, "progress", d.Events[sent])
		}
		if d.Done() {
			sendEvent(w, "done", d)
			w.Flush()
			return nil
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		next, err := m.GetDeploy(ctx, principal(c), platform.Ref(org, app, env), id)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", platform.ErrorMessage(err))
			return nil
		}
		if len(next.Events) < sent {
			sent = 0 // the deploy's event list was shortened; send it again
		}
		d = next
	}
}

// streamLogs serves the environment's output as newline-delimited JSON, one
// platform.LogLine per line; with ?follow=1 it goes on until the client leaves.
func streamLogs(c echo.Context, m Deployments) error {
	ctx := c.Request().Context()
	follow := c.QueryParam("follow") == "1" || c.QueryParam("follow") == "true"
	process := c.QueryParam("process")
	if process != "" && platform.CheckName(process) != "" {
		var fe platform.FieldErrors
		fe.Add("process", "must be a process name")
		return fe.Err()
	}
	w := c.Response()
	enc := json.NewEncoder(w)
	started := false
	err := m.Logs(ctx, principal(c), envRef(c), process, follow, func(l platform.LogLine) {
		if !started {
			w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
			w.Header().Set(echo.HeaderCacheControl, "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = enc.Encode(l)
		w.Flush()
	})
	if err != nil && !started {
		return err
	}
	if !started {
		w.Header().Set(echo.HeaderContentType, "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

// startEvents begins a server-sent events response: not stored, not buffered by a
// proxy in front.
func startEvents(c echo.Context) *echo.Response {
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return w
}

// sendEvent writes one event whose data is v as JSON.
func sendEvent(w io.Writer, event string, v any) {
	b, _ := json.Marshal(v)
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
}
