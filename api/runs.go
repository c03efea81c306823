package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Runs is what the one-off command routes need; *platform.Runs is one.
type Runs interface {
	CreateRun(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.RunRequest) (platform.Run, error)
	GetRun(ctx context.Context, p platform.Principal, ref platform.EnvRef, id string) (platform.Run, error)
	ListRuns(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.Run], error)
	StopRun(ctx context.Context, p platform.Principal, ref platform.EnvRef, id string) (platform.Run, error)
}

var _ Runs = (*platform.Runs)(nil)

// registerRuns adds the routes of an environment's one-off commands.
func registerRuns(v1 *echo.Group, auth echo.MiddlewareFunc, m Runs) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const runs = "/orgs/:org/apps/:app/envs/:env/runs"
	const run = runs + "/:run"
	r(http.MethodPost, runs, func(c echo.Context) error {
		var in platform.RunRequest
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, err := m.CreateRun(c.Request().Context(), principal(c), envRef(c), in)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/v1/orgs/%s/apps/%s/envs/%s/runs/%s", v.Org, v.App, v.Env, v.ID))
		return writeResource(c, http.StatusAccepted, v)
	})
	r(http.MethodGet, runs, list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Run], error) {
		return m.ListRuns(c.Request().Context(), p, envRef(c), pr)
	}))
	r(http.MethodGet, run, get(func(c echo.Context, p platform.Principal) (platform.Run, error) {
		return m.GetRun(c.Request().Context(), p, envRef(c), c.Param("run"))
	}))
	r(http.MethodPost, run+"/stop", func(c echo.Context) error {
		v, err := m.StopRun(c.Request().Context(), principal(c), envRef(c), c.Param("run"))
		if err != nil {
			return err
		}
		return writeResource(c, http.StatusOK, v)
	})
	r(http.MethodGet, run+"/events", func(c echo.Context) error {
		return streamRun(c, m)
	})
}

// runPoll is how often a followed run's record is read again.
const runPoll = 300 * time.Millisecond

// streamRun serves a run's output as server-sent events: an "output" event per line
// (platform.RunLine), from the start, as the replica running it records them; a "gap"
// event when lines were left out before they could be sent; and a final "done" event
// carrying the run, with its exit code.
func streamRun(c echo.Context, m Runs) error {
	ctx := c.Request().Context()
	org, app, env, id := c.Param("org"), c.Param("app"), c.Param("env"), c.Param("run")
	run, err := m.GetRun(ctx, principal(c), platform.Ref(org, app, env), id)
	if err != nil {
		return err
	}
	w := startEvents(c)
	sent := 0 // lines of the run's whole output sent so far
	for {
		if run.Skipped > sent {
			fmt.Fprintf(w, "event: gap\ndata: %d\n\n", run.Skipped-sent)
			sent = run.Skipped
		}
		for ; sent < run.Skipped+len(run.Output); sent++ {
			sendEvent(w, "output", run.Output[sent-run.Skipped])
		}
		if run.Done() {
			run.Output = nil // sent already
			sendEvent(w, "done", run)
			w.Flush()
			return nil
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(runPoll):
		}
		if run, err = m.GetRun(ctx, principal(c), platform.Ref(org, app, env), id); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(w, "event: error\ndata: %q\n\n", platform.ErrorMessage(err))
			return nil
		}
	}
}
