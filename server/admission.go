package server

import (
	"errors"
	"hash/maphash"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remoteassist/remoteassist"
)

// Admission: how many API requests may be in the service at once, and how the time a client
// takes to send its body is kept out of that count.
//
// A request first takes a place among its caller's: no tenant may have more than a quarter of
// MaxConcurrentRequests in flight, and no single token more than a sixteenth, so a client that
// opens thousands of requests (slow bodies, say) runs into its own share, with 429, before it
// can crowd out anyone else. Only then is its body read, under its own deadline (BodyTimeout,
// 408 when it passes), and only once the body is in does the request take one of the
// MaxConcurrentRequests global slots (503 beyond them), which it holds while the service does
// its work. So the global slots count work, never waiting on a client.

// Shares of MaxConcurrentRequests a single caller may hold.
const (
	tenantShare = 4  // a tenant: a quarter
	tokenShare  = 16 // a token: a sixteenth
)

// DefaultBodyTimeout bounds reading a request body when Config says nothing.
const DefaultBodyTimeout = 10 * time.Second

type admission struct {
	max      int64 // global slots; 0 means no cap
	inFlight atomic.Int64

	perTenant, perToken int // 0 means no cap
	mu                  sync.Mutex
	tenants             shares[string] // in flight per tenant
	// tokens counts in flight per token, keyed by the token's hash under tokenSeed rather than
	// by the token: a token is ~700 bytes or more, which each lookup would hash and compare
	// again, and a hash is read once. Two tokens of the same hash would share one count, which
	// only makes their share stricter, at odds of 2^-64 a pair.
	tokens    shares[uint64]
	tokenSeed maphash.Seed

	bodyTimeout time.Duration
	// reading holds the requests reading their body, so that Drain can cut them short.
	reading  map[*http.ResponseController]struct{}
	draining bool
}

func newAdmission(slots int64, bodyTimeout time.Duration) *admission {
	a := &admission{max: slots, bodyTimeout: bodyTimeout,
		tenants: newShares[string](), tokens: newShares[uint64](), tokenSeed: maphash.MakeSeed(),
		reading: map[*http.ResponseController]struct{}{}}
	if slots > 0 {
		a.perTenant = int(max(1, slots/tenantShare))
		a.perToken = int(max(1, slots/tokenShare))
	}
	return a
}

var (
	errCallerShare = &remoteassist.Error{Code: remoteassist.ETHROTTLED, RetryAfter: time.Second,
		Message: "Too many requests of this caller are in progress. Retry after the time given in the Retry-After header."}
	errBusy = &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, RetryAfter: time.Second,
		Message: "The service is busy. Retry later."}
	errDraining = &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, RetryAfter: time.Second,
		Message: "The service is shutting down. Retry later."}
)

// caller is the places a request holds among its tenant's and its token's requests in flight.
type caller struct{ tenant, token *share }

// enterCaller takes a place among the tenant's and the token's requests in flight, which
// leaveCaller gives back. Methods rather than a returned release function: a closure over the
// two places would be an allocation on every request.
func (a *admission) enterCaller(tenant, token string) (caller, error) {
	if a.perTenant == 0 {
		return caller{}, nil
	}
	tokenHash := maphash.String(a.tokenSeed, token)
	a.mu.Lock()
	defer a.mu.Unlock()
	c := caller{tenant: a.tenants.of(tenant), token: a.tokens.of(tokenHash)}
	if c.tenant.inFlight >= a.perTenant || c.token.inFlight >= a.perToken {
		return caller{}, errCallerShare
	}
	c.tenant.inFlight++
	c.token.inFlight++
	return c, nil
}

// leaveCaller gives back the places enterCaller took for c.
func (a *admission) leaveCaller(c caller) {
	if c.tenant == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c.tenant.inFlight--
	c.token.inFlight--
}

// share counts one caller's requests in flight.
type share struct{ inFlight int }

// minSharesKept is how many callers' shares are kept before those at zero are forgotten.
const minSharesKept = 1024

// shares holds the callers' shares, keeping a caller's share while it has nothing in flight so
// that a caller's next request finds it (and its last one gives it back) without adding a map
// entry or deleting one. When a new caller would take the map past keepUpTo, the shares at zero
// are forgotten: those in flight move to a map of their own size (a Go map never shrinks, and a
// walk of one that once held a peak's callers walks the peak's table), and keepUpTo becomes
// twice what is left, at least minSharesKept. So the map never holds more than keepUpTo shares
// and the one being added: twice the callers in flight at its last forgetting, or minSharesKept;
// and each forgetting walks no more entries than twice the callers added since the one before.
// The caller of its methods holds admission.mu.
type shares[K comparable] struct {
	byCaller map[K]*share
	keepUpTo int
}

func newShares[K comparable]() shares[K] {
	return shares[K]{byCaller: map[K]*share{}, keepUpTo: minSharesKept}
}

// of returns key's share, adding one at zero for a caller it does not hold.
func (s *shares[K]) of(key K) *share {
	if sh, ok := s.byCaller[key]; ok {
		return sh
	}
	if len(s.byCaller) >= s.keepUpTo {
		inFlight := make(map[K]*share)
		for k, sh := range s.byCaller {
			if sh.inFlight > 0 {
				inFlight[k] = sh
			}
		}
		s.byCaller, s.keepUpTo = inFlight, max(minSharesKept, 2*len(inFlight))
	}
	sh := &share{}
	s.byCaller[key] = sh
	return sh
}

// enter takes a global slot, which leave gives back.
func (a *admission) enter() error {
	n := a.inFlight.Add(1)
	if a.max > 0 && n > a.max {
		a.inFlight.Add(-1)
		return errBusy
	}
	return nil
}

// leave gives back the global slot enter took.
func (a *admission) leave() { a.inFlight.Add(-1) }

// readBody reads the request body under the body deadline; a body the client does not finish
// sending in time is ETIMEOUT, and one cut short by Drain is EUNAVAILABLE.
func (a *admission) readBody(w http.ResponseWriter, req *http.Request, maxBody int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	a.mu.Lock()
	if a.draining {
		a.mu.Unlock()
		return nil, errDraining
	}
	a.reading[rc] = struct{}{}
	// The body deadline is set under the lock drain cuts the reads under, so that it can never
	// replace drain's cut: drain either came first, and the read is refused above, or comes
	// after, and moves this deadline to its now. Not every ResponseWriter can set deadlines (a
	// test's recorder cannot); the server's ReadTimeout still bounds the whole request then.
	_ = rc.SetReadDeadline(time.Now().Add(a.bodyTimeout))
	a.mu.Unlock()
	data, err := readBody(req, maxBody)
	a.mu.Lock()
	delete(a.reading, rc)
	draining := a.draining
	a.mu.Unlock()
	switch {
	case err == nil:
		return data, nil
	case errors.Is(err, os.ErrDeadlineExceeded) && draining:
		return nil, errDraining
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &remoteassist.Error{Code: remoteassist.ETIMEOUT, Err: err,
			Message: "The request body was not received in time. Send it faster, or retry."}
	}
	return nil, err
}

// isDraining reports whether drain was called: the server is shutting down.
func (a *admission) isDraining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}

// drain cuts short the body reads in progress and refuses new ones, for a shutdown that must
// not wait on slow clients.
func (a *admission) drain() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.draining = true
	for rc := range a.reading {
		_ = rc.SetReadDeadline(time.Now())
	}
}

// DefaultMaxConcurrentRequests caps the API requests in flight when Config says nothing.
const DefaultMaxConcurrentRequests = 4096
