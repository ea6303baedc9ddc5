package docs

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// corsPage is a single-page app served from another origin than the API: it calls GET and
// PATCH with a bearer token, as MSAL.js apps call Graph, and fetches the contract, then leaves
// what it read in window.result.
const corsPage = `<!doctype html><meta charset="utf-8"><title>cors</title><script>
(async () => {
  const api = %q, token = %q, base = api + '/beta/deviceManagement/remoteAssistanceSettings';
  const auth = { Authorization: 'Bearer ' + token };
  const out = {};
  let r = await fetch(base, { headers: { ...auth, 'client-request-id': 'browser-get' } });
  out.get = { status: r.status, body: await r.json(), requestId: r.headers.get('request-id'),
    clientRequestId: r.headers.get('client-request-id') };
  r = await fetch(base, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ blockChat: true }) });
  out.patch = { status: r.status, body: await r.json() };
  r = await fetch(base, { method: 'PATCH', headers: { ...auth, 'Content-Type': 'application/json' },
    body: JSON.stringify({ remoteAssistanceState: 'on' }) });
  out.invalid = { status: r.status, body: await r.json(), requestId: r.headers.get('request-id') };
  r = await fetch(api + '/openapi.json');
  out.contract = { status: r.status, openapi: (await r.json()).openapi };
  window.result = JSON.stringify(out);
})().catch((e) => { window.result = JSON.stringify({ error: String(e) }); });
</script>`

