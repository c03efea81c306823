package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Builds is what the build routes need; *platform.Deployer is one.
type Builds interface {
	CreateBuild(ctx context.Context, p platform.Principal, org, app string, src platform.BuildSource, tarball []byte) (platform.Build, error)
	GetBuild(ctx context.Context, p platform.Principal, org, app, id string) (platform.Build, error)
	ListBuilds(ctx context.Context, p platform.Principal, org, app string, pr platform.PageRequest) (platform.Page[platform.Build], error)
	BuildLog(ctx context.Context, p platform.Principal, org, app, id string, from int) ([]string, error)
	CancelBuild(ctx context.Context, p platform.Principal, org, app, id string) (platform.Build, error)
	CreateDeploy(ctx context.Context, p platform.Principal, ref platform.EnvRef, req platform.DeployRequest) (platform.Deploy, error)
	UploadLimit(ctx context.Context, p platform.Principal, org, app string) (int64, error)
}

var _ Builds = (*platform.Deployer)(nil)

// UploadContentType is the media type of a source upload: a tar.gz of the codebase.
const UploadContentType = "application/gzip"

// isUpload reports whether a request carries a source tarball.
func isUpload(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	return mt == UploadContentType && r.Method == http.MethodPost
}

// sourceInput is a build's source given as JSON: a git repository at a ref.
type sourceInput struct {
	GitURL string `json:"git_url"`
	GitRef string `json:"git_ref"`
}

// readSource reads a request's source: the uploaded tar.gz, or a git source in JSON.
// It authorises the caller to build the application first, so nothing of the body is
// read for a caller who may not, and reads at most the application's plan's upload
// limit.
func readSource(c echo.Context, m Builds) (platform.BuildSource, []byte, error) {
	limit, err := m.UploadLimit(c.Request().Context(), principal(c), c.Param("org"), c.Param("app"))
	if err != nil {
		return platform.BuildSource{}, nil, err
	}
	if isUpload(c.Request()) {
		if c.Request().ContentLength > limit {
			return platform.BuildSource{}, nil, tooLarge(limit)
		}
		body := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
		b, err := io.ReadAll(body)
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return platform.BuildSource{}, nil, tooLarge(limit)
		}
		if err != nil {
			return platform.BuildSource{}, nil, platform.Wrap(platform.Invalid, err, "the upload could not be read")
		}
		return platform.BuildSource{}, b, nil
	}
	var in sourceInput
	if err := bindJSON(c, &in); err != nil {
		return platform.BuildSource{}, nil, err
	}
	return platform.BuildSource{GitURL: in.GitURL, GitRef: in.GitRef}, nil, nil
}

func tooLarge(limit int64) error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a source upload may be at most %d bytes (%d MiB) under the application's plan", limit, limit>>20))
}

// registerBuilds adds the application builder's routes.
func registerBuilds(v1 *echo.Group, auth echo.MiddlewareFunc, m Builds) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const app = "/orgs/:org/apps/:app"
	r(http.MethodPost, app+"/builds", func(c echo.Context) error {
		src, tarball, err := readSource(c, m)
		if err != nil {
			return err
		}
		b, err := m.CreateBuild(c.Request().Context(), principal(c), c.Param("org"), c.Param("app"), src, tarball)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/v1/orgs/%s/apps/%s/builds/%s", b.Org, b.App, b.ID))
		return writeResource(c, http.StatusAccepted, b)
	})
	// A deploy from source: the upload (or git source) is built, then deployed.
	r(http.MethodPost, app+"/envs/:env/deploys/source", func(c echo.Context) error {
		src, tarball, err := readSource(c, m)
		if err != nil {
			return err
		}
		ctx, p := c.Request().Context(), principal(c)
		b, err := m.CreateBuild(ctx, p, c.Param("org"), c.Param("app"), src, tarball)
		if err != nil {
			return err
		}
		d, err := m.CreateDeploy(ctx, p, envRef(c), platform.DeployRequest{Kind: platform.DeployRelease, Build: b.ID})
		if err != nil {
			if platform.ErrorCode(err) == platform.Conflict {
				_, _ = m.CancelBuild(ctx, p, c.Param("org"), c.Param("app"), b.ID)
			}
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/v1/orgs/%s/apps/%s/envs/%s/deploys/%s", d.Org, d.App, d.Env, d.ID))
		return writeResource(c, http.StatusAccepted, d)
	})
	r(http.MethodGet, app+"/builds", list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Build], error) {
		return m.ListBuilds(c.Request().Context(), p, c.Param("org"), c.Param("app"), pr)
	}))
	r(http.MethodGet, app+"/builds/:build", get(func(c echo.Context, p platform.Principal) (platform.Build, error) {
		return m.GetBuild(c.Request().Context(), p, c.Param("org"), c.Param("app"), c.Param("build"))
	}))
	r(http.MethodPost, app+"/builds/:build/cancel", func(c echo.Context) error {
		b, err := m.CancelBuild(c.Request().Context(), principal(c), c.Param("org"), c.Param("app"), c.Param("build"))
		if err != nil {
			return err
		}
		return writeResource(c, http.StatusAccepted, b)
	})
	r(http.MethodGet, app+"/builds/:build/log", func(c echo.Context) error {
		from, _ := strconv.Atoi(c.QueryParam("from"))
		lines, err := m.BuildLog(c.Request().Context(), principal(c), c.Param("org"), c.Param("app"), c.Param("build"), from)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"lines": lines, "next": max(from, 0) + len(lines)})
	})
	r(http.MethodGet, app+"/builds/:build/events", func(c echo.Context) error {
		return streamBuild(c, m)
	})
}

// streamBuild serves a build's log as server-sent events, `log` events of one line
// each, live while it runs, then a `done` event with the build.
func streamBuild(c echo.Context, m Builds) error {
	ctx, p := c.Request().Context(), principal(c)
	org, app, id := c.Param("org"), c.Param("app"), c.Param("build")
	b, err := m.GetBuild(ctx, p, org, app, id)
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set(echo.HeaderCacheControl, "no-store")
	w.WriteHeader(http.StatusOK)
	sent := 0
	for {
		lines, err := m.BuildLog(ctx, p, org, app, id, sent)
		if err != nil {
			return nil
		}
		for _, l := range lines {
			data, _ := json.Marshal(l)
			fmt.Fprintf(w, "event: log\ndata: %s\n\n", data)
		}
		sent += len(lines)
		if b.Done() && sent >= b.LogLines {
			data, _ := json.Marshal(b)
			fmt.Fprintf(w, "event: done\ndata: %s\n\n", data)
			w.Flush()
			return nil
		}
		w.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
		if b, err = m.GetBuild(ctx, p, org, app, id); err != nil {
			return nil
		}
	}
}
