package api

import (
	"context"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// authenticator resolves a bearer token into the caller.
type authenticator interface {
	Authenticate(ctx context.Context, token string) (platform.Principal, error)
}

const principalKey = "wharf.principal"

// requireToken is the middleware of every route that needs a caller: it reads the
// Authorization: Bearer header and stores the principal, or answers 401.
func requireToken(a authenticator) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			scheme, token, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="wharf"`)
				return platform.Errorf(platform.Unauthorized, "an Authorization: Bearer token is required")
			}
			p, err := a.Authenticate(c.Request().Context(), strings.TrimSpace(token))
			if err != nil {
				if platform.ErrorCode(err) == platform.Unauthorized {
					c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="wharf", error="invalid_token"`)
				}
				return err
			}
			c.Set(principalKey, p)
			return next(c)
		}
	}
}

// principal returns the caller that requireToken stored.
func principal(c echo.Context) platform.Principal {
	p, _ := c.Get(principalKey).(platform.Principal)
	return p
}

// envRef is the environment a route's path names ({org}, {app}, {env}): the one typed
// reference the platform takes.
func envRef(c echo.Context) platform.EnvRef {
	return platform.Ref(c.Param("org"), c.Param("app"), c.Param("env"))
}