// TestBrowserCallsTheAPIFromAnotherOrigin: in Chromium, a page on one loopback origin calls the
// API on another with a token, and reads the answers, their ids and the error envelope; the
// contract loads cross-origin too.
func TestBrowserCallsTheAPIFromAnotherOrigin(t *testing.T) {
	chromium := chromiumPath(t)
	api, key := startAPIWithDocs(t)
	token, err := key.Mint(jwtauth.TokenSpec{Tenant: "spa", Scopes: []string{"DeviceManagementServiceConfig.ReadWrite.All"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, corsPage, api.URL, token)
	}))
	defer page.Close()
	if api.URL == page.URL {
		t.Fatal("the page and the API share an origin")
	}

	origin, _ := url.Parse(page.URL)
	apiOrigin, _ := url.Parse(api.URL)
	tabCtx, blog := startBrowser(t, chromium, origin.Hostname(), origin.Host, apiOrigin.Host)
	if err := chromedp.Do(tabCtx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	raw, err := chromedp.Run(tabCtx, chromedp.Poll[string](`window.result`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(renderHangBound)))
	if err != nil {
		t.Fatalf("the page never finished: %v", err)
	}
	var got struct {
		Error string
		Get   struct {
			Status                     int
			Body                       map[string]any
			RequestID, ClientRequestID string
		}
		Patch struct {
			Status int
			Body   map[string]any
		}
		Invalid struct {
			Status    int
			RequestID string
			Body      struct {
				Error struct {
					Code, Message string
					InnerError    map[string]string
				}
			}
		}
		Contract struct {
			Status  int
			OpenAPI string
		}
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if got.Error != "" {
		t.Fatalf("the page's calls failed (CORS?): %s", got.Error)
	}
	if got.Get.Status != http.StatusOK || got.Get.Body["remoteAssistanceState"] != "notConfigured" ||
		got.Get.RequestID == "" || got.Get.ClientRequestID != "browser-get" {
		t.Errorf("GET: %+v", got.Get)
	}
	if got.Patch.Status != http.StatusOK || got.Patch.Body["blockChat"] != true {
		t.Errorf("PATCH: %+v", got.Patch)
	}
	if got.Invalid.Status != http.StatusBadRequest || got.Invalid.Body.Error.Code != "BadRequest" ||
		got.Invalid.Body.Error.InnerError["request-id"] != got.Invalid.RequestID || got.Invalid.RequestID == "" {
		t.Errorf("invalid PATCH: %+v", got.Invalid)
	}
	if got.Contract.Status != http.StatusOK || got.Contract.OpenAPI != "3.0.3" {
		t.Errorf("the contract: %+v", got.Contract)
	}

	// Every request of the page went to its own origin or the API's, and the browser reported
	// no problem but the invalid PATCH's 400, as a response and in its log (at most once each).
	base := api.URL + "/beta/deviceManagement/remoteAssistanceSettings"
	requests, problems := requestProblems(blog, func(u *url.URL) bool {
		return u.Scheme == "http" && (u.Host == origin.Host || u.Host == apiOrigin.Host)
	})
	expected := []string{
		"browser: HTTP 400 for " + base,
		"browser: browser log network/error: Failed to load resource: the server responded with a status of 400 (Bad Request) " + base,
	}
	for _, p := range problems {
		if i := slices.Index(expected, p); i >= 0 {
			expected = slices.Delete(expected, i, i+1)
			continue
		}
		t.Error(p)
	}
	for _, want := range []string{page.URL + "/", base, api.URL + "/openapi.json"} {
		if !slices.Contains(requests, want) {
			t.Errorf("the page's request of %s was not recorded: %q", want, requests)
		}
	}
	t.Logf("page requests: %q", requests)
}

// contractPage is a renderer on another origin than the API (Swagger UI, Redoc hosted
// elsewhere): it fetches the contract cross-origin and leaves what it got in window.result.
const contractPage = `<!doctype html><meta charset="utf-8"><title>renderer</title><script>
fetch(%q).then(async (r) => { window.result = JSON.stringify({ status: r.status, openapi: (await r.json()).openapi }); })
  .catch((e) => { window.result = JSON.stringify({ error: String(e) }); });
</script>`

// TestBrowserCachedContractCORS: the contract is cacheable (public,
// max-age), so the browser may answer a renderer's cross-origin fetch of it from the copy it kept
// for the same-origin /docs page, whose request had no Origin. That copy must say that the
// answer depends on Origin (Vary: Origin), or the renderer gets it without
// Access-Control-Allow-Origin and the fetch fails. The two pages are on one site (127.0.0.1, two
// ports), as a renderer served locally next to the server is, so they share the browser's cache.
func TestBrowserCachedContractCORS(t *testing.T) {
	chromium := chromiumPath(t)
	api, _ := startAPIWithDocs(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, contractPage, api.URL+PathSpecJSON)
	}))
	defer page.Close()
	origin, _ := url.Parse(page.URL)
	apiOrigin, _ := url.Parse(api.URL)
	if origin.Hostname() != apiOrigin.Hostname() || origin.Host == apiOrigin.Host {
		t.Fatalf("want one host on two ports: %s and %s", page.URL, api.URL)
	}
	tabCtx, blog := startBrowser(t, chromium, origin.Hostname(), origin.Host, apiOrigin.Host)

	// The served page first: Redoc fetches /openapi.json same-origin, with no Origin.
	if err := chromedp.Do(tabCtx, chromedp.Navigate(api.URL+PathDocs)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tabCtx, chromedp.Poll[chromedp.Void](
		`document.documentElement.getAttribute('data-redoc') === 'ready'`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(renderHangBound))); err != nil {
		t.Fatalf("/docs did not render: %v", err)
	}
	if err := chromedp.Do(tabCtx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	raw, err := chromedp.Run(tabCtx, chromedp.Poll[string](`window.result`,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(renderHangBound)))
	if err != nil {
		t.Fatalf("the page never finished: %v", err)
	}
	var got struct {
		Error, OpenAPI string
		Status         int
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if got.Error != "" || got.Status != http.StatusOK || got.OpenAPI != "3.0.3" {
		_, problems := requestProblems(blog, func(*url.URL) bool { return true })
		t.Errorf("the renderer's fetch of the contract after /docs: %s\nbrowser: %q", raw, problems)
	}
	checkRequests(t, blog, func(u *url.URL) bool {
		return u.Scheme == "data" || u.Scheme == "blob" || u.Scheme == "http" && (u.Host == origin.Host || u.Host == apiOrigin.Host)
	})
}

// startAPIWithDocs serves the API with the docs' routes, as serve does, on a loopback origin of
// its own until the test ends, trusting the tokens of the key it returns.
func startAPIWithDocs(t *testing.T) (*httptest.Server, *jwtauth.Key) {
	t.Helper()
	key, err := jwtauth.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := jwtauth.NewDevVerifier(key)
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]http.Handler{}
	for _, p := range Paths() {
		routes[p] = newTestHandler(t)
	}
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(srv)
	t.Cleanup(api.Close)
	return api, key
}
