package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/remoteassisttest"
	"github.com/remoteassist/remoteassist/server"
)

// sent is one request as it left the client.
type sent struct {
	method string
	header http.Header
	body   []byte
}

// recorder is a transport that records every request and can rewrite its body before it
// goes out, to send what the client itself would refuse.
type recorder struct {
	mu       sync.Mutex
	requests []sent
	rewrite  func(body []byte) []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	if r.rewrite != nil && body != nil {
		body = r.rewrite(body)
		req = req.Clone(req.Context())
		req.ContentLength = int64(len(body))
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.mu.Lock()
	r.requests = append(r.requests, sent{method: req.Method, header: req.Header.Clone(), body: body})
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) all() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// newRecorded returns a client of srv for tenant whose requests rec records.
func newRecorded(t *testing.T, srv *remoteassisttest.Server, token string, opts ...client.Option) (*client.Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	c, err := client.New(srv.URL(), append([]client.Option{
		client.WithToken(token), client.WithHTTPClient(&http.Client{Transport: rec}),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestGetDefaults(t *testing.T) {
	srv := remoteassisttest.New(t)
	token := srv.Token("contoso")
	c, rec := newRecorded(t, srv, token)
	got, err := c.Get(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := client.Settings{ID: remoteassist.SettingsID("contoso"), RemoteAssistanceState: client.StateNotConfigured}
	if got != want {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	h := reqs[0].header
	for name, want := range map[string]string{
		"Accept":        "application/json",
		"User-Agent":    client.DefaultUserAgent,
		"Authorization": "Bearer " + token,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if id := h.Get("client-request-id"); !uuidPattern.MatchString(id) {
		t.Errorf("client-request-id %q is not a UUID", id)
	}
}

func TestUpdate(t *testing.T) {
	const tenant = "fabrikam"
	id := remoteassist.SettingsID(tenant)
	tests := []struct {
		name     string
		seed     client.Settings
		patch    client.Patch
		wantBody map[string]any
		want     client.Settings
	}{
		{
			name:     "state and chat",
			patch:    client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled), BlockChat: client.Ptr(true)},
			wantBody: map[string]any{"remoteAssistanceState": "enabled", "blockChat": true},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateEnabled, BlockChat: true},
		},
		{
			name:     "one property leaves the others",
			seed:     client.Settings{RemoteAssistanceState: client.StateEnabled, BlockChat: true},
			patch:    client.Patch{AllowSessionsToUnenrolledDevices: client.Ptr(true)},
			wantBody: map[string]any{"allowSessionsToUnenrolledDevices": true},
			want:     client.Settings{ID: id, AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: client.StateEnabled, BlockChat: true},
		},
		{
			name:     "false is sent, not dropped",
			seed:     client.Settings{RemoteAssistanceState: client.StateDisabled, BlockChat: true, AllowSessionsToUnenrolledDevices: true},
			patch:    client.Patch{BlockChat: client.Ptr(false), AllowSessionsToUnenrolledDevices: client.Ptr(false)},
			wantBody: map[string]any{"blockChat": false, "allowSessionsToUnenrolledDevices": false},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateDisabled},
		},
		{
			name:     "back to notConfigured",
			seed:     client.Settings{RemoteAssistanceState: client.StateEnabled},
			patch:    client.Patch{RemoteAssistanceState: client.Ptr(client.StateNotConfigured)},
			wantBody: map[string]any{"remoteAssistanceState": "notConfigured"},
			want:     client.Settings{ID: id, RemoteAssistanceState: client.StateNotConfigured},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := remoteassisttest.New(t)
			srv.Seed(tenant, tc.seed)
			c, rec := newRecorded(t, srv, srv.Token(tenant))
			got, err := c.Update(t.Context(), tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Update = %+v, want %+v", got, tc.want)
			}
			if stored := srv.Settings(tenant); stored != tc.want {
				t.Errorf("stored %+v, want %+v", stored, tc.want)
			}
			reqs := rec.all()
			if len(reqs) != 1 || reqs[0].method != http.MethodPatch {
				t.Fatalf("requests %v, want one PATCH", reqs)
			}
			var body map[string]any
			if err := json.Unmarshal(reqs[0].body, &body); err != nil {
				t.Fatalf("body %s: %v", reqs[0].body, err)
			}
			if !maps.Equal(body, tc.wantBody) {
				t.Errorf("sent %s, want exactly %v", reqs[0].body, tc.wantBody)
			}
			if ct := reqs[0].header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if again, err := c.Get(t.Context()); err != nil || again != tc.want {
				t.Errorf("Get after Update = %+v, %v; want %+v", again, err, tc.want)
			}
		})
	}
}

// TestUpdateRefusedBeforeSending checks that what the service would refuse never leaves.
func TestUpdateRefusedBeforeSending(t *testing.T) {
	srv := remoteassisttest.New(t)
	tests := []struct {
		name  string
		patch client.Patch
		want  error
	}{
		{"empty", client.Patch{}, client.ErrEmptyPatch},
		{"unknown state", client.Patch{RemoteAssistanceState: client.Ptr(client.State("on"))}, client.ErrInvalidState},
		{"empty state", client.Patch{RemoteAssistanceState: client.Ptr(client.State("")), BlockChat: client.Ptr(true)}, client.ErrInvalidState},
		{"state in the wrong case", client.Patch{RemoteAssistanceState: client.Ptr(client.State("Enabled"))}, client.ErrInvalidState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := newRecorded(t, srv, srv.Token("t"))
			_, err := c.Update(t.Context(), tc.patch)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Update: %v, want %v", err, tc.want)
			}
			if n := len(rec.all()); n != 0 {
				t.Errorf("%d requests sent, want none", n)
			}
		})
	}
	_, err := srv.Client("t").Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.State("on"))})
	if msg := err.Error(); !strings.Contains(msg, `"on"`) || !strings.Contains(msg, "notConfigured, disabled, enabled") {
		t.Errorf("message %q should name the value and the valid ones", msg)
	}
}

