package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/internal/testutil"
)

// wait bounds a wait that only a bug makes long.
const wait = 30 * time.Second

// limitedListener listens on loopback through LimitListener with max slots.
func limitedListener(t *testing.T, max int) *limitListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim, ok := LimitListener(ln, Limits{MaxConnections: max}).(*limitListener)
	if !ok {
		ln.Close()
		t.Fatalf("LimitListener(MaxConnections: %d) did not limit", max)
	}
	t.Cleanup(func() { lim.Close() })
	return lim
}

// httpConn is a client connection speaking HTTP/1.1 by hand.
type httpConn struct {
	net.Conn
	r *bufio.Reader
}

func dialHTTP(t *testing.T, ln net.Listener) *httpConn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &httpConn{Conn: c, r: bufio.NewReader(c)}
}

// get sends a request and reads its response.
func (c *httpConn) get(t *testing.T) (*http.Response, []byte, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return nil, nil, err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// TestLimitListenerRefusesPastTheCap: with two slots, two keep-alive connections are served; a
// third is answered 503 at once, in the Graph envelope, and closed; once one of the two closes,
// a new connection is served again.
func TestLimitListenerRefusesPastTheCap(t *testing.T) {
	lim := limitedListener(t, 2)
	hs := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), Limits{}, nil)
	go hs.Serve(lim)
	t.Cleanup(func() { hs.Close() })

	held := []*httpConn{dialHTTP(t, lim), dialHTTP(t, lim)}
	for _, c := range held {
		if res, _, err := c.get(t); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("a connection within the cap was not served: %v", err)
		}
	}
	if n := len(lim.slots); n != 2 {
		t.Fatalf("%d slots held by two open connections, want 2", n)
	}

	over := dialHTTP(t, lim)
	res, body, err := over.get(t)
	if err != nil {
		t.Fatalf("the connection over the cap got no answer: %v", err)
	}
	var env struct {
		Error struct{ Code string } `json:"error"`
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" ||
		json.Unmarshal(body, &env) != nil || env.Error.Code != "ServiceUnavailable" {
		t.Fatalf("the connection over the cap: %d %q", res.StatusCode, body)
	}
	over.SetReadDeadline(time.Now().Add(wait))
	if _, err := over.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the refused connection stays open: %v", err)
	}

	held[0].Close()
	// The slot comes back once the server has seen the close: retry until it has.
	deadline := time.Now().Add(wait)
	for {
		res, _, err := dialHTTP(t, lim).get(t)
		if err == nil && res.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection served after one of the two closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The second connection is still open and served: it kept its slot.
	if _, _, err := held[1].get(t); err != nil {
		t.Fatalf("second connection: %v", err)
	}
}

// TestLimitListenerAnswersTheRequest: a refusal answers the client's request, not the bare
// connection: a 503 that came before its request is one an HTTP client may call unsolicited
// and fail the request for (Go's transport does, when its read loop sees it first, as under
// load), where it should read a 503 with Retry-After.
func TestLimitListenerAnswersTheRequest(t *testing.T) {
	lim := limitedListener(t, 1)
	hs := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), Limits{}, nil)
	go hs.Serve(lim)
	t.Cleanup(func() { hs.Close() })
	if res, _, err := dialHTTP(t, lim).get(t); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the connection within the cap was not served: %v", err)
	}
	over := dialHTTP(t, lim)
	over.SetReadDeadline(time.Now().Add(refuseWait / 2))
	if n, err := over.r.Peek(1); err == nil {
		t.Fatalf("the refusal came before the request: %q", n)
	}
	res, _, err := over.get(t)
	if err != nil || res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("the request over the cap: %v %v", res, err)
	}
	// A client that never sends gets its 503 all the same, once refuseWait has passed.
	silent := dialHTTP(t, lim)
	silent.SetReadDeadline(time.Now().Add(wait))
	if res, err := http.ReadResponse(silent.r, nil); err != nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a silent connection over the cap: %v %v", res, err)
	}
}

// TestLimitListenerCloseIsIdempotent: closing an accepted connection twice frees one slot.
func TestLimitListenerCloseIsIdempotent(t *testing.T) {
	lim := limitedListener(t, 2)
	accepted := make(chan net.Conn, 2)
	go func() {
		for range 2 {
			c, err := lim.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dialHTTP(t, lim)
	dialHTTP(t, lim)
	first, second := <-accepted, <-accepted
	first.Close()
	first.Close()
	if n := len(lim.slots); n != 1 {
		t.Fatalf("%d slots held after closing one of two connections twice, want 1", n)
	}
	second.Close()
	if n := len(lim.slots); n != 0 {
		t.Fatalf("%d slots held after closing both, want 0", n)
	}
}

// TestLimitListenerAcceptAfterClose: once the listener is closed, Accept fails at once and
// takes no slot.
func TestLimitListenerAcceptAfterClose(t *testing.T) {
	lim := limitedListener(t, 2)
	if err := lim.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if c, err := lim.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, %v; want net.ErrClosed", c, err)
		}
	}
	if n := len(lim.slots); n != 0 {
		t.Errorf("%d slots held after failed Accepts, want 0", n)
	}
}

func TestLimitListenerNoCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if got := LimitListener(ln, Limits{MaxConnections: -1}); got != ln {
		t.Errorf("MaxConnections -1 wrapped the listener: %T", got)
	}
	if got, ok := LimitListener(ln, Limits{}).(*limitListener); !ok || cap(got.slots) != DefaultLimits.MaxConnections {
		t.Errorf("MaxConnections 0 does not take the default cap")
	}
}

// TestLimitTLSListenerRefusesOverTLS: under ServeTLS, with one slot held by an HTTP/2
// connection, a client over the cap gets Graph's 503 with Retry-After over TLS (HTTP/1.1, as
// it offered beside h2), not plaintext on its TLS socket; a connection over the cap that never
// starts its handshake neither holds up that answer nor stays open past the refusal's deadline.
func TestLimitTLSListenerRefusesOverTLS(t *testing.T) {
	cert := httptest.NewUnstartedServer(http.NotFoundHandler())
	cert.StartTLS() // for its certificate for 127.0.0.1
	cfg := &tls.Config{Certificates: cert.TLS.Certificates, NextProtos: []string{"h2", "http/1.1"}}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Certificate())
	cert.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := LimitTLSListener(ln, Limits{MaxConnections: 1}, cfg)
	hs := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), Limits{}, nil)
	hs.TLSConfig = cfg
	go hs.ServeTLS(lim, "", "")
	t.Cleanup(func() { hs.Close() })
	url := "https://" + ln.Addr().String() + "/"
	held := testutil.HoldHTTP2(t, url, roots)
	t.Cleanup(held.CloseIdleConnections)

	silent, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	testutil.CheckRefusedOverTLS(t, url, roots)

	// A client offering h2 alone cannot be answered in HTTP/1.1: its handshake fails cleanly.
	if c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, NextProtos: []string{"h2"}}); err == nil {
		c.Close()
		t.Error("an h2-only client over the cap completed its handshake")
	}

	silent.SetReadDeadline(time.Now().Add(wait))
	start := time.Now()
	if _, err := io.ReadAll(silent); err != nil {
		t.Errorf("the silent connection over the cap: %v", err)
	}
	if took := time.Since(start); took > 3*refuseTimeout {
		t.Errorf("the silent connection over the cap was closed after %v, want about %v", took, refuseTimeout)
	}
}
