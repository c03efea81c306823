package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Services is what the service instance routes need; *platform.Deployer is one.
type Services interface {
	ListServices(ctx context.Context, p platform.Principal, ref platform.EnvRef, pr platform.PageRequest) (platform.Page[platform.EnvService], error)
	GetService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)
	AttachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.ServiceInput) (platform.EnvService, error)
	DetachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)
	ReattachService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)
	RemoveService(ctx context.Context, p platform.Principal, ref platform.EnvRef, name, confirm string) error
}

var _ Services = (*platform.Deployer)(nil)

// registerServices adds the routes of an environment's service instances.
func registerServices(v1 *echo.Group, auth echo.MiddlewareFunc, m Services) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const svcs = "/orgs/:org/apps/:app/envs/:env/services"
	const svc = svcs + "/:service"
	r(http.MethodGet, svcs, list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.EnvService], error) {
		return m.ListServices(c.Request().Context(), p, envRef(c), pr)
	}))
	r(http.MethodPost, svcs, create(func(c echo.Context, p platform.Principal, in platform.ServiceInput) (platform.EnvService, string, error) {
		v, err := m.AttachService(c.Request().Context(), p, envRef(c), in)
		return v, v.Name, err
	}))
	r(http.MethodGet, svc, get(func(c echo.Context, p platform.Principal) (platform.EnvService, error) {
		return m.GetService(c.Request().Context(), p, envRef(c), c.Param("service"))
	}))
	action := func(f func(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) (platform.EnvService, error)) echo.HandlerFunc {
		return func(c echo.Context) error {
			v, err := f(c.Request().Context(), principal(c), envRef(c), c.Param("service"))
			if err != nil {
				return err
			}
			return writeResource(c, http.StatusOK, v)
		}
	}
	r(http.MethodPost, svc+"/detach", action(m.DetachService))
	r(http.MethodPost, svc+"/attach", action(m.ReattachService))
	r(http.MethodDelete, svc, func(c echo.Context) error {
		if err := m.RemoveService(c.Request().Context(), principal(c), envRef(c), c.Param("service"), c.QueryParam("confirm")); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
}

// Backups is what the backup routes need; *platform.Backups is one.
type Backups interface {
	ListBackups(ctx context.Context, p platform.Principal, ref platform.EnvRef, svc string, pr platform.PageRequest) (platform.Page[platform.Backup], error)
	CreateBackup(ctx context.Context, p platform.Principal, ref platform.EnvRef, svc string) (platform.Backup, error)
	RestoreBackup(ctx context.Context, p platform.Principal, ref platform.EnvRef, svc, id string, to platform.RestoreInput) (platform.Backup, error)
}

var _ Backups = (*platform.Backups)(nil)

// registerBackups adds the routes of service instances' backups.
func registerBackups(v1 *echo.Group, auth echo.MiddlewareFunc, m Backups) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const backups = "/orgs/:org/apps/:app/envs/:env/services/:service/backups"
	r(http.MethodGet, backups, list(func(c echo.Context, p platform.Principal, pr platform.PageRequest) (platform.Page[platform.Backup], error) {
		return m.ListBackups(c.Request().Context(), p, envRef(c), c.Param("service"), pr)
	}))
	r(http.MethodPost, backups, func(c echo.Context) error {
		v, err := m.CreateBackup(c.Request().Context(), principal(c), envRef(c), c.Param("service"))
		if err != nil {
			return err
		}
		c.Response().Header().Set(echo.HeaderLocation, c.Request().URL.Path+"/"+v.ID)
		return writeResource(c, http.StatusCreated, v)
	})
	r(http.MethodPost, backups+"/:backup/restore", func(c echo.Context) error {
		var in platform.RestoreInput
		if err := bindJSON(c, &in); err != nil {
			return err
		}
		v, err := m.RestoreBackup(c.Request().Context(), principal(c), envRef(c), c.Param("service"), c.Param("backup"), in)
		if err != nil {
			return err
		}
		return writeResource(c, http.StatusOK, v)
	})
}
