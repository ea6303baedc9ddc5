package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	adminmodels "github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/internal/urlpath"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/server"
)

const adminTokenValue = "admin-secret-for-tests"

// controlled is an API server and its admin API over one store and one control plane.
type controlled struct {
	api     *harness
	admin   string // base URL of the admin listener
	store   *memory.Store
	control *control.Control
}

func newControlled(t *testing.T, opts control.Options) *controlled {
	t.Helper()
	store := memory.New()
	ctl := control.New(opts)
	api := newHarnessWith(t, func(c *server.Config) { c.Store = store; c.Control = ctl })
	adm, err := server.NewAdmin(server.AdminConfig{Store: store, Control: ctl, Token: adminTokenValue, APIBaseURL: api.url + server.BasePath})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(adm)
	t.Cleanup(ts.Close)
	return &controlled{api: api, admin: ts.URL, store: store, control: ctl}
}

// call sends an admin request with the admin token; it returns the status, headers and body.
func (c *controlled) call(t *testing.T, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	return c.callAs(t, adminTokenValue, method, path, body)
}

func (c *controlled) callAs(t *testing.T, token, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, c.admin+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if err := checkAdminResponse(req, res, data); err != nil {
		t.Errorf("%s %s → %d breaks the admin contract: %v\nbody: %s", method, path, res.StatusCode, err, data)
	}
	return res.StatusCode, res.Header, data
}

// adminRouter is kin-openapi's router of the admin contract, for checking responses.
var adminRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi.SharedAdmin()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// checkAdminResponse validates an admin response against the admin contract (openapi/admin.bundle.yaml),
// its status, headers and body, as checkResponse does the API's: every bound the contract
// declares for what the admin API answers must hold.
func checkAdminResponse(req *http.Request, res *http.Response, body []byte) error {
	router, err := adminRouter()
	if err != nil {
		return err
	}
	probe := req.Clone(req.Context())
	probe.URL.Scheme, probe.URL.Host, probe.Host = "", "", ""
	urlpath.Normalize(probe.URL) // kin's router matches the path as the server routes it
	route, params, err := router.FindRoute(probe)
	if err != nil {
		return nil // no such operation (404, 405): not the admin contract's to say
	}
	return openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: probe, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

func graphCode(t *testing.T, body []byte) (code, message, target string) {
	t.Helper()
	var env struct {
		Error struct{ Code, Message, Target string }
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("not a Graph error: %s", body)
	}
	return env.Error.Code, env.Error.Message, env.Error.Target
}

func TestAdminNeedsItsToken(t *testing.T) {
	c := newControlled(t, control.Options{})
	for _, tok := range []string{"", "wrong", adminTokenValue + "x"} {
		status, hdr, body := c.callAs(t, tok, http.MethodGet, "/admin/snapshot", "")
		if code, _, _ := graphCode(t, body); status != http.StatusUnauthorized || code != "InvalidAuthenticationToken" || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("token %q: %d %s", tok, status, body)
		}
	}
	// The API's tokens are not admin tokens, and the admin API is not on the API's listener.
	if status, _, _ := c.callAs(t, c.api.token("contoso", readWriteConfig), http.MethodGet, "/admin/snapshot", ""); status != http.StatusUnauthorized {
		t.Errorf("an API token on the admin API: %d", status)
	}
	if res := c.api.do(http.MethodGet, "/admin/snapshot", "", nil); res.status != http.StatusNotFound {
		t.Errorf("the admin API on the API's listener: %d", res.status)
	}
}

func TestAdminState(t *testing.T) {
	c := newControlled(t, control.Options{})
	status, _, body := c.call(t, http.MethodPut, "/admin/tenants/contoso/settings", `{"remoteAssistanceState":"enabled","blockChat":true}`)
	if status != http.StatusOK || !strings.Contains(string(body), `"remoteAssistanceState":"enabled"`) {
		t.Fatalf("seed: %d %s", status, body)
	}
	if got := c.api.get(c.api.token("contoso", readConfig)).json(t); got["blockChat"] != true {
		t.Errorf("the API after the seed: %v", got)
	}
	// A seed leaves out what it does not give: the defaults.
	c.call(t, http.MethodPut, "/admin/tenants/contoso/settings", `{"allowSessionsToUnenrolledDevices":true}`)
	if got := c.api.stored("contoso"); got.BlockChat || !got.AllowSessionsToUnenrolledDevices || got.RemoteAssistanceState != remoteassist.StateNotConfigured {
		t.Errorf("after a second seed: %+v", got)
	}
	// Validated as the API validates: refused whole, nothing changed.
	status, _, body = c.call(t, http.MethodPut, "/admin/tenants/contoso/settings", `{"remoteAssistanceState":"on","blockChat":true}`)
	if code, _, target := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || target != "remoteAssistanceState" {
		t.Errorf("a bad seed: %d %s", status, body)
	}
	if c.api.stored("contoso").BlockChat {
		t.Error("a refused seed changed the state")
	}
	// A seed that sets nothing is refused as the API's PATCH is (DELETE resets).
	for _, empty := range []string{`{}`, `{"@odata.type":"#microsoft.graph.remoteAssistanceSettings"}`} {
		status, _, body = c.call(t, http.MethodPut, "/admin/tenants/contoso/settings", empty)
		if code, msg, _ := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "at least 1 property") {
			t.Errorf("a seed of %s: %d %s", empty, status, body)
		}
		if !c.api.stored("contoso").AllowSessionsToUnenrolledDevices {
			t.Errorf("a seed of %s changed the state", empty)
		}
	}
	if status, _, _ := c.call(t, http.MethodDelete, "/admin/tenants/contoso/settings", ""); status != http.StatusNoContent {
		t.Errorf("reset: %d", status)
	}
	if got := c.api.stored("contoso"); got != remoteassist.DefaultSettings("contoso") {
		t.Errorf("after the reset: %+v", got)
	}
}

