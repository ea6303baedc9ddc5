package server_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/server"
)

// TestOutOfRangeNumbers: a number beyond float64's range (1e400) is valid JSON, so a body
// holding one is refused as any other value out of contract, where it stands: a known property
// as of the wrong type, an unknown property as unknown, in either profile, sent plain or gzipped.
// Nothing is stored.
func TestOutOfRangeNumbers(t *testing.T) {
	const unknown = "Property 'foo' does not exist on type 'microsoft.graph.remoteAssistanceSettings'. " +
		"Allowed properties: @odata.context, @odata.type, allowSessionsToUnenrolledDevices, blockChat, id, remoteAssistanceState."
	cases := []struct {
		name, body, message, target string
		graph                       string // the message under the graph profile, when it differs
	}{
		{"boolean", `{"blockChat":1e400}`, "Invalid value for property 'blockChat': expected a boolean, got a number.", "blockChat", ""},
		{"negative", `{"allowSessionsToUnenrolledDevices":-1e400}`,
			"Invalid value for property 'allowSessionsToUnenrolledDevices': expected a boolean, got a number.", "allowSessionsToUnenrolledDevices", ""},
		{"beside a valid property", `{"blockChat":true,"allowSessionsToUnenrolledDevices":1E+999}`,
			"Invalid value for property 'allowSessionsToUnenrolledDevices': expected a boolean, got a number.", "allowSessionsToUnenrolledDevices", ""},
		{"enumeration", `{"remoteAssistanceState":1e400}`,
			"Invalid value for property 'remoteAssistanceState': 1e400. Allowed values: notConfigured, disabled, enabled.", "remoteAssistanceState",
			"Invalid value for property 'remoteAssistanceState': 1e400. Allowed values: disabled, enabled."},
		{"unknown property", `{"foo":1e400}`, unknown, "foo", ""},
		{"unknown property beside a valid one", `{"blockChat":true,"foo":[1e400]}`, unknown, "foo", ""},
		{"the body", `1e400`, "The request body must be a JSON object, not a number.", "", ""},
	}
	for _, profile := range []remoteassist.Profile{remoteassist.ProfileDocumented, remoteassist.ProfileGraph} {
		h := newHarnessWith(t, func(c *server.Config) { c.Profile = profile })
		tok := h.token("huge", readWriteConfig)
		before := h.stored("huge")
		for _, tc := range cases {
			for _, gz := range []bool{false, true} {
				t.Run(string(profile)+"/"+tc.name+map[bool]string{true: "/gzip"}[gz], func(t *testing.T) {
					body, headers := []byte(tc.body), []string{"Content-Type", "application/json"}
					if gz {
						var buf bytes.Buffer
						zw := gzip.NewWriter(&buf)
						zw.Write(body)
						zw.Close()
						body, headers = buf.Bytes(), append(headers, "Content-Encoding", "gzip")
					}
					res := h.do(http.MethodPatch, settingsPath, tok, body, headers...)
					want := tc.message
					if profile == remoteassist.ProfileGraph && tc.graph != "" {
						want = tc.graph
					}
					code, msg, target := res.graphError(t)
					if res.status != http.StatusBadRequest || code != "BadRequest" || msg != want || target != tc.target {
						t.Errorf("%d %s %q target %q, want 400 BadRequest %q target %q", res.status, code, msg, target, want, tc.target)
					}
					if after := h.stored("huge"); after != before {
						t.Errorf("state changed by a refused request: %+v → %+v", before, after)
					}
				})
			}
		}
	}
}

// TestAdminOutOfRangeNumbers: the admin API's numeric properties refuse a number beyond
// float64's range as out of range, and add no rule.
func TestAdminOutOfRangeNumbers(t *testing.T) {
	c := newControlled(t, control.Options{})
	for _, tc := range []struct{ body, message, target string }{
		{`{"effect":{"status":503},"probability":1e400}`, "Invalid value for property 'probability': the number is out of range.", "probability"},
		{`{"effect":{"status":503},"seed":-1e400}`, "Invalid value for property 'seed': the number is out of range.", "seed"},
		{`{"effect":{"status":1e400}}`, "Invalid value for property 'effect/status': 1e400. Allowed values: 429, 500, 502, 503, 504.", "effect/status"},
	} {
		status, _, body := c.call(t, http.MethodPost, "/admin/faults", tc.body)
		if code, msg, target := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || msg != tc.message || target != tc.target {
			t.Errorf("%s: %d %s", tc.body, status, body)
		}
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/faults", ""); !bytes.Contains(body, []byte(`"rules":[]`)) {
		t.Errorf("a refused rule was added: %s", body)
	}
}
