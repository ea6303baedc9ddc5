package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
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
// never touches the count of a caller with requests in flight: neither a tenant's nor a token's.
func TestCallerSharesStayBounded(t *testing.T) {
	a := newAdmission(64, time.Second) // 16 places per tenant, 4 per token
	var held []caller
	// The busy tenant holds all its places, over four tokens that each hold all theirs.
	for i := range a.perTenant {
		c, err := a.enterCaller("busy", "busy-token-"+strconv.Itoa(i/a.perToken))
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
		if n := len(a.tenants.byCaller); n > minSharesKept {
			t.Fatalf("after %d idle tenants the admission holds %d tenants' shares, want at most %d", i+1, n, minSharesKept)
		}
		if n := len(a.tokens.byCaller); n > minSharesKept {
			t.Fatalf("after %d idle tokens the admission holds %d tokens' shares, want at most %d", i+1, n, minSharesKept)
		}
	}
	// Through every forgetting of the idle ones, the busy tenant and its tokens kept their counts.
	if _, err := a.enterCaller("busy", "another-token"); !errors.Is(err, errCallerShare) {
		t.Errorf("the busy tenant's 17th request: %v, want its share refused", err)
	}
	if _, err := a.enterCaller("idle", "busy-token-0"); !errors.Is(err, errCallerShare) {
		t.Errorf("a busy token's 5th request: %v, want its share refused", err)
	}
	for _, c := range held {
		a.leaveCaller(c)
	}
	if c, err := a.enterCaller("busy", "busy-token-0"); err != nil {
		t.Fatalf("after its requests left, the busy tenant is refused: %v", err)
	} else {
		a.leaveCaller(c)
	}
	if got := a.tenants.byCaller["busy"].inFlight; got != 0 {
		t.Errorf("the busy tenant counts %d in flight after all its requests left", got)
	}
}

// TestForgettingShrinksTheMap: once a peak of callers in flight has left, the forgetting that a
// new caller sets off moves the shares still in flight to a new map of their own size (a Go map
// never shrinks: a walk of the peak's would walk the peak's table every time).
func TestForgettingShrinksTheMap(t *testing.T) {
	a := newAdmission(0, time.Second)
	a.perTenant, a.perToken = 1<<30, 1<<30 // no cap that matters: only the bookkeeping is tested
	var peak []caller
	for i := range 8 * minSharesKept {
		c, err := a.enterCaller("tenant-"+strconv.Itoa(i), "token")
		if err != nil {
			t.Fatal(err)
		}
		peak = append(peak, c)
	}
	for _, c := range peak[1:] {
		a.leaveCaller(c)
	}
	// The peak left but for one: the map is still the peak's, until enough new callers come to
	// reach keepUpTo, which is twice the peak's size.
	peakMap := reflect.ValueOf(a.tenants.byCaller).UnsafePointer()
	for i := 0; reflect.ValueOf(a.tenants.byCaller).UnsafePointer() == peakMap; i++ {
		if i > 16*minSharesKept {
			t.Fatalf("after %d new callers the peak's map is still in use (%d shares, keepUpTo %d)", i, len(a.tenants.byCaller), a.tenants.keepUpTo)
		}
		c, _ := a.enterCaller("new-"+strconv.Itoa(i), "token")
		a.leaveCaller(c)
	}
	if n := len(a.tenants.byCaller); n != 2 {
		t.Errorf("after the forgetting the map holds %d shares, want the one in flight and the newest", n)
	}
	if a.tenants.keepUpTo != minSharesKept {
		t.Errorf("keepUpTo %d after the forgetting, want %d", a.tenants.keepUpTo, minSharesKept)
	}
	if got := a.tenants.byCaller["tenant-0"]; got == nil || got.inFlight != 1 {
		t.Errorf("the tenant still in flight lost its share: %+v", got)
	}
}
