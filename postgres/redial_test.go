package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
)

// outageProxy stands between the store and PostgreSQL on a loopback port of its own. It forwards
// each connection while the database is "up". Taken down, it ends every connection it forwarded
// and closes each new one as soon as it accepts it, as a host whose PostgreSQL stopped refuses
// them, counting those: each is one dial of the store.
type outageProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]bool // forwarded connections still open, both ends

	refused atomic.Int64 // connections accepted while down
}

// startOutageProxy listens on 127.0.0.1 and forwards to the host and port of dsn; it is closed
// when the test ends. It returns the proxy and dsn pointing at it.
func startOutageProxy(t *testing.T, dsn string) (*outageProxy, string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &outageProxy{ln: ln, target: u.Host, conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.setDown(true) // ends the forwarded connections
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *outageProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		p.refused.Add(1)
		c.Close()
		return
	}
	p.conns[c] = true
	p.mu.Unlock()
	db, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down { // taken down while dialling
		p.mu.Unlock()
		c.Close()
		db.Close()
		return
	}
	p.conns[db] = true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(db, c); done <- struct{}{} }()
	go func() { io.Copy(c, db); done <- struct{}{} }()
	<-done
	c.Close()
	db.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, db)
	p.mu.Unlock()
}

// setDown takes the database down (ending every forwarded connection) or brings it back.
func (p *outageProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
	}
}

// attemptBound is the most connection attempts the redial schedule allows in window from the
// first failure on, generously: the inFlight attempts begun before any had failed, then one probe
// at a time, each at least the jitter's floor, half its interval, after the failure before it
// (failures in a row counted from one, though the attempts in flight count too and lengthen
// the intervals), and the whole doubled.
func attemptBound(window time.Duration, inFlight int) int {
	n := inFlight + 1
	var at time.Duration
	for f := 1; ; f++ {
		at += min(minRedial<<min(f-1, 16), maxRedial) / 2
		if at > window {
			break
		}
		n++
	}
	return 2 * n
}

