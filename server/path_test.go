package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/server"
)

// TestPercentEncodedPaths: a path spelling unreserved characters as percent-encodings
// ("remoteAssistance%53ettings", %53 being 'S') is the same path (RFC 3986, 6.2.2.2), under
// either profile and on the admin API, while an encoded '/' (%2F) stays inside its segment: no
// route has that segment, in any casing. A refused request changes nothing.
func TestPercentEncodedPaths(t *testing.T) {
	const tenant = "encoded"
	cases := []struct {
		name    string
		profile remoteassist.Profile
		method  string
		path    string
		status  int
		mention string // of the 404's message
	}{
		{name: "unreserved letter", method: http.MethodGet, path: "/beta/deviceManagement/remoteAssistance%53ettings", status: 200},
		{name: "every letter of a segment", method: http.MethodGet, path: "/%62%65%74%61/deviceManagement/remoteAssistanceSettings", status: 200},
		{name: "lowercase hex", method: http.MethodGet, path: "/beta/device%4danagement/remoteAssistanceSettings", status: 200},
		{name: "PATCH", method: http.MethodPatch, path: "/beta/deviceManagement/remoteAssistance%53ettings", status: 200},
		{name: "the letter in another case stays case-sensitive", method: http.MethodGet, path: "/beta/deviceManagement/remoteAssistance%73ettings",
			status: 404, mention: "segment 'remoteAssistancesettings'."},
		{name: "encoded slash", method: http.MethodGet, path: "/beta/deviceManagement%2FremoteAssistanceSettings",
			status: 404, mention: "segment 'deviceManagement/remoteAssistanceSettings'."},
		{name: "encoded slash, lowercase hex", method: http.MethodPatch, path: "/beta/deviceManagement%2fremoteAssistanceSettings",
			status: 404, mention: "segment 'deviceManagement/remoteAssistanceSettings'."},
		{name: "encoded slash beside an encoded letter", method: http.MethodPatch, path: "/beta/device%4Danagement%2FremoteAssistance%53ettings",
			status: 404, mention: "segment 'deviceManagement/remoteAssistanceSettings'."},
		{name: "graph: unreserved letter", profile: remoteassist.ProfileGraph, method: http.MethodGet, path: "/beta/deviceManagement/remoteAssistance%53ettings", status: 200},
		{name: "graph: encoded letter in another casing", profile: remoteassist.ProfileGraph, method: http.MethodGet, path: "/beta/devicemanagement/remoteassistance%73ettings", status: 200},
		{name: "graph: PATCH", profile: remoteassist.ProfileGraph, method: http.MethodPatch, path: "/beta/deviceManagement/remoteAssistance%53ettings", status: 204},
		{name: "graph: encoded slash", profile: remoteassist.ProfileGraph, method: http.MethodGet, path: "/beta/deviceManagement%2FremoteAssistanceSettings",
			status: 404, mention: "segment 'deviceManagement/remoteAssistanceSettings'."},
		// Case folding must not turn the encoded '/' into a separator either.
		{name: "graph: encoded slash in another casing", profile: remoteassist.ProfileGraph, method: http.MethodPatch, path: "/beta/devicemanagement%2FremoteAssistanceSettings",
			status: 404, mention: "segment 'devicemanagement/remoteAssistanceSettings'."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessWith(t, func(c *server.Config) { c.Profile = tc.profile })
			tok := h.token(tenant, readWriteConfig)
			before := h.stored(tenant)
			var body []byte
			var headers []string
			if tc.method == http.MethodPatch {
				body, headers = []byte(`{"blockChat":true}`), []string{"Content-Type", "application/json"}
			}
			res := h.do(tc.method, tc.path, tok, body, headers...)
			if res.status != tc.status {
				t.Fatalf("%s %s: %d, want %d: %s", tc.method, tc.path, res.status, tc.status, res.body)
			}
			after := h.stored(tenant)
			if tc.status >= 400 {
				code, msg, _ := res.graphError(t)
				if code != "ResourceNotFound" || !strings.Contains(msg, tc.mention) {
					t.Errorf("%s %q, want ResourceNotFound mentioning %q", code, msg, tc.mention)
				}
				if after != before {
					t.Errorf("a refused request changed the state: %+v → %+v", before, after)
				}
				return
			}
			if tc.method == http.MethodPatch && !after.BlockChat {
				t.Errorf("the PATCH was not applied: %+v", after)
			}
			if tc.method == http.MethodGet && res.json(t)["id"] == nil {
				t.Errorf("GET answered %s", res.body)
			}
		})
	}
}

// TestAdminPercentEncodedPaths: the admin API routes its paths as the API does, its path
// parameters decoded.
func TestAdminPercentEncodedPaths(t *testing.T) {
	c := newControlled(t, control.Options{})
	status, _, body := c.call(t, http.MethodPut, "/admin/%74enants/con%74oso/settings", `{"blockChat":true}`)
	if status != http.StatusOK {
		t.Fatalf("PUT with encoded letters: %d %s", status, body)
	}
	if !c.api.stored("contoso").BlockChat {
		t.Error("the seed did not reach tenant contoso")
	}
	status, _, body = c.call(t, http.MethodPut, "/admin/tenants%2Fcontoso/settings", `{"blockChat":false}`)
	if code, msg, _ := graphCode(t, body); status != http.StatusNotFound || code != "ResourceNotFound" || !strings.Contains(msg, "'tenants/contoso'") {
		t.Errorf("PUT with an encoded slash: %d %s", status, body)
	}
	if !c.api.stored("contoso").BlockChat {
		t.Error("a refused request changed the state")
	}
}
