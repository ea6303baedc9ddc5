package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/ordinal"
	"github.com/remoteassist/remoteassist/internal/urlpath"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/server"
)

// Permissions as the contract names them.
const (
	readConfig       = "DeviceManagementServiceConfig.Read.All"
	readWriteConfig  = "DeviceManagementServiceConfig.ReadWrite.All"
	readDeviceConfig = "DeviceManagementConfiguration.Read.All"
	rwDeviceConfig   = "DeviceManagementConfiguration.ReadWrite.All"
	settingsPath     = "/beta/deviceManagement/remoteAssistanceSettings"
)

// harness is a real server on loopback with an in-memory store, a dev signing key and a client
// whose every response is checked against the contract.
type harness struct {
	t      *testing.T
	url    string
	key    *jwtauth.Key
	store  remoteassist.Store
	client *http.Client
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith lets a test adjust the server's configuration before it starts.
func newHarnessWith(t *testing.T, configure func(*server.Config)) *harness {
	t.Helper()
	key, verifier := newDevKey(t)
	var store remoteassist.Store = memory.New()
	cfg := server.Config{Store: store, Authenticator: verifier}
	if configure != nil {
		configure(&cfg)
		store = cfg.Store
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &harness{
		t:      t,
		url:    ts.URL,
		key:    key,
		store:  store,
		client: &http.Client{Transport: &contractChecker{t: t, profile: cfg.Profile, next: http.DefaultTransport}, Timeout: 10 * time.Second},
	}
}

// newDevKey returns a fresh in-memory signing key and a verifier that trusts it.
func newDevKey(tb testing.TB) (*jwtauth.Key, *jwtauth.Verifier) {
	tb.Helper()
	key, err := jwtauth.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	return key, devVerifier(tb, key)
}

// token mints a token for tenant holding the delegated scopes.
func (h *harness) token(tenant string, scopes ...string) string {
	h.t.Helper()
	tok, err := h.key.Mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "user-" + tenant, Scopes: scopes, TTL: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// appToken mints an application token for tenant holding the roles.
func (h *harness) appToken(tenant string, roles ...string) string {
	h.t.Helper()
	tok, err := h.key.Mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "app-" + tenant, Roles: roles, TTL: time.Hour})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// response is a received response with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.body)
	}
	return m
}

