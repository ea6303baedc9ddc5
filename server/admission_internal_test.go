package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
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
