package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/pgtest"
	"github.com/remoteassist/remoteassist/postgres"
	"github.com/remoteassist/remoteassist/server"
)

// countingPinger is a store whose Pings are counted before they reach the real one.
type countingPinger struct {
	remoteassist.Store
	pinger remoteassist.Pinger
	pings  atomic.Int64
}

func (c *countingPinger) Ping(ctx context.Context) error {
	c.pings.Add(1)
	return c.pinger.Ping(ctx)
}

// TestReadinessProbeFloodSharesOneStoreCheck: /readyz is unauthenticated, on the API's
// listener and the ops one, and each probe used to take a PostgreSQL Ping (a pool connection)
// of its own, so that a flood of probes could take the pool the requests need. Concurrent
// probes on both listeners now share one check, its result kept briefly; after the database
// goes away readiness turns 503 (within that bound), the failure kept as well, so that a flood
// does not hammer a dead database; draining is 503 at once, never answered from the cache.
func TestReadinessProbeFloodSharesOneStoreCheck(t *testing.T) {
	pg := pgtest.StartServer(t)
	store, err := postgres.Open(t.Context(), pg.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	counted := &countingPinger{Store: store, pinger: store}
	_, verifier := newDevKey(t)
	srv, err := server.New(server.Config{Store: counted, Authenticator: verifier})
	if err != nil {
		t.Fatal(err)
	}
	ops := srv.OpsHandler()
	probe := func(i int) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "http://localhost/readyz", nil)
		if i%2 == 0 {
			srv.ServeHTTP(rec, req)
		} else {
			ops.ServeHTTP(rec, req)
		}
		return rec.Code
	}
	// awaitProbe polls probe(i) until it answers want; the deadline only guards a hang.
	awaitProbe := func(t *testing.T, i, want int, what string) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); probe(i) != want; {
			if time.Now().After(deadline) {
				t.Fatalf("/readyz still not %d 30 s %s", want, what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// flood sends n concurrent probes, half to each listener, and returns their statuses
	// and how many Pings reached the store meanwhile.
	flood := func(n int) (map[int]int, int64) {
		before := counted.pings.Load()
		start := make(chan struct{})
		var mu sync.Mutex
		codes := map[int]int{}
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				code := probe(i)
				mu.Lock()
				codes[code]++
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		return codes, counted.pings.Load() - before
	}

	const n = 300
	if codes, pings := flood(n); codes[200] != n || pings > 2 {
		t.Errorf("%d concurrent probes of a live database: statuses %v and %d Pings, want all 200 and at most 2 Pings", n, codes, pings)
	}

	pg.Stop(t)
	// Readiness follows the database within the cache's bound; the deadline only guards a hang.
	awaitProbe(t, 0, http.StatusServiceUnavailable, "after the database stopped")
	if codes, pings := flood(n); codes[503] != n || pings > 2 {
		t.Errorf("%d concurrent probes of a stopped database: statuses %v and %d Pings, want all 503 and at most 2 Pings", n, codes, pings)
	}

	pg.Start(t)
	awaitProbe(t, 1, http.StatusOK, "after the database started again")
	// The 200 just seen is cached; draining must not be answered from it.
	srv.Drain()
	if api, opsCode := probe(0), probe(1); api != 503 || opsCode != 503 {
		t.Errorf("/readyz right after Drain: API %d, ops %d, want 503", api, opsCode)
	}
}
