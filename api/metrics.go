package api

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// EnvMetrics is what the metrics route needs; *platform.Runs is one.
type EnvMetrics interface {
	Metrics(ctx context.Context, p platform.Principal, ref platform.EnvRef, window time.Duration) (platform.EnvMetrics, error)
}

var _ EnvMetrics = (*platform.Runs)(nil)

// DefaultMetricsWindow is the window of GET .../metrics without ?window.
const DefaultMetricsWindow = time.Hour

// registerMetrics adds the route of environments' metrics.
func registerMetrics(v1 *echo.Group, auth echo.MiddlewareFunc, m EnvMetrics) {
	v1.GET("/orgs/:org/apps/:app/envs/:env/metrics", get(func(c echo.Context, p platform.Principal) (platform.EnvMetrics, error) {
		window := DefaultMetricsWindow
		if w := c.QueryParam("window"); w != "" {
			d, err := time.ParseDuration(w)
			if err != nil {
				var fe platform.FieldErrors
				fe.Add("window", "must be a duration, as 1h or 30m")
				return platform.EnvMetrics{}, fe.Err()
			}
			window = d
		}
		return m.Metrics(c.Request().Context(), p, envRef(c), window)
	}), auth, checkParams)
}
