package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/memory"
	"github.com/remoteassist/remoteassist/server"
)

// hang bounds a wait that only a bug makes long: these tests wait for events, never for time
// to pass, so a loaded machine makes them slower but not wrong.
const hang = 60 * time.Second

// liveServer serves a real server on loopback; configure may adjust its configuration.
type liveServer struct {
	addr string
	srv  *server.Server
	key  *jwtauth.Key
}

func startLive(t *testing.T, configure func(*server.Config)) *liveServer {
	t.Helper()
	key, verifier := newDevKey(t)
	cfg := server.Config{Store: memory.New(), Authenticator: verifier}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := server.NewHTTPServer(srv, server.Limits{ReadTimeout: 10 * time.Minute, MaxConnections: -1}, nil)
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &liveServer{addr: ln.Addr().String(), srv: srv, key: key}
}

func (l *liveServer) token(t *testing.T, tenant string) string {
	t.Helper()
	tok, err := l.key.Mint(jwtauth.TokenSpec{Tenant: tenant, Scopes: []string{readWriteConfig}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// slowPatch opens a connection and sends a PATCH whose body it never finishes: one byte of a
// Content-Length of 1000.
func (l *liveServer) slowPatch(t *testing.T, token string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", l.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", settingsPath, token)
	return conn
}

// answer reads the response on conn, or returns an error when none comes within hang.
func answer(conn net.Conn) (*http.Response, []byte, error) {
	conn.SetReadDeadline(time.Now().Add(hang))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// TestSlowBodiesDoNotStarveOthers: a client with one token opening many requests whose bodies
// never arrive holds only its token's share of the service; the rest of its requests are
// refused with 429 at once, and another tenant's requests are all served meanwhile.
func TestSlowBodiesDoNotStarveOthers(t *testing.T) {
	const slots, share, slow = 256, 256 / 16, 200
	l := startLive(t, func(c *server.Config) { c.MaxConcurrentRequests = slots; c.BodyTimeout = hang })
	greedy := l.token(t, "greedy")
	conns := make([]net.Conn, slow)
	for i := range conns {
		conns[i] = l.slowPatch(t, greedy)
	}
	// The refused answer; the held do not, until their connection is closed.
	refused := make(chan int, slow)
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			res, _, err := answer(c)
			switch {
			case err == nil:
				refused <- res.StatusCode
			case !strings.Contains(err.Error(), "use of closed"):
				refused <- -1
			}
		})
	}
	for range slow - share {
		if status := <-refused; status != http.StatusTooManyRequests {
			t.Fatalf("a slow request past the token's share: %d, want 429", status)
		}
	}

	// Another tenant, meanwhile: every request served.
	other := l.token(t, "other")
	client := &http.Client{Timeout: hang}
	for i := range 50 {
		method, body := http.MethodGet, ""
		if i%5 == 0 {
			method, body = http.MethodPatch, `{"blockChat":true}`
		}
		req, _ := http.NewRequest(method, "http://"+l.addr+settingsPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+other)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("another tenant's %s: %v", method, err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("another tenant's %s: %d", method, res.StatusCode)
		}
	}
	select {
	case status := <-refused:
		t.Errorf("a request within the token's share was answered %d before its body came", status)
	default:
	}
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
}

// TestBodyTimeoutIs408: a body not sent within BodyTimeout is answered 408 in the Graph envelope.
func TestBodyTimeoutIs408(t *testing.T) {
	l := startLive(t, func(c *server.Config) { c.BodyTimeout = 200 * time.Millisecond })
	res, body, err := answer(l.slowPatch(t, l.token(t, "slow")))
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		Error struct{ Code, Message string }
	}
	if res.StatusCode != http.StatusRequestTimeout || json.Unmarshal(body, &env) != nil || env.Error.Code != "RequestTimeout" {
		t.Errorf("%d %s", res.StatusCode, body)
	}
}

// TestDrainCutsSlowBodies: Drain, at shutdown, answers a request still waiting for its body
// with 503 instead of waiting for the client.
func TestDrainCutsSlowBodies(t *testing.T) {
	l := startLive(t, func(c *server.Config) { c.BodyTimeout = hang })
	conn := l.slowPatch(t, l.token(t, "slow"))
	l.srv.Drain()
	res, body, err := answer(conn)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "shutting down") {
		t.Errorf("%d %s", res.StatusCode, body)
	}
}
