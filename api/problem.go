package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/wharf-platform/wharf/platform"
)

// ProblemContentType is the media type of every error the API returns.
const ProblemContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object, with Wharf's stable error code and the
// request id beside the standard members.
type Problem struct {
	Type      string        `json:"type"`
	Title     string        `json:"title"`
	Status    int           `json:"status"`
	Detail    string        `json:"detail,omitempty"`
	Instance  string        `json:"instance,omitempty"`
	Code      platform.Code `json:"code"`
	RequestID string        `json:"request_id,omitempty"`
	// Errors lists what is wrong with each invalid field of the request.
	Errors []platform.FieldError `json:"errors,omitempty"`
}

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[platform.Code]int{
	platform.Invalid:      http.StatusBadRequest,
	platform.Unauthorized: http.StatusUnauthorized,
	platform.Forbidden:    http.StatusForbidden,
	platform.NotFound:     http.StatusNotFound,
	platform.Conflict:     http.StatusConflict,
	// A plan's limits refuse a request that is well formed: it cannot be processed as
	// it is, though it could under a larger plan.
	platform.LimitExceeded: http.StatusUnprocessableEntity,
	platform.Unavailable:   http.StatusServiceUnavailable,
	platform.Internal:      http.StatusInternalServerError,
}

// codeOf maps the statuses Echo itself produces (no route, wrong method, body too large,
// unreadable body) back to codes.
func codeOf(status int) platform.Code {
	for code, s := range statusOf {
		if s == status {
			return code
		}
	}
	if status >= 400 && status < 500 {
		return platform.Invalid
	}
	return platform.Internal
}

// problemFor builds the problem for err; internal errors get a generic detail.
func problemFor(c echo.Context, err error) Problem {
	var p Problem
	var pe *platform.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &pe):
		p.Code = pe.Code
		p.Status = statusOf[p.Code]
		if p.Status == 0 {
			p.Code, p.Status = platform.Internal, http.StatusInternalServerError
		}
		if p.Code != platform.Internal {
			p.Detail = pe.Message
		}
		var fe platform.FieldErrors
		if errors.As(err, &fe) && p.Code != platform.Internal {
			p.Errors = fe
		}
	case errors.As(err, &he):
		// Echo's own errors: no route, wrong method, body too large, unreadable body.
		p.Status = he.Code
		p.Code = codeOf(he.Code)
		if msg, ok := he.Message.(string); ok && he.Code < 500 {
			p.Detail = msg
		}
	default:
		p.Code, p.Status = platform.Internal, http.StatusInternalServerError
	}
	if p.Status >= 500 && p.Detail == "" {
		p.Detail = "an internal error occurred; quote the request id when reporting it"
	}
	p.Type = "about:blank"
	p.Title = http.StatusText(p.Status)
	p.Instance = c.Request().URL.Path
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	return p
}

// errorHandler writes every error as application/problem+json. Server-side failures are
// logged once here, in full; the caller sees only a safe detail and the request id.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		p := problemFor(c, err)
		if p.Status >= 500 {
			log.Error("request failed", "request_id", p.RequestID, "method", c.Request().Method,
				"path", c.Request().URL.Path, "error", err)
		}
		if werr := writeProblem(c, p.Status, p); werr != nil {
			log.Warn("write problem", "request_id", p.RequestID, "error", werr)
		}
	}
}

// writeProblem writes body (a Problem, or a struct embedding one) with the problem media
// type.
func writeProblem(c echo.Context, status int, body any) error {
	c.Response().Header().Set(echo.HeaderContentType, ProblemContentType)
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	c.Response().WriteHeader(status)
	return c.Echo().JSONSerializer.Serialize(c, body, "")
}

// newRequestID returns a random 16-byte hex id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