// TestErrors checks that each class of error the real service returns becomes an *Error
// that its helper, and only its helper, recognises.
func TestErrors(t *testing.T) {
	srv := remoteassisttest.New(t)
	throttled := remoteassisttest.New(t, remoteassisttest.WithThrottle(server.ThrottleConfig{Window: time.Hour, Requests: 1}))
	other := remoteassisttest.New(t)
	noRetry := client.WithRetry(0, 0, 0)
	helpers := map[string]func(error) bool{
		"IsBadRequest":   client.IsBadRequest,
		"IsUnauthorized": client.IsUnauthorized,
		"IsForbidden":    client.IsForbidden,
		"IsNotFound":     client.IsNotFound,
		"IsThrottled":    client.IsThrottled,
		"IsUnavailable":  client.IsUnavailable,
	}
	tests := []struct {
		name       string
		call       func(t *testing.T) (error, *recorder)
		status     int
		code       string
		helper     string
		message    string // a part of the message
		retryAfter bool
		outcome    string // what Error() says of the retries, after the status
	}{
		{
			name: "400 state outside the enum",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, srv, srv.Token("t"))
				// Swap a valid value for one the client refuses, to reach the server's check.
				rec.rewrite = func(b []byte) []byte { return bytes.Replace(b, []byte(`"enabled"`), []byte(`"on"`), 1) }
				_, err := c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled)})
				return err, rec
			},
			status: 400, code: "BadRequest", helper: "IsBadRequest", message: "remoteAssistanceState",
		},
		{
			name: "401 malformed token",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, srv, "not-a-token")
				_, err := c.Get(t.Context())
				return err, rec
			},
			status: 401, code: "InvalidAuthenticationToken", helper: "IsUnauthorized",
		},
		{
			name: "401 token of another emulator",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, srv, other.Token("t"))
				_, err := c.Get(t.Context())
				return err, rec
			},
			status: 401, code: "InvalidAuthenticationToken", helper: "IsUnauthorized",
		},
		{
			name: "403 read-only token on update",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, srv, srv.Token("t", remoteassisttest.PermissionRead))
				_, err := c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)})
				return err, rec
			},
			status: 403, code: "Forbidden", helper: "IsForbidden", message: "ReadWrite",
		},
		{
			name: "403 app token without roles for the operation",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, srv, srv.AppToken("t", "User.Read.All"))
				_, err := c.Get(t.Context())
				return err, rec
			},
			status: 403, code: "Forbidden", helper: "IsForbidden",
		},
		{
			name: "404 base URL without /beta",
			call: func(t *testing.T) (error, *recorder) {
				rec := &recorder{}
				c, err := client.New(strings.TrimSuffix(srv.URL(), "/beta"), client.WithToken(srv.Token("t")),
					client.WithHTTPClient(&http.Client{Transport: rec}))
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Get(t.Context())
				return err, rec
			},
			status: 404, code: "ResourceNotFound", helper: "IsNotFound",
		},
		{
			name: "429 throttled tenant",
			call: func(t *testing.T) (error, *recorder) {
				c, rec := newRecorded(t, throttled, throttled.Token("busy"), noRetry)
				if _, err := c.Get(t.Context()); err != nil {
					t.Fatalf("first request: %v", err)
				}
				_, err := c.Get(t.Context())
				return err, rec
			},
			status: 429, code: "TooManyRequests", helper: "IsThrottled", retryAfter: true,
			outcome: "; the service asked to wait 3600s: not retried",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err, rec := tc.call(t)
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *client.Error", err, err)
			}
			if e.StatusCode != tc.status || e.Code != tc.code {
				t.Errorf("status %d code %q, want %d %q", e.StatusCode, e.Code, tc.status, tc.code)
			}
			if !strings.Contains(e.Message, tc.message) || e.Message == "" {
				t.Errorf("message %q, want it to mention %q", e.Message, tc.message)
			}
			if !uuidPattern.MatchString(e.RequestID) {
				t.Errorf("RequestID %q is not the service's UUID", e.RequestID)
			}
			reqs := rec.all()
			if sentID := reqs[len(reqs)-1].header.Get("client-request-id"); e.ClientRequestID != sentID {
				t.Errorf("ClientRequestID %q, sent %q", e.ClientRequestID, sentID)
			}
			if (e.RetryAfter > 0) != tc.retryAfter {
				t.Errorf("RetryAfter %v", e.RetryAfter)
			}
			for name, is := range helpers {
				if got := is(err); got != (name == tc.helper) {
					t.Errorf("%s(err) = %v", name, got)
				}
			}
			// One line for logs and the CLI: the code, the request-id to quote, the status, and
			// for a status the client retries, why it returned this answer.
			msg := err.Error()
			wantStatus := fmt.Sprintf("status %d%s)", tc.status, tc.outcome)
			if !strings.HasPrefix(msg, tc.code+": ") || !strings.Contains(msg, "request-id "+e.RequestID) ||
				!strings.HasSuffix(msg, wantStatus) || strings.Contains(msg, "\n") {
				t.Errorf("Error() = %q", msg)
			}
		})
	}
}

func TestHelpersOnOtherErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), context.Canceled, client.ErrEmptyPatch} {
		if client.IsBadRequest(err) || client.IsUnauthorized(err) || client.IsForbidden(err) ||
			client.IsNotFound(err) || client.IsThrottled(err) || client.IsUnavailable(err) {
			t.Errorf("a helper recognised %v", err)
		}
	}
}

// TestNonGraphErrorBody checks that errors from something in front of the service, which
// does not speak Graph, still come back as a useful *Error.
func TestNonGraphErrorBody(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		wantMessage string
		wantText    string // in Error()
	}{
		{"HTML page", 502, "text/html", "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>",
			"<html><body> <h1>502 Bad Gateway</h1> </body></html>", "Bad Gateway: <html>"},
		{"empty body", 500, "", "", "", "Internal Server Error (status 500)"},
		{"JSON that is not the envelope", 400, "application/json", `{"message":"nope"}`, `{"message":"nope"}`, "Bad Request: "},
		{"truncated envelope", 400, "application/json", `{"error":{"code":"BadRe`, `{"error":{"code":"BadRe`, "Bad Request: "},
		{"long body", 500, "text/plain", strings.Repeat("x", 5000), strings.Repeat("x", 200) + "...", "Internal Server Error: xxx"},
		{"unknown status", 599, "text/plain", "odd", "odd", "HTTP error: odd (status 599)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL+"/beta", client.WithToken("t"), client.WithRetry(0, 0, 0))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Get(t.Context())
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v is not a *client.Error", err)
			}
			if e.StatusCode != tc.status || e.Code != "" || e.Message != tc.wantMessage {
				t.Errorf("got status %d code %q message %q; want %d, no code, %q", e.StatusCode, e.Code, e.Message, tc.status, tc.wantMessage)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Error() = %q, want it to contain %q", err.Error(), tc.wantText)
			}
		})
	}
}

