package api

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// RegistryTokens answers the registry's token endpoint (platform.Deployer).
type RegistryTokens interface {
	// RegistryToken verifies a credential and signs a token for what of scopes its
	// holder may do. Errors: unauthorized, invalid, unavailable.
	RegistryToken(ctx context.Context, user, password, service string, scopes []string) (platform.RegistryToken, error)
}

var _ RegistryTokens = (*platform.Deployer)(nil)

// registerRegistry serves GET /v1/registry/token, the realm of the registry's token
// authentication: the Docker engine (and wharf-builder) send a builder's or a node's
// credential as HTTP basic authentication, with the service and the scopes they need
// as query parameters, and get a token for what of those scopes the credential
// allows (possibly nothing). No bearer token of a person is taken here.
func registerRegistry(v1 *echo.Group, tokens RegistryTokens) {
	v1.GET("/registry/token", func(c echo.Context) error {
		user, password, ok := c.Request().BasicAuth()
		if !ok {
			c.Response().Header().Set("WWW-Authenticate", `Basic realm="wharf registry"`)
			return platform.Errorf(platform.Unauthorized, "the registry's token endpoint needs a builder's or a node's credential (basic authentication)")
		}
		q := c.QueryParams()
		tok, err := tokens.RegistryToken(c.Request().Context(), user, password, q.Get("service"), q["scope"])
		if err != nil {
			if platform.ErrorCode(err) == platform.Unauthorized {
				c.Response().Header().Set("WWW-Authenticate", `Basic realm="wharf registry"`)
			}
			return err
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, map[string]any{
			"token": tok.Token, "access_token": tok.Token, "expires_in": tok.ExpiresIn, "issued_at": tok.IssuedAt,
		})
	})
}
