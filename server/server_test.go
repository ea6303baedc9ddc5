package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

func TestGetDefaults(t *testing.T) {
	h := newHarness(t)
	res := h.get(h.token("tenant-a", readConfig))
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	got := res.json(t)
	want := map[string]any{
		"@odata.context":                   h.url + "/beta/$metadata#deviceManagement/remoteAssistanceSettings/$entity",
		"@odata.type":                      "#microsoft.graph.remoteAssistanceSettings",
		"id":                               remoteassist.SettingsID("tenant-a"),
		"allowSessionsToUnenrolledDevices": false,
		"remoteAssistanceState":            "notConfigured",
		"blockChat":                        false,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d properties, want %d: %v", len(got), len(want), got)
	}
	if res.header.Get("client-request-id") != res.header.Get("request-id") {
		t.Errorf("client-request-id %q should equal request-id %q when the client sent none",
			res.header.Get("client-request-id"), res.header.Get("request-id"))
	}
	if cc := res.header.Get("Cache-Control"); cc != "private" {
		t.Errorf("Cache-Control %q", cc)
	}
	again := h.get(h.token("tenant-a", readConfig)).json(t)
	if again["id"] != got["id"] {
		t.Errorf("id changed between reads: %v, %v", got["id"], again["id"])
	}
}

// An HTTP/1.0 client may send no Host: @odata.context is still a URL, of the address it
// connected to.
func TestODataContextWithoutHost(t *testing.T) {
	h := newHarness(t)
	addr := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET %s HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n", settingsPath, h.token("t", readConfig))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", res.StatusCode, err)
	}
	if want := "http://" + addr + "/beta/$metadata#deviceManagement/remoteAssistanceSettings/$entity"; body["@odata.context"] != want {
		t.Errorf("@odata.context = %v, want %s", body["@odata.context"], want)
	}
}

// A proxy that terminates TLS in front of the service says so in X-Forwarded-Proto; from a
// trusted peer (loopback, as here, or a private address) @odata.context names the scheme the
// client used, as echo's scheme extractor decides, and without the header the connection's.
func TestODataContextSchemeBehindAProxy(t *testing.T) {
	h := newHarness(t)
	host := strings.TrimPrefix(h.url, "http://")
	tok := h.token("tenant-a", readConfig)
	for _, tc := range []struct {
		headers []string
		scheme  string
	}{
		{nil, "http"},
		{[]string{"X-Forwarded-Proto", "https"}, "https"},
		{[]string{"X-Forwarded-Proto", "http"}, "http"},
		{[]string{"X-Forwarded-Ssl", "on"}, "https"},
		{[]string{"X-Url-Scheme", "HTTPS"}, "https"},
		{[]string{"X-Forwarded-Protocol", "https"}, "https"},
		{[]string{"X-Forwarded-Proto", "ftp", "X-Forwarded-Ssl", "on"}, "http"},
	} {
		res := h.do(http.MethodGet, settingsPath, tok, nil, tc.headers...)
		want := tc.scheme + "://" + host + "/beta/$metadata#deviceManagement/remoteAssistanceSettings/$entity"
		if got := res.json(t)["@odata.context"]; res.status != http.StatusOK || got != want {
			t.Errorf("headers %v: %d, @odata.context %v, want %s", tc.headers, res.status, got, want)
		}
	}
}

func TestPatchMergesAndAnswersWholeEntity(t *testing.T) {
	h := newHarness(t)
	tok := h.token("t1", readWriteConfig)
	res := h.patch(tok, `{"remoteAssistanceState":"enabled"}`)
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	body := res.json(t)
	if body["remoteAssistanceState"] != "enabled" || body["blockChat"] != false || body["allowSessionsToUnenrolledDevices"] != false {
		t.Errorf("unexpected entity %v", body)
	}
	res = h.patch(tok, `{"blockChat":true}`)
	body = res.json(t)
	if body["remoteAssistanceState"] != "enabled" || body["blockChat"] != true {
		t.Errorf("merge lost a property: %v", body)
	}
	want := remoteassist.Settings{ID: remoteassist.SettingsID("t1"), RemoteAssistanceState: remoteassist.StateEnabled, BlockChat: true}
	if got := h.stored("t1"); got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}
}

