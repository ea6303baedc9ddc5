package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

const (
	getOperation   = "deviceManagement.GetRemoteAssistanceSettings"
	patchOperation = "deviceManagement.UpdateRemoteAssistanceSettings"
)

// cancelStore makes the next call, once armed, wait until its context is done and then fail
// with an error wrapping ctx.Err(), as a database driver does when its caller gives up. Other
// calls reach the store it wraps.
type cancelStore struct {
	remoteassist.Store
	// wrap turns ctx.Err() into what the store returns.
	wrap    func(error) error
	armed   atomic.Bool
	reached chan struct{} // receives once the armed call is waiting
	// returned receives what the armed call returned.
	returned chan error
}

func newCancelStore(wrap func(error) error) *cancelStore {
	return &cancelStore{Store: memory.New(), wrap: wrap, reached: make(chan struct{}, 1), returned: make(chan error, 1)}
}

func (s *cancelStore) block(ctx context.Context) error {
	s.reached <- struct{}{}
	<-ctx.Done()
	err := s.wrap(ctx.Err())
	s.returned <- err
	return err
}

func (s *cancelStore) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	if s.armed.CompareAndSwap(true, false) {
		return remoteassist.Settings{}, s.block(ctx)
	}
	return s.Store.Settings(ctx, tenant)
}

func (s *cancelStore) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	if s.armed.CompareAndSwap(true, false) {
		return remoteassist.Settings{}, s.block(ctx)
	}
	return s.Store.UpdateSettings(ctx, tenant, p)
}

// observedHarness is a harness whose JSON log and metrics registry the test reads.
type observedHarness struct {
	*harness
	logs *testutil.SyncBuffer
}

func newObservedHarness(t *testing.T, store remoteassist.Store) *observedHarness {
	t.Helper()
	logs := new(testutil.SyncBuffer)
	h := newHarnessWith(t, func(c *server.Config) {
		c.Store = store
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		c.Metrics = prometheus.NewRegistry()
	})
	return &observedHarness{harness: h, logs: logs}
}

// logEntries parses the log written so far.
func (h *observedHarness) logEntries() []map[string]any {
	h.t.Helper()
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			h.t.Fatalf("log line is not JSON: %v: %s", err, line)
		}
		entries = append(entries, e)
	}
	return entries
}

// accessLine waits for the access log line of the request with the client-request-id. The
// server writes it after the client has stopped waiting, so it is polled for, up to a deadline.
func (h *observedHarness) accessLine(clientRequestID string) map[string]any {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, e := range h.logEntries() {
			if e["msg"] == "request" && e["client_request_id"] == clientRequestID {
				return e
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no access log line for client-request-id %s:\n%s", clientRequestID, h.logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noErrorLogged fails the test on any log line above Info.
func (h *observedHarness) noErrorLogged() {
	h.t.Helper()
	for _, e := range h.logEntries() {
		if e["level"] != slog.LevelInfo.String() {
			h.t.Errorf("log line at %v: %v", e["level"], e)
		}
	}
}

var requestSample = regexp.MustCompile(`^remoteassist_http_requests_total\{code="(\d+)",method="[A-Z]+",operation="([^"]+)"\} (\S+)$`)

// requestCounts scrapes remoteassist_http_requests_total, keyed by operation and status code.
func (h *observedHarness) requestCounts() map[string]map[int]float64 {
	h.t.Helper()
	res := h.do(http.MethodGet, server.MetricsPath, "", nil)
	if res.status != http.StatusOK {
		h.t.Fatalf("/metrics: %d", res.status)
	}
	return parseRequestCounts(h.t, res.body)
}

// parseRequestCounts reads remoteassist_http_requests_total from a scrape.
func parseRequestCounts(t *testing.T, body []byte) map[string]map[int]float64 {
	t.Helper()
	counts := map[string]map[int]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		m := requestSample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		code, _ := strconv.Atoi(m[1])
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		if counts[m[2]] == nil {
			counts[m[2]] = map[int]float64{}
		}
		counts[m[2]][code] += v
	}
	return counts
}

// waitReached waits for the store to be reached by the armed call.
func waitReached(t *testing.T, s *cancelStore) {
	t.Helper()
	select {
	case <-s.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the request never reached the store")
	}
}

// cancelViaClient sends the request with an http.Client and cancels its context once the
// store holds it; the client must see its own cancellation, not a response.
func cancelViaClient(t *testing.T, h *observedHarness, s *cancelStore, req *http.Request) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		res, err := h.client.Do(req.WithContext(ctx))
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			err = fmt.Errorf("a response reached the client: %d %s", res.StatusCode, body)
		}
		done <- err
	}()
	waitReached(t, s)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("client: %v, want its own context.Canceled", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the cancelled client never returned")
	}
}