func TestAdminSnapshots(t *testing.T) {
	c := newControlled(t, control.Options{})
	snap := `{"tenants":{"contoso":{"remoteAssistanceState":"enabled"},"fabrikam":{"blockChat":true}}}`
	if status, _, body := c.call(t, http.MethodPut, "/admin/snapshot", snap); status != http.StatusNoContent {
		t.Fatalf("import: %d %s", status, body)
	}
	status, _, body := c.call(t, http.MethodGet, "/admin/snapshot", "")
	var got struct {
		Tenants map[string]map[string]any
	}
	if err := json.Unmarshal(body, &got); status != http.StatusOK || err != nil || len(got.Tenants) != 2 ||
		got.Tenants["contoso"]["remoteAssistanceState"] != "enabled" || got.Tenants["fabrikam"]["blockChat"] != true {
		t.Fatalf("export: %d %s", status, body)
	}
	// A value out of contract anywhere: refused whole, naming the tenant and the property.
	bad := `{"tenants":{"woodgrove":{"blockChat":false},"northwind":{"remoteAssistanceState":"Enabled"}}}`
	status, _, body = c.call(t, http.MethodPut, "/admin/snapshot", bad)
	code, msg, target := graphCode(t, body)
	if status != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(target, "northwind") ||
		!strings.Contains(target, "remoteAssistanceState") || !strings.Contains(msg, "Allowed values") {
		t.Errorf("a bad snapshot: %d %s", status, body)
	}
	if all, _ := remoteassist.AllSettings(t.Context(), c.store); len(all) != 2 {
		t.Errorf("a refused snapshot changed the store: %v", all)
	}
	// A tenant no token could name: refused whole as well, not a store's 500.
	for _, tenant := range []string{"", strings.Repeat("t", remoteassist.MaxIDLength+1), strings.Repeat("é", remoteassist.MaxIDLength+1)} {
		status, _, body = c.call(t, http.MethodPut, "/admin/snapshot", `{"tenants":{"woodgrove":{},"`+tenant+`":{"blockChat":true}}}`)
		if code, msg, target := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || target != "tenants" || !strings.Contains(msg, "1 to 256 characters") {
			t.Errorf("a snapshot with a tenant of %d characters: %d %s", utf8.RuneCountInString(tenant), status, body)
		}
	}
	long := strings.Repeat("é", remoteassist.MaxIDLength)
	if status, _, body := c.call(t, http.MethodPut, "/admin/snapshot", `{"tenants":{"`+long+`":{"blockChat":true}}}`); status != http.StatusNoContent {
		t.Errorf("a snapshot with a tenant of %d characters: %d %s", remoteassist.MaxIDLength, status, body)
	}
	if status, _, body := c.call(t, http.MethodGet, "/admin/tenants/"+url.PathEscape(long)+"/settings", ""); status != http.StatusOK || !strings.Contains(string(body), `"blockChat":true`) {
		t.Errorf("the tenant of %d characters read back: %d %s", remoteassist.MaxIDLength, status, body)
	}
	if status, _, _ := c.call(t, http.MethodDelete, "/admin/tenants", ""); status != http.StatusNoContent {
		t.Errorf("reset all: %d", status)
	}
	if all, _ := remoteassist.AllSettings(t.Context(), c.store); len(all) != 0 {
		t.Errorf("after resetting every tenant: %v", all)
	}
}

func TestAdminFaults(t *testing.T) {
	c := newControlled(t, control.Options{})
	status, hdr, body := c.call(t, http.MethodPost, "/admin/faults",
		`{"match":{"tenant":"contoso","method":"PATCH"},"effect":{"status":503,"retryAfter":2},"times":1}`)
	var rule struct {
		Id    string
		Fired int
	}
	if err := json.Unmarshal(body, &rule); status != http.StatusCreated || err != nil || hdr.Get("Location") != "/admin/faults/"+rule.Id {
		t.Fatalf("add: %d %v %s", status, hdr, body)
	}
	contoso := c.api.token("contoso", readWriteConfig)
	res := c.api.patch(contoso, `{"blockChat":true}`)
	if code, _, _ := res.graphError(t); res.status != http.StatusServiceUnavailable || code != "ServiceUnavailable" || res.header.Get("Retry-After") != "2" {
		t.Fatalf("the faulted PATCH: %d %v %s", res.status, res.header, res.body)
	}
	if c.api.stored("contoso").BlockChat {
		t.Error("a fault changed the state")
	}
	if res := c.api.patch(c.api.token("fabrikam", readWriteConfig), `{"blockChat":true}`); res.status != http.StatusOK {
		t.Errorf("another tenant: %d", res.status)
	}
	if res := c.api.patch(contoso, `{"blockChat":true}`); res.status != http.StatusOK {
		t.Errorf("after the rule's one time: %d", res.status)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/faults", "")
	if !strings.Contains(string(body), `"fired":1`) || !strings.Contains(string(body), `"remaining":0`) {
		t.Errorf("list: %s", body)
	}
	// Refusals: a rule that cannot apply, an unknown id.
	if status, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":503,"drop":true}}`); status != http.StatusBadRequest {
		t.Errorf("drop with a status: %d %s", status, body)
	}
	if status, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":500,"retryAfter":3}}`); status != http.StatusBadRequest ||
		!strings.Contains(string(body), `"message":"Invalid fault rule: only a 429, 503 or 504 carries a Retry-After."`) {
		t.Errorf("a 500 with a Retry-After: %d %s", status, body)
	}
	if status, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":418}}`); status != http.StatusBadRequest {
		t.Errorf("status 418: %d %s", status, body)
	}
	if status, _, _ := c.call(t, http.MethodDelete, "/admin/faults/"+rule.Id, ""); status != http.StatusNoContent {
		t.Errorf("delete: %d", status)
	}
	if status, _, body := c.call(t, http.MethodDelete, "/admin/faults/"+rule.Id, ""); status != http.StatusNotFound {
		t.Errorf("delete again: %d %s", status, body)
	}

	// A dropped connection: the client gets no answer, the journal says 0.
	c.call(t, http.MethodPost, "/admin/faults", `{"match":{"tenant":"dropped"},"effect":{"drop":true}}`)
	req, _ := http.NewRequest(http.MethodGet, c.api.url+settingsPath, nil)
	req.Header.Set("Authorization", "Bearer "+c.api.token("dropped", readConfig))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
		t.Errorf("a dropped request was answered %d", res.StatusCode)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/journal?tenant=dropped", "")
	if !strings.Contains(string(body), `"status":0`) {
		t.Errorf("the journal of the dropped request: %s", body)
	}
	// Go's transport may send the dropped GET twice (it retries an idempotent request whose
	// connection closed without an answer): every one of them is selected by status 0.
	_, _, all := c.call(t, http.MethodGet, "/admin/journal/count?tenant=dropped", "")
	_, _, dropped := c.call(t, http.MethodGet, "/admin/journal/count?tenant=dropped&status=0", "")
	if string(dropped) != string(all) || string(dropped) == "{\"count\":0}\n" {
		t.Errorf("the dropped requests by their status 0: %s of %s", dropped, all)
	}
	c.call(t, http.MethodDelete, "/admin/faults", "")
	if _, _, body := c.call(t, http.MethodGet, "/admin/faults", ""); string(body) != "{\"rules\":[]}\n" {
		t.Errorf("after clear: %s", body)
	}
}

