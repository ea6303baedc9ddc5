package remoteassisttest_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/client"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/remoteassisttest"
	"github.com/remoteassist/remoteassist/server"
)

// newClient returns a client of srv with token and no retries, so errors show at once.
func newClient(t *testing.T, srv *remoteassisttest.Server, token string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL(), client.WithToken(token), client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokens(t *testing.T) {
	srv := remoteassisttest.New(t)
	other := remoteassisttest.New(t)
	enable := client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled)}
	tests := []struct {
		name              string
		token             string
		getErr, updateErr func(error) bool // nil: must succeed
	}{
		{"default delegated token reads and writes", srv.Token("t"), nil, nil},
		{"default app token reads and writes", srv.AppToken("t"), nil, nil},
		{"read-only delegated token", srv.Token("t", remoteassisttest.PermissionRead), nil, client.IsForbidden},
		{"read-only app token", srv.AppToken("t", remoteassisttest.PermissionRead), nil, client.IsForbidden},
		{"other Graph permission in the contract", srv.Token("t", "DeviceManagementConfiguration.ReadWrite.All"), nil, nil},
		{"unrelated permission", srv.Token("t", "User.Read"), client.IsForbidden, client.IsForbidden},
		{"token of another emulator", other.Token("t"), client.IsUnauthorized, client.IsUnauthorized},
	}
	check := func(t *testing.T, op string, err error, want func(error) bool) {
		t.Helper()
		switch {
		case want == nil && err != nil:
			t.Errorf("%s: %v", op, err)
		case want != nil && (err == nil || !want(err)):
			t.Errorf("%s: got %v", op, err)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, srv, tc.token)
			_, err := c.Get(t.Context())
			check(t, "Get", err, tc.getErr)
			_, err = c.Update(t.Context(), enable)
			check(t, "Update", err, tc.updateErr)
		})
	}
}

func TestSeedAndSettings(t *testing.T) {
	srv := remoteassisttest.New(t)
	seeded := client.Settings{AllowSessionsToUnenrolledDevices: true, RemoteAssistanceState: client.StateDisabled, BlockChat: true}
	srv.Seed("contoso", seeded)
	srv.Seed("fabrikam", client.Settings{ID: "ignored", BlockChat: true})

	tests := []struct {
		tenant string
		want   client.Settings
	}{
		{"contoso", client.Settings{ID: remoteassist.SettingsID("contoso"), AllowSessionsToUnenrolledDevices: true,
			RemoteAssistanceState: client.StateDisabled, BlockChat: true}},
		{"fabrikam", client.Settings{ID: remoteassist.SettingsID("fabrikam"), RemoteAssistanceState: client.StateNotConfigured, BlockChat: true}},
		{"never-seeded", client.Settings{ID: remoteassist.SettingsID("never-seeded"), RemoteAssistanceState: client.StateNotConfigured}},
	}
	for _, tc := range tests {
		if got := srv.Settings(tc.tenant); got != tc.want {
			t.Errorf("Settings(%q) = %+v, want %+v", tc.tenant, got, tc.want)
		}
		got, err := srv.Client(tc.tenant).Get(t.Context())
		if err != nil || got != tc.want {
			t.Errorf("Get for %q = %+v, %v; want %+v", tc.tenant, got, err, tc.want)
		}
	}

	// What a client changes shows in Settings, for that tenant only.
	if _, err := srv.Client("contoso").Update(t.Context(), client.Patch{BlockChat: client.Ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if got := srv.Settings("contoso"); got.BlockChat || got.RemoteAssistanceState != client.StateDisabled {
		t.Errorf("after Update: %+v", got)
	}
	if got := srv.Settings("fabrikam"); !got.BlockChat {
		t.Errorf("another tenant's update changed fabrikam: %+v", got)
	}
}

// TestIsolation checks that emulators share nothing, so parallel tests cannot interfere.
func TestIsolation(t *testing.T) {
	a, b := remoteassisttest.New(t), remoteassisttest.New(t)
	a.Seed("t", client.Settings{RemoteAssistanceState: client.StateEnabled})
	if got := b.Settings("t"); got.RemoteAssistanceState != client.StateNotConfigured {
		t.Errorf("b sees a's settings: %+v", got)
	}
	if a.URL() == b.URL() {
		t.Errorf("both listen on %s", a.URL())
	}
}

func TestURL(t *testing.T) {
	srv := remoteassisttest.New(t)
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") || !strings.HasSuffix(srv.URL(), "/beta") {
		t.Errorf("URL() = %q, want a loopback URL ending in /beta", srv.URL())
	}
	// Any HTTP client can use URL and Token directly, as a Graph SDK pointed at it would.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL()+"/deviceManagement/remoteAssistanceSettings", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token("t"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("request-id") == "" {
		t.Errorf("GET: %d, request-id %q", res.StatusCode, res.Header.Get("request-id"))
	}
}