// TestUnexpectedSuccess checks that a 2xx which is not the settings is an error, not zero
// settings passed off as the tenant's.
func TestUnexpectedSuccess(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    string // in the error, if set
	}{
		{"HTML", "text/html", "<html>login page</html>", ""},
		{"not JSON", "application/json", "{", ""},
		{"no id", "application/json", `{"value":[]}`, ""},
		// Cut at the bound, it would be refused as JSON that ends early, or read as settings.
		{"over the bound", "application/json", `{"pad":"` + strings.Repeat("a", 1<<20) + `","id":"x"}`, "body over 1048576 bytes"},
		{"settings, then more than the bound", "application/json", `{"id":"x"}` + strings.Repeat(" ", 1<<20), "body over 1048576 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				io.WriteString(w, tc.body)
			}))
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL+"/beta", client.WithToken("t"))
			if err != nil {
				t.Fatal(err)
			}
			if s, err := c.Get(t.Context()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Get = %+v, %v; want an error saying %q", s, err, tc.want)
			}
		})
	}
}

// faults sits in front of the emulator and answers the first responses from its script
// itself; after the script it passes requests on. It records every request it sees.
type faults struct {
	mu       sync.Mutex
	script   []fault
	seen     []sent
	upstream http.Handler
}

type fault struct {
	status     int
	retryAfter string
}

func newFaults(t *testing.T, srv *remoteassisttest.Server, script ...fault) (*faults, string) {
	f := &faults{script: script, upstream: srv.Handler()}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts.URL + server.BasePath
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.seen = append(f.seen, sent{method: r.Method, header: r.Header.Clone(), body: body})
	var next *fault
	if len(f.script) > 0 {
		next = &f.script[0]
		f.script = f.script[1:]
	}
	f.mu.Unlock()
	if next == nil {
		f.upstream.ServeHTTP(w, r)
		return
	}
	if next.retryAfter != "" {
		w.Header().Set("Retry-After", next.retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "00000000-0000-4000-8000-000000000000")
	w.WriteHeader(next.status)
	io.WriteString(w, `{"error":{"code":"Busy","message":"try later","innerError":{"date":"2026-11-28T10:00:00","request-id":"00000000-0000-4000-8000-000000000000","client-request-id":"x"}}}`)
}

func (f *faults) requests() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// waits records the waits a client asked for instead of waiting.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(_ context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return nil
}

