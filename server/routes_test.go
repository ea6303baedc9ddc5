package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/labstack/echo/v4"
)

// TestLayersComposeOnce: the global layers and a route's own are composed when the routes are
// registered, not per request, they run outermost first, and the global chain ends in the
// handler the router chose, for a route and for echo's not-found answer alike.
func TestLayersComposeOnce(t *testing.T) {
	var composed, ran []string
	layer := func(name string) echo.MiddlewareFunc {
		return func(next echo.HandlerFunc) echo.HandlerFunc {
			composed = append(composed, name)
			return func(c echo.Context) error {
				ran = append(ran, name)
				return next(c)
			}
		}
	}
	e := echo.New()
	e.Use(globalLayers(layer("outer"), nil, layer("inner")))
	composingRouter{e}.GET("/x", func(c echo.Context) error {
		ran = append(ran, "handler")
		return c.NoContent(http.StatusNoContent)
	}, layer("route"), nil)

	for _, tc := range []struct {
		path   string
		status int
		ran    []string
	}{
		{"/x", http.StatusNoContent, []string{"outer", "inner", "route", "handler"}},
		{"/x", http.StatusNoContent, []string{"outer", "inner", "route", "handler"}},
		{"/missing", http.StatusNotFound, []string{"outer", "inner"}},
	} {
		ran = nil
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
		if rec.Code != tc.status || !slices.Equal(ran, tc.ran) {
			t.Errorf("GET %s: status %d, ran %v; want %d, %v", tc.path, rec.Code, ran, tc.status, tc.ran)
		}
	}
	// echo composes the one global middleware per request (it is handed the route's handler),
	// which returns the chain built once: no layer is composed again after the first requests.
	if want := []string{"inner", "outer", "route"}; !slices.Equal(composed, want) {
		t.Errorf("layers composed %v, want each once: %v", composed, want)
	}
}
