// Package api is Wharf's HTTP edge: the Echo server behind /v1, its middleware (request
// ids, structured request logs, metrics, body limits), and the one error handler that
// turns platform.Error codes into application/problem+json (RFC 9457).
//
// Handlers declare the small interfaces they need from platform/ and never import a
// HashiCorp SDK or an adapter package; cmd/wharfd wires the implementations.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo-contrib/echoprometheus"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wharf-platform/wharf/platform"
)

// healthChecker reports the state of every dependency of the control plane.
type healthChecker interface {
	Check(ctx context.Context) platform.Health
}

// Version describes the running build.
type Version struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"go_version"`
}

// Config holds what the server needs. Metrics defaults to a registry of its own.
type Config struct {
	Logger  *slog.Logger
	Version Version
	Health  healthChecker
	Metrics *prometheus.Registry
	// BodyLimit caps request bodies; "1M" by default.
	BodyLimit string
	// Model serves the resource routes (organisations, applications and the rest);
	// without it only health, version, metrics and the OpenAPI document are served.
	Model Model
	// Deploys serves the application controller's routes (procfiles, deploys, releases,
	// scale, logs); it needs Model for authentication.
	Deploys Deployments
	// Builds serves the application builder's routes (source uploads, builds, their
	// logs, deploys from source); it needs Model for authentication.
	Builds Builds
	// Domains serves environments' custom domains and routing (HTTPS redirect, basic
	// auth); it needs Model for authentication.
	Domains Domains
	// Services serves the routes of environments' service instances (databases); it
	// needs Model for authentication.
	Services Services
	// Backups serves the routes of service instances' backups; it needs Model.
	Backups Backups
	// Runs serves the routes of environments' one-off commands; it needs Model.
	Runs Runs
	// Execs serves exec sessions in environments' instances (a WebSocket); it needs
	// Model.
	Execs Execs
	// EnvMetrics serves environments' metrics; it needs Model.
	EnvMetrics EnvMetrics
	// GitHooks serves environments' git hooks and the pushes git hosts send them; it
	// needs Model.
	GitHooks GitHooks
	// Registry, when set, serves the registry's token endpoint (GET
	// /v1/registry/token), which takes builders' and nodes' credentials, not tokens.
	Registry RegistryTokens
	// Panel, when set, adds the Control Panel's routes (outside /v1) to the server.
	Panel func(e *echo.Echo)
}

// MaxRequestBody is the default cap on request bodies.
const MaxRequestBody = "1M"

// New returns the Echo server with every route and middleware in place.
func New(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = prometheus.NewRegistry()
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = MaxRequestBody
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{
		// An X-Request-Id a proxy already gave the request is kept; otherwise one is made.
		Generator: newRequestID,
	}))
	e.Use(requestLogger(cfg.Logger))
	e.Use(middleware.Recover())
	e.Use(echoprometheus.NewMiddlewareWithConfig(echoprometheus.MiddlewareConfig{
		Namespace:                 "wharfd",
		Subsystem:                 "http",
		Registerer:                cfg.Metrics,
		DoNotUseRequestPathFor404: true,
	}))
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: cfg.BodyLimit,
		// Source uploads (tar.gz) have their own, larger, limit where they are read.
		Skipper: func(c echo.Context) bool { return isUpload(c.Request()) },
	}))

	e.GET("/metrics", echoprometheus.NewHandlerWithConfig(echoprometheus.HandlerConfig{Gatherer: cfg.Metrics}))
	v1 := e.Group("/v1")
	v1.GET("/version", func(c echo.Context) error { return c.JSON(http.StatusOK, cfg.Version) })
	var auth authenticator // a nil Model gives no one the health details
	if cfg.Model != nil {
		auth = cfg.Model
	}
	v1.GET("/health", healthHandler(cfg.Health, auth))
	v1.GET("/openapi.json", openAPIHandler)
	if cfg.Model != nil {
		registerResources(v1, cfg.Model)
		if cfg.Deploys != nil {
			registerDeploys(v1, requireToken(cfg.Model), cfg.Deploys)
		}
		if cfg.Builds != nil {
			registerBuilds(v1, requireToken(cfg.Model), cfg.Builds)
		}
		if cfg.Domains != nil {
			registerDomains(v1, requireToken(cfg.Model), cfg.Domains)
		}
		if cfg.Services != nil {
			registerServices(v1, requireToken(cfg.Model), cfg.Services)
		}
		if cfg.Backups != nil {
			registerBackups(v1, requireToken(cfg.Model), cfg.Backups)
		}
		if cfg.Runs != nil {
			registerRuns(v1, requireToken(cfg.Model), cfg.Runs)
		}
		if cfg.Execs != nil {
			registerExec(v1, requireToken(cfg.Model), cfg.Execs)
		}
		if cfg.EnvMetrics != nil {
			registerMetrics(v1, requireToken(cfg.Model), cfg.EnvMetrics)
		}
		if cfg.GitHooks != nil {
			registerGitHooks(v1, requireToken(cfg.Model), cfg.GitHooks)
		}
	}
	if cfg.Registry != nil {
		registerRegistry(v1, cfg.Registry)
	}
	if cfg.Panel != nil {
		cfg.Panel(e)
	}
	return e
}

// requestLogger logs one structured line per request, after it is served.
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURI: true, LogMethod: true, LogLatency: true,
		LogRequestID: true, LogRemoteIP: true, LogError: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelWarn
			}
			log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method), slog.String("uri", v.URI),
				slog.Int("status", v.Status), slog.Duration("latency", v.Latency.Round(time.Microsecond)),
				slog.String("request_id", v.RequestID), slog.String("remote_ip", v.RemoteIP))
			return nil
		},
	})
}
