package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/testutil"
	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// panickyStore panics on reads, standing in for any bug below the handler.
type panickyStore struct{ remoteassist.Store }

func (panickyStore) Settings(context.Context, string) (remoteassist.Settings, error) {
	panic("store exploded")
}

func TestPanicBecomes500AndServerKeepsServing(t *testing.T) {
	var logs testutil.SyncBuffer
	h := newHarnessWith(t, func(c *server.Config) {
		c.Store = panickyStore{memory.New()}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	tok := h.token("p", readWriteConfig)
	res := h.get(tok)
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", res.status)
	}
	code, msg, _ := res.graphError(t)
	if code != "InternalServerError" || strings.Contains(msg, "exploded") || strings.Contains(string(res.body), "goroutine") {
		t.Errorf("500 envelope leaks or is wrong: %s", res.body)
	}
	if !strings.Contains(logs.String(), "store exploded") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the stack did not reach the server log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the token reached the log")
	}
	// The process survived: writes (which do not panic) still work.
	if res := h.patch(tok, `{"blockChat":true}`); res.status != http.StatusOK {
		t.Errorf("after the panic: %d", res.status)
	}
}

// startLimited serves a real server with tight limits on loopback.
func startLimited(t *testing.T, limits server.Limits) (addr string, token string) {
	t.Helper()
	key, verifier := newDevKey(t)
	// The body is read under its own deadline, which replaces the connection's: keep it
	// within the whole request's.
	srv, err := server.New(server.Config{Store: memory.New(), Authenticator: verifier, BodyTimeout: limits.ReadTimeout})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := server.NewHTTPServer(srv, limits, nil)
	go hs.Serve(server.LimitListener(ln, limits))
	t.Cleanup(func() { hs.Close() })
	tok, err := key.Mint(jwtauth.TokenSpec{Tenant: "lim", Scopes: []string{readWriteConfig}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), tok
}

// closedBy reports whether the server closed conn before the deadline.
func closedBy(conn net.Conn, deadline time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(deadline))
	_, err := io.ReadAll(conn)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestSlowClientsAreCutOff(t *testing.T) {
	addr, tok := startLimited(t, server.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 2 * time.Second})

	// A slow-loris client sends half its headers and stalls.
	loris, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer loris.Close()
	io.WriteString(loris, "GET /healthz HTTP/1.1\r\nHost: x\r\n")

	// A slow-body client sends its headers, then dribbles a fraction of its body.
	dribbler, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer dribbler.Close()
	io.WriteString(dribbler, "PATCH /beta/deviceManagement/remoteAssistanceSettings HTTP/1.1\r\nHost: x\r\n"+
		"Authorization: Bearer "+tok+"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")

	// Meanwhile a normal client is served.
	res, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("normal client: %d", res.StatusCode)
	}

	if !closedBy(loris, 10*time.Second) {
		t.Error("the slow-loris connection was not closed")
	}
	// The dribbler gets an error response or a closed connection, never a stored update.
	dribbler.SetReadDeadline(time.Now().Add(10 * time.Second))
	if r, err := http.ReadResponse(bufio.NewReader(dribbler), nil); err == nil {
		if r.StatusCode < 400 {
			t.Errorf("slow body accepted: %d", r.StatusCode)
		}
		r.Body.Close()
	} else {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Error("the slow-body connection was not cut off")
		}
	}
}

func TestHeaderSizeLimit(t *testing.T) {
	addr, tok := startLimited(t, server.Limits{MaxHeaderBytes: 4 << 10})
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+settingsPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Padding", strings.Repeat("a", 64<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", res.StatusCode)
	}
}

func TestConcurrencyCap(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := newHarnessWith(t, func(c *server.Config) {
		c.Store = blockingStore{Store: memory.New(), entered: entered, release: block}
		c.MaxConcurrentRequests = 1
	})
	done := make(chan response)
	go func() { done <- h.get(h.token("cap-a", readWriteConfig)) }()
	<-entered
	// Another tenant, within its own share, finds the one slot taken.
	res := h.get(h.token("cap-b", readWriteConfig))
	if res.status != http.StatusServiceUnavailable || res.header.Get("Retry-After") == "" {
		t.Errorf("over the cap: %d Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	close(block)
	if first := <-done; first.status != http.StatusOK {
		t.Errorf("first request: %d", first.status)
	}
}

// TestCallerShare: one token may hold a sixteenth of the slots and one tenant a quarter; past
// its share a caller gets 429, while other callers are served.
func TestCallerShare(t *testing.T) {
	block := make(chan struct{})
	entered := make(chan struct{}, 16)
	h := newHarnessWith(t, func(c *server.Config) {
		c.Store = blockingStore{Store: memory.New(), entered: entered, release: block}
		c.MaxConcurrentRequests = 32 // a token may hold 2, a tenant 8
	})
	held := make(chan response, 16)
	hold := func(tok string, n int) {
		for range n {
			go func() { held <- h.get(tok) }()
			<-entered
		}
	}
	greedy := h.token("greedy", readWriteConfig)
	hold(greedy, 2)
	res := h.get(greedy)
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Errorf("a third request of one token: %d Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	// The tenant's other tokens fill the tenant's share.
	for i := range 3 {
		hold(h.token("greedy", readWriteConfig, fmt.Sprint("scope-", i)), 2)
	}
	if res := h.get(h.token("greedy", readWriteConfig, "another")); res.status != http.StatusTooManyRequests {
		t.Errorf("a ninth request of one tenant: %d", res.status)
	}
	// Another tenant is not held back: it waits in the store like the others, then succeeds.
	other := make(chan response)
	go func() { other <- h.get(h.token("other", readWriteConfig)) }()
	<-entered
	close(block)
	if res := <-other; res.status != http.StatusOK {
		t.Errorf("another tenant: %d", res.status)
	}
	for range 8 {
		if res := <-held; res.status != http.StatusOK {
			t.Errorf("a held request: %d", res.status)
		}
	}
}

// blockingStore holds reads until released, to keep a request in flight.
type blockingStore struct {
	remoteassist.Store
	entered chan struct{}
	release chan struct{}
}

func (s blockingStore) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-s.release
	return s.Store.Settings(ctx, tenant)
}