// TestClosedWithTest checks that the emulator of a finished test no longer listens.
func TestClosedWithTest(t *testing.T) {
	var url string
	t.Run("uses an emulator", func(t *testing.T) {
		url = remoteassisttest.New(t).URL()
	})
	c, err := client.New(url, client.WithToken("t"), client.WithRetry(0, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get(t.Context())
	var e *client.Error
	if err == nil || errors.As(err, &e) {
		t.Errorf("Get after the test ended: %v; want a connection error", err)
	}
}

func TestStartAndClose(t *testing.T) {
	srv, err := remoteassisttest.Start()
	if err != nil {
		t.Fatal(err)
	}
	c := srv.Client("t")
	if _, err := c.Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if _, err := c.Get(t.Context()); err == nil {
		t.Error("Get succeeded after Close")
	}
	// Without a test to fail, a failing helper panics rather than carrying on.
	defer func() {
		if recover() == nil {
			t.Error("Seed of an invalid state did not panic")
		}
	}()
	srv.Seed("t", client.Settings{RemoteAssistanceState: "on"})
}

func TestWithThrottleAndClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := remoteassisttest.New(t,
		remoteassisttest.WithThrottle(server.ThrottleConfig{Window: 20 * time.Second, Requests: 2}),
		remoteassisttest.WithClock(clock))
	c := srv.Client("t", client.WithRetry(0, 0, 0))
	for i := range 2 {
		if _, err := c.Get(t.Context()); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := c.Get(t.Context())
	var e *client.Error
	if !errors.As(err, &e) || !client.IsThrottled(err) || e.RetryAfter != 20*time.Second {
		t.Fatalf("third request: %v, want 429 with Retry-After 20s", err)
	}
	// Other tenants have their own budget.
	if _, err := srv.Client("other", client.WithRetry(0, 0, 0)).Get(t.Context()); err != nil {
		t.Errorf("other tenant: %v", err)
	}
	mu.Lock()
	now = now.Add(20 * time.Second)
	mu.Unlock()
	if _, err := c.Get(t.Context()); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestWithLogger(t *testing.T) {
	var buf testutil.SyncBuffer
	srv := remoteassisttest.New(t, remoteassisttest.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	if _, err := srv.Client("contoso").Update(t.Context(), client.Patch{BlockChat: client.Ptr(true)}); err != nil {
		t.Fatal(err)
	}
	if log := buf.String(); !strings.Contains(log, "method=PATCH") || !strings.Contains(log, "tenant=contoso") {
		t.Errorf("access log %q lacks the PATCH", log)
	}
}

// failingStore is a store whose backend is down.
type failingStore struct{ *memory.Store }

func (failingStore) Settings(context.Context, string) (remoteassist.Settings, error) {
	return remoteassist.Settings{}, &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "down", RetryAfter: time.Second}
}

func TestWithStore(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithStore(failingStore{memory.New()}))
	_, err := srv.Client("t", client.WithRetry(0, 0, 0)).Get(t.Context())
	if !client.IsUnavailable(err) {
		t.Errorf("Get on a store that is down: %v, want 503", err)
	}
}

func TestHandler(t *testing.T) {
	srv := remoteassisttest.New(t)
	req, _ := http.NewRequest(http.MethodGet, "/beta/deviceManagement/remoteAssistanceSettings", nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token("t"))
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"remoteAssistanceState":"notConfigured"`) {
		t.Errorf("Handler: %d %s", rec.Code, rec.Body.String())
	}
}

// TestGraphProfile: under the graph profile the emulator answers PATCH with 204, the client
// still returns the settings, and refuses notConfigured before any request.
func TestGraphProfile(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithProfile(remoteassist.ProfileGraph))
	c := srv.Client("contoso")
	s, err := c.Get(t.Context())
	if err != nil || s.RemoteAssistanceState != client.StateDisabled {
		t.Fatalf("never-written tenant: %+v, %v", s, err)
	}
	s, err = c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateEnabled)})
	if err != nil || s.RemoteAssistanceState != client.StateEnabled {
		t.Fatalf("Update after 204: %+v, %v", s, err)
	}
	_, err = c.Update(t.Context(), client.Patch{RemoteAssistanceState: client.Ptr(client.StateNotConfigured)})
	if !errors.Is(err, client.ErrInvalidState) || !strings.Contains(err.Error(), "Allowed values: disabled, enabled.") {
		t.Errorf("notConfigured under graph: %v", err)
	}
	if got := srv.Settings("contoso"); got.RemoteAssistanceState != client.StateEnabled {
		t.Errorf("stored %+v", got)
	}
}

func TestWithTLS(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithTLS())
	if !strings.HasPrefix(srv.URL(), "https://") {
		t.Fatalf("URL %s, want https", srv.URL())
	}
	if _, err := srv.Client("contoso").Get(t.Context()); err != nil {
		t.Fatalf("Client: %v", err)
	}
	// Any client that trusts CertPool reaches it over HTTP/2, and over HTTP/1.1 when it
	// offers only that.
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL()+"/deviceManagement/remoteAssistanceSettings", nil)
		req.Header.Set("Authorization", "Bearer "+srv.Token("contoso"))
		res, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		want := map[bool]string{true: "HTTP/2.0", false: "HTTP/1.1"}[h2]
		if res.StatusCode != http.StatusOK || res.Proto != want {
			t.Errorf("%d over %s, want 200 over %s", res.StatusCode, res.Proto, want)
		}
		tr.CloseIdleConnections()
	}
	if plain := remoteassisttest.New(t); plain.CertPool() != nil || plain.Certificate() != nil {
		t.Error("a plain HTTP server has a certificate")
	}
	// A test that forgot the https:// (any request with a token, longer than net/http's first
	// read) gets net/http's 400 saying so, not a connection reset.
	plainURL := "http://" + strings.TrimPrefix(srv.URL(), "https://") + "/deviceManagement/remoteAssistanceSettings"
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, plainURL, nil)
	req.Header.Set("Authorization", "Bearer "+srv.Token("contoso"))
	req.Header.Set("X-Padding", strings.Repeat("x", 16<<10)) // a token of a real provider's size, and then some
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatalf("http:// to the TLS emulator: %v, want net/http's 400", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Errorf("http:// to the TLS emulator: %d %q, want net/http's 400", res.StatusCode, body)
	}
}

// TestNilOptionIgnored checks that nil options, of the emulator and of its Client, are skipped
// rather than called.
func TestNilOptionIgnored(t *testing.T) {
	var none remoteassisttest.Option
	srv := remoteassisttest.New(t, none, remoteassisttest.WithControl(), nil)
	if _, err := srv.Client("t", nil).Get(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Control() // WithControl took effect
}

// TestConcurrentUse calls the Server's methods from many goroutines at once; with -race it
// checks that they are safe for concurrent use, as Server's doc says. Close, twice, then leaves
// the Server closed.
func TestConcurrentUse(t *testing.T) {
	srv := remoteassisttest.New(t, remoteassisttest.WithControl(), remoteassisttest.WithTLS())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			srv.Seed("t", client.Settings{BlockChat: i%2 == 0})
			srv.Settings("t")
			srv.AdminURL()
			srv.AdminClient()
			if _, err := srv.Client("t").Get(t.Context()); err != nil {
				t.Error(err)
			}
			srv.Token("t")
			srv.Reset("t")
			srv.ResetAll()
			srv.Control().Count(control.Filter{})
		})
	}
	wg.Wait()
	srv.Close()
	srv.Close()
	if _, err := srv.Client("t", client.WithRetry(0, 0, 0)).Get(t.Context()); err == nil {
		t.Error("Get succeeded after Close")
	}
}
