package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/remoteassist/remoteassist"
)

// Why a store needs more than the pool's reconnecting: while PostgreSQL is down, every call that
// finds no open connection makes the pool dial, so under load a replica dials thousands of times
// a second. Each dial fails fast and the call is answered 503, which is right, but the storm
// loads the network and the database at the moment it comes back, and a dial to a port of the
// ephemeral range can even connect to itself (TCP simultaneous open) and hold the port, so that
// PostgreSQL cannot restart on it. pgxpool has no backoff of its own, so the store gates the
// pool's connection attempts (its BeforeConnect) with redialGate.

// The schedule of redialGate: after the first failed attempt of a run, no attempt for about
// minRedial, doubling with each failure after it up to maxRedial. Each interval is jittered
// down to half its length, so that replicas that failed together do not come back in lockstep.
// maxRedial is also about how late the store notices that the database is back.
const (
	minRedial = 50 * time.Millisecond
	maxRedial = time.Second
)

// redialGate decides whether the pool may try to connect now. While the attempts succeed, it
// lets every one through. After one fails, it refuses every attempt (with the EUNAVAILABLE error
// calls answer an unreachable database with, and no dial) until the interval the schedule gives
// has passed; then it lets one attempt through, the probe, and refuses the others while the
// probe is in flight. A failed probe starts a longer interval; a success ends the run, and
// attempts go through freely again. It gates only new connections: calls that find an open one
// in the pool are not held back.
type redialGate struct {
	mu       sync.Mutex
	failures int       // attempts failed in a row; 0 while the database answers
	until    time.Time // while failing, no attempt before this
	probing  bool      // while failing, the one attempt let through is in flight
	last     error     // why the last attempt failed, for the log of a refused call
}

// beforeConnect is the pool's BeforeConnect: it refuses the attempt, or lets it through with a
// tracer on its copy of the configuration that reports the outcome (pgx calls its
// TraceConnectEnd however the attempt ends). Open sets no tracer of its own for it to replace.
func (g *redialGate) beforeConnect(_ context.Context, cfg *pgx.ConnConfig) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	probe := g.failures > 0
	if probe {
		if g.probing || time.Now().Before(g.until) {
			return remoteassist.Unavailable(fmt.Errorf("postgres: not connecting for now, after %d failed connection attempts in a row; the last: %w",
				g.failures, g.last))
		}
		g.probing = true
	}
	cfg.Tracer = &redialAttempt{gate: g, probe: probe}
	return nil
}

// done records how an attempt the gate let through ended.
func (g *redialGate) done(probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.probing = false
	}
	if err == nil {
		g.failures, g.last = 0, nil
		return
	}
	g.last = err
	if g.failures > 0 && !probe {
		// Let through before the run of failures began, as the attempts in flight when the
		// database went away were: the run's schedule is its probes'.
		return
	}
	g.failures++
	g.until = time.Now().Add(redialInterval(g.failures))
}

// redialInterval is how long the gate refuses attempts after the given number of failures in a
// row: minRedial doubled for each failure after the first, at most maxRedial, jittered down to as
// little as half of that.
func redialInterval(failures int) time.Duration {
	d := min(minRedial<<min(failures-1, 16), maxRedial)
	return d/2 + rand.N(d/2)
}

// redialAttempt is the tracer of one connection attempt the gate let through. pgx keeps it as the
// connection's query tracer too, whose methods do nothing.
type redialAttempt struct {
	gate  *redialGate
	probe bool
}

func (a *redialAttempt) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return ctx
}

func (a *redialAttempt) TraceConnectEnd(_ context.Context, data pgx.TraceConnectEndData) {
	a.gate.done(a.probe, data.Err)
}

func (*redialAttempt) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (*redialAttempt) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
