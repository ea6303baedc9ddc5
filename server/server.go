// Package server is the HTTP service: an echo server that implements the generated interface
// of the contract in package openapi and enforces that contract on every request.
//
// A request to the API travels, in order: request ids → access log → panic recovery → routing
// (unknown path 404, wrong method 405) → concurrency cap (503) → authentication (401) →
// per-tenant throttling (429) → authorization (403) →
// contract validation (415, 413, 400) → handler → store. Every error on that path leaves as the
// Graph error envelope, written by one error handler.
package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
	"github.com/remoteassist/remoteassist/openapi"
)

// BasePath is where the API is served, so that http://HOST:PORT/beta replaces
// https://graph.microsoft.com/beta for any Graph client.
const BasePath = "/beta"

// DefaultMaxBodyBytes bounds a request body, before and after decompression. The entity is a
// few hundred bytes; the limit leaves room for whitespace and unknown-but-refused properties.
const DefaultMaxBodyBytes = 64 << 10

// DefaultMaxConcurrentRequests caps the API requests in flight when Config says nothing.
const DefaultMaxConcurrentRequests = 4096

// readyTimeout bounds a readiness probe of the store.
const readyTimeout = 2 * time.Second

// Config is what the server is built from.
type Config struct {
	// Store keeps the settings. Required.
	Store remoteassist.Store
	// Authenticator verifies bearer tokens. Required.
	Authenticator remoteassist.Authenticator
	// Logger receives the access log and errors; nil discards them.
	Logger *slog.Logger
	// MaxBodyBytes bounds request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Throttle limits each tenant's request rate; the zero value does not throttle.
	Throttle ThrottleConfig
	// MaxConcurrentRequests caps the API requests in flight; beyond it requests get 503 with
	// Retry-After. 0 means DefaultMaxConcurrentRequests; negative means no cap.
	MaxConcurrentRequests int
	// Now is the clock; nil means time.Now. Tests use it to move throttling windows.
	Now func() time.Time
	// Routes, when set, are mounted outside the API and without authentication: the docs and
	// the served contract, for instance. Keys are echo route paths.
	Routes map[string]http.Handler
}

// Server is the HTTP service. It is an http.Handler.
type Server struct {
	echo    *echo.Echo
	store   remoteassist.Store
	auth    remoteassist.Authenticator
	logger  *slog.Logger
	maxBody int64
}

// New wires the middleware, the handlers and the routes, reading the top-to-bottom request path
// described in the package documentation.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Authenticator == nil {
		return nil, errors.New("server: Config.Store and Config.Authenticator are required")
	}
	doc, err := openapi.Load()
	if err != nil {
		return nil, err
	}
	ops, err := compileContract(doc)
	if err != nil {
		return nil, err
	}
	s := &Server{
		echo:    echo.New(),
		store:   cfg.Store,
		auth:    cfg.Authenticator,
		logger:  cfg.Logger,
		maxBody: cfg.MaxBodyBytes,
	}
	if s.logger == nil {
		s.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}

	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(requestIDs, s.logRequests, s.recoverPanics)

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	for path, h := range cfg.Routes {
		e.Any(path, echo.WrapHandler(h))
	}

	var common []echo.MiddlewareFunc
	switch max := cfg.MaxConcurrentRequests; {
	case max == 0:
		common = append(common, limitConcurrency(DefaultMaxConcurrentRequests))
	case max > 0:
		common = append(common, limitConcurrency(max))
	}
	common = append(common, s.authenticate)
	if cfg.Throttle.enabled() {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		common = append(common, newThrottle(cfg.Throttle, now).middleware)
	}
	perOperation := make(map[string][]echo.MiddlewareFunc, len(ops))
	for id, op := range ops {
		perOperation[id] = append(append([]echo.MiddlewareFunc(nil), common...), authorize(op), s.validate(op))
	}
	gen.RegisterHandlersWithOptions(e, &handler{store: s.store}, gen.RegisterHandlersOptions{
		BaseURL:              BasePath,
		OperationMiddlewares: perOperation,
	})
	return s, nil
}

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// healthz answers 200 while the process serves requests.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when the store can serve requests and 503 when it cannot.
func (s *Server) readyz(c echo.Context) error {
	if p, ok := s.store.(remoteassist.Pinger); ok {
		ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
		defer cancel()
		if err := p.Ping(ctx); err != nil {
			return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "The store is unreachable.", Err: err}
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
