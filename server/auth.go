package server

import (
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
)

// authenticate verifies the bearer token and leaves the caller's Principal on the context.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token, ok := bearerToken(c.Request().Header.Get("Authorization"))
		if !ok {
			return remoteassist.Errorf(remoteassist.EUNAUTHENTICATED, "Access token is empty.")
		}
		p, err := s.auth.Authenticate(c.Request().Context(), token)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// bearerToken extracts the token of an "Authorization: Bearer <token>" header; the scheme is
// case-insensitive (RFC 7235).
func bearerToken(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	token := strings.TrimSpace(header[len(scheme):])
	return token, token != ""
}

// authorize refuses callers that hold none of the operation's permissions, which the contract
// lists in the operation's x-graph-permissions extension.
func authorize(op *operation) echo.MiddlewareFunc {
	needed := strings.Join(op.permissions, ", ")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, _ := c.Get(principalKey).(remoteassist.Principal)
			if !p.HasAny(op.permissions) {
				return &remoteassist.Error{
					Code: remoteassist.EFORBIDDEN,
					Message: "Missing permissions on the request. API requires one of '" + needed +
						"'. Permissions on the request '" + strings.Join(append(append([]string(nil), p.Scopes...), p.Roles...), " ") + "'.",
				}
			}
			return next(c)
		}
	}
}

// principal returns the caller that authenticate verified.
func principal(c echo.Context) (remoteassist.Principal, error) {
	p, ok := c.Get(principalKey).(remoteassist.Principal)
	if !ok || p.Tenant == "" {
		return remoteassist.Principal{}, &remoteassist.Error{Code: remoteassist.EINTERNAL, Message: remoteassist.ErrorMessage(nil),
			Err: errNotWired("authentication")}
	}
	return p, nil
}

// errNotWired reports a middleware missing from the chain: a bug, never a client's fault.
type errNotWired string

func (e errNotWired) Error() string { return "server: " + string(e) + " middleware did not run" }
