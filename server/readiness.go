package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/remoteassist/remoteassist"
)

// readyCacheFor is how long a store check's result answers readiness probes. Probes are
// unauthenticated, on the API's listener and on the ops one: without it each took a store
// check of its own (with PostgreSQL, a pool connection), so that a few hundred concurrent
// probes could take the pool from the requests. A failure is kept as long, so that a dead
// store is not hammered either; readiness thus follows the store within this bound.
const readyCacheFor = 500 * time.Millisecond

// readiness is the store half of readiness (Server.ready): concurrent probes share one
// in-flight store check, and its result answers the probes of the next readyCacheFor.
type readiness struct {
	ping remoteassist.Pinger // nil for a store that cannot be pinged: always ready
	now  func() time.Time
	// checks holds the one check in flight.
	checks singleflight.Group

	mu      sync.Mutex
	checked time.Time // when the last check ended; zero before the first
	err     error     // its result
}

// check reports whether the store can serve: the last result if it is recent, else the result
// of the check in flight, started if there is none. The check runs under its own readyTimeout,
// not under a caller's context, so that a probe that gives up does not fail those sharing its
// check; the caller stops waiting when ctx is done.
func (r *readiness) check(ctx context.Context) error {
	if r.ping == nil {
		return nil
	}
	r.mu.Lock()
	if !r.checked.IsZero() && r.now().Sub(r.checked) < readyCacheFor {
		err := r.err
		r.mu.Unlock()
		return err
	}
	r.mu.Unlock()
	ch := r.checks.DoChan("", func() (_ any, err error) {
		// Not in the caller's goroutine: a panic would end the process (singleflight re-panics).
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("the readiness check panicked: %v", p)
			}
			r.mu.Lock()
			r.checked, r.err = r.now(), err
			r.mu.Unlock()
		}()
		pctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
		defer cancel()
		return nil, r.ping.Ping(pctx)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readyTimeout bounds a readiness probe of the store.
const readyTimeout = 2 * time.Second
