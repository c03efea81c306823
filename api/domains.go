package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// Domains is what the domain and routing routes need; *platform.Deployer is one.
type Domains interface {
	ListDomains(ctx context.Context, p platform.Principal, ref platform.EnvRef) ([]platform.Domain, error)
	PutDomain(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string, primary bool) (platform.Domain, error)
	DeleteDomain(ctx context.Context, p platform.Principal, ref platform.EnvRef, name string) error
	GetRouting(ctx context.Context, p platform.Principal, ref platform.EnvRef) (platform.Routing, error)
	SetRouting(ctx context.Context, p platform.Principal, ref platform.EnvRef, in platform.RoutingInput, ifMatch uint64) (platform.Routing, error)
}

var _ Domains = (*platform.Deployer)(nil)

type (
	domainInput struct {
		Primary bool `json:"primary"`
	}
	routingInput struct {
		HTTPSRedirect      *bool   `json:"https_redirect"`
		ProtectionUser     *string `json:"protection_user"`
		ProtectionPassword *string `json:"protection_password"`
	}
)

// registerDomains adds the routes of an environment's custom domains and routing.
func registerDomains(v1 *echo.Group, auth echo.MiddlewareFunc, m Domains) {
	r := func(method, path string, h echo.HandlerFunc) {
		v1.Add(method, path, h, auth, checkParams)
	}
	const env = "/orgs/:org/apps/:app/envs/:env"
	r(http.MethodGet, env+"/domains", func(c echo.Context) error {
		doms, err := m.ListDomains(c.Request().Context(), principal(c), envRef(c))
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"items": doms})
	})
	r(http.MethodPut, env+"/domains/:domain", update(func(c echo.Context, p platform.Principal, in domainInput, _ uint64) (platform.Domain, error) {
		return m.PutDomain(c.Request().Context(), p, envRef(c), c.Param("domain"), in.Primary)
	}))
	r(http.MethodDelete, env+"/domains/:domain", del(func(c echo.Context, p platform.Principal, _ uint64) error {
		return m.DeleteDomain(c.Request().Context(), p, envRef(c), c.Param("domain"))
	}))
	r(http.MethodGet, env+"/routing", get(func(c echo.Context, p platform.Principal) (platform.Routing, error) {
		return m.GetRouting(c.Request().Context(), p, envRef(c))
	}))
	r(http.MethodPatch, env+"/routing", update(func(c echo.Context, p platform.Principal, in routingInput, ifMatch uint64) (platform.Routing, error) {
		ri := platform.RoutingInput{HTTPSRedirect: in.HTTPSRedirect, ProtectionUser: in.ProtectionUser}
		if in.ProtectionPassword != nil {
			pw := platform.Secret(*in.ProtectionPassword)
			ri.ProtectionPassword = &pw
		}
		return m.SetRouting(c.Request().Context(), p, envRef(c), ri, ifMatch)
	}))
}
