package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// deadlineConn stands in for a connection's read side: a ResponseWriter whose read deadline
// its body obeys, and which notes whether a deadline was ever set while the admission's lock
// was free.
type deadlineConn struct {
	http.ResponseWriter
	a *admission

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed when the deadline changes
	unlocked bool          // a deadline was set outside a.mu
	reading  chan struct{} // closed once the body is read
	once     sync.Once
}

func newDeadlineConn(a *admission) *deadlineConn {
	return &deadlineConn{ResponseWriter: httptest.NewRecorder(), a: a, changed: make(chan struct{}), reading: make(chan struct{})}
}

func (c *deadlineConn) SetReadDeadline(t time.Time) error {
	locked := !c.a.mu.TryLock()
	if !locked {
		c.a.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unlocked = c.unlocked || !locked
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

// Read is a body whose client never sends: it waits until the read deadline passes.
func (c *deadlineConn) Read([]byte) (int, error) {
	c.once.Do(func() { close(c.reading) })
	for {
		c.mu.Lock()
		d, changed := c.deadline, c.changed
		c.mu.Unlock()
		if !d.IsZero() && !time.Now().Before(d) {
			return 0, os.ErrDeadlineExceeded
		}
		if d.IsZero() {
			<-changed
			continue
		}
		t := time.NewTimer(time.Until(d))
		select {
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// TestDrainCannotMissABodyRead: a body read's deadline is set under the lock that drain cuts
// the reads under, so drain cannot run between the read's registration and its deadline and
// have the body deadline replace its cut (which let a slow body outlast the shutdown grace).
// A read waiting for its body is cut at once by drain, and a read after drain is refused.
func TestDrainCannotMissABodyRead(t *testing.T) {
	a := newAdmission(0, time.Hour)
	conn := newDeadlineConn(a)
	req := httptest.NewRequest(http.MethodPatch, "/", io.NopCloser(conn))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		_, err := a.readBody(conn, req, 1<<10)
		done <- err
	}()
	<-conn.reading
	a.drain()
	if err := <-done; !errors.Is(err, errDraining) {
		t.Errorf("a body read in progress at drain: %v, want errDraining", err)
	}
	conn.mu.Lock()
	unlocked := conn.unlocked
	conn.mu.Unlock()
	if unlocked {
		t.Error("a read deadline was set outside the admission's lock: drain could run before it and be overwritten")
	}
	if _, err := a.readBody(newDeadlineConn(a), req, 1<<10); !errors.Is(err, errDraining) {
		t.Errorf("a body read after drain: %v, want errDraining", err)
	}
}

// TestCallerSharesStayBounded: a flood of distinct tenants and tokens, each with nothing left in
// flight, cannot grow admission's bookkeeping past its bound, and forgetting the idle callers
// never touches the count of a caller with requests in flight.
func TestCallerSharesStayBounded(t *testing.T) {
	a := newAdmission(64, time.Second) // 16 places per tenant, 4 per token
	var held []caller
	for range a.perToken {
		c, err := a.enterCaller("busy", "busy-token")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for i := range 50 * minSharesKept {
		id := strconv.Itoa(i)
		c, err := a.enterCaller("tenant-"+id, "token-"+id)
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		a.leaveCaller(c)
		if n := len(a.tenants.byCaller); n > 2*minSharesKept {
			t.Fatalf("after %d idle tenants the admission holds %d shares, want at most %d", i+1, n, 2*minSharesKept)
		}
		if n := len(a.tokens.byCaller); n > 2*minSharesKept {
			t.Fatalf("after %d idle tokens the admission holds %d shares, want at most %d", i+1, n, 2*minSharesKept)
		}
	}
	// The busy token still holds all its places, through every forgetting of the idle ones.
	if _, err := a.enterCaller("busy", "busy-token"); !errors.Is(err, errCallerShare) {
		t.Fatalf("the busy token's fifth request: %v, want its share refused", err)
	}
	for _, c := range held {
		a.leaveCaller(c)
	}
	if c, err := a.enterCaller("busy", "busy-token"); err != nil {
		t.Fatalf("after its requests left, the busy token is refused: %v", err)
	} else {
		a.leaveCaller(c)
	}
	if got := a.tenants.byCaller["busy"].inFlight; got != 0 {
		t.Errorf("the busy tenant counts %d in flight after all its requests left", got)
	}
}