// graphError returns the code and message of a Graph error envelope.
func (r response) graphError(t *testing.T) (code, message, target string) {
	t.Helper()
	var env struct {
		Error struct {
			Code, Message, Target string
			InnerError            map[string]string `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("not a Graph error envelope: %v: %s", err, r.body)
	}
	if env.Error.InnerError["request-id"] != r.header.Get("request-id") {
		t.Errorf("innerError.request-id %q, header %q", env.Error.InnerError["request-id"], r.header.Get("request-id"))
	}
	return env.Error.Code, env.Error.Message, env.Error.Target
}

// do sends a request; headers are name, value pairs, added in order (a name given twice is sent twice).
// A "Transfer-Encoding: chunked" pair among the headers sends the body without a Content-Length.
func (h *harness) do(method, path, token string, body []byte, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if http.CanonicalHeaderKey(headers[i]) == "Transfer-Encoding" && headers[i+1] == "chunked" {
			req.ContentLength, req.Body = -1, io.NopCloser(rd) // unknown length: net/http sends chunks
			continue
		}
		req.Header.Add(headers[i], headers[i+1])
	}
	res, err := h.client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

func (h *harness) get(token string) response {
	return h.do(http.MethodGet, settingsPath, token, nil)
}

func (h *harness) patch(token, body string) response {
	return h.do(http.MethodPatch, settingsPath, token, []byte(body), "Content-Type", "application/json")
}

// stored reads the tenant's settings straight from the store.
func (h *harness) stored(tenant string) remoteassist.Settings {
	h.t.Helper()
	s, err := h.store.Settings(context.Background(), tenant)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

// contract is a profile's document and kin-openapi's router of it, for checking responses.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

var contracts sync.Map // remoteassist.Profile → func() (*contract, error)

// contractOf loads the profile's document and its router once.
func contractOf(p remoteassist.Profile) (*contract, error) {
	if p == "" {
		p = remoteassist.ProfileDocumented
	}
	load, _ := contracts.LoadOrStore(p, sync.OnceValues(func() (*contract, error) {
		doc, err := openapi.Load(p)
		if err != nil {
			return nil, err
		}
		router, err := gorillamux.NewRouter(doc)
		return &contract{doc: doc, router: router}, err
	}))
	return load.(func() (*contract, error))()
}

// contractChecker validates every response against its profile's document with kin-openapi:
// responses of known operations by the operation's responses, all others as Graph errors.
type contractChecker struct {
	t       *testing.T
	profile remoteassist.Profile
	next    http.RoundTripper
}

func (c *contractChecker) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := c.next.RoundTrip(req)
	if err != nil {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	if err := checkResponseOf(c.profile, req, res, body); err != nil {
		c.t.Errorf("%s %s → %d breaks the contract: %v\nbody: %s", req.Method, req.URL.Path, res.StatusCode, err, body)
	}
	return res, nil
}

// checkResponse checks a response against the documented profile's contract.
func checkResponse(req *http.Request, res *http.Response, body []byte) error {
	return checkResponseOf(remoteassist.ProfileDocumented, req, res, body)
}

func checkResponseOf(profile remoteassist.Profile, req *http.Request, res *http.Response, body []byte) error {
	c, err := contractOf(profile)
	if err != nil {
		return err
	}

	for _, h := range []string{"request-id", "client-request-id"} {
		if res.Header.Get(h) == "" {
			return &checkError{"missing header " + h}
		}
	}
	if !strings.HasPrefix(req.URL.Path, server.BasePath+"/") {
		return nil
	}
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		return nil // a CORS preflight, which the CORS layer answers, not an operation
	}
	// Match the route on the path alone: the contract's server is relative.
	probe := req.Clone(req.Context())
	probe.URL.Scheme, probe.URL.Host, probe.Host = "", "", ""
	// kin's router matches the path as the server routes it.
	urlpath.Normalize(probe.URL)
	if fold, _ := c.doc.Extensions["x-remoteassist-case-insensitive"].(bool); fold && probe.URL.RawPath == "" {
		// The profile routes paths in any casing; kin's router takes only the contract's.
		for path := range c.doc.Paths.Map() {
			if ordinal.EqualIgnoreCase(probe.URL.Path, server.BasePath+path) {
				probe.URL.Path, probe.URL.RawPath = server.BasePath+path, ""
			}
		}
	}
	route, params, err := c.router.FindRoute(probe)
	if err != nil {
		// No such operation (404, 405): the body must still be a Graph error.
		if res.StatusCode < 400 {
			return &checkError{"success status on a path or method the contract lacks"}
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return c.doc.Components.Schemas["ODataError"].Value.VisitJSON(v)
	}
	return openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

type checkError struct{ msg string }

func (e *checkError) Error() string { return e.msg }

// TestContractCheckerCatchesViolations proves the checker every other test relies on fails on
// responses that break the contract.
func TestContractCheckerCatchesViolations(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1"+settingsPath, nil)
	good := http.Header{"Request-Id": {"5f1c1a55-0d3c-4e5a-9a57-5d0f2b1c9e11"}, "Client-Request-Id": {"c"}, "Content-Type": {"application/json"}}
	bad := []struct {
		name   string
		status int
		header http.Header
		body   string
	}{
		{"200 without id", 200, good, `{"@odata.context":"x","@odata.type":"#microsoft.graph.remoteAssistanceSettings"}`},
		{"200 with out-of-contract state", 200, good, `{"@odata.context":"x","@odata.type":"#microsoft.graph.remoteAssistanceSettings","id":"i","remoteAssistanceState":"on"}`},
		{"error without message", 400, good, `{"error":{"code":"BadRequest","innerError":{"date":"d","request-id":"r","client-request-id":"c"}}}`},
		{"missing request-id", 200, http.Header{"Content-Type": {"application/json"}}, `{"@odata.context":"x","@odata.type":"#microsoft.graph.remoteAssistanceSettings","id":"i"}`},
	}
	for _, tc := range bad {
		res := &http.Response{StatusCode: tc.status, Header: tc.header}
		if err := checkResponse(req, res, []byte(tc.body)); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	ok := `{"@odata.context":"x","@odata.type":"#microsoft.graph.remoteAssistanceSettings","id":"i","blockChat":true}`
	if err := checkResponse(req, &http.Response{StatusCode: 200, Header: good}, []byte(ok)); err != nil {
		t.Errorf("valid response refused: %v", err)
	}
}