// cancelViaHalfClose writes the request on a raw connection and half-closes it once the store
// holds it, which cancels the request's context on the server; then reads what the server
// writes back: it must be nothing at all.
func cancelViaHalfClose(t *testing.T, h *observedHarness, s *cancelStore, req *http.Request) {
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	waitReached(t, s)
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	got, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the abandoned connection open")
	}
	if len(got) != 0 {
		t.Errorf("the server wrote %d bytes to a client that had gone:\n%s", len(got), got)
	}
}

// TestClientCancelIs499 cancels requests whose store call is in progress, in the two ways a
// client can go away over HTTP/1, and checks the request is recorded as a 499, never as a
// server error, and that the server goes on serving.
func TestClientCancelIs499(t *testing.T) {
	wrapped := func(err error) error { return fmt.Errorf("store: query: %w", err) }
	cases := []struct {
		name   string
		method string
		wrap   func(error) error
		cancel func(*testing.T, *observedHarness, *cancelStore, *http.Request)
	}{
		{"GET/client cancels", http.MethodGet, wrapped, cancelViaClient},
		{"PATCH/client cancels", http.MethodPatch, wrapped, cancelViaClient},
		{"GET/half-close", http.MethodGet, wrapped, cancelViaHalfClose},
		{"PATCH/half-close", http.MethodPatch, wrapped, cancelViaHalfClose},
		// A store that classifies the cancellation itself does not turn it into a 5xx either.
		{"GET/store says unavailable", http.MethodGet, func(err error) error { return remoteassist.Unavailable(err) }, cancelViaClient},
		{"GET/store says internal", http.MethodGet, func(err error) error { return remoteassist.Internal(err) }, cancelViaClient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newCancelStore(tc.wrap)
			h := newObservedHarness(t, store)
			tok := h.token("gone", readWriteConfig)
			op := getOperation
			var body io.Reader
			if tc.method == http.MethodPatch {
				op, body = patchOperation, strings.NewReader(`{"blockChat":true}`)
			}
			req, err := http.NewRequest(tc.method, h.url+settingsPath, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			const crid = "cancelled-request"
			req.Header.Set("Client-Request-Id", crid)

			store.armed.Store(true)
			tc.cancel(t, h, store, req)

			if err := <-store.returned; !errors.Is(err, context.Canceled) {
				t.Fatalf("the store returned %v, want an error wrapping context.Canceled", err)
			}
			line := h.accessLine(crid)
			if line["status"] != float64(499) || line["level"] != "INFO" || line["operation"] != op || line["tenant"] != "gone" {
				t.Errorf("access log line: %v, want status 499 at INFO for %s", line, op)
			}
			h.noErrorLogged()

			counts := h.requestCounts()
			if counts[op][499] != 1 {
				t.Errorf("%s 499 count %v, want 1: %v", op, counts[op][499], counts)
			}
			for operation, byCode := range counts {
				for code, n := range byCode {
					if code >= 500 && n != 0 {
						t.Errorf("%s %d counted %v times", operation, code, n)
					}
				}
			}

			// The server still serves, the same tenant and the same operation.
			if res := h.get(tok); res.status != http.StatusOK {
				t.Fatalf("GET after the cancellation: %d %s", res.status, res.body)
			}
			if res := h.patch(tok, `{"blockChat":true}`); res.status != http.StatusOK {
				t.Fatalf("PATCH after the cancellation: %d %s", res.status, res.body)
			}
			if got := h.stored("gone"); !got.BlockChat {
				t.Errorf("stored after the PATCH: %+v", got)
			}
			counts = h.requestCounts()
			if counts[getOperation][200] != 1 || counts[patchOperation][200] != 1 || counts[op][499] != 1 {
				t.Errorf("counts after the normal requests: %v", counts)
			}
			h.noErrorLogged()
		})
	}
}