// TestReconnectBacksOff takes PostgreSQL away from a store under load: the store's connection
// attempts, counted where they arrive, stay within the bound the redial schedule gives over the
// window (without the backoff, each call dials), every call fails with EUNAVAILABLE and none waits
// for its deadline; once PostgreSQL is back, the same store serves again, Ping first.
func TestReconnectBacksOff(t *testing.T) {
	dsn := pgtest.DSN(t)
	proxy, proxied := startOutageProxy(t, dsn)
	const maxConns = 4
	s := open(t, proxied+"&pool_max_conns=4")
	cfg, err := pgxpool.ParseConfig(proxied)
	if err != nil {
		t.Fatal(err)
	}
	// An attempt dials each address pgx tries (sslmode=prefer would try with TLS and without),
	// and again for each that failed after connecting: pgconn, closing it, sends a cancel request
	// on a connection of its own.
	dialsPerAttempt := 2 * (1 + len(cfg.ConnConfig.Fallbacks))
	want, err := s.UpdateSettings(t.Context(), "tenant", remoteassist.Patch{BlockChat: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}

	proxy.setDown(true)
	start := time.Now()
	// A hang guard only: each call fails at once or within the connect timeout.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var calls atomic.Int64
	var wrong sync.Once
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				switch i % 3 {
				case 0:
					_, err = s.Settings(ctx, "tenant")
				case 1:
					_, err = s.UpdateSettings(ctx, "tenant", remoteassist.Patch{BlockChat: ptr(false)})
				default:
					err = s.Ping(ctx)
				}
				calls.Add(1)
				if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || ctx.Err() != nil {
					wrong.Do(func() {
						t.Errorf("a call with PostgreSQL down: %v (code %q, caller's deadline passed: %v), want code %q at once",
							err, remoteassist.ErrorCode(err), ctx.Err() != nil, remoteassist.EUNAVAILABLE)
					})
					return
				}
			}
		})
	}
	time.Sleep(2 * time.Second) // how long the load lasts, not a bound on anything
	close(stop)
	wg.Wait()
	window := time.Since(start)
	dials, bound := proxy.refused.Load(), int64(dialsPerAttempt*attemptBound(window, maxConns))
	t.Logf("%d calls and %d dials in %v with PostgreSQL down; the schedule allows %d dials", calls.Load(), dials, window.Round(time.Millisecond), bound)
	if dials > bound {
		t.Errorf("%d dials in %v with PostgreSQL down, more than the redial schedule's %d", dials, window.Round(time.Millisecond), bound)
	}
	if calls.Load() < 10*bound {
		t.Fatalf("only %d calls in %v: too few to tell a backoff from none", calls.Load(), window)
	}

	proxy.setDown(false)
	for {
		err := s.Ping(ctx)
		if err == nil {
			break
		}
		if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || ctx.Err() != nil {
			t.Fatalf("Ping once PostgreSQL is back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, err := s.Settings(ctx, "tenant"); err != nil || got != want {
		t.Fatalf("Settings once PostgreSQL is back: %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.UpdateSettings(ctx, "tenant", remoteassist.Patch{BlockChat: ptr(false)}); err != nil {
		t.Fatalf("UpdateSettings once PostgreSQL is back: %v", err)
	}
}

// TestRedialGate walks the gate through a run of failures without a database or a clock: after a
// failure it refuses attempts until its interval is over, then lets one probe through and refuses
// the others while it is in flight; the intervals grow to maxRedial; a success lets every attempt
// through again.
func TestRedialGate(t *testing.T) {
	g := new(redialGate)
	admit := func() (*redialAttempt, error) {
		cfg := new(pgx.ConnConfig)
		if err := g.beforeConnect(t.Context(), cfg); err != nil {
			return nil, err
		}
		return cfg.Tracer.(*redialAttempt), nil
	}
	mustAdmit := func(what string) *redialAttempt {
		t.Helper()
		a, err := admit()
		if err != nil {
			t.Fatalf("%s: refused: %v", what, err)
		}
		return a
	}
	mustRefuse := func(what string) {
		t.Helper()
		if a, err := admit(); err == nil {
			t.Fatalf("%s: let through (probe %v)", what, a.probe)
		} else if remoteassist.ErrorCode(err) != remoteassist.EUNAVAILABLE || !errors.Is(err, errDown) {
			t.Fatalf("%s: %v, want code %q carrying the last failure", what, err, remoteassist.EUNAVAILABLE)
		}
	}
	end := func(a *redialAttempt, err error) {
		a.TraceConnectEnd(t.Context(), pgx.TraceConnectEndData{Err: err})
	}

	a, b := mustAdmit("healthy"), mustAdmit("healthy, beside another attempt")
	end(a, errDown)
	mustRefuse("right after a failure")
	end(b, nil) // an attempt begun before the failure succeeds: the database answers
	mustAdmit("after a success")

	// The attempts in flight when the database goes away fail together: one failure of the
	// run, whose interval only its probes' failures lengthen.
	x, y, z := mustAdmit("healthy"), mustAdmit("healthy"), mustAdmit("healthy")
	end(x, errDown)
	end(y, errDown)
	end(z, errDown)
	if g.failures != 1 || time.Until(g.until) > minRedial {
		t.Fatalf("three attempts that failed together: %d failures, closed for %v; want 1, at most %v", g.failures, time.Until(g.until), minRedial)
	}
	g.until = time.Now().Add(-time.Millisecond)
	end(mustAdmit("once the interval is over"), nil)

	attempt := mustAdmit("after a success")
	for f := 1; f <= 8; f++ {
		if f > 1 {
			if !attempt.probe {
				t.Fatalf("after %d failures: the attempt let through is not the probe", f-1)
			}
			mustRefuse("while the probe is in flight")
		}
		end(attempt, errDown)
		mustRefuse("within the interval")
		g.until = time.Now().Add(-time.Millisecond) // the interval is over
		attempt = mustAdmit("once the interval is over")
	}
	end(attempt, nil)
	mustAdmit("after the probe succeeded")
	mustAdmit("after the probe succeeded, beside another")
}

// TestRedialInterval checks the schedule: after f failures in a row, an interval within
// [d/2, d) for d = minRedial·2^(f-1), at most maxRedial.
func TestRedialInterval(t *testing.T) {
	for f := 1; f <= 100; f++ {
		want := min(minRedial<<min(f-1, 16), maxRedial)
		for range 100 {
			if d := redialInterval(f); d < want/2 || d >= want {
				t.Fatalf("redialInterval(%d) = %v, want within [%v, %v)", f, d, want/2, want)
			}
		}
	}
}

var errDown = errors.New("connection refused")