func TestRetries(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	in := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name      string
		script    []fault
		update    bool
		wantWaits []time.Duration
		wantSent  int
		wantErr   func(error) bool // nil: success
		// Of the *Error returned: why the call stopped retrying, and how Error() says it.
		wantStop    client.RetryStop
		wantOutcome string
	}{
		{"503 twice then success", []fault{{503, "1"}, {503, "2"}}, false,
			[]time.Duration{time.Second, 2 * time.Second}, 3, nil, "", ""},
		{"PATCH re-sent after 503 and 429", []fault{{503, "1"}, {429, "1"}}, true,
			[]time.Duration{time.Second, time.Second}, 3, nil, "", ""},
		{"Retry-After as an HTTP date", []fault{{429, in(5 * time.Second)}}, false,
			[]time.Duration{5 * time.Second}, 2, nil, "", ""},
		{"504 without Retry-After backs off exponentially", []fault{{504, ""}, {504, ""}, {504, ""}}, false,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, 4, nil, "", ""},
		{"gives up after the maximum", []fault{{503, "1"}, {503, "1"}, {503, "1"}, {503, "1"}, {503, "1"}}, false,
			[]time.Duration{time.Second, time.Second, time.Second}, 4, client.IsUnavailable,
			client.RetriesSpent, "status 503; the service asked to wait 1s: gave up after 3 retries)"},
		{"gives up after the maximum without Retry-After", []fault{{429, ""}, {429, ""}, {429, ""}, {429, ""}}, false,
			[]time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond}, 4, client.IsThrottled,
			client.RetriesSpent, "status 429; no Retry-After: gave up after 3 retries)"},
		{"Retry-After over the maximum delay is not waited for", []fault{{429, "120"}}, true,
			nil, 1, client.IsThrottled,
			client.WaitTooLong, "status 429; the service asked to wait 120s, longer than the client waits: not retried)"},
		{"Retry-After over the maximum delay after a retry", []fault{{503, "1"}, {503, "31"}}, false,
			[]time.Duration{time.Second}, 2, client.IsUnavailable,
			client.WaitTooLong, "status 503; the service asked to wait 31s, longer than the client waits: gave up after 1 retry)"},
		{"400 is not retried", []fault{{400, ""}}, false, nil, 1, client.IsBadRequest, "", "status 400)"},
		{"500 is not retried", []fault{{500, ""}}, false, nil, 1, func(err error) bool {
			var e *client.Error
			return errors.As(err, &e) && e.StatusCode == 500
		}, "", "status 500)"},
		{"400 after a retry", []fault{{503, "1"}, {400, ""}}, false, []time.Duration{time.Second}, 2, client.IsBadRequest, "", "status 400)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := remoteassisttest.New(t)
			f, url := newFaults(t, srv, tc.script...)
			c, err := client.New(url, client.WithToken(srv.Token("t")), client.WithRetry(3, 100*time.Millisecond, 30*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			w := &waits{}
			client.SetWaitHooks(c, w.sleep, func() time.Time { return now }, highest)
			if tc.update {
				_, err = c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)})
			} else {
				_, err = c.Get(t.Context())
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("call failed: %v", err)
			case tc.wantErr != nil && !tc.wantErr(err):
				t.Fatalf("call returned %v", err)
			}
			if e := (*client.Error)(nil); errors.As(err, &e) {
				if e.NotRetried != tc.wantStop || e.Retries != len(tc.wantWaits) || !strings.HasSuffix(e.Error(), tc.wantOutcome) {
					t.Errorf("NotRetried %q, Retries %d, Error() %q; want %q, %d, ending %q", e.NotRetried, e.Retries, e.Error(), tc.wantStop, len(tc.wantWaits), tc.wantOutcome)
				}
			}
			if !slices.Equal(w.d, tc.wantWaits) {
				t.Errorf("waited %v, want %v", w.d, tc.wantWaits)
			}
			reqs := f.requests()
			if len(reqs) != tc.wantSent {
				t.Fatalf("%d requests reached the service, want %d", len(reqs), tc.wantSent)
			}
			for i, r := range reqs {
				if id := r.header.Get("client-request-id"); id != reqs[0].header.Get("client-request-id") || !uuidPattern.MatchString(id) {
					t.Errorf("attempt %d carried client-request-id %q, first %q: one call, one id", i, id, reqs[0].header.Get("client-request-id"))
				}
				if !bytes.Equal(r.body, reqs[0].body) {
					t.Errorf("attempt %d sent body %q, first %q", i, r.body, reqs[0].body)
				}
			}
			if tc.update && tc.wantErr == nil {
				if len(reqs[0].body) == 0 {
					t.Error("PATCH sent no body")
				}
				if !srv.Settings("t").BlockChat {
					t.Error("the retried PATCH did not take effect")
				}
			}
		})
	}
}

