package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// notServedWithin is how long a request is given to prove it is not served. It only bounds a
// negative check: a slow machine can make it pass for the wrong reason, never fail.
const notServedWithin = 100 * time.Millisecond

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

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpConn is a client connection speaking HTTP/1.1 by hand.
type httpConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *httpConn) send(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
}

// receive reads one response, waiting at most wait.
func (c *httpConn) receive(wait time.Duration) (*http.Response, error) {
	c.SetReadDeadline(time.Now().Add(wait))
	res, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestLimitListenerCapsConnections: with two slots, two keep-alive connections are served;
// a third connection's request waits, unserved, until one of the two closes, then is served.
func TestLimitListenerCapsConnections(t *testing.T) {
	lim := limitedListener(t, 2)
	hs := NewHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok")
	}), Limits{MaxConnections: 2}, nil)
	go hs.Serve(lim)
	t.Cleanup(func() { hs.Close() })

	conns := make([]*httpConn, 3)
	open := func(i int) {
		c := dial(t, lim)
		conns[i] = &httpConn{Conn: c, r: bufio.NewReader(c)}
	}
	for i := range 2 {
		open(i)
		conns[i].send(t)
		if res, err := conns[i].receive(5 * time.Second); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("a connection within the cap was not served: %v", err)
		}
	}
	if n := len(lim.slots); n != 2 {
		t.Fatalf("%d slots held by two open connections, want 2", n)
	}

	open(2)
	third := conns[2]
	third.send(t)
	if res, err := third.receive(notServedWithin); err == nil {
		t.Fatalf("the connection over the cap was served: %d", res.StatusCode)
	} else if !isTimeout(err) {
		t.Fatalf("the connection over the cap failed instead of waiting: %v", err)
	}

	conns[0].Close()
	if res, err := third.receive(5 * time.Second); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the waiting connection was not served once a slot was free: %v", err)
	}
	// The second connection is still open and served: it kept its slot.
	conns[1].send(t)
	if _, err := conns[1].receive(5 * time.Second); err != nil {
		t.Fatalf("second connection: %v", err)
	}
}

// acceptAsync runs lim.Accept in a goroutine.
func acceptAsync(lim net.Listener) <-chan acceptResult {
	ch := make(chan acceptResult, 1)
	go func() {
		c, err := lim.Accept()
		ch <- acceptResult{c, err}
	}()
	return ch
}

type acceptResult struct {
	c   net.Conn
	err error
}

func accept(t *testing.T, lim net.Listener) net.Conn {
	t.Helper()
	select {
	case r := <-acceptAsync(lim):
		if r.err != nil {
			t.Fatal(r.err)
		}
		t.Cleanup(func() { closeWithin(t, r.c) })
		return r.c
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return with a slot free and a client waiting")
		return nil
	}
}

// closeWithin closes an accepted connection, failing the test rather than hanging if Close
// blocks, as it would giving back a slot it does not hold.
func closeWithin(t *testing.T, c net.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("closing an accepted connection blocks")
	}
}

// TestLimitListenerCloseIsIdempotent: closing an accepted connection twice frees one slot,
// not two.
func TestLimitListenerCloseIsIdempotent(t *testing.T) {
	lim := limitedListener(t, 2)
	dial(t, lim)
	dial(t, lim)
	first, second := accept(t, lim), accept(t, lim)

	first.Close()
	first.Close()
	if n := len(lim.slots); n != 1 {
		t.Fatalf("%d slots held after closing one of two connections twice, want 1", n)
	}

	// One slot is free: a third connection is accepted, and a fourth must wait.
	dial(t, lim)
	accept(t, lim)
	dial(t, lim)
	fourth := acceptAsync(lim)
	select {
	case r := <-fourth:
		if r.c != nil {
			r.c.Close()
		}
		t.Fatalf("a connection over the cap was accepted (err %v): a double Close freed two slots", r.err)
	case <-time.After(notServedWithin):
	}
	second.Close()
	select {
	case r := <-fourth:
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still waits after a slot was freed")
	}
}

// TestLimitListenerAcceptAfterClose: once the listener is closed, Accept fails at once, whether
// a slot is free or all are taken and it was waiting for one, and takes no slot.
func TestLimitListenerAcceptAfterClose(t *testing.T) {
	t.Run("slot free", func(t *testing.T) {
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
	})
	t.Run("waiting for a slot", func(t *testing.T) {
		lim := limitedListener(t, 1)
		dial(t, lim)
		held := accept(t, lim)
		waiting := acceptAsync(lim)
		if err := lim.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-waiting:
			if !errors.Is(r.err, net.ErrClosed) {
				t.Fatalf("waiting Accept after Close: %v, %v; want net.ErrClosed", r.c, r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("an Accept waiting for a slot still waits after Close")
		}
		if _, err := lim.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v", err)
		}
		if n := len(lim.slots); n != 1 {
			t.Fatalf("%d slots held by the one open connection, want 1", n)
		}
		held.Close()
		if n := len(lim.slots); n != 0 {
			t.Errorf("%d slots held once every connection is closed, want 0", n)
		}
	})
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
