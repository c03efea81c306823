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

// healthHandler serves GET /v1/health: 200 with each dependency's state when all are
// healthy, 503 problem+json naming the unhealthy ones otherwise.
func healthHandler(h healthChecker) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
		health := h.Check(c.Request().Context())
		if health.Healthy {
			return c.JSON(http.StatusOK, health)
		}
		down := health.Unhealthy()
		p := problemFor(c, platform.Errorf(platform.Unavailable, "unhealthy: %s", strings.Join(down, ", ")))
		return writeProblem(c, p.Status, healthProblem{Problem: p, Components: health.Components})
	}
}