// TestRetryWaitsForReal checks the default timer: the backoff really passes before the retry.
func TestRetryWaitsForReal(t *testing.T) {
	srv := remoteassisttest.New(t)
	_, url := newFaults(t, srv, fault{503, ""})
	c, err := client.New(url, client.WithToken(srv.Token("t")), client.WithRetry(1, 80*time.Millisecond, 80*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < 40*time.Millisecond {
		t.Errorf("retried after %v, want at least half the 80ms backoff", elapsed)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := remoteassisttest.New(t)
	f, url := newFaults(t, srv, fault{503, "20"}, fault{503, "20"})
	c, err := client.New(url, client.WithToken(srv.Token("t")))
	if err != nil {
		t.Fatal(err)
	}
	waiting := make(chan time.Duration, 2)
	slept := make(chan error, 2)
	client.SetWaitHooks(c, func(ctx context.Context, d time.Duration) error {
		waiting <- d
		err := client.Sleep(ctx, d) // the real timer
		slept <- err
		return err
	}, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-waiting // cancel once the client waits, not while the request is in flight
		cancel()
	}()
	_, err = c.Get(ctx)
	// The wait was cut short by the cancellation, not ended by its 20 s timer: the timer
	// returned the context's error. (Read from the timer, not a wall clock a slow machine
	// stretches.)
	if got := <-slept; !errors.Is(got, context.Canceled) {
		t.Errorf("the 20s wait ended with %v, want context.Canceled: it was not cut short", got)
	}
	if len(slept) != 0 {
		t.Errorf("the client waited again after the cancellation")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if !client.IsUnavailable(err) {
		t.Errorf("error %v should still carry the 503 that caused the wait", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// TestDeadlineBeforeRetry checks that a wait the deadline would cut short is not started:
// the service's 429 is a better answer than "context deadline exceeded" later.
func TestDeadlineBeforeRetry(t *testing.T) {
	srv := remoteassisttest.New(t)
	f, url := newFaults(t, srv, fault{429, "10"})
	c, err := client.New(url, client.WithToken(srv.Token("t")))
	if err != nil {
		t.Fatal(err)
	}
	// The deadline is a minute away, so that the request never runs into it however slow the
	// machine, but the client's clock says only 5 s of it remain: less than the 10 s Retry-After.
	// The wait hook records any wait the client starts, without waiting.
	deadline := time.Now().Add(time.Minute)
	w := &waits{}
	client.SetWaitHooks(c, w.sleep, func() time.Time { return deadline.Add(-5 * time.Second) }, nil)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	_, err = c.Get(ctx)
	if len(w.d) != 0 {
		t.Errorf("the client started waiting %v, which the deadline would cut short; want the 429 at once", w.d)
	}
	var e *client.Error
	if !errors.As(err, &e) || !client.IsThrottled(err) || e.RetryAfter != 10*time.Second {
		t.Fatalf("error %v, want the 429 with its Retry-After", err)
	}
	if want := "status 429; the service asked to wait 10s, past the context's deadline: not retried)"; e.NotRetried != client.WaitPastDeadline || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("NotRetried %q, Error() %q; want %q, ending %q", e.NotRetried, err, client.WaitPastDeadline, want)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v claims the deadline passed", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

func TestTokenRefresh(t *testing.T) {
	srv := remoteassisttest.New(t)
	good := srv.Token("t")
	stale := remoteassisttest.New(t).Token("t") // signed by a key srv does not trust
	tests := []struct {
		name      string
		tokens    map[bool]string // by forceRefresh
		static    bool
		wantCalls []bool
		wantSent  int
		wantErr   bool
	}{
		{"401 then refreshed token succeeds", map[bool]string{false: stale, true: good}, false, []bool{false, true}, 2, false},
		{"refreshed token refused too: one refresh only", map[bool]string{false: stale, true: stale}, false, []bool{false, true}, 2, true},
		{"good token needs no refresh", map[bool]string{false: good, true: stale}, false, []bool{false}, 1, false},
		{"static token is not retried", map[bool]string{false: stale}, true, nil, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []bool
			src := client.WithTokenSource(func(ctx context.Context, force bool) (string, error) {
				calls = append(calls, force)
				return tc.tokens[force], nil
			})
			if tc.static {
				src = client.WithToken(tc.tokens[false])
			}
			rec := &recorder{}
			c, err := client.New(srv.URL(), src, client.WithHTTPClient(&http.Client{Transport: rec}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)})
			if (err != nil) != tc.wantErr {
				t.Fatalf("Update: %v", err)
			}
			if tc.wantErr && !client.IsUnauthorized(err) {
				t.Errorf("error %v, want a 401", err)
			}
			if !slices.Equal(calls, tc.wantCalls) {
				t.Errorf("token source called with %v, want %v", calls, tc.wantCalls)
			}
			reqs := rec.all()
			if len(reqs) != tc.wantSent {
				t.Fatalf("%d requests, want %d", len(reqs), tc.wantSent)
			}
			last := reqs[len(reqs)-1]
			if len(reqs) == 2 && (!bytes.Equal(last.body, reqs[0].body) ||
				last.header.Get("client-request-id") != reqs[0].header.Get("client-request-id")) {
				t.Error("the request after the refresh is not the same request")
			}
		})
	}
}

func TestTokenSourceError(t *testing.T) {
	srv := remoteassisttest.New(t)
	boom := errors.New("identity provider down")
	rec := &recorder{}
	c, err := client.New(srv.URL(), client.WithHTTPClient(&http.Client{Transport: rec}),
		client.WithTokenSource(func(context.Context, bool) (string, error) { return "", boom }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context()); !errors.Is(err, boom) {
		t.Errorf("Get: %v, want the source's error", err)
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d requests sent without a token", n)
	}
}

func TestClientRequestIDPerCall(t *testing.T) {
	srv := remoteassisttest.New(t)
	c, rec := newRecorded(t, srv, srv.Token("t"), client.WithUserAgent("my-tool/2.0"))
	for range 3 {
		if _, err := c.Get(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]bool{}
	for _, r := range rec.all() {
		ids[r.header.Get("client-request-id")] = true
		if ua := r.header.Get("User-Agent"); ua != "my-tool/2.0" {
			t.Errorf("User-Agent %q", ua)
		}
	}
	if len(ids) != 3 {
		t.Errorf("3 calls carried %d distinct client-request-ids", len(ids))
	}
}

// TestUpdateNoContent checks the Intune habit of answering PATCH with 204: the client reads
// the settings back.
func TestUpdateNoContent(t *testing.T) {
	srv := remoteassisttest.New(t)
	var methods []string
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		methods = append(methods, r.Method)
		mu.Unlock()
		if r.Method == http.MethodPatch {
			rec := httptest.NewRecorder()
			srv.Handler().ServeHTTP(rec, r)
			if rec.Code == http.StatusOK {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		srv.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL+"/beta", client.WithToken(srv.Token("t")))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateDisabled)})
	if err != nil {
		t.Fatal(err)
	}
	if got.RemoteAssistanceState != client.StateDisabled || got.ID == "" {
		t.Errorf("Update = %+v", got)
	}
	if !slices.Equal(methods, []string{"PATCH", "GET"}) {
		t.Errorf("requests %v, want PATCH then GET", methods)
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts []client.Option
	}{
		{"no scheme", "127.0.0.1:8080/beta", nil},
		{"other scheme", "ftp://example.com/beta", nil},
		{"no host", "http:///beta", nil},
		{"unparsable", "http://[::1/beta", nil},
		{"query", "http://127.0.0.1/beta?x=1", nil},
		{"empty query", "http://127.0.0.1/beta?", nil},
		{"fragment", "http://127.0.0.1/beta#top", nil},
		{"empty", "", nil},
		{"empty token", "http://127.0.0.1/beta", []client.Option{client.WithToken("")}},
		{"nil token source", "http://127.0.0.1/beta", []client.Option{client.WithTokenSource(nil)}},
		{"nil HTTP client", "http://127.0.0.1/beta", []client.Option{client.WithHTTPClient(nil)}},
		{"negative retries", "http://127.0.0.1/beta", []client.Option{client.WithRetry(-1, 0, 0)}},
		{"max delay under base", "http://127.0.0.1/beta", []client.Option{client.WithRetry(3, time.Second, time.Millisecond)}},
	}
	for _, tc := range tests {
		if c, err := client.New(tc.url, tc.opts...); err == nil {
			t.Errorf("%s: New(%q) = %v, nil; want an error", tc.name, tc.url, c)
		}
	}
}

// TestConcurrentUse runs calls from many goroutines on one client; with -race it checks the
// client is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	srv := remoteassisttest.New(t)
	c := srv.Client("t")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(i%2 == 0)}); err != nil {
				t.Error(err)
			}
			if _, err := c.Get(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestRedirects checks that a redirect that turns the PATCH into a GET (301, 302, 303, as
// net/http follows them) fails the Update instead of returning the settings the GET read as
// if the patch had been applied, and that one that keeps the method (307, 308) is followed.
func TestRedirects(t *testing.T) {
	srv := remoteassisttest.New(t)
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			tenant := "t" + strconv.Itoa(code)
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, srv.URL()+strings.TrimPrefix(r.URL.Path, server.BasePath), code)
			}))
			t.Cleanup(ts.Close)
			c, err := client.New(ts.URL+server.BasePath, client.WithToken(srv.Token(tenant)))
			if err != nil {
				t.Fatal(err)
			}
			if s, err := c.Get(t.Context()); err != nil || s.ID != remoteassist.SettingsID(tenant) {
				t.Errorf("Get through a %d = %+v, %v; want the tenant's settings", code, s, err)
			}
			s, err := c.Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)})
			stored := srv.Settings(tenant)
			if code == 307 || code == 308 {
				if err != nil || !s.BlockChat || !stored.BlockChat {
					t.Errorf("Update through a %d = %+v, %v (stored %+v); want the patch applied", code, s, err, stored)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "PATCH was not made") {
				t.Errorf("Update through a %d = %+v, %v; want an error saying the PATCH was not made", code, s, err)
			}
			if stored.BlockChat {
				t.Errorf("stored %+v after a %d", stored, code)
			}
		})
	}
}

