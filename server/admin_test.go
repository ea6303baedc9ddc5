package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/openapi"
	"github.com/remoteassist/remoteassist/server"
)

const adminTokenValue = "admin-secret-for-tests"

// controlled is an API server and its admin API over one store and one control plane.
type controlled struct {
	api   *harness
	admin string // base URL of the admin listener
	store *memory.Store
}

func newControlled(t *testing.T, opts control.Options) *controlled {
	t.Helper()
	store := memory.New()
	ctl := control.New(opts)
	api := newHarnessWith(t, func(c *server.Config) { c.Store = store; c.Control = ctl })
	adm, err := server.NewAdmin(server.AdminConfig{Store: store, Control: ctl, Token: adminTokenValue})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(adm)
	t.Cleanup(ts.Close)
	return &controlled{api: api, admin: ts.URL, store: store}
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
	if all, _ := c.store.AllSettings(t.Context()); len(all) != 2 {
		t.Errorf("a refused snapshot changed the store: %v", all)
	}
	if status, _, _ := c.call(t, http.MethodDelete, "/admin/tenants", ""); status != http.StatusNoContent {
		t.Errorf("reset all: %d", status)
	}
	if all, _ := c.store.AllSettings(t.Context()); len(all) != 0 {
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
	c.call(t, http.MethodDelete, "/admin/faults", "")
	if _, _, body := c.call(t, http.MethodGet, "/admin/faults", ""); string(body) != "{\"rules\":[]}\n" {
		t.Errorf("after clear: %s", body)
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