func TestSelect(t *testing.T) {
	h := newHarness(t)
	// On beta, Graph takes the option with or without its $.
	for _, option := range []string{"$select", "select"} {
		res := h.do(http.MethodGet, settingsPath+"?"+option+"=blockChat,remoteAssistanceState", h.token("t", readConfig), nil)
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", option, res.status, res.body)
		}
		body := res.json(t)
		if _, ok := body["allowSessionsToUnenrolledDevices"]; ok {
			t.Errorf("%s: unselected property returned: %v", option, body)
		}
		if body["blockChat"] != false || body["remoteAssistanceState"] != "notConfigured" || body["id"] == nil {
			t.Errorf("%s: selected properties missing: %v", option, body)
		}
		if !strings.Contains(body["@odata.context"].(string), "remoteAssistanceSettings(blockChat,remoteAssistanceState)/$entity") {
			t.Errorf("%s: context %v", option, body["@odata.context"])
		}
		res = h.do(http.MethodGet, settingsPath+"?"+option+"=bogus", h.token("t", readConfig), nil)
		code, msg, _ := res.graphError(t)
		if res.status != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "'"+option+"'") || !strings.Contains(msg, "blockChat") {
			t.Errorf("bad %s: %d %s %s", option, res.status, code, msg)
		}
	}
	res := h.do(http.MethodGet, settingsPath+"?$select=id&select=blockChat", h.token("t", readConfig), nil)
	code, msg, _ := res.graphError(t)
	if res.status != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "not both") {
		t.Errorf("$select and select: %d %s %s", res.status, code, msg)
	}
	// An option given twice is refused, in Graph's OData words, naming it.
	for _, query := range []string{"$select=id&$select=blockChat", "select=id&select=id"} {
		option, _, _ := strings.Cut(query, "=")
		res := h.do(http.MethodGet, settingsPath+"?"+query, h.token("t", readConfig), nil)
		code, msg, target := res.graphError(t)
		want := "Query option '" + option + "' was specified more than once, but it must be specified at most once."
		if res.status != http.StatusBadRequest || code != "BadRequest" || msg != want || target != option {
			t.Errorf("%s: %d %s %q %q, want 400 %q", query, res.status, code, msg, target, want)
		}
	}
	// A parameter that is no system query option ("$" and a name) is ignored, as at Graph; an
	// unknown system query option is refused (TestRejectedRequests).
	if res := h.do(http.MethodGet, settingsPath+"?api-version=2&$select=blockChat", h.token("t", readConfig), nil); res.status != http.StatusOK {
		t.Errorf("an unknown parameter beside $select: %d %s", res.status, res.body)
	}
}

// TestSelectSkipsSpaces: Graph's OData parser skips the white space around a $select's items
// ("$select=id, blockChat", as clients joining names with ", " send it); the answer and its
// @odata.context name the properties as if it were not there, in both profiles.
func TestSelectSkipsSpaces(t *testing.T) {
	harnesses := map[string]*harness{"documented": newHarness(t), "graph": newGraphHarness(t)}
	cases := []struct {
		profile, query, context string
	}{
		{"documented", "$select=id,%20blockChat", "(id,blockChat)"},
		{"documented", "select=%20blockChat%20,remoteAssistanceState%09", "(blockChat,remoteAssistanceState)"},
		{"documented", "$select=blockChat,+remoteAssistanceState", "(blockChat,remoteAssistanceState)"},
		{"graph", "$SELECT=BLOCKCHAT,%20Id", "(blockChat,id)"},
	}
	for _, tc := range cases {
		h := harnesses[tc.profile]
		res := h.do(http.MethodGet, settingsPath+"?"+tc.query, h.token("t", readConfig), nil)
		if res.status != http.StatusOK {
			t.Errorf("%s %s: status %d: %s", tc.profile, tc.query, res.status, res.body)
			continue
		}
		body := res.json(t)
		if _, ok := body["allowSessionsToUnenrolledDevices"]; ok || body["blockChat"] != false || body["id"] == nil {
			t.Errorf("%s %s: %v", tc.profile, tc.query, body)
		}
		if ctx, _ := body["@odata.context"].(string); !strings.HasSuffix(ctx, "/$metadata#deviceManagement/remoteAssistanceSettings"+tc.context+"/$entity") {
			t.Errorf("%s %s: context %q, want the selection %s", tc.profile, tc.query, ctx, tc.context)
		}
	}
	// A name still has to be one of the entity's: spaces are skipped, not taken as part of it.
	h := harnesses["documented"]
	res := h.do(http.MethodGet, settingsPath+"?$select=id,%20block%20Chat", h.token("t", readConfig), nil)
	if code, msg, target := res.graphError(t); res.status != http.StatusBadRequest || code != "BadRequest" || target != "$select" || !strings.Contains(msg, "blockChat") {
		t.Errorf("a name with a space inside: %d %s %q %q", res.status, code, msg, target)
	}
}

