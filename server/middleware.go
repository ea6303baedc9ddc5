package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
)

// Keys of the values the middleware leaves on the echo context for later layers.
const (
	requestIDKey       = "remoteassist.request-id"
	clientRequestIDKey = "remoteassist.client-request-id"
	principalKey       = "remoteassist.principal"
	operationKey       = "remoteassist.operation"
	bodyKey            = "remoteassist.body"
)

// maxClientRequestID bounds the client-request-id the service echoes back.
const maxClientRequestID = 128

// requestIDs gives every request a fresh request-id and settles its client-request-id (the
// client's when it sent a usable one, else the request-id), and puts both on the response
// before anything else can fail.
func requestIDs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := uuid.NewString()
		clientID := c.Request().Header.Get("client-request-id")
		if !usableClientRequestID(clientID) {
			clientID = id
		}
		c.Set(requestIDKey, id)
		c.Set(clientRequestIDKey, clientID)
		h := c.Response().Header()
		h["Request-Id"] = []string{id}
		h["Client-Request-Id"] = []string{clientID}
		h["Cache-Control"] = []string{"private"}
		return next(c)
	}
}

// usableClientRequestID accepts what is safe to echo: short, printable ASCII.
func usableClientRequestID(s string) bool {
	if s == "" || len(s) > maxClientRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func requestID(c echo.Context) string {
	id, _ := c.Get(requestIDKey).(string)
	return id
}

func clientRequestID(c echo.Context) string {
	id, _ := c.Get(clientRequestIDKey).(string)
	if id == "" {
		return requestID(c)
	}
	return id
}

// recoverPanics turns a panic in any later layer into a 500 Graph envelope; the stack goes to
// the server log only.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.logger.ErrorContext(c.Request().Context(), "panic serving request",
					"request_id", requestID(c), "panic", r, "stack", string(debug.Stack()))
				err = &remoteassist.Error{Code: remoteassist.EINTERNAL, Message: remoteassist.ErrorMessage(nil)}
			}
		}()
		return next(c)
	}
}

// logRequests writes one structured line per request. Tokens and bodies are never logged.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Let the error handler write the response now, so that the status is known.
			c.Error(err)
		}
		if !s.logger.Enabled(c.Request().Context(), slog.LevelInfo) {
			return nil
		}
		attrs := []slog.Attr{
			slog.String("request_id", requestID(c)),
			slog.String("client_request_id", clientRequestID(c)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.Int("status", c.Response().Status),
			slog.Duration("latency", time.Since(start)),
		}
		if op, ok := c.Get(operationKey).(string); ok {
			attrs = append(attrs, slog.String("operation", op))
		}
		if p, ok := c.Get(principalKey).(remoteassist.Principal); ok {
			attrs = append(attrs, slog.String("tenant", p.Tenant))
		}
		s.logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
		return nil
	}
}
