package api

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// healthProblem is the 503 body: a problem naming the unhealthy components, with every
// component's state.
type healthProblem struct {
	Problem
	Components []platform.ComponentStatus `json:"components"`
}

// healthHandler serves GET /v1/health: 200 when every dependency is healthy, 503
// problem+json otherwise. Only a platform administrator's token sees each dependency's
// state and the names of those down (they name internal addresses); anyone else, with
// or without a token, learns only up or down. a may be nil (no model: no details).
func healthHandler(h healthChecker, a authenticator) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		admin := false
		if c.Request().Header.Get(echo.HeaderAuthorization) != "" && a != nil {
			if err := requireToken(a)(func(echo.Context) error { return nil })(c); err != nil {
				return err
			}
			admin = principal(c).Admin
		}
		health := h.Check(c.Request().Context())
		if !admin {
			if health.Healthy {
				return c.JSON(http.StatusOK, platform.Health{Healthy: true, Components: []platform.ComponentStatus{}})
			}
			return platform.Errorf(platform.Unavailable, "unhealthy")
		}
		if health.Healthy {
			return c.JSON(http.StatusOK, health)
		}
		down := health.Unhealthy()
		p := problemFor(c, platform.Errorf(platform.Unavailable, "unhealthy: %s", strings.Join(down, ", ")))
		return writeProblem(c, p.Status, healthProblem{Problem: p, Components: health.Components})
	}
}
