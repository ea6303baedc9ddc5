package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	adminapi "github.com/remoteassist/remoteassist/gen/admin/echoapi"
	"github.com/remoteassist/remoteassist/gen/echoapi"
)

// echo composes middleware anew on every request: the global layers in Echo.ServeHTTP and a
// route's own in the handler Echo.Add registers, each layer's closure allocated again per
// request. The server composes its layers once instead, when it is built.

// globalLayers composes the global layers (nil ones skipped), outermost first, into one echo
// middleware whose chain is built here, once. It must be the server's only e.Use: echo passes
// its last global middleware the handler the router chose for the request, which is
// c.Handler(), and the chain ends by calling that rather than the handler echo passes.
func globalLayers(layers ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := wrap(func(c echo.Context) error { return c.Handler()(c) }, layers)
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

// wrap applies the layers (nil ones skipped), outermost first, to h.
func wrap(h echo.HandlerFunc, layers []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i] != nil {
			h = layers[i](h)
		}
	}
	return h
}

// composingRouter is the router the generated registration functions add the operations to: it
// applies each route's middleware to its handler once and registers the result.
type composingRouter struct{ e *echo.Echo }

var (
	_ echoapi.EchoRouter  = composingRouter{}
	_ adminapi.EchoRouter = composingRouter{}
)

func (r composingRouter) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	return r.e.Add(method, path, wrap(h, m))
}

// CONNECT registers a route; it and the methods below make composingRouter the generated
// EchoRouter.
func (r composingRouter) CONNECT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, path, h, m)
}

// DELETE registers a route.
func (r composingRouter) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, path, h, m)
}

// GET registers a route.
func (r composingRouter) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, path, h, m)
}

// HEAD registers a route.
func (r composingRouter) HEAD(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, path, h, m)
}

// OPTIONS registers a route.
func (r composingRouter) OPTIONS(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, path, h, m)
}

// PATCH registers a route.
func (r composingRouter) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, path, h, m)
}

// POST registers a route.
func (r composingRouter) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, path, h, m)
}

// PUT registers a route.
func (r composingRouter) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, path, h, m)
}

// TRACE registers a route.
func (r composingRouter) TRACE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, path, h, m)
}

// BasePath is where the API is served, so that http://HOST:PORT/beta replaces
// https://graph.microsoft.com/beta for any Graph client.
const BasePath = "/beta"
