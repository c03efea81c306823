package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPISpec is the OpenAPI 3 description of the API. It is written by hand, and a
// test holds it to the routes Echo serves.
//
//go:embed openapi.json
var openAPISpec []byte

// openAPIHandler serves GET /v1/openapi.json.
func openAPIHandler(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPISpec)
}
