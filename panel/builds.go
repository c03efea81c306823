package panel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// buildData is a build with its log so far and where its page and stream are.
type buildData struct {
	Build  platform.Build
	Log    []string
	Path   string
	Events string
	Envs   []string
	Can    can
}

func (p *Panel) build(r *request, id string) (buildData, error) {
	org, app := r.Param("org"), r.Param("app")
	b, err := p.m.GetBuild(r.ctx(), r.who, org, app, id)
	if err != nil {
		return buildData{}, err
	}
	lines, err := p.m.BuildLog(r.ctx(), r.who, org, app, id, 0)
	if err != nil {
		return buildData{}, err
	}
	path := appPath(r) + "/builds/" + url.PathEscape(b.ID)
	return buildData{Build: b, Log: lines, Path: path, Events: path + "/events"}, nil
}

func (p *Panel) buildView(r *request) error {
	d, err := p.build(r, r.Param("build"))
	if err != nil {
		return err
	}
	a, err := p.m.GetApplication(r.ctx(), r.who, r.Param("org"), r.Param("app"))
	if err != nil {
		return err
	}
	d.Envs = a.Environments
	d.Can = canFor(p.role(r, r.Param("org"), r.Param("app")))
	return p.show(r, "build", "Build "+d.Build.ID, d)
}

// createBuild queues a build of a git repository at a ref. (Uploading a source
// directory is the CLI's job: a browser form would need a tarball made by hand.)
func (p *Panel) createBuild(r *request) error {
	src := platform.BuildSource{GitURL: strings.TrimSpace(r.FormValue("git_url")), GitRef: strings.TrimSpace(r.FormValue("git_ref"))}
	if src.GitURL == "" {
		var fe platform.FieldErrors
		fe.Add("git_url", "give the repository's URL")
		return fe.Err()
	}
	b, err := p.m.CreateBuild(r.ctx(), r.who, r.Param("org"), r.Param("app"), src, nil)
	if err != nil {
		return err
	}
	return back(r, appPath(r)+"/builds/"+b.ID)
}

func (p *Panel) cancelBuild(r *request) error {
	b, err := p.m.CancelBuild(r.ctx(), r.who, r.Param("org"), r.Param("app"), r.Param("build"))
	if err != nil {
		return err
	}
	return back(r, appPath(r)+"/builds/"+b.ID)
}

// deployBuild deploys a build's image to an environment, once the build succeeds.
func (p *Panel) deployBuild(r *request) error {
	env := r.FormValue("env")
	if platform.CheckName(env) != "" {
		var fe platform.FieldErrors
		fe.Add("env", "choose an environment")
		return fe.Err()
	}
	d, err := p.m.CreateDeploy(r.ctx(), r.who, platform.Ref(r.Param("org"), r.Param("app"), env), platform.DeployRequest{Kind: platform.DeployRelease, Build: r.Param("build")})
	if err != nil {
		return err
	}
	return back(r, appPath(r)+"/envs/"+env+"/deploys/"+d.ID)
}

// buildEvents streams a build's log lines ("log" events, a JSON array each) and its
// final state ("done"), for the build page and the deploy page of a deploy from source.
func (p *Panel) buildEvents(r *request) error {
	ctx := r.ctx()
	org, app, id := r.Param("org"), r.Param("app"), r.Param("build")
	b, err := p.m.GetBuild(ctx, r.who, org, app, id)
	if err != nil {
		return err
	}
	w := r.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sent := 0
	for {
		lines, err := p.m.BuildLog(ctx, r.who, org, app, id, sent)
		if err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(w, "event: failure\ndata: %q\n\n", platform.ErrorMessage(err))
			}
			return nil
		}
		if len(lines) > 0 {
			j, _ := json.Marshal(lines)
			fmt.Fprintf(w, "event: log\ndata: %s\n\n", j)
			sent += len(lines)
		}
		if b.Done() {
			j, _ := json.Marshal(b)
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", j)
			w.Flush()
			return nil
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		// The state is read before the log, so a build seen done has its whole log sent.
		if b, err = p.m.GetBuild(ctx, r.who, org, app, id); err != nil {
			if ctx.Err() == nil {
				fmt.Fprintf(w, "event: failure\ndata: %q\n\n", platform.ErrorMessage(err))
			}
			return nil
		}
	}
}