// TestCanceledWhileRequestLiveIs500: a context.Canceled from below while the request's own
// context is live is not the client's doing (some internal context was cancelled): it stays an
// internal error, with its 500 envelope, its access line at ERROR naming the cause (the one line
// the request is logged with) and its 5xx sample.
func TestCanceledWhileRequestLiveIs500(t *testing.T) {
	store := &liveCanceledStore{Store: memory.New()}
	h := newObservedHarness(t, store)
	tok := h.token("live", readConfig)
	res := h.do(http.MethodGet, settingsPath, tok, nil, "Client-Request-Id", "live-request")
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", res.status, res.body)
	}
	if code, _, _ := res.graphError(t); code != "InternalServerError" {
		t.Errorf("code %s", code)
	}
	if n := store.calls.Load(); n != 1 {
		t.Fatalf("the store was called %d times, want 1", n)
	}
	if line := h.accessLine("live-request"); line["status"] != float64(500) || line["level"] != "ERROR" ||
		!strings.Contains(fmt.Sprint(line["error"]), "context canceled") {
		t.Errorf("access log line %v", line)
	}
	var errorLines int
	for _, e := range h.logEntries() {
		if e["level"] == "ERROR" {
			errorLines++
		}
	}
	if errorLines != 1 {
		t.Errorf("%d ERROR lines, want 1:\n%s", errorLines, h.logs.String())
	}
	if counts := h.requestCounts(); counts[getOperation][500] != 1 || counts[getOperation][499] != 0 {
		t.Errorf("counts %v", counts)
	}
}

// liveCanceledStore fails reads at once with an error wrapping context.Canceled, the request's
// context untouched.
type liveCanceledStore struct {
	remoteassist.Store
	calls atomic.Int32
}

func (s *liveCanceledStore) Settings(context.Context, string) (remoteassist.Settings, error) {
	s.calls.Add(1)
	return remoteassist.Settings{}, fmt.Errorf("pool: %w", context.Canceled)
}