// TestSelectEmptyAndTrailingComma: Graph's OData parser (odata.net's SelectExpandParser) reads an
// empty or blank $select as no selection, every property, and ends the list at a comma followed
// by nothing ("$select=id,"); the answer and its @odata.context are those of the list without
// it, in both profiles. A comma with no name before it, or two in a row, is still refused.
func TestSelectEmptyAndTrailingComma(t *testing.T) {
	harnesses := map[string]*harness{"documented": newHarness(t), "graph": newGraphHarness(t)}
	for _, tc := range []struct {
		profile, query string
		selected       string // the properties answered besides id, comma-separated; "" for all
	}{
		{"documented", "$select=", ""},
		{"documented", "select=", ""},
		{"documented", "$select=%20%09", ""},
		{"documented", "$select=id,", "id"},
		{"documented", "select=blockChat,remoteAssistanceState,", "blockChat,remoteAssistanceState"},
		{"documented", "$select=blockChat,%20", "blockChat"},
		{"graph", "$select=", ""},
		{"graph", "$SELECT=BlockChat,", "blockChat"},
	} {
		h := harnesses[tc.profile]
		tok := h.token("t", readConfig)
		res := h.do(http.MethodGet, settingsPath+"?"+tc.query, tok, nil)
		if res.status != http.StatusOK {
			t.Errorf("%s %s: status %d: %s", tc.profile, tc.query, res.status, res.body)
			continue
		}
		if tc.selected == "" {
			if plain := h.get(tok); !bytes.Equal(res.body, plain.body) {
				t.Errorf("%s %s: %s, want the answer without $select: %s", tc.profile, tc.query, res.body, plain.body)
			}
			continue
		}
		body := res.json(t)
		for _, name := range []string{"allowSessionsToUnenrolledDevices", "remoteAssistanceState", "blockChat"} {
			if _, answered := body[name]; answered != slices.Contains(strings.Split(tc.selected, ","), name) {
				t.Errorf("%s %s: %s answered: %v, want only %s", tc.profile, tc.query, name, answered, tc.selected)
			}
		}
		if ctx, _ := body["@odata.context"].(string); !strings.HasSuffix(ctx, "/$metadata#deviceManagement/remoteAssistanceSettings("+tc.selected+")/$entity") {
			t.Errorf("%s %s: context %q, want the selection (%s)", tc.profile, tc.query, ctx, tc.selected)
		}
	}
	h := harnesses["documented"]
	for _, query := range []string{"$select=,", "$select=,id", "$select=id,,blockChat", "$select=id,,", "select=%20,"} {
		res := h.do(http.MethodGet, settingsPath+"?"+query, h.token("t", readConfig), nil)
		option, _, _ := strings.Cut(query, "=")
		if code, msg, target := res.graphError(t); res.status != http.StatusBadRequest || code != "BadRequest" || target != option || !strings.Contains(msg, "blockChat") {
			t.Errorf("%s: %d %s %q %q, want a 400 naming %s", query, res.status, code, msg, target, option)
		}
	}
}

