package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
	"github.com/remoteassist/remoteassist/internal/fastslog"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// obsServer is a server with a logger and a registry the test reads.
type obsServer struct {
	t   *testing.T
	srv *server.Server
	key *jwtauth.Key
	log *bytes.Buffer
}

func newObsServer(t *testing.T, reg *prometheus.Registry, json bool) *obsServer {
	t.Helper()
	key, verifier := newDevKey(t)
	var buf bytes.Buffer
	handler := slog.Handler(slog.NewTextHandler(&buf, nil))
	if json {
		handler = slog.NewJSONHandler(&buf, nil)
	}
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Logger: slog.New(handler), Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &obsServer{t: t, srv: srv, key: key, log: &buf}
}

func (o *obsServer) token(tenant string, scopes ...string) string {
	tok, err := o.key.Mint(jwtauth.TokenSpec{Tenant: tenant, Subject: "u", Scopes: scopes, TTL: time.Hour})
	if err != nil {
		o.t.Fatal(err)
	}
	return tok
}

// do serves one request in process; headers are name, value pairs.
func (o *obsServer) do(method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "http://localhost"+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	o.srv.ServeHTTP(rec, req)
	if err := checkResponseRecorded(req, rec); err != nil {
		o.t.Errorf("%s %s → %d breaks the contract: %v", method, path, rec.Code, err)
	}
	return rec
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	o := newObsServer(t, reg, false)
	rw, ro := o.token("m", readWriteConfig), o.token("m", readConfig)
	steps := []struct {
		method, path, token, body string
		headers                   []string
		status                    int
	}{
		{http.MethodGet, settingsPath, ro, "", nil, 200},
		{http.MethodPatch, settingsPath, rw, `{"blockChat":true}`, nil, 200},
		{http.MethodPatch, settingsPath, rw, `{"remoteAssistanceState":"on"}`, nil, 400},
		{http.MethodPatch, settingsPath, rw, `{}`, nil, 400},
		{http.MethodPatch, settingsPath, rw, `{"blockChat":tru`, nil, 400},
		{http.MethodPatch, settingsPath, rw, `{"blockChat":true}`, []string{"Content-Type", "text/plain"}, 415},
		{http.MethodPatch, settingsPath, rw, `{"pad":"` + strings.Repeat("x", 70<<10) + `"}`, nil, 413},
		{http.MethodPatch, settingsPath, "", `{"blockChat":true}`, nil, 401},
		{http.MethodPatch, settingsPath, ro, `{"blockChat":true}`, nil, 403},
		{http.MethodGet, "/beta/nothing", ro, "", nil, 404},
		{"BREW", settingsPath, ro, "", nil, 405},
	}
	for _, s := range steps {
		if rec := o.do(s.method, s.path, s.token, s.body, s.headers...); rec.Code != s.status {
			t.Fatalf("%s %s %s: status %d, want %d: %s", s.method, s.path, s.body, rec.Code, s.status, rec.Body)
		}
	}
	rec := o.do(http.MethodGet, server.MetricsPath, "", "")
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	text := rec.Body.String()
	for _, want := range []string{
		`remoteassist_http_requests_total{code="200",method="GET",operation="deviceManagement.GetRemoteAssistanceSettings"} 1`,
		`remoteassist_http_requests_total{code="200",method="PATCH",operation="deviceManagement.UpdateRemoteAssistanceSettings"} 1`,
		`remoteassist_http_requests_total{code="400",method="PATCH",operation="deviceManagement.UpdateRemoteAssistanceSettings"} 3`,
		`remoteassist_http_requests_total{code="404",method="GET",operation="unknown"} 1`,
		`remoteassist_http_requests_total{code="405",method="OTHER",operation="unknown"} 1`,
		`remoteassist_validation_failures_total{class="schema"} 1`,
		`remoteassist_validation_failures_total{class="empty_patch"} 1`,
		`remoteassist_validation_failures_total{class="json"} 1`,
		`remoteassist_validation_failures_total{class="content_type"} 1`,
		`remoteassist_validation_failures_total{class="too_large"} 1`,
		`remoteassist_validation_failures_total{class="auth"} 1`,
		`remoteassist_validation_failures_total{class="forbidden"} 1`,
		`remoteassist_validation_failures_total{class="throttled"} 0`,
		`remoteassist_http_request_duration_seconds_count{operation="deviceManagement.UpdateRemoteAssistanceSettings"} 8`,
		`remoteassist_store_duration_seconds_count{op="settings"} 1`,
		`remoteassist_store_duration_seconds_count{op="update_settings"} 1`,
		`remoteassist_http_requests_in_flight 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "tenant") {
		t.Error("a metric is labelled by tenant: unbounded cardinality")
	}
}

func TestDefaultMetricsRegistryIsPrivate(t *testing.T) {
	// Two servers with default configs in one process must not collide in a shared registry.
	for i := 0; i < 2; i++ {
		o := newObsServer(t, nil, false)
		rec := o.do(http.MethodGet, server.MetricsPath, "", "")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_goroutines") {
			t.Fatalf("/metrics %d: %.200s", rec.Code, rec.Body)
		}
	}
}

func TestProbesAndMetricsNeedNoToken(t *testing.T) {
	o := newObsServer(t, nil, false)
	for _, path := range []string{"/healthz", "/readyz", server.MetricsPath} {
		if rec := o.do(http.MethodGet, path, "", ""); rec.Code != 200 {
			t.Errorf("%s: %d", path, rec.Code)
		}
	}
}

// TestAccessLogCarriesNoSecrets: one line per request with the ids, tenant, operation, status
// and latency, and never the token or the body, in either format, accepted or refused.
func TestAccessLogCarriesNoSecrets(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			o := newObsServer(t, nil, format == "json")
			tok := o.token("log-tenant", readWriteConfig)
			const marker = "BODY-MARKER-7f3a"
			bodies := []string{
				`{"@odata.context":"` + marker + `","blockChat":true}`,
				`{"remoteAssistanceState":"` + marker + `"}`,
				`{"` + marker + `":true}`,
			}
			for _, body := range bodies {
				o.do(http.MethodPatch, settingsPath, tok, body, "client-request-id", "log-crid")
			}
			o.do(http.MethodGet, settingsPath, "garbage."+marker+".token", "")
			logs := o.log.String()
			for _, secret := range []string{tok, tok[:40], tok[len(tok)-40:], marker, "Bearer"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log contains %q:\n%s", secret, logs)
				}
			}
			lines := strings.Split(strings.TrimSpace(logs), "\n")
			if len(lines) != 4 {
				t.Fatalf("%d log lines, want 4:\n%s", len(lines), logs)
			}
			if format == "json" {
				var entry map[string]any
				if err := json.Unmarshal([]byte(lines[0]), &entry); err != nil {
					t.Fatal(err)
				}
				for _, key := range []string{"request_id", "client_request_id", "tenant", "operation", "status", "latency"} {
					if _, ok := entry[key]; !ok {
						t.Errorf("log line lacks %s: %s", key, lines[0])
					}
				}
				if entry["tenant"] != "log-tenant" || entry["client_request_id"] != "log-crid" ||
					entry["operation"] != "deviceManagement.UpdateRemoteAssistanceSettings" || entry["status"] != float64(200) {
					t.Errorf("log line %s", lines[0])
				}
			}
		})
	}
}

// TestReadinessFailsOnceDraining: after Drain (SIGTERM in serve) /readyz answers 503 on the API's
// listener and on the ops listener, so that load balancers stop sending new requests, while
// /healthz stays 200 so that liveness probes do not restart a process finishing its requests.
func TestReadinessFailsOnceDraining(t *testing.T) {
	o := newObsServer(t, nil, false)
	ops := o.srv.OpsHandler()
	probe := func(path string) (api, opsCode int) {
		rec := httptest.NewRecorder()
		ops.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://localhost"+path, nil))
		return o.do(http.MethodGet, path, "", "").Code, rec.Code
	}
	if api, opsCode := probe("/readyz"); api != 200 || opsCode != 200 {
		t.Fatalf("/readyz before draining: API %d, ops %d", api, opsCode)
	}
	o.srv.Drain()
	if api, opsCode := probe("/readyz"); api != 503 || opsCode != 503 {
		t.Errorf("/readyz while draining: API %d, ops %d, want 503", api, opsCode)
	}
	if api, opsCode := probe("/healthz"); api != 200 || opsCode != 200 {
		t.Errorf("/healthz while draining: API %d, ops %d, want 200", api, opsCode)
	}
}

// TestMetricsUnderFaultRules: an error a fault rule injects is not a validation failure of the
// client's, but a rule's delay alone leaves the request to be served as any other, and the
// refusal it then gets counts as it would without the rule.
func TestMetricsUnderFaultRules(t *testing.T) {
	reg := prometheus.NewRegistry()
	key, verifier := newDevKey(t)
	ctl := control.New(control.Options{})
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Metrics: reg, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	o := &obsServer{t: t, srv: srv, key: key}
	rw := o.token("m", readWriteConfig)
	add := func(spec string) string {
		var s models.FaultRuleSpec
		if err := json.Unmarshal([]byte(spec), &s); err != nil {
			t.Fatal(err)
		}
		r, err := ctl.AddFault(s)
		if err != nil {
			t.Fatal(err)
		}
		return r.Id
	}
	delay := add(`{"effect":{"delayMs":{"min":0}}}`)
	for _, s := range []struct {
		token, body string
		headers     []string
		status      int
	}{
		{rw, `{"remoteAssistanceState":"on"}`, nil, http.StatusBadRequest},
		{rw, `{}`, nil, http.StatusBadRequest},
		{rw, `{"blockChat":true}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
		{o.token("m", readConfig), `{"blockChat":true}`, nil, http.StatusForbidden},
	} {
		if rec := o.do(http.MethodPatch, settingsPath, s.token, s.body, s.headers...); rec.Code != s.status {
			t.Fatalf("PATCH %s under a delay: %d, want %d: %s", s.body, rec.Code, s.status, rec.Body)
		}
	}
	ctl.DeleteFault(delay)
	add(`{"effect":{"status":429},"times":1}`)
	if rec := o.do(http.MethodPatch, settingsPath, rw, `{"blockChat":true}`); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("an injected 429: %d %s", rec.Code, rec.Body)
	}
	text := o.do(http.MethodGet, server.MetricsPath, "", "").Body.String()
	for _, want := range []string{
		`remoteassist_validation_failures_total{class="schema"} 1`,
		`remoteassist_validation_failures_total{class="empty_patch"} 1`,
		`remoteassist_validation_failures_total{class="content_type"} 1`,
		`remoteassist_validation_failures_total{class="forbidden"} 1`,
		`remoteassist_validation_failures_total{class="throttled"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestAccessLogNamesTheFaultRule: a request a fault rule answered is logged with the rule's id,
// and, for a 5xx, at ERROR with its cause: the line's every attribute, through slog's handler and
// through serve's (fastslog, which writes the line without a Record).
func TestAccessLogNamesTheFaultRule(t *testing.T) {
	for _, h := range []struct {
		name string
		new  func(io.Writer) slog.Handler
	}{
		{"slog", func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }},
		{"fastslog", func(w io.Writer) slog.Handler { return fastslog.NewJSONHandler(w, nil) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			key, verifier := newDevKey(t)
			var log bytes.Buffer
			ctl := control.New(control.Options{})
			srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Logger: slog.New(h.new(&log)), Control: ctl})
			if err != nil {
				t.Fatal(err)
			}
			o := &obsServer{t: t, srv: srv, key: key, log: &log}
			tok := o.token("rule-tenant", readWriteConfig)
			for _, c := range []struct {
				spec  string
				level string
				error bool
			}{
				{`{"effect":{"status":503},"times":1}`, "ERROR", true},
				{`{"effect":{"status":429},"times":1}`, "INFO", false},
			} {
				var spec models.FaultRuleSpec
				if err := json.Unmarshal([]byte(c.spec), &spec); err != nil {
					t.Fatal(err)
				}
				rule, err := ctl.AddFault(spec)
				if err != nil {
					t.Fatal(err)
				}
				log.Reset()
				o.do(http.MethodGet, settingsPath, tok, "")
				var line map[string]any
				if err := json.Unmarshal(log.Bytes(), &line); err != nil {
					t.Fatalf("%s: %v: %s", c.spec, err, log.String())
				}
				_, hasError := line["error"]
				if line["level"] != c.level || line["fault_rule"] != rule.Id || hasError != c.error || line["tenant"] != "rule-tenant" ||
					line["operation"] != "deviceManagement.GetRemoteAssistanceSettings" || line["method"] != "GET" || line["path"] != settingsPath {
					t.Errorf("%s: %s", c.spec, log.String())
				}
			}
		})
	}
}

// TestAccessLogClipsTheMethod: a client picks the method, any token up to the header limit, and
// the access log shows it as it shows the path, clipped, so that a request cannot make its one
// line tens of kilobytes long.
func TestAccessLogClipsTheMethod(t *testing.T) {
	o := newObsServer(t, nil, true)
	hs := httptest.NewServer(o.srv)
	defer hs.Close()
	method := strings.Repeat("X", 16<<10)
	req, err := http.NewRequest(method, hs.URL+"/junk", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	hs.Close() // the request's line is written before its connection ends
	line := strings.TrimSpace(o.log.String())
	var entry map[string]any
	if err := json.Unmarshal([]byte(line), &entry); err != nil {
		t.Fatalf("%v: %.300s", err, line)
	}
	if got, want := entry["method"], strings.Repeat("X", 32)+"..."; got != want {
		t.Errorf("logged method %.100q (%d bytes), want %q", got, len(line), want)
	}
	if entry["status"] != float64(http.StatusNotFound) {
		t.Errorf("status %v, want 404", entry["status"])
	}
}

// TestREADMEListsEveryMetric holds the README's table of metrics to what /metrics serves, over
// loopback: the same remoteassist_ metrics, each of the type and with the labels the table
// gives.
func TestREADMEListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	type family struct {
		typ    string
		labels []string
	}
	documented := map[string]family{}
	row := regexp.MustCompile("(?m)^\\| `(remoteassist_[a-z_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		var labels []string
		for _, l := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		documented[m[1]] = family{m[2], labels}
	}
	if len(documented) == 0 {
		t.Fatal("README.md has no table of remoteassist_ metrics")
	}

	_, verifier := newDevKey(t)
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	res, err := hs.Client().Get(hs.URL + server.MetricsPath)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", res.Status, err)
	}
	served := map[string]family{}
	typeLine := regexp.MustCompile(`(?m)^# TYPE (remoteassist_[a-z_]+) ([a-z]+)$`)
	for _, m := range typeLine.FindAllStringSubmatch(string(body), -1) {
		served[m[1]] = family{typ: m[2]}
	}
	sample := regexp.MustCompile(`(?m)^(remoteassist_[a-z_]+?)(_bucket|_sum|_count)?(?:\{([^}]*)\})? `)
	labelName := regexp.MustCompile(`([a-z_]+)="`)
	for _, m := range sample.FindAllStringSubmatch(string(body), -1) {
		name := m[1]
		f, ok := served[name]
		if !ok { // a counter or gauge whose name ends as a histogram's series do
			name += m[2]
			if f, ok = served[name]; !ok {
				t.Fatalf("sample of no family: %s", m[0])
			}
		}
		for _, l := range labelName.FindAllStringSubmatch(m[3], -1) {
			if l[1] != "le" && !slices.Contains(f.labels, l[1]) {
				f.labels = append(f.labels, l[1])
			}
		}
		slices.Sort(f.labels)
		served[name] = f
	}
	for name, f := range served {
		d, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("/metrics serves %s (%s, labels %q), which the README's table lacks", name, f.typ, f.labels)
		case d.typ != f.typ || !slices.Equal(d.labels, f.labels):
			t.Errorf("%s: the README says %s with labels %q, /metrics serves %s with %q", name, d.typ, d.labels, f.typ, f.labels)
		}
	}
	for name := range documented {
		if _, ok := served[name]; !ok {
			t.Errorf("the README lists %s, which /metrics does not serve", name)
		}
	}
}