// TestClientCancelWithoutHijackIs499: where the connection cannot be taken over (here a
// ResponseRecorder; over HTTP/2, a stream the client reset), a cancelled request is answered
// with a bare 499 header, no envelope, and still no ERROR line. The memory store fails a call
// whose context is already done with ctx.Err() itself.
func TestClientCancelWithoutHijackIs499(t *testing.T) {
	key, verifier := newDevKey(t)
	var logs testutil.SyncBuffer
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := key.Mint(jwtauth.TokenSpec{Tenant: "gone", Subject: "u", Scopes: []string{readConfig}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://localhost"+settingsPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 499 || rec.Body.Len() != 0 {
		t.Errorf("answer %d %q, want a bare 499", rec.Code, rec.Body)
	}
	out := logs.String()
	if strings.Contains(out, `"level":"ERROR"`) || !strings.Contains(out, `"status":499`) {
		t.Errorf("log:\n%s", out)
	}
}

// liveStack is the API as "remoteassist serve" runs it, over loopback: the server behind
// NewHTTPServer, on LimitListener, and over TLS (HTTP/2 offered) when asked; its store, JSON log
// and metrics are the test's, and the test shuts it down.
type liveStack struct {
	*observedHarness
	srv *server.Server
	ts  *httptest.Server
}

func startStack(t *testing.T, store remoteassist.Store, h2 bool, limits server.Limits) *liveStack {
	t.Helper()
	key, verifier := newDevKey(t)
	logs := new(testutil.SyncBuffer)
	srv, err := server.New(server.Config{Store: store, Authenticator: verifier,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.Config = server.NewHTTPServer(srv, limits, nil)
	ts.Listener = server.LimitListener(ts.Listener, limits)
	if h2 {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	client := ts.Client()
	client.Timeout = 30 * time.Second
	h := &harness{t: t, url: ts.URL, key: key, store: store, client: client}
	return &liveStack{observedHarness: &observedHarness{harness: h, logs: logs}, srv: srv, ts: ts}
}

// counts scrapes the request counts without the API listener, which may be closed.
func (l *liveStack) counts() map[string]map[int]float64 {
	l.t.Helper()
	rec := httptest.NewRecorder()
	l.srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, server.MetricsPath, nil))
	return parseRequestCounts(l.t, rec.Body.Bytes())
}

// send sends the request of method with the client-request-id and returns what the client got:
// an error, or a response it turns into one, as no response is expected.
func (l *liveStack) send(method, token, crid string) <-chan error {
	l.t.Helper()
	var body io.Reader = http.NoBody
	if method == http.MethodPatch {
		body = strings.NewReader(`{"blockChat":true}`)
	}
	req, err := http.NewRequest(method, l.url+settingsPath, body)
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Client-Request-Id", crid)
	done := make(chan error, 1)
	go func() {
		res, err := l.client.Do(req)
		if err == nil {
			data, _ := io.ReadAll(res.Body)
			res.Body.Close()
			err = fmt.Errorf("a response reached the client: %s %d %s", res.Proto, res.StatusCode, data)
		}
		done <- err
	}()
	return done
}

// TestShutdownCutIs503: a request still in flight when a shutdown's grace is over is cut by the
// server, as serve does it (Drain, Shutdown until the grace runs out, then Cut, which closes the
// http.Server): over HTTP/1.1 and HTTP/2, nothing is sent on its connection, as for a client that
// went away, but the access log and the metrics record the 503 the client was owed, at ERROR with
// the cause, not a 499 that would blame the client, and the line is written by the time Cut
// returns. A client that gives up during the grace is still a 499.
func TestShutdownCutIs503(t *testing.T) {
	const grace = 100 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		for _, method := range []string{http.MethodGet, http.MethodPatch} {
			t.Run(map[bool]string{false: "HTTP/1.1", true: "HTTP/2"}[h2]+"/"+method, func(t *testing.T) {
				store := newCancelStore(func(err error) error { return fmt.Errorf("store: query: %w", err) })
				l := startStack(t, store, h2, server.Limits{})
				op := map[string]string{http.MethodGet: getOperation, http.MethodPatch: patchOperation}[method]
				tok := l.token("cut", readWriteConfig)
				store.armed.Store(true)
				cut := l.send(method, tok, "cut-at-shutdown")
				waitReached(t, store)

				// Another client's request, in flight during the grace, whose client gives up.
				gone, giveUp := context.WithCancel(context.Background())
				defer giveUp()
				req, err := http.NewRequestWithContext(gone, http.MethodGet, l.url+settingsPath, nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+tok)
				req.Header.Set("Client-Request-Id", "gone-during-grace")
				store.armed.Store(true)
				left := make(chan error, 1)
				go func() {
					res, err := l.client.Do(req)
					if err == nil {
						res.Body.Close()
					}
					left <- err
				}()
				waitReached(t, store)

				l.srv.Drain()
				shutdown := make(chan error, 1)
				ctx, cancel := context.WithTimeout(context.Background(), grace)
				defer cancel()
				go func() { shutdown <- l.ts.Config.Shutdown(ctx) }()
				time.Sleep(grace / 4)
				giveUp()
				if err := <-left; !errors.Is(err, context.Canceled) {
					t.Errorf("the client that gave up: %v", err)
				}
				if err := <-store.returned; !errors.Is(err, context.Canceled) {
					t.Fatalf("the store returned %v to the client that gave up", err)
				}

				if err := <-shutdown; !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Shutdown: %v, want the grace to run out", err)
				}
				l.srv.Cut(l.ts.Config)

				select {
				case err := <-cut:
					if strings.Contains(err.Error(), "a response reached the client") {
						t.Error(err)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the client was never let go")
				}
				if err := <-store.returned; !errors.Is(err, context.Canceled) {
					t.Fatalf("the store returned %v, want an error wrapping context.Canceled", err)
				}
				// Cut waits for the requests it cut to end: their lines are written when it returns.
				var line map[string]any
				for _, e := range l.logEntries() {
					if e["msg"] == "request" && e["client_request_id"] == "cut-at-shutdown" {
						line = e
					}
				}
				if line["status"] != float64(503) || line["level"] != "ERROR" || line["operation"] != op ||
					!strings.Contains(fmt.Sprint(line["error"]), "grace was over") {
					t.Errorf("access log line: %v, want status 503 at ERROR for %s, naming the grace", line, op)
				}
				if line := l.accessLine("gone-during-grace"); line["status"] != float64(499) || line["level"] != "INFO" {
					t.Errorf("access log line of the client that gave up: %v, want status 499 at INFO", line)
				}
				counts := l.counts()
				if counts[op][503] != 1 || method == http.MethodPatch && counts[op][499] != 0 || counts[getOperation][499] != 1 {
					t.Errorf("counts %v, want one 503 for %s and one 499 for the GET that gave up", counts, op)
				}
			})
		}
	}
}

// TestHTTP2WriteTimeoutCutIs503: over HTTP/2 the server's write deadline resets the stream of a
// request still at work when it passes, which cancels its context as a client's reset would:
// the client gets that reset, as before, and the access log records the 503 it was owed.
func TestHTTP2WriteTimeoutCutIs503(t *testing.T) {
	store := newCancelStore(func(err error) error { return fmt.Errorf("store: query: %w", err) })
	l := startStack(t, store, true, server.Limits{WriteTimeout: 200 * time.Millisecond})
	const crid = "cut-by-write-deadline"
	store.armed.Store(true)
	done := l.send(http.MethodGet, l.token("slow", readConfig), crid)
	waitReached(t, store)
	select {
	case err := <-done:
		if !strings.Contains(err.Error(), "INTERNAL_ERROR") {
			t.Errorf("client: %v, want the stream reset with INTERNAL_ERROR", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the write deadline never cut the request")
	}
	line := l.accessLine(crid)
	if line["status"] != float64(503) || line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["error"]), "write deadline") {
		t.Errorf("access log line: %v, want status 503 at ERROR naming the write deadline", line)
	}
	if counts := l.counts(); counts[getOperation][503] != 1 || counts[getOperation][499] != 0 {
		t.Errorf("counts %v", counts)
	}
}

// TestClientGoneIs499OverTheStack: through the same stack, a client that goes away is still a
// 499 at INFO, however it goes: over HTTP/1.1 it cancels (its transport closes the connection);
// over HTTP/2 it cancels (its transport resets the stream) or closes its whole connection (TLS
// close_notify, then the TCP close), after which the server closes the connection too.
func TestClientGoneIs499OverTheStack(t *testing.T) {
	for _, tc := range []struct {
		name      string
		h2, close bool
	}{
		{"HTTP/1.1/client cancels", false, false},
		{"HTTP/2/client cancels", true, false},
		{"HTTP/2/client closes its connection", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newCancelStore(func(err error) error { return fmt.Errorf("store: query: %w", err) })
			l := startStack(t, store, tc.h2, server.Limits{})
			client, conns := l.client, make(chan net.Conn, 1)
			if tc.close {
				tr := l.client.Transport.(*http.Transport).Clone()
				tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&tls.Dialer{Config: tr.TLSClientConfig}).DialContext(ctx, network, addr)
					if err == nil {
						conns <- c
					}
					return c, err
				}
				client = &http.Client{Transport: tr, Timeout: 30 * time.Second}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url+settingsPath, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+l.token("gone", readConfig))
			const crid = "client-gone"
			req.Header.Set("Client-Request-Id", crid)
			store.armed.Store(true)
			done := make(chan error, 1)
			go func() {
				res, err := client.Do(req)
				if err == nil {
					res.Body.Close()
					err = fmt.Errorf("a response reached the client: %d", res.StatusCode)
				}
				done <- err
			}()
			waitReached(t, store)
			if tc.close {
				(<-conns).Close()
			} else {
				cancel()
			}
			if err := <-done; strings.Contains(err.Error(), "a response reached the client") {
				t.Fatal(err)
			}
			line := l.accessLine(crid)
			if line["status"] != float64(499) || line["level"] != "INFO" {
				t.Errorf("access log line: %v, want status 499 at INFO", line)
			}
			if counts := l.counts(); counts[getOperation][499] != 1 || counts[getOperation][503] != 0 {
				t.Errorf("counts %v", counts)
			}
		})
	}
}