// TestFaultRulesUnderConcurrency: while requests run and rules are added, listed and removed
// beside them through the admin API, a rule with times fires for exactly that many requests, each
// journaled with its id, and a rule matching other requests never touches these.
func TestFaultRulesUnderConcurrency(t *testing.T) {
	c := newControlled(t, control.Options{})
	const times, workers, each = 25, 8, 20
	status, _, body := c.call(t, http.MethodPost, "/admin/faults",
		fmt.Sprintf(`{"match":{"tenant":"counted"},"effect":{"status":503,"omitRetryAfter":true},"times":%d}`, times))
	var rule struct{ Id string }
	if err := json.Unmarshal(body, &rule); status != http.StatusCreated || err != nil {
		t.Fatalf("add: %d %s", status, body)
	}
	tok := c.api.token("counted", readConfig)
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, url, token, body string) (int, []byte, error) {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		data, err := io.ReadAll(res.Body)
		return res.StatusCode, data, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		errs     []error
	)
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() { // rules for another tenant come and go, and the admin API is read, all along
		defer close(churned)
		prev := ""
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, b, err := do(http.MethodPost, c.admin+"/admin/faults", adminTokenValue, `{"match":{"tenant":"other"},"effect":{"status":500}}`)
			var r struct{ Id string }
			if err != nil || st != http.StatusCreated || json.Unmarshal(b, &r) != nil {
				fail(fmt.Errorf("add a rule: %d %s %v", st, b, err))
				return
			}
			for _, path := range []string{"/admin/faults", "/admin/journal/count?tenant=counted", "/admin/journal?limit=5", "/admin/findings"} {
				if st, b, err := do(http.MethodGet, c.admin+path, adminTokenValue, ""); err != nil || st != http.StatusOK {
					fail(fmt.Errorf("GET %s: %d %s %v", path, st, b, err))
				}
			}
			// Each rule is left until the next is added, to be among those the requests are
			// matched against meanwhile.
			if prev == "" {
				prev = r.Id
				continue
			}
			path := "/admin/faults/" + prev
			prev = r.Id
			if st, b, err := do(http.MethodDelete, c.admin+path, adminTokenValue, ""); err != nil || st != http.StatusNoContent {
				fail(fmt.Errorf("DELETE %s: %d %s %v", path, st, b, err))
			}
			if st, b, err := do(http.MethodDelete, c.admin+path, adminTokenValue, ""); err != nil || st != http.StatusNotFound {
				fail(fmt.Errorf("DELETE %s again: %d %s %v", path, st, b, err))
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				st, b, err := do(http.MethodGet, c.api.url+settingsPath, tok, "")
				if err != nil {
					fail(err)
					continue
				}
				if st != http.StatusOK && st != http.StatusServiceUnavailable {
					fail(fmt.Errorf("GET: %d %s", st, b))
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-churned
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if statuses[http.StatusServiceUnavailable] != times || statuses[http.StatusOK] != workers*each-times {
		t.Errorf("answers %v, want %d 503s of %d", statuses, times, workers*each)
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count?tenant=counted&status=503", ""); string(body) != fmt.Sprintf("{\"count\":%d}\n", times) {
		t.Errorf("journaled 503s: %s", body)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/journal?tenant=counted&status=503", "")
	if n := strings.Count(string(body), `"rule":"`+rule.Id+`"`); n != times {
		t.Errorf("%d of the 503s name rule %s: %s", n, rule.Id, body)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/faults", "")
	if !strings.Contains(string(body), fmt.Sprintf(`"fired":%d,"id":"%s"`, times, rule.Id)) || !strings.Contains(string(body), `"remaining":0`) {
		t.Errorf("the rule after the run: %s", body)
	}
}

func TestPreferOnlyWhenAllowed(t *testing.T) {
	for _, allow := range []bool{false, true} {
		c := newControlled(t, control.Options{AllowPrefer: allow})
		res := c.api.do(http.MethodGet, settingsPath, c.api.token("p", readConfig), nil, "Prefer", "code=429")
		if want := map[bool]int{false: http.StatusOK, true: http.StatusTooManyRequests}[allow]; res.status != want {
			t.Errorf("allow %v: %d, want %d", allow, res.status, want)
		}
	}
}

// TestPreferInSeveralFields: Prefer is a list, which a client may send as several header fields
// (one of its own preferences, then the test's code): every field counts, as if joined by commas.
func TestPreferInSeveralFields(t *testing.T) {
	c := newControlled(t, control.Options{AllowPrefer: true})
	tok := c.api.token("p", readConfig)
	res := c.api.do(http.MethodGet, settingsPath, tok, nil, "Prefer", "return=representation", "Prefer", "code=503", "Prefer", "retry-after=7")
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "7" {
		t.Errorf("Prefer in three fields: %d, Retry-After %q, want 503 and 7: %s", res.status, res.header.Get("Retry-After"), res.body)
	}
	// A refused value is shown back clipped, as the service's messages show a client's values.
	res = c.api.do(http.MethodGet, settingsPath, tok, nil, "Prefer", "code="+strings.Repeat("9", 4096))
	if code, msg, target := graphCode(t, res.body); res.status != http.StatusBadRequest || code != "BadRequest" || target != "Prefer" || len(msg) > 200 {
		t.Errorf("a long Prefer code: %d %s %q (%d bytes)", res.status, code, msg, len(msg))
	}
}

// TestInjectedErrors: each status a fault may answer with comes with its Graph code and words
// (the README's fault table), and a status with none is refused before any request gets it.
func TestInjectedErrors(t *testing.T) {
	c := newControlled(t, control.Options{AllowPrefer: true})
	tok := c.api.token("p", readConfig)
	for _, tc := range []struct {
		prefer        string
		status        int
		code, message string
	}{
		{"code=400", 400, "BadRequest", "The request is malformed."},
		{"code=401", 401, "InvalidAuthenticationToken", "Access token validation failure."},
		{"code=403", 403, "Forbidden", "Missing permissions on the request."},
		{"code=404", 404, "ResourceNotFound", "Resource not found."},
		{"code=429", 429, "TooManyRequests", "Too many requests from this tenant. Retry after the time given in the Retry-After header."},
		{"code=500", 500, "InternalServerError", "An internal server error occurred."},
		{"code=502", 502, "BadGateway", "The service could not get an answer from a service it depends on. Retry later."},
		{"code=503", 503, "ServiceUnavailable", "The service is temporarily unavailable. Retry later."},
		{"code=504", 504, "GatewayTimeout", "The service timed out waiting for a service it depends on. Retry later."},
		{"code=405", 400, "BadRequest", ""},
		{"code=418", 400, "BadRequest", ""},
	} {
		res := c.api.do(http.MethodGet, settingsPath, tok, nil, "Prefer", tc.prefer)
		code, msg, _ := graphCode(t, res.body)
		if res.status != tc.status || code != tc.code || tc.message != "" && msg != tc.message {
			t.Errorf("Prefer %s: %d %s %q, want %d %s %q", tc.prefer, res.status, code, msg, tc.status, tc.code, tc.message)
		}
	}
}

// TestJournalEntriesHoldNoRequest: what the journal keeps of a request is its entry, a few
// hundred bytes, not the request: an entry pointing into the request's state kept all of it
// alive (~3.4 KiB a GET), which --journal-size's million entries would have made gigabytes.
func TestJournalEntriesHoldNoRequest(t *testing.T) {
	const requests = 2000
	c := newControlled(t, control.Options{JournalSize: requests})
	tok := c.api.token("contoso", readWriteConfig)
	c.api.get(tok) // the first request's one-off allocations (the token cache, the tenant's state)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range requests {
		if res := c.api.get(tok); res.status != http.StatusOK {
			t.Fatalf("GET: %d %s", res.status, res.body)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perEntry := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / requests
	t.Logf("the journal holds %d bytes a request", perEntry)
	if perEntry > 1500 {
		t.Errorf("the journal holds %d bytes a request, want an entry's few hundred", perEntry)
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); !strings.Contains(string(body), fmt.Sprint(requests)) {
		t.Errorf("count: %s, want %d", body, requests)
	}
}

// TestFindingsTellRequestsApart: a 400 sent again is a finding only when it is the same request:
// two different bodies the server refused (neither set anything) are not.
func TestFindingsTellRequestsApart(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readWriteConfig)
	c.api.patch(tok, `{"blockChat":"x"}`)
	c.api.patch(tok, `{"remoteAssistanceState":"on"}`)
	c.api.do(http.MethodGet, settingsPath+"?$filter=x", tok, nil)
	c.api.get(tok)
	if _, _, body := c.call(t, http.MethodGet, "/admin/findings?tenant=contoso", ""); strings.Contains(string(body), "retriedClientError") {
		t.Errorf("different requests taken for one sent again: %s", body)
	}
	c.api.patch(tok, `{"remoteAssistanceState":"on"}`)
	c.api.patch(tok, `{"remoteAssistanceState":"on"}`)
	if _, _, body := c.call(t, http.MethodGet, "/admin/findings?tenant=contoso", ""); !strings.Contains(string(body), "retriedClientError") {
		t.Errorf("a refused PATCH sent again unchanged is no finding: %s", body)
	}
}

// TestAdminClearForgetsRequestsInFlight: DELETE /admin/journal between two tests forgets a request
// of the first still held by a fault rule's delay: answered after the clear, it is not journaled,
// so the second test's count holds only its own requests.
func TestAdminClearForgetsRequestsInFlight(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readConfig)
	// The GET must still be held by its rule's delay when the clear is made, which a stalled
	// machine may not allow for a short delay: a round whose GET was no longer held (no
	// goroutine of this process in inject) proves nothing, and a longer delay is tried.
	for _, delay := range []int{300, 2000, 10000, 30000} {
		c.call(t, http.MethodPost, "/admin/faults", fmt.Sprintf(`{"effect":{"delayMs":{"min":%d}},"times":1}`, delay))
		answered := make(chan int, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, c.api.url+settingsPath, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answered <- 0
				return
			}
			res.Body.Close()
			answered <- res.StatusCode
		}()
		// The rule fired: the request is held by its delay.
		for {
			_, _, body := c.call(t, http.MethodGet, "/admin/faults", "")
			if strings.Contains(string(body), `"fired":1`) {
				break
			}
			runtime.Gosched()
		}
		if status, _, body := c.call(t, http.MethodDelete, "/admin/journal", ""); status != http.StatusNoContent {
			t.Fatalf("clear: %d %s", status, body)
		}
		held := goroutineIn("server.(*Server).inject(")
		if status := <-answered; status != http.StatusOK {
			t.Fatalf("the delayed GET: %d", status)
		}
		c.call(t, http.MethodDelete, "/admin/faults", "")
		if !held {
			c.call(t, http.MethodDelete, "/admin/journal", "")
			continue
		}
		if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(body) != "{\"count\":0}\n" {
			t.Errorf("a request received before the clear is journaled: %s", body)
		}
		c.api.get(tok)
		if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(body) != "{\"count\":1}\n" {
			t.Errorf("after the clear, one request: %s", body)
		}
		return
	}
	t.Fatal("no GET was still held by a 30 s delay when the journal was cleared")
}

func TestAdminJournalAndFindings(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readWriteConfig)
	for range 2 {
		c.api.patch(tok, `{"blockChat":true}`)
	}
	c.api.get(tok)
	_, _, body := c.call(t, http.MethodGet, "/admin/journal/count?tenant=contoso&method=PATCH&status=200", "")
	if string(body) != "{\"count\":2}\n" {
		t.Errorf("count: %s", body)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/journal?operation=deviceManagement.UpdateRemoteAssistanceSettings&limit=1", "")
	var entries struct {
		Entries []struct {
			Properties []string
			RequestId  string
		}
	}
	if err := json.Unmarshal(body, &entries); err != nil || len(entries.Entries) != 1 || len(entries.Entries[0].Properties) != 1 ||
		entries.Entries[0].Properties[0] != "blockChat" || strings.Contains(string(body), tok) {
		t.Errorf("journal: %s", body)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/findings?tenant=contoso", "")
	if !strings.Contains(string(body), `"duplicatePatch"`) || !strings.Contains(string(body), `"readAfterWrite"`) {
		t.Errorf("findings: %s", body)
	}
	if status, _, body := c.call(t, http.MethodGet, "/admin/journal?status=abc", ""); status != http.StatusBadRequest {
		t.Errorf("a bad filter: %d %s", status, body)
	}
	c.call(t, http.MethodDelete, "/admin/journal", "")
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(body) != "{\"count\":0}\n" {
		t.Errorf("after clear: %s", body)
	}
}

// TestAdminRefusesBeyondItsBounds: what the admin contract bounds, kin-openapi refuses with a
// Graph 400 naming the value, and the refused request changes nothing; the bound itself is taken.
// TestAdminSettingsAreTheAPIs: the admin API answers a tenant's settings with the bytes the API
// answers its GET with, @odata.context (an absolute URL, as the contract's format: uri says)
// included.
func TestAdminSettingsAreTheAPIs(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readWriteConfig)
	c.api.patch(tok, `{"blockChat":true}`)
	api := c.api.get(tok)
	status, _, admin := c.call(t, http.MethodGet, "/admin/tenants/contoso/settings", "")
	if status != http.StatusOK || string(admin) != string(api.body) {
		t.Errorf("admin: %d %s\napi:   %s", status, admin, api.body)
	}
	var e struct {
		Context string `json:"@odata.context"`
	}
	if err := json.Unmarshal(admin, &e); err != nil {
		t.Fatal(err)
	}
	if u, err := url.Parse(e.Context); err != nil || !u.IsAbs() {
		t.Errorf("@odata.context %q is not an absolute URL", e.Context)
	}
}

// TestAdminRefusalsNameTheirObject: a body's unknown or missing property is told in the words
// of the object that holds it, its type and its properties, wherever in the body it is.
func TestAdminRefusalsNameTheirObject(t *testing.T) {
	c := newControlled(t, control.Options{})
	for _, tc := range []struct {
		name, path, body string
		target, message  string
	}{
		{"unknown at the top", "/admin/snapshot", `{"tenants":{"x":{"blockChat":true}},"extra":1}`,
			"extra", "Property 'extra' does not exist on type 'Snapshot'. Allowed properties: tenants."},
		{"unknown in a tenant's settings", "/admin/snapshot", `{"tenants":{"x":{"BlockChat":true}}}`,
			"tenants/x/BlockChat", "Property 'tenants/x/BlockChat' does not exist on type 'microsoft.graph.remoteAssistanceSettings'. " +
				"Allowed properties: @odata.context, @odata.type, allowSessionsToUnenrolledDevices, blockChat, id, remoteAssistanceState."},
		{"missing", "/admin/snapshot", `{}`, "tenants", "Property 'tenants' is required."},
		{"unknown in a rule's match", "/admin/faults", `{"match":{"foo":1},"effect":{"status":500}}`,
			"match/foo", "Property 'match/foo' does not exist on type 'FaultMatch'. Allowed properties: app, method, operation, tenant."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPut
			if tc.path == "/admin/faults" {
				method = http.MethodPost
			}
			status, _, body := c.call(t, method, tc.path, tc.body)
			if code, msg, target := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || target != tc.target || msg != tc.message {
				t.Errorf("%d %s\nwant 400 with target %q and message %q", status, body, tc.target, tc.message)
			}
		})
	}
}

// TestAdminSnapshotRoundTrip: what the admin API exports it takes back, although the export of
// a few thousand tenants is many times the API's body limit; beyond the admin API's own limit
// an import is Graph's 413 and changes nothing.
func TestAdminSnapshotRoundTrip(t *testing.T) {
	c := newControlled(t, control.Options{})
	all := make(map[string]remoteassist.Settings)
	for i := range 2000 {
		tenant := fmt.Sprintf("tenant-%04d", i)
		s := remoteassist.DefaultSettings(tenant)
		s.BlockChat, s.RemoteAssistanceState = i%2 == 0, remoteassist.StateEnabled
		all[tenant] = s
	}
	if err := c.store.ReplaceAllSettings(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	status, _, exported := c.call(t, http.MethodGet, "/admin/snapshot", "")
	if status != http.StatusOK || len(exported) <= server.DefaultMaxBodyBytes {
		t.Fatalf("export: %d, %d bytes; want 200 and more than the API's body limit, %d", status, len(exported), server.DefaultMaxBodyBytes)
	}
	if status, _, _ := c.call(t, http.MethodDelete, "/admin/tenants", ""); status != http.StatusNoContent {
		t.Fatalf("reset all: %d", status)
	}
	if status, _, body := c.call(t, http.MethodPut, "/admin/snapshot", string(exported)); status != http.StatusNoContent {
		t.Fatalf("import of the export (%d bytes): %d %s", len(exported), status, body)
	}
	if got, _ := remoteassist.AllSettings(t.Context(), c.store); !maps.Equal(got, all) {
		t.Errorf("after the round trip the store holds %d tenants, want the %d exported", len(got), len(all))
	}

	// An admin API whose limit the snapshot exceeds.
	store := memory.New()
	small, err := server.NewAdmin(server.AdminConfig{Store: store, Control: control.New(control.Options{}), Token: adminTokenValue,
		MaxBodyBytes: int64(len(exported) - 1)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(small)
	t.Cleanup(ts.Close)
	over := &controlled{admin: ts.URL, store: store}
	status, _, body := over.call(t, http.MethodPut, "/admin/snapshot", string(exported))
	if code, _, _ := graphCode(t, body); status != http.StatusRequestEntityTooLarge || code != "RequestEntityTooLarge" {
		t.Errorf("import over the admin limit: %d %s, want 413", status, body)
	}
	if got, _ := remoteassist.AllSettings(t.Context(), store); len(got) != 0 {
		t.Errorf("a refused import changed the store: %d tenants", len(got))
	}
}

func TestAdminRefusesBeyondItsBounds(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readWriteConfig)
	c.api.patch(tok, `{"blockChat":true}`)
	// 64 characters: RFC 3339 with more digits of a second than Go keeps.
	longTime := "2026-01-02T15:04:05." + strings.Repeat("0", 38) + "+00:00"
	if len(longTime) != 64 {
		t.Fatalf("longTime is %d characters", len(longTime))
	}
	for _, tc := range []struct {
		name, method, path, body string
		target                   string // "" for a bound that is taken
	}{
		{"seed at 2^53-1", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":9007199254740991}`, ""},
		{"seed at -(2^53-1)", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":-9007199254740991}`, ""},
		{"seed over 2^53-1", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":9007199254740992}`, "seed"},
		{"seed under -(2^53-1)", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":-9007199254740992}`, "seed"},
		{"seed over int64", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":1e19}`, "seed"},
		{"times over a million", http.MethodPost, "/admin/faults", `{"effect":{"status":500},"times":1000001}`, "times"},
		{"retryAfter over an hour", http.MethodPost, "/admin/faults", `{"effect":{"status":429,"retryAfter":3601}}`, "effect/retryAfter"},
		{"delay over a minute", http.MethodPost, "/admin/faults", `{"effect":{"delayMs":{"min":60001}}}`, "effect/delayMs/min"},
		{"status outside the enumeration", http.MethodPost, "/admin/faults", `{"effect":{"status":505}}`, "effect/status"},
		// A rule applies once the token is verified, and a verified token has a tenant.
		{"match of an empty tenant", http.MethodPost, "/admin/faults", `{"match":{"tenant":""},"effect":{"status":500}}`, "match/tenant"},
		{"match of an empty app, a token without one", http.MethodPost, "/admin/faults", `{"match":{"app":""},"effect":{"status":500}}`, ""},
		{"since of 64 characters", http.MethodGet, "/admin/journal?since=" + url.QueryEscape(longTime), "", ""},
		{"since of 65 characters", http.MethodGet, "/admin/journal?since=" + url.QueryEscape(longTime+"0"), "", "since"},
		{"until of 65 characters", http.MethodGet, "/admin/journal/count?until=" + url.QueryEscape(longTime+"0"), "", "until"},
		{"method in capitals", http.MethodGet, "/admin/journal/count?method=PATCH", "", ""},
		{"method in lower case", http.MethodGet, "/admin/journal?method=patch", "", "method"},
		{"limit over 10000", http.MethodGet, "/admin/journal?limit=10001", "", "limit"},
		{"status filter over 599", http.MethodGet, "/admin/journal/count?status=600", "", "status"},
		{"status filter under 0", http.MethodGet, "/admin/journal/count?status=-1", "", "status"},
		{"tenant of 257 characters", http.MethodGet, "/admin/tenants/" + strings.Repeat("t", 257) + "/settings", "", "tenant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, before := c.call(t, http.MethodGet, "/admin/faults", "")
			_, _, count := c.call(t, http.MethodGet, "/admin/journal/count", "")
			status, _, body := c.call(t, tc.method, tc.path, tc.body)
			if tc.target == "" {
				if status >= 300 {
					t.Fatalf("%d %s", status, body)
				}
				c.call(t, http.MethodDelete, "/admin/faults", "")
				return
			}
			if code, msg, target := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || target != tc.target || msg == "" {
				t.Errorf("%d %s, want a 400 BadRequest with target %q", status, body, tc.target)
			}
			if _, _, after := c.call(t, http.MethodGet, "/admin/faults", ""); string(after) != string(before) {
				t.Errorf("the refusal changed the rules: %s, then %s", before, after)
			}
			if _, _, after := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(after) != string(count) {
				t.Errorf("the refusal changed the journal: %s, then %s", count, after)
			}
		})
	}
	// A seed as large as the contract allows arrives as sent.
	_, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":9007199254740991}`)
	if !strings.Contains(string(body), `"seed":9007199254740991`) {
		t.Errorf("the seed did not arrive as sent: %s", body)
	}
}

// TestAdminRefusalsSayWhatIsAllowed: a value out of the contract's bounds is refused with what
// the contract allows (a test in another language has no CLI to say it), a parameter that does
// not parse with the type it wants.
func TestAdminRefusalsSayWhatIsAllowed(t *testing.T) {
	c := newControlled(t, control.Options{})
	for _, tc := range []struct{ method, path, body, message string }{
		{http.MethodPost, "/admin/faults", `{"effect":{"status":500},"times":0}`, "Invalid value for property 'times': want 1 to 1000000."},
		{http.MethodPost, "/admin/faults", `{"effect":{"status":500},"times":1e30}`, "Invalid value for property 'times': want 1 to 1000000."},
		{http.MethodPost, "/admin/faults", `{"effect":{"status":500},"probability":1.5}`, "Invalid value for property 'probability': want 0 to 1."},
		{http.MethodPost, "/admin/faults", `{"effect":{"status":500},"seed":9007199254740992}`,
			"Invalid value for property 'seed': want -9007199254740991 to 9007199254740991."},
		{http.MethodPost, "/admin/faults", `{"effect":{"delayMs":{"min":90000}}}`, "Invalid value for property 'effect/delayMs/min': want 0 to 60000."},
		{http.MethodPost, "/admin/faults", `{"match":{"app":"` + strings.Repeat("a", 257) + `"},"effect":{"drop":true}}`,
			"Invalid value for property 'match/app': want at most 256 characters."},
		{http.MethodPut, "/admin/tenants/contoso/settings", `null`, "The request body must be a JSON object, not null."},
		{http.MethodPost, "/admin/faults", `{"effect":{"drop":true},"":1}`, "Property '' does not exist on type 'FaultRuleSpec'. Allowed properties: effect, match, probability, seed, times."},
		{http.MethodGet, "/admin/journal?limit=1&limit=2", "", "Query option 'limit' was specified more than once, but it must be specified at most once."},
		{http.MethodGet, "/admin/journal?limit=0", "", "Invalid value for parameter 'limit': want 1 to 10000."},
		{http.MethodGet, "/admin/journal?limit=99999999999999999999", "", "Invalid value for query parameter 'limit': want 1 to 10000."},
		{http.MethodGet, "/admin/journal?limit=ten", "", "Invalid value for query parameter 'limit': expected an integer."},
		{http.MethodGet, "/admin/journal/count?status=600", "", "Invalid value for parameter 'status': want 0 to 599."},
		// An offset's '+' sent unescaped is a space in a query string.
		{http.MethodGet, "/admin/journal?since=2026-01-02T15:04:05+01:00", "",
			"Invalid value for parameter 'since': want an RFC 3339 date-time such as 2026-01-02T15:04:05Z (in a URL, an offset's '+' as %2B)."},
		{http.MethodGet, "/admin/journal?method=patch", "", "Invalid value for parameter 'method': want a value matching ^[A-Z]+$."},
		{http.MethodDelete, "/admin/faults/" + strings.Repeat("1", 65), "", "Invalid value for parameter 'id': want at most 64 characters."},
	} {
		status, _, body := c.call(t, tc.method, tc.path, tc.body)
		if code, msg, _ := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || msg != tc.message {
			t.Errorf("%s %.60s %.60s: %d %q, want 400 %q", tc.method, tc.path, tc.body, status, msg, tc.message)
		}
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal?since="+url.QueryEscape("2026-01-02T15:04:05+01:00"), ""); string(body) != "{\"entries\":[]}\n" {
		t.Errorf("an offset sent as %%2B: %s", body)
	}
}

// TestAdminFaultRuleCap: a process holds at most control.MaxFaultRules rules, the admin
// contract's bound on the list; one more is refused with a 400 and changes nothing.
func TestAdminFaultRuleCap(t *testing.T) {
	c := newControlled(t, control.Options{})
	var last string
	for i := range control.MaxFaultRules {
		status, _, body := c.call(t, http.MethodPost, "/admin/faults", fmt.Sprintf(`{"match":{"tenant":"t%d"},"effect":{"status":500}}`, i))
		if status != http.StatusCreated {
			t.Fatalf("rule %d: %d %s", i, status, body)
		}
		var rule struct{ Id string }
		json.Unmarshal(body, &rule)
		last = rule.Id
	}
	status, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":500}}`)
	if code, msg, _ := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" || !strings.Contains(msg, "1000 fault rules") {
		t.Errorf("one rule too many: %d %s", status, body)
	}
	_, _, body = c.call(t, http.MethodGet, "/admin/faults", "")
	var list struct{ Rules []json.RawMessage }
	if err := json.Unmarshal(body, &list); err != nil || len(list.Rules) != control.MaxFaultRules {
		t.Errorf("after the refusal: %d rules, %v", len(list.Rules), err)
	}
	// Removing one makes room for one.
	c.call(t, http.MethodDelete, "/admin/faults/"+last, "")
	if status, _, body := c.call(t, http.MethodPost, "/admin/faults", `{"effect":{"status":500}}`); status != http.StatusCreated {
		t.Errorf("after removing one: %d %s", status, body)
	}
}

// TestAdminMalformedQuery: every admin operation can answer 400 (the contract declares it on
// each): a query string that does not parse is refused before the operation runs.
func TestAdminMalformedQuery(t *testing.T) {
	c := newControlled(t, control.Options{})
	c.call(t, http.MethodPut, "/admin/tenants/contoso/settings", `{"blockChat":true}`)
	c.call(t, http.MethodPost, "/admin/faults", `{"match":{"tenant":"nobody"},"effect":{"status":500}}`)
	c.api.get(c.api.token("fabrikam", readConfig))
	for _, op := range []struct{ method, path, body string }{
		{http.MethodGet, "/admin/tenants/contoso/settings", ""},
		{http.MethodPut, "/admin/tenants/contoso/settings", `{"blockChat":false}`},
		{http.MethodDelete, "/admin/tenants/contoso/settings", ""},
		{http.MethodDelete, "/admin/tenants", ""},
		{http.MethodGet, "/admin/snapshot", ""},
		{http.MethodPut, "/admin/snapshot", `{"tenants":{}}`},
		{http.MethodGet, "/admin/faults", ""},
		{http.MethodPost, "/admin/faults", `{"effect":{"status":500}}`},
		{http.MethodDelete, "/admin/faults", ""},
		{http.MethodDelete, "/admin/faults/1", ""},
		{http.MethodGet, "/admin/journal", ""},
		{http.MethodDelete, "/admin/journal", ""},
		{http.MethodGet, "/admin/journal/count", ""},
		{http.MethodGet, "/admin/findings", ""},
	} {
		status, _, body := c.call(t, op.method, op.path+"?a=%zz", op.body)
		if code, _, _ := graphCode(t, body); status != http.StatusBadRequest || code != "BadRequest" {
			t.Errorf("%s %s with a malformed query: %d %s", op.method, op.path, status, body)
		}
	}
	if !c.api.stored("contoso").BlockChat {
		t.Error("a refused request changed the settings")
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/faults", ""); !strings.Contains(string(body), `"id":"1"`) {
		t.Errorf("a refused request changed the rules: %s", body)
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(body) != "{\"count\":1}\n" {
		t.Errorf("a refused request changed the journal: %s", body)
	}
}

// TestAdminRefusesUnknownQueryParameters: a query parameter the operation does not declare is
// refused, naming those it takes, rather than ignored: a misspelt filter (tennant=) or one the
// operation has not (the findings' status=) would count or list every entry as if it had matched.
func TestAdminRefusesUnknownQueryParameters(t *testing.T) {
	c := newControlled(t, control.Options{})
	tok := c.api.token("contoso", readConfig)
	c.api.get(tok)
	c.api.get(c.api.token("fabrikam", readConfig))
	for _, tc := range []struct{ method, path, param, message string }{
		{http.MethodGet, "/admin/journal/count?tennant=contoso", "tennant",
			"The query parameter 'tennant' is not supported. Supported: tenant, app, operation, method, status, since, until."},
		{http.MethodGet, "/admin/journal?tenant=contoso&Limit=1", "Limit",
			"The query parameter 'Limit' is not supported. Supported: tenant, app, operation, method, status, since, until, limit."},
		{http.MethodGet, "/admin/journal/count?limit=1", "limit", ""},
		{http.MethodGet, "/admin/findings?status=429", "status", "The query parameter 'status' is not supported. Supported: tenant, app."},
		{http.MethodGet, "/admin/faults?tenant=contoso", "tenant", "The query parameter 'tenant' is not supported. The operation takes none."},
		{http.MethodDelete, "/admin/journal?tenant=contoso", "tenant", ""},
		{http.MethodDelete, "/admin/tenants/contoso/settings?all=true", "all", ""},
		{http.MethodGet, "/admin/journal?_=1733112000", "_", ""},
		// A parameter's name may be empty; it is no more declared than another.
		{http.MethodGet, "/admin/journal/count?=x", "", ""},
		{http.MethodGet, "/admin/journal/count?=&tennant=contoso", "", ""},
	} {
		status, _, body := c.call(t, tc.method, tc.path, "")
		code, msg, target := graphCode(t, body)
		if status != http.StatusBadRequest || code != "BadRequest" || target != tc.param || tc.message != "" && msg != tc.message {
			t.Errorf("%s %s: %d %s, want a 400 naming %q", tc.method, tc.path, status, body, tc.param)
		}
	}
	if _, _, body := c.call(t, http.MethodGet, "/admin/journal/count", ""); string(body) != "{\"count\":2}\n" {
		t.Errorf("a refused DELETE changed the journal: %s", body)
	}
	// The parameters the operations declare are taken.
	if status, _, body := c.call(t, http.MethodGet, "/admin/journal/count?tenant=contoso", ""); status != http.StatusOK || string(body) != "{\"count\":1}\n" {
		t.Errorf("count of contoso: %d %s", status, body)
	}
}

// heldStore holds reads of the settings until released, to keep admin requests in flight.
type heldStore struct {
	*memory.Store
	entered chan struct{}
	release chan struct{}
}

func (s heldStore) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Settings(ctx, tenant)
}

// TestAdminTooManyRequests: the admin API is not throttled, but its requests take their places
// in the admission as the API's do, so the admin token gets the 429 the contract declares once
// it has a sixteenth of the listener's 4,096 requests in progress.
func TestAdminTooManyRequests(t *testing.T) {
	const share = server.DefaultMaxConcurrentRequests / 16
	store := heldStore{Store: memory.New(), entered: make(chan struct{}, share), release: make(chan struct{})}
	adm, err := server.NewAdmin(server.AdminConfig{Store: store, Control: control.New(control.Options{}), Token: adminTokenValue})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(adm)
	t.Cleanup(ts.Close)
	c := &controlled{admin: ts.URL}
	held := make(chan int, share)
	for range share {
		go func() {
			status, _, _ := c.call(t, http.MethodGet, "/admin/tenants/contoso/settings", "")
			held <- status
		}()
		<-store.entered
	}
	status, hdr, body := c.call(t, http.MethodGet, "/admin/tenants/contoso/settings", "")
	if code, _, _ := graphCode(t, body); status != http.StatusTooManyRequests || code != "TooManyRequests" || hdr.Get("Retry-After") != "1" {
		t.Errorf("one request over the token's share: %d Retry-After %q %s", status, hdr.Get("Retry-After"), body)
	}
	close(store.release)
	for range share {
		if status := <-held; status != http.StatusOK {
			t.Errorf("a held request: %d", status)
		}
	}
}

// failingStore fails as a store can: with an error that is no domain error.
type failingStore struct{ *memory.Store }

var errDiskOnFire = errors.New("disk on fire")

func (failingStore) Settings(context.Context, string) (remoteassist.Settings, error) {
	return remoteassist.Settings{}, errDiskOnFire
}

func (failingStore) EachSettings(context.Context, func(string, remoteassist.Settings) error) error {
	return errDiskOnFire
}

// TestAdminInternalError: a store's failure is the 500 the contract declares, in the Graph
// envelope, without its detail.
func TestAdminInternalError(t *testing.T) {
	adm, err := server.NewAdmin(server.AdminConfig{Store: failingStore{memory.New()}, Control: control.New(control.Options{}), Token: adminTokenValue})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(adm)
	t.Cleanup(ts.Close)
	c := &controlled{admin: ts.URL}
	for _, path := range []string{"/admin/tenants/contoso/settings", "/admin/snapshot"} {
		status, _, body := c.call(t, http.MethodGet, path, "")
		if code, msg, _ := graphCode(t, body); status != http.StatusInternalServerError || code != "InternalServerError" || strings.Contains(msg, "fire") {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}

// failingMidway lists its first tenants, then fails as failingStore does.
type failingMidway struct {
	*memory.Store
	after int
}

func (s failingMidway) EachSettings(ctx context.Context, fn func(string, remoteassist.Settings) error) error {
	n := 0
	err := s.Store.EachSettings(ctx, func(tenant string, v remoteassist.Settings) error {
		if err := fn(tenant, v); err != nil {
			return err
		}
		if n++; n == s.after {
			return errDiskOnFire
		}
		return nil
	})
	if err == nil {
		return errors.New("the store lists too few tenants")
	}
	return err
}

// TestSnapshotCutShort: a store that fails while the snapshot streams cannot turn the 200 into a
// 500; the connection is dropped, so no client reads the cut JSON as a snapshot, and the request
// is logged as the 500 it is, with its cause. The failure comes before anything was sent (the
// client sees the connection closed before a status) and after a part of the body was.
func TestSnapshotCutShort(t *testing.T) {
	store := memory.New()
	blockChat := true
	for i := range 3000 {
		if _, err := store.UpdateSettings(t.Context(), fmt.Sprint("tenant-", i), remoteassist.Patch{BlockChat: &blockChat}); err != nil {
			t.Fatal(err)
		}
	}
	// After one tenant, the answer is still in the stream's buffer: it is a whole 500. After
	// 2,500 (~150 KB), its first 32 KiB went out with the 200.
	for _, after := range []int{1, 2500} {
		var log bytes.Buffer
		adm, err := server.NewAdmin(server.AdminConfig{Store: failingMidway{store, after}, Control: control.New(control.Options{}),
			Token: adminTokenValue, Logger: slog.New(slog.NewJSONHandler(&log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(adm)
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/admin/snapshot", nil)
		req.Header.Set("Authorization", "Bearer "+adminTokenValue)
		got := "no answer"
		if res, err := http.DefaultClient.Do(req); err == nil {
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			got = fmt.Sprintf("%d and %d bytes of the body", res.StatusCode, len(body))
			switch {
			case after == 1 && (err != nil || res.StatusCode != http.StatusInternalServerError || !bytes.Contains(body, []byte(`"code":"InternalServerError"`))):
				t.Errorf("after %d tenant: %s (%v), want Graph's 500 %s", after, got, err, body)
			case after > 1 && err == nil:
				t.Errorf("after %d tenants: the cut answer read as whole: %d %.100s", after, res.StatusCode, body)
			}
		}
		if got == "no answer" {
			t.Errorf("after %d tenants: nothing was sent", after)
		}
		ts.Close() // the handler has returned: its log line is written
		var line struct {
			Level  string
			Status int
			Error  string
		}
		if err := json.Unmarshal(bytes.TrimSpace(log.Bytes()), &line); err != nil || line.Level != "ERROR" || line.Status != 500 || !strings.Contains(line.Error, "fire") {
			t.Errorf("after %d tenants (%s): access line %q (%v)", after, got, log.String(), err)
		}
	}
}

// stalledMidway lists its first tenants (after), then waits for the request's end, as
// PostgreSQL's query does when net/http cancels it for a client gone away.
type stalledMidway struct {
	*memory.Store
	after  int
	listed chan struct{}
}

func (s stalledMidway) EachSettings(ctx context.Context, fn func(string, remoteassist.Settings) error) error {
	n := 0
	return s.Store.EachSettings(ctx, func(tenant string, v remoteassist.Settings) error {
		if err := fn(tenant, v); err != nil {
			return err
		}
		if n++; n < s.after {
			return nil
		}
		close(s.listed)
		<-ctx.Done()
		return ctx.Err()
	})
}

// TestSnapshotClientGoneMidway: a client that goes away while its snapshot streams is logged as
// the 499 of a client gone, not as the store's failure: before the answer's first bytes went
// (after one tenant), and after (2,500 tenants, ~150 KB, the first 32 KiB sent with the 200).
func TestSnapshotClientGoneMidway(t *testing.T) {
	store := memory.New()
	blockChat := true
	for i := range 3000 {
		if _, err := store.UpdateSettings(t.Context(), fmt.Sprint("tenant-", i), remoteassist.Patch{BlockChat: &blockChat}); err != nil {
			t.Fatal(err)
		}
	}
	for _, after := range []int{1, 2500} {
		log := make(logLines, 1)
		listed := make(chan struct{})
		adm, err := server.NewAdmin(server.AdminConfig{Store: stalledMidway{store, after, listed}, Control: control.New(control.Options{}),
			Token: adminTokenValue, Logger: slog.New(slog.NewJSONHandler(log, nil))})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(adm)
		// Not ts.Close to wait for the handler: the connection of a client gone is closed
		// (abandon) before the line is written, and httptest waits for no more.
		defer ts.Close()
		ctx, cancel := context.WithCancel(t.Context())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/admin/snapshot", nil)
		req.Header.Set("Authorization", "Bearer "+adminTokenValue)
		status := make(chan int, 1)
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				status <- res.StatusCode
				_, err = io.ReadAll(res.Body)
				res.Body.Close()
			}
			close(status)
			done <- err
		}()
		<-listed
		if after > 1 {
			if got := <-status; got != http.StatusOK {
				t.Errorf("after %d tenants, the client read status %d before it went, want the 200 begun", after, got)
			}
		}
		cancel()
		if err := <-done; err == nil {
			t.Errorf("after %d tenants, the cancelled request read a whole answer", after)
		}
		var line struct {
			Level  string
			Status int
		}
		select {
		case data := <-log:
			if err := json.Unmarshal(data, &line); err != nil || line.Level != "INFO" || line.Status != 499 {
				t.Errorf("after %d tenants: access line %q (%v)", after, data, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("after %d tenants: no access line after 30 s", after)
		}
	}
}

// logLines is a log's writer that hands over each line written (slog writes a line at a time).
type logLines chan []byte

func (l logLines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

// TestAdminSendsNoCORS: the admin listener answers no browser's cross-origin request, which is
// why the OWASP lint's CORS rule is off for its document (.spectral-owasp.yaml).
func TestAdminSendsNoCORS(t *testing.T) {
	c := newControlled(t, control.Options{})
	for _, method := range []string{http.MethodGet, http.MethodOptions} {
		req, _ := http.NewRequest(method, c.admin+"/admin/snapshot", nil)
		req.Header.Set("Authorization", "Bearer "+adminTokenValue)
		req.Header.Set("Origin", "http://localhost:3000")
		req.Header.Set("Access-Control-Request-Method", http.MethodGet)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("%s with an Origin: Access-Control-Allow-Origin %q", method, got)
		}
	}
}

// TestStreamedAnswersAreEchos: the answers streamed an item at a time (the journal's listing,
// the snapshot's export) are byte for byte the JSON of the whole value as echo would answer it.
// The journal: entries that set every field (a tenant and an app, a rule and its Retry-After, the
// properties of a PATCH, a client-request-id with the characters JSON escapes for HTML), for a
// limit and for no entry. The snapshot: tenants whose ids JSON escapes, in an order of insertion
// that is not the one of their bytes, and none.
func TestStreamedAnswersAreEchos(t *testing.T) {
	c := newControlled(t, control.Options{})
	if status, _, body := c.call(t, http.MethodGet, "/admin/journal", ""); status != http.StatusOK || string(body) != "{\"entries\":[]}\n" {
		t.Errorf("the empty journal: %d %s", status, body)
	}
	c.call(t, http.MethodPost, "/admin/faults", `{"match":{"tenant":"contoso","method":"PATCH"},"effect":{"status":503,"retryAfter":2},"times":1}`)
	contoso, fabrikam := c.api.token("contoso", readWriteConfig), c.api.token("fabrikam", readConfig)
	c.api.patch(contoso, `{"blockChat":true}`) // the rule's 503
	c.api.patch(contoso, `{"blockChat":true,"remoteAssistanceState":"enabled"}`)
	c.api.patch(contoso, `{"remoteAssistanceState":"on"}`)
	c.api.do(http.MethodGet, settingsPath, fabrikam, nil, "client-request-id", "<a&b>")
	c.api.get("")
	for _, query := range []string{"", "?limit=2", "?tenant=contoso", "?tenant=nobody"} {
		_, header, body := c.call(t, http.MethodGet, "/admin/journal"+query, "")
		f := control.Filter{}
		limit := 0
		switch query {
		case "?limit=2":
			limit = 2
		case "?tenant=contoso":
			f.Tenant = new("contoso")
		case "?tenant=nobody":
			f.Tenant = new("nobody")
		}
		entries := c.control.Journal(f, limit)
		if entries == nil {
			entries = []adminmodels.JournalEntry{}
		}
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(adminmodels.JournalEntries{Entries: entries}); err != nil {
			t.Fatal(err)
		}
		if query == "" && len(entries) != 5 {
			t.Fatalf("the journal holds %d entries, want the 5 requests", len(entries))
		}
		if !bytes.Equal(body, want.Bytes()) {
			t.Errorf("GET /admin/journal%s:\n got %s\nwant %s", query, body, want.Bytes())
		}
		if ct := header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET /admin/journal%s: Content-Type %q", query, ct)
		}
	}

	echoJSON := func(v any) []byte {
		var b bytes.Buffer
		if err := json.NewEncoder(&b).Encode(v); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	for _, snap := range []string{
		`{"tenants":{}}`,
		`{"tenants":{"zeta":{"blockChat":true},"<a&b>":{"remoteAssistanceState":"enabled"},"Émile":{},"alpha":{"allowSessionsToUnenrolledDevices":true,"blockChat":false},"B\u2028":{"blockChat":true}}}`,
	} {
		if status, _, body := c.call(t, http.MethodPut, "/admin/snapshot", snap); status != http.StatusNoContent {
			t.Fatalf("PUT /admin/snapshot: %d %s", status, body)
		}
		all, err := remoteassist.AllSettings(t.Context(), c.store)
		if err != nil {
			t.Fatal(err)
		}
		want := adminmodels.Snapshot{Tenants: map[string]remoteassist.Update{}}
		for tenant, s := range all {
			want.Tenants[tenant] = s.Patch().Update()
		}
		status, header, body := c.call(t, http.MethodGet, "/admin/snapshot", "")
		if status != http.StatusOK || !bytes.Equal(body, echoJSON(want)) {
			t.Errorf("GET /admin/snapshot after %s: %d\n got %s\nwant %s", snap, status, body, echoJSON(want))
		}
		if ct := header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET /admin/snapshot: Content-Type %q", ct)
		}
	}
}