// TestNilOptionIgnored checks that a nil Option, as an option chosen at run time may be, is
// skipped rather than called.
func TestNilOptionIgnored(t *testing.T) {
	srv := remoteassisttest.New(t)
	var none client.Option
	c, err := client.New(srv.URL(), none, client.WithToken(srv.Token("t")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestMultiLineGraphMessage checks that Error() is one line when Graph's envelope carries a
// message over several lines, as Intune's do (a JSON document with CRLFs inside the message),
// while Message keeps the text as the service sent it.
func TestMultiLineGraphMessage(t *testing.T) {
	const message = "{\r\n  \"_version\": 3,\r\n  \"Message\": \"An error has occurred\"\x1b[31m\r\n}"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": "Internal\nServerError", "message": message}})
	}))
	t.Cleanup(ts.Close)
	c, err := client.New(ts.URL+server.BasePath, client.WithToken("t"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || e.Message != message {
		t.Fatalf("Get = %v; want a *client.Error with the message as sent", err)
	}
	const want = `Internal ServerError: { "_version": 3, "Message": "An error has occurred"[31m } (status 500)`
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestCloseIdleConnections checks that CloseIdleConnections releases the kept-alive
// connection, with the default client and with one from WithHTTPClient: the call after it
// opens a new connection, where without it the second call reuses the first's.
func TestCloseIdleConnections(t *testing.T) {
	for _, withHTTPClient := range []bool{false, true} {
		t.Run(fmt.Sprintf("WithHTTPClient=%v", withHTTPClient), func(t *testing.T) {
			var mu sync.Mutex
			opened := 0
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, "down")
			}))
			ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					mu.Lock()
					opened++
					mu.Unlock()
				}
			}
			ts.Start()
			t.Cleanup(ts.Close)
			opts := []client.Option{client.WithToken("t"), client.WithRetry(0, 0, 0)}
			if withHTTPClient {
				opts = append(opts, client.WithHTTPClient(&http.Client{Transport: &http.Transport{}}))
			}
			c, err := client.New(ts.URL+"/beta", opts...)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if _, err := c.Get(t.Context()); err == nil {
					t.Fatalf("call %d: no error from a 500", i)
				}
				c.CloseIdleConnections()
			}
			mu.Lock()
			defer mu.Unlock()
			if opened != 2 {
				t.Errorf("the server saw %d connections for 2 calls with CloseIdleConnections between them, want 2", opened)
			}
		})
	}
}
