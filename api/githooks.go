package api

import (
	"context"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// GitHooks is what the git hook routes need; *platform.Runs is one.
type GitHooks interface {
	PutGitHook(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.GitHookInput) (platform.GitHook, platform.Secret, error)
	GetGitHook(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.GitHook, error)
	DeleteGitHook(ctx context.Context, p platform.Principal, ref platform.EnvRef) error
	ReceivePush(ctx context.Context, id string, header http.Header, body []byte) (platform.GitPushResult, error)
}

var _ GitHooks = (*platform.Runs)(nil)

// createdHook is a hook as PUT answers it: with its secret, this once.
type createdHook struct {
	platform.GitHook
	Secret string `json:"secret"`
}

// registerGitHooks adds an environment's git hook routes and the route git hosts post
// pushes to, which is authenticated by the push's signature, not a token.
func registerGitHooks(v1 *echo.Group, auth echo.MiddlewareFunc, m GitHooks) {
	const hook = "/orgs/:org/apps/:app/envs/:env/git-hook"
	v1.PUT(hook, func(c echo.Context) error {
		var in platform.GitHookInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		h, secret, err := m.PutGitHook(c.Request().Context(), principal(c), envRef(c), in)
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		return c.JSON(http.StatusOK, createdHook{GitHook: h, Secret: secret.Reveal()})
	}, auth, checkParams)
	v1.GET(hook, get(func(c echo.Context, p platform.Principal) (platform.GitHook, error) {
		return m.GetGitHook(c.Request().Context(), p, envRef(c))
	}), auth, checkParams)
	v1.DELETE(hook, func(c echo.Context) error {
		if err := m.DeleteGitHook(c.Request().Context(), principal(c), envRef(c)); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}, auth, checkParams)
	v1.POST("/hooks/git/:hook", func(c echo.Context) error {
		body, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return platform.Errorf(platform.Invalid, "read the push: %v", err)
		}
		res, err := m.ReceivePush(c.Request().Context(), c.Param("hook"), c.Request().Header, body)
		if err != nil {
			return err
		}
		if res.Outcome == "deployed" {
			return c.JSON(http.StatusAccepted, res)
		}
		return c.JSON(http.StatusOK, res)
	})
}