// TestRejectedRequests covers every class of bad request: status, Graph code, a message that
// names what is wrong, and stored state unchanged afterwards.
func TestRejectedRequests(t *testing.T) {
	h := newHarness(t)
	const tenant = "victim"
	rw := h.token(tenant, readWriteConfig)
	seed := h.patch(rw, `{"remoteAssistanceState":"disabled","blockChat":true}`)
	if seed.status != http.StatusOK {
		t.Fatalf("seeding: %d %s", seed.status, seed.body)
	}
	before := h.stored(tenant)
	// Every body below that sets a property sets it to a value other than the seed's, so that
	// a rejected request wrongly applied would show in the state check.
	big := `{"blockChat":false,"pad":"` + strings.Repeat("x", 70<<10) + `"}`

	cases := []struct {
		name     string
		method   string
		path     string
		token    string
		body     string
		headers  []string
		status   int
		code     string
		mentions []string
		// target, when set, is the error.target the refusal must name.
		target    string
		wantAllow string
		gzipBody  bool
		// storedGzip compresses at gzip.NoCompression, so the compressed body is as large as
		// the plain one.
		storedGzip  bool
		wantWWWAuth bool
	}{
		{name: "enum value outside the contract", body: `{"remoteAssistanceState":"on"}`, status: 400, code: "BadRequest",
			mentions: []string{"remoteAssistanceState", "notConfigured", "disabled", "enabled", `"on"`}},
		{name: "enum value in wrong case", body: `{"remoteAssistanceState":"Enabled"}`, status: 400, code: "BadRequest",
			mentions: []string{"remoteAssistanceState", "notConfigured, disabled, enabled"}},
		{name: "boolean sent as string", body: `{"blockChat":"false"}`, status: 400, code: "BadRequest", mentions: []string{"blockChat", "boolean"}},
		{name: "boolean sent as number", body: `{"allowSessionsToUnenrolledDevices":1}`, status: 400, code: "BadRequest",
			mentions: []string{"allowSessionsToUnenrolledDevices", "boolean"}},
		{name: "null for non-nullable boolean", body: `{"blockChat":null}`, status: 400, code: "BadRequest", mentions: []string{"blockChat", "null"}},
		{name: "null for non-nullable enum", body: `{"remoteAssistanceState":null}`, status: 400, code: "BadRequest", mentions: []string{"remoteAssistanceState", "null"}},
		{name: "unknown property", body: `{"blockChat":false,"chatBlocked":false}`, status: 400, code: "BadRequest", mentions: []string{"chatBlocked", "Allowed properties", "remoteAssistanceState"}},
		{name: "property with an empty name", body: `{"blockChat":false,"":false}`, status: 400, code: "BadRequest",
			mentions: []string{"Property '' does not exist on type 'microsoft.graph.remoteAssistanceSettings'", "Allowed properties"}},
		{name: "property in wrong case", body: `{"BlockChat":false}`, status: 400, code: "BadRequest", mentions: []string{"BlockChat"}},
		{name: "malformed JSON", body: `{"blockChat":tru`, status: 400, code: "BadRequest", mentions: []string{"JSON"}},
		{name: "trailing data", body: `{"blockChat":false} {}`, status: 400, code: "BadRequest", mentions: []string{"JSON"}},
		{name: "array body", body: `[{"blockChat":false}]`, status: 400, code: "BadRequest", mentions: []string{"JSON object"}},
		{name: "string body", body: `"blockChat"`, status: 400, code: "BadRequest", mentions: []string{"JSON object"}},
		{name: "null body", body: `null`, status: 400, code: "BadRequest", mentions: []string{"The request body must be a JSON object, not null."}},
		{name: "empty object", body: `{}`, status: 400, code: "BadRequest", mentions: []string{"at least 1 property"}},
		{name: "only annotations", body: `{"@odata.type":"#microsoft.graph.remoteAssistanceSettings"}`, status: 400, code: "BadRequest", mentions: []string{"at least 1 property"}},
		{name: "empty body", body: ``, headers: []string{"Content-Type", "application/json"}, status: 400, code: "BadRequest", mentions: []string{"body is required"}},
		{name: "wrong odata type", body: `{"@odata.type":"#microsoft.graph.user","blockChat":false}`, status: 400, code: "BadRequest", mentions: []string{"@odata.type"}},
		{name: "foreign id", body: `{"id":"someone-else","blockChat":false}`, status: 400, code: "BadRequest", mentions: []string{"'id'"}},
		{name: "missing content type", body: `{"blockChat":false}`, headers: []string{"Content-Type", ""}, status: 415, code: "UnsupportedMediaType", mentions: []string{"Content-Type"}},
		{name: "two Content-Type headers", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json", "Content-Type", "text/plain"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"'application/json, text/plain'"}},
		{name: "text/plain", body: `{"blockChat":false}`, headers: []string{"Content-Type", "text/plain"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"application/json"}},
		{name: "non-UTF-8 charset", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json; charset=latin1"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"latin1"}},
		{name: "unsupported encoding", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json", "Content-Encoding", "br"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"br"}},
		{name: "corrupt gzip", body: `not gzip`, headers: []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, status: 400, code: "BadRequest", mentions: []string{"gzip"}},
		{name: "body over the limit", body: big, status: 413, code: "RequestEntityTooLarge", mentions: []string{"limit"}},
		{name: "gzip body inflating over the limit", body: big, gzipBody: true, headers: []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, status: 413, code: "RequestEntityTooLarge", mentions: []string{"limit"}},
		{name: "client-request-id twice", method: http.MethodGet, headers: []string{"Client-Request-Id", "a", "Client-Request-Id", "b"}, status: 400, code: "BadRequest",
			mentions: []string{"Header 'client-request-id' was specified more than once, but it must be specified at most once."}, target: "client-request-id"},
		{name: "client-request-id twice on a PATCH", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json", "Client-Request-Id", "a", "Client-Request-Id", "a"}, status: 400, code: "BadRequest",
			mentions: []string{"Header 'client-request-id' was specified more than once"}, target: "client-request-id"},
		{name: "body gzipped twice", body: `{"blockChat":false}`, gzipBody: true, headers: []string{"Content-Type", "application/json", "Content-Encoding", "gzip", "Content-Encoding", "gzip"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"gzip, gzip"}},
		{name: "Content-Encoding list with an unknown coding", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json", "Content-Encoding", "identity, br"}, status: 415, code: "UnsupportedMediaType", mentions: []string{"br"}},
		{name: "query with a semicolon", method: http.MethodGet, path: settingsPath + "?$select=blockChat;id", status: 400, code: "BadRequest", mentions: []string{"query string"}},
		{name: "query with a bad escape", method: http.MethodGet, path: settingsPath + "?$select=%zz", status: 400, code: "BadRequest", mentions: []string{"query string", "%zz"}},
		{name: "gzip body over the limit before inflating, sent chunked", body: big, gzipBody: true, storedGzip: true,
			headers: []string{"Content-Type", "application/json", "Content-Encoding", "gzip", "Transfer-Encoding", "chunked"},
			status:  413, code: "RequestEntityTooLarge", mentions: []string{"limit"}},
		{name: "body over the limit, sent chunked", body: big,
			headers: []string{"Content-Type", "application/json", "Transfer-Encoding", "chunked"},
			status:  413, code: "RequestEntityTooLarge", mentions: []string{"limit"}},
		{name: "no token", token: "-", body: `{"blockChat":false}`, status: 401, code: "InvalidAuthenticationToken", mentions: []string{"empty"}, wantWWWAuth: true},
		{name: "two Authorization headers", body: `{"blockChat":false}`, headers: []string{"Content-Type", "application/json", "Authorization", "Bearer another"},
			status: 401, code: "InvalidAuthenticationToken", mentions: []string{"more than one Authorization header"}, wantWWWAuth: true},
		{name: "garbage token", token: "garbage", body: `{"blockChat":false}`, status: 401, code: "InvalidAuthenticationToken", wantWWWAuth: true},
		{name: "read-only token", token: h.token(tenant, readConfig), body: `{"blockChat":false}`, status: 403, code: "Forbidden", mentions: []string{readWriteConfig}},
		{name: "DELETE", method: http.MethodDelete, status: 405, code: "MethodNotAllowed", mentions: []string{"DELETE"}, wantAllow: "GET, PATCH"},
		{name: "PUT", method: http.MethodPut, body: `{"blockChat":false}`, status: 405, code: "MethodNotAllowed", wantAllow: "GET, PATCH"},
		{name: "POST", method: http.MethodPost, body: `{"blockChat":false}`, status: 405, code: "MethodNotAllowed", wantAllow: "GET, PATCH"},
		{name: "OPTIONS", method: http.MethodOptions, status: 405, code: "MethodNotAllowed", mentions: []string{"OPTIONS"}, wantAllow: "GET, PATCH"},
		{name: "unknown path", method: http.MethodGet, path: "/beta/deviceManagement/nothingHere", status: 404, code: "ResourceNotFound", mentions: []string{"nothingHere"}},
		{name: "unknown system query option", method: http.MethodGet, path: settingsPath + "?$filter=blockChat%20eq%20true", status: 400, code: "BadRequest", mentions: []string{"The query parameter '$filter' is not supported."}},
		{name: "system query option in another casing", method: http.MethodGet, path: settingsPath + "?$SELECT=blockChat", status: 400, code: "BadRequest", mentions: []string{"'$SELECT' is not supported"}},
		{name: "$expand", method: http.MethodGet, path: settingsPath + "?$expand=foo", status: 400, code: "BadRequest", mentions: []string{"'$expand'"}},
		// Graph's beta endpoint takes a system query option without its $ (filter for $filter).
		{name: "system query option without its $", method: http.MethodGet, path: settingsPath + "?filter=blockChat%20eq%20true", status: 400, code: "BadRequest", mentions: []string{"The query parameter 'filter' is not supported."}},
		{name: "system query option without its $, in another casing", method: http.MethodGet, path: settingsPath + "?api-version=2&Expand=foo", status: 400, code: "BadRequest", mentions: []string{"The query parameter 'Expand' is not supported."}},
		{name: "system query option without its $ on PATCH", path: settingsPath + "?top=1", body: `{"blockChat":false}`, status: 400, code: "BadRequest", mentions: []string{"The query parameter 'top' is not supported."}},
		{name: "unknown system query option on PATCH", path: settingsPath + "?$top=1", body: `{"blockChat":false}`, status: 400, code: "BadRequest", mentions: []string{"'$top'"}},
		{name: "unknown root path", method: http.MethodGet, path: "/v1.0/deviceManagement/remoteAssistanceSettings", status: 404, code: "ResourceNotFound", mentions: []string{"segment 'v1.0'."}},
		{name: "unknown middle segment", method: http.MethodGet, path: "/beta/foo/remoteAssistanceSettings", status: 404, code: "ResourceNotFound", mentions: []string{"segment 'foo'."}},
		{name: "segment past the resource", method: http.MethodGet, path: settingsPath + "/blockChat", status: 404, code: "ResourceNotFound", mentions: []string{"segment 'blockChat'."}},
		{name: "trailing slash", method: http.MethodGet, path: settingsPath + "/", status: 404, code: "ResourceNotFound", mentions: []string{"segment 'remoteAssistanceSettings'."}},
		{name: "a route's prefix", method: http.MethodGet, path: "/beta/deviceManagement", status: 404, code: "ResourceNotFound", mentions: []string{"segment 'deviceManagement'."}},
		{name: "the root", method: http.MethodGet, path: "/", status: 404, code: "ResourceNotFound", mentions: []string{"segment ''."}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var fields map[string]any
			if json.Unmarshal([]byte(tc.body), &fields) == nil {
				if v, ok := fields["blockChat"].(bool); ok && v == before.BlockChat {
					t.Fatalf("the body sets blockChat to the seeded value: the state check could not fail")
				}
				if v, ok := fields["remoteAssistanceState"].(string); ok && v == string(before.RemoteAssistanceState) {
					t.Fatalf("the body sets remoteAssistanceState to the seeded value: the state check could not fail")
				}
			}
			method, path, token := tc.method, tc.path, tc.token
			if method == "" {
				method = http.MethodPatch
			}
			if path == "" {
				path = settingsPath
			}
			switch token {
			case "":
				token = rw
			case "-":
				token = ""
			}
			body := []byte(tc.body)
			if tc.gzipBody {
				var buf bytes.Buffer
				level := gzip.DefaultCompression
				if tc.storedGzip {
					level = gzip.NoCompression
				}
				zw, _ := gzip.NewWriterLevel(&buf, level)
				zw.Write(body)
				zw.Close()
				body = buf.Bytes()
			}
			headers := tc.headers
			if headers == nil && tc.body != "" {
				headers = []string{"Content-Type", "application/json"}
			}
			res := h.do(method, path, token, body, headers...)
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			code, msg, target := res.graphError(t)
			if code != tc.code {
				t.Errorf("code %q, want %q (message %q)", code, tc.code, msg)
			}
			if tc.target != "" && target != tc.target {
				t.Errorf("target %q, want %q (message %q)", target, tc.target, msg)
			}
			if msg == "" {
				t.Error("empty message")
			}
			for _, m := range tc.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("message %q does not mention %q", msg, m)
				}
			}
			if tc.wantAllow != "" && res.header.Get("Allow") != tc.wantAllow {
				t.Errorf("Allow %q, want %q", res.header.Get("Allow"), tc.wantAllow)
			}
			if tc.wantWWWAuth && !strings.HasPrefix(res.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate %q", res.header.Get("WWW-Authenticate"))
			}
			// RFC 6750 §3.1: no error code in the challenge when no credentials were sent.
			if tc.wantWWWAuth && (token == "") == strings.Contains(res.header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("WWW-Authenticate %q for a request with token %v", res.header.Get("WWW-Authenticate"), token != "")
			}
			if strings.Contains(string(res.body), "goroutine") || strings.Contains(string(res.body), ".go:") {
				t.Errorf("internal detail leaked: %s", res.body)
			}
			if after := h.stored(tenant); after != before {
				t.Errorf("state changed by a rejected request: %+v → %+v", before, after)
			}
		})
	}
}

func TestRoundTripGetPatchGet(t *testing.T) {
	h := newHarness(t)
	tok := h.token("rt", readWriteConfig)
	if res := h.patch(tok, `{"remoteAssistanceState":"enabled","allowSessionsToUnenrolledDevices":true}`); res.status != 200 {
		t.Fatalf("seed: %d %s", res.status, res.body)
	}
	first := h.get(tok)
	if first.status != 200 {
		t.Fatalf("GET %d", first.status)
	}
	res := h.patch(tok, string(first.body))
	if res.status != http.StatusOK {
		t.Fatalf("PATCH of the GET body: %d %s", res.status, res.body)
	}
	second := h.get(tok)
	if second.status != http.StatusOK {
		t.Fatalf("second GET %d", second.status)
	}
	a, b := first.json(t), second.json(t)
	if a["remoteAssistanceState"] != "enabled" || a["allowSessionsToUnenrolledDevices"] != true {
		t.Fatalf("the seed did not take: %v", a)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("round trip changed the entity:\n%v\n%v", a, b)
	}
}

func TestGzipAndCharsetBodies(t *testing.T) {
	h := newHarness(t)
	tok := h.token("gz", rwDeviceConfig)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"blockChat":true}`))
	zw.Close()
	res := h.do(http.MethodPatch, settingsPath, tok, buf.Bytes(), "Content-Type", "application/json", "Content-Encoding", "gzip")
	if res.status != 200 || res.json(t)["blockChat"] != true {
		t.Fatalf("gzip PATCH: %d %s", res.status, res.body)
	}
	// Identity codings around the gzip change nothing, in one header line or several.
	for _, enc := range [][]string{{"identity", "gzip"}, {"identity, GZIP"}, {"gzip, identity", ""}} {
		headers := []string{"Content-Type", "application/json"}
		for _, e := range enc {
			headers = append(headers, "Content-Encoding", e)
		}
		if res := h.do(http.MethodPatch, settingsPath, tok, buf.Bytes(), headers...); res.status != 200 {
			t.Errorf("Content-Encoding %q: %d %s", enc, res.status, res.body)
		}
	}
	for _, ct := range []string{"application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8", "application/json; odata.metadata=minimal"} {
		res := h.do(http.MethodPatch, settingsPath, tok, []byte(`{"remoteAssistanceState":"disabled"}`), "Content-Type", ct)
		if res.status != 200 {
			t.Errorf("Content-Type %q: %d %s", ct, res.status, res.body)
		}
	}
	// A UTF-8 byte order mark before the JSON, as Windows PowerShell sends a file's, is skipped.
	res = h.do(http.MethodPatch, settingsPath, tok, []byte("\xef\xbb\xbf"+`{"remoteAssistanceState":"enabled"}`), "Content-Type", "application/json")
	if res.status != 200 || res.json(t)["remoteAssistanceState"] != "enabled" {
		t.Errorf("a body after a byte order mark: %d %s", res.status, res.body)
	}
}

func TestClientRequestIDEchoed(t *testing.T) {
	h := newHarness(t)
	res := h.do(http.MethodGet, settingsPath, h.token("c", readConfig), nil, "client-request-id", "my-id-42")
	if got := res.header.Get("client-request-id"); got != "my-id-42" {
		t.Errorf("client-request-id %q", got)
	}
	// Spaces are printable: echoed too.
	res = h.do(http.MethodGet, settingsPath, h.token("c", readConfig), nil, "client-request-id", "batch 7 item 3")
	if got := res.header.Get("client-request-id"); got != "batch 7 item 3" {
		t.Errorf("client-request-id with spaces: %q", got)
	}
	// Non-ASCII is not: the request-id takes its place.
	res = h.do(http.MethodGet, settingsPath, h.token("c", readConfig), nil, "client-request-id", "café")
	if got := res.header.Get("client-request-id"); got != res.header.Get("request-id") {
		t.Errorf("non-ASCII client-request-id: echoed %q, want the request-id %q", got, res.header.Get("request-id"))
	}
	res = h.do(http.MethodPatch, settingsPath, h.token("c", readConfig), []byte(`{}`), "Content-Type", "application/json", "client-request-id", "err-id")
	var env struct {
		Error struct {
			InnerError map[string]string `json:"innerError"`
		} `json:"error"`
	}
	json.Unmarshal(res.body, &env)
	if env.Error.InnerError["client-request-id"] != "err-id" || env.Error.InnerError["date"] == "" {
		t.Errorf("innerError %v", env.Error.InnerError)
	}
}

func TestConcurrentPatchesLoseNoUpdate(t *testing.T) {
	h := newHarness(t)
	tok := h.token("busy", readWriteConfig)
	const rounds = 30
	var wg sync.WaitGroup
	bodies := []string{`{"allowSessionsToUnenrolledDevices":true}`, `{"blockChat":true}`, `{"remoteAssistanceState":"enabled"}`}
	for _, body := range bodies {
		for i := 0; i < rounds; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if res := h.patch(tok, body); res.status != 200 {
					t.Errorf("PATCH %s: %d", body, res.status)
				}
			}()
		}
	}
	wg.Wait()
	want := remoteassist.Settings{ID: remoteassist.SettingsID("busy"), AllowSessionsToUnenrolledDevices: true, BlockChat: true, RemoteAssistanceState: remoteassist.StateEnabled}
	if got := h.stored("busy"); got != want {
		t.Errorf("stored %+v, want %+v", got, want)
	}
}

func TestTenantIsolation(t *testing.T) {
	h := newHarness(t)
	a, b := h.token("tenant-a", readWriteConfig), h.token("tenant-b", readWriteConfig)
	if res := h.patch(a, `{"remoteAssistanceState":"enabled","blockChat":true}`); res.status != 200 {
		t.Fatal(res.status)
	}
	got := h.get(b).json(t)
	if got["remoteAssistanceState"] != "notConfigured" || got["blockChat"] != false || got["id"] != remoteassist.SettingsID("tenant-b") {
		t.Errorf("tenant-b sees %v", got)
	}
	// tenant-b cannot address tenant-a's object by id either.
	res := h.patch(b, fmt.Sprintf(`{"id":%q,"blockChat":false}`, remoteassist.SettingsID("tenant-a")))
	if res.status != 400 {
		t.Errorf("cross-tenant id accepted: %d", res.status)
	}
	if h.stored("tenant-a").BlockChat != true {
		t.Error("tenant-a changed by tenant-b")
	}
}

func TestPermissionMatrix(t *testing.T) {
	h := newHarness(t)
	perms := []string{readConfig, readWriteConfig, readDeviceConfig, rwDeviceConfig, "User.Read", ""}
	canRead := map[string]bool{readConfig: true, readWriteConfig: true, readDeviceConfig: true, rwDeviceConfig: true}
	canWrite := map[string]bool{readWriteConfig: true, rwDeviceConfig: true}
	for _, perm := range perms {
		for _, kind := range []string{"delegated", "application"} {
			t.Run(kind+"/"+perm, func(t *testing.T) {
				var tok string
				var grant []string
				if perm != "" {
					grant = []string{perm}
				}
				if kind == "delegated" {
					tok = h.token("pm", grant...)
				} else {
					tok = h.appToken("pm", grant...)
				}
				wantGet, wantPatch := 403, 403
				if canRead[perm] {
					wantGet = 200
				}
				if canWrite[perm] {
					wantPatch = 200
				}
				if res := h.get(tok); res.status != wantGet {
					t.Errorf("GET %d, want %d", res.status, wantGet)
				}
				if res := h.patch(tok, `{"blockChat":true}`); res.status != wantPatch {
					t.Errorf("PATCH %d, want %d: %s", res.status, wantPatch, res.body)
				}
			})
		}
	}
}

func TestHealthz(t *testing.T) {
	h := newHarness(t)
	if res := h.do(http.MethodGet, "/healthz", "", nil); res.status != 200 {
		t.Errorf("healthz %d", res.status)
	}
	if res := h.do(http.MethodGet, "/readyz", "", nil); res.status != 200 {
		t.Errorf("readyz %d", res.status)
	}
}

// TestProbesAnswerHEAD: orchestrators and uptime checkers often probe with HEAD. /healthz, /readyz
// and /metrics answer it like GET, without a body, on the API's listener and on the ops one.
func TestProbesAnswerHEAD(t *testing.T) {
	h := newHarness(t)
	_, verifier := newDevKey(t)
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier})
	if err != nil {
		t.Fatal(err)
	}
	ops := httptest.NewServer(srv.OpsHandler())
	t.Cleanup(ops.Close)
	for _, listener := range []struct{ name, url string }{{"API", h.url}, {"ops", ops.URL}} {
		for _, path := range []string{"/healthz", "/readyz", server.MetricsPath} {
			send := func(method string) response {
				req, err := http.NewRequest(method, listener.url+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				body, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				return response{status: res.StatusCode, header: res.Header, body: body}
			}
			get, head := send(http.MethodGet), send(http.MethodHead)
			if head.status != http.StatusOK || len(head.body) != 0 {
				t.Errorf("%s listener: HEAD %s: %d with %d bytes of body, want 200 and none: %s", listener.name, path, head.status, len(head.body), head.body)
			}
			if got, want := head.header.Get("Content-Type"), get.header.Get("Content-Type"); got != want {
				t.Errorf("%s listener: HEAD %s: Content-Type %q, GET's is %q", listener.name, path, got, want)
			}
		}
	}
}

// Routes outside the API (the docs, the served contract, health and metrics) refuse other
// methods as the API does: Graph's 405 envelope and an Allow header.
func TestNonAPIRoutesRefuseOtherMethods(t *testing.T) {
	h := newHarnessWith(t, func(cfg *server.Config) {
		cfg.Routes = map[string]http.Handler{"/page": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("page"))
		})}
	})
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/page", "GET, HEAD"},
		{http.MethodDelete, "/page", "GET, HEAD"},
		{http.MethodOptions, "/page", "GET, HEAD"},
		{http.MethodPost, "/healthz", "GET, HEAD"},
		{http.MethodPut, server.MetricsPath, "GET, HEAD"},
	} {
		res := h.do(tc.method, tc.path, "", nil)
		code, msg, _ := res.graphError(t)
		if res.status != http.StatusMethodNotAllowed || code != "MethodNotAllowed" || !strings.Contains(msg, tc.method) {
			t.Errorf("%s %s: %d %s %q", tc.method, tc.path, res.status, code, msg)
		}
		if got := res.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if res := h.do(method, "/page", "", nil); res.status != http.StatusOK {
			t.Errorf("%s /page: %d", method, res.status)
		}
	}
}
