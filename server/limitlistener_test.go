package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
