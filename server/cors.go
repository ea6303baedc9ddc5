package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// Cross-origin requests, as a browser makes them: Graph is called from single-page apps (MSAL.js
// and the Graph SDKs in a browser), so code under test in a browser needs CORS here as it does
// against Graph. echo's CORS middleware answers the preflights and adds the headers; requests
// without an Origin (no browser) pass untouched, so a plain OPTIONS still gets the answer of a
// method the route lacks (405, or the graph profile's 400: routeTemplate).

// DefaultCORSOrigins are the origins allowed when Config says nothing: any, as suits an emulator
// that browsers on a developer's machine or in CI call from wherever their page is served. A
// bearer token is not a browser credential (no cookies are involved), so "*" shares nothing a
// page could not send itself.
var DefaultCORSOrigins = []string{"*"}

// The request headers Graph's clients send, which a preflight must allow.
var corsAllowHeaders = []string{
	"Authorization", "Content-Type", "Content-Encoding", "Accept", "client-request-id",
	"return-client-request-id", "SdkVersion", "Prefer", "If-Match",
}

// The response headers a client reads, which must be exposed to its script.
var corsExposeHeaders = []string{"request-id", "client-request-id", "Retry-After", "Location", "WWW-Authenticate"}

// corsMaxAge is how long a browser may keep a preflight's answer, in seconds.
const corsMaxAge = 600

// cors returns the CORS layer for the allowed origins; none means no CORS. allowed gives a
// route's methods, as its 405's Allow header lists them.
func cors(origins []string, allowed func(route string) string) echo.MiddlewareFunc {
	if len(origins) == 0 {
		return nil
	}
	layer := middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:       func(c echo.Context) bool { return c.Request().Header.Get("Origin") == "" },
		AllowOrigins:  origins,
		AllowHeaders:  corsAllowHeaders,
		ExposeHeaders: corsExposeHeaders,
		MaxAge:        corsMaxAge,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := layer(next)
		return func(c echo.Context) error {
			// A preflight is told the methods of the route, which echo's CORS takes from what its
			// router found for the path when no method matched. Every route has an OPTIONS of its
			// own (server.go), so the router found nothing to say: without this, a preflight would
			// be told a fixed list, with methods the route answers with 405.
			if c.Request().Method == http.MethodOptions {
				c.Set(echo.ContextKeyHeaderAllow, allowed(c.Path()))
			}
			return h(c)
		}
	}
}
