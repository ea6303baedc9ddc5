package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/docs"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/server"
)

// TestCORS: a browser's preflight for a PATCH with a token is answered as Graph's clients need,
// the answers expose the ids and Retry-After, and only the configured origins are let in.
func TestCORS(t *testing.T) {
	preflight := func(h *harness, origin string) response {
		return h.do(http.MethodOptions, settingsPath, "", nil, "Origin", origin,
			"Access-Control-Request-Method", "PATCH",
			"Access-Control-Request-Headers", "authorization,content-type,content-encoding,client-request-id,sdkversion")
	}

	h := newHarness(t) // the default: any origin
	res := preflight(h, "http://127.0.0.1:3000")
	// The methods the path has, and no other: HEAD, say, is a 405 there.
	if methods := res.header.Get("Access-Control-Allow-Methods"); methods != h.do(http.MethodPut, settingsPath, "", nil).header.Get("Allow") {
		t.Errorf("preflight allows %q, the path's 405 %q", methods, h.do(http.MethodPut, settingsPath, "", nil).header.Get("Allow"))
	}
	if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.header.Get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(strings.ToLower(res.header.Get("Access-Control-Allow-Headers")), "client-request-id") ||
		!strings.Contains(res.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", res.status, res.header)
	}
	tok := h.token("cors", readWriteConfig)
	res = h.do(http.MethodGet, settingsPath, tok, nil, "Origin", "http://127.0.0.1:3000")
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "request-id") ||
		!strings.Contains(res.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("GET from another origin: %d %v", res.status, res.header)
	}
	// Without an Origin, OPTIONS is what it was: a method the route lacks.
	if res := h.do(http.MethodOptions, settingsPath, "", nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("OPTIONS without Origin: %d", res.status)
	}

	h = newHarnessWith(t, func(c *server.Config) { c.CORSOrigins = []string{"https://app.contoso.test"} })
	if res := preflight(h, "https://app.contoso.test"); res.header.Get("Access-Control-Allow-Origin") != "https://app.contoso.test" {
		t.Errorf("allowed origin: %v", res.header)
	}
	if res := preflight(h, "https://evil.test"); res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin let in: %v", res.header)
	}

	h = newHarnessWith(t, func(c *server.Config) { c.CORSOrigins = []string{} })
	if res := preflight(h, "http://127.0.0.1:3000"); res.header.Get("Access-Control-Allow-Origin") != "" || res.status != http.StatusMethodNotAllowed {
		t.Errorf("CORS off: %d %v", res.status, res.header)
	}
}

// TestContractVariesByOrigin: the contract, which browsers may cache (max-age), says it depends
// on Origin whether the request had one or not, once: /docs fetches it with none, and a page of
// another origin must not be handed that copy, which has no Access-Control-Allow-Origin. The
// API's answers (Cache-Control: private, no freshness) are left as they were.
func TestContractVariesByOrigin(t *testing.T) {
	served, err := openapi.Served(remoteassist.ProfileDocumented)
	if err != nil {
		t.Fatal(err)
	}
	docsHandler, err := docs.Handler(served.YAML, served.JSON)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(c *server.Config) {
		c.Routes = map[string]http.Handler{}
		for _, path := range docs.Paths() { // as serve routes them
			c.Routes[path] = docsHandler
		}
	})
	count := func(res response) (n int) {
		for _, v := range res.header.Values("Vary") {
			for _, name := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(name), "Origin") {
					n++
				}
			}
		}
		return n
	}
	for _, path := range []string{"/openapi.json", "/openapi.yaml", "/docs/"} {
		if res := h.do(http.MethodGet, path, "", nil); res.status != http.StatusOK || count(res) != 1 {
			t.Errorf("GET %s without Origin: %d, Vary %q; want Origin once", path, res.status, res.header.Values("Vary"))
		}
		if res := h.do(http.MethodGet, path, "", nil, "Origin", "http://127.0.0.1:3000"); res.status != http.StatusOK || count(res) != 1 {
			t.Errorf("GET %s with an Origin: %d, Vary %q; want Origin once", path, res.status, res.header.Values("Vary"))
		}
	}
	if res := h.do(http.MethodGet, settingsPath, h.token("cors", readConfig), nil); count(res) != 0 {
		t.Errorf("the API's GET without Origin: Vary %q", res.header.Values("Vary"))
	}
}
