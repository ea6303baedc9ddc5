package server

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// echo composes middleware anew on every request: the global layers in Echo.ServeHTTP and a
// route's own in the handler Echo.Add registers, each layer's closure allocated again per
// request. The server composes its layers once instead, when it is built.

// once composes the global layers (nil ones skipped), outermost first, into one echo middleware
// whose chain is built here, once. echo passes that middleware the handler its router chose for
// the request, which is c.Handler(); the chain ends by calling it.
func once(layers ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	chain := func(c echo.Context) error { return c.Handler()(c) }
	for i := len(layers) - 1; i >= 0; i-- {
		if layers[i] != nil {
			chain = layers[i](chain)
		}
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return chain }
}

// routes is the router the generated registration functions add the operations to: it applies
// each route's middleware to its handler once and registers the result.
type routes struct{ e *echo.Echo }

func (r routes) add(method, path string, h echo.HandlerFunc, m []echo.MiddlewareFunc) *echo.Route {
	for i := len(m) - 1; i >= 0; i-- {
		h = m[i](h)
	}
	return r.e.Add(method, path, h)
}

// CONNECT registers a route; it and the methods below make routes the generated EchoRouter.
func (r routes) CONNECT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodConnect, path, h, m)
}

// DELETE registers a route.
func (r routes) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodDelete, path, h, m)
}

// GET registers a route.
func (r routes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodGet, path, h, m)
}

// HEAD registers a route.
func (r routes) HEAD(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodHead, path, h, m)
}

// OPTIONS registers a route.
func (r routes) OPTIONS(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodOptions, path, h, m)
}

// PATCH registers a route.
func (r routes) PATCH(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPatch, path, h, m)
}

// POST registers a route.
func (r routes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPost, path, h, m)
}

// PUT registers a route.
func (r routes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodPut, path, h, m)
}

// TRACE registers a route.
func (r routes) TRACE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.add(http.MethodTrace, path, h, m)
}
