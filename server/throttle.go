package server

import (
	"net/http"
	"sync"
	"time"

	"github.com/remoteassist/remoteassist"
)

// ThrottleConfig limits each tenant's request rate the way Intune does: at most Requests
// requests, of which at most Writes are writes, per Window. Limits are per process: with N
// replicas a tenant can make up to N times as many requests.
type ThrottleConfig struct {
	// Window is the period the counts are kept over; 0 disables throttling.
	Window time.Duration
	// Requests caps a tenant's requests of any kind per Window; 0 means no cap on them.
	Requests int
	// Writes caps a tenant's writes (PATCH) per Window; 0 means no cap on them.
	Writes int
}

// IntuneThrottle is Intune's published limit: per tenant, 2,000 requests and 200 writes per 20
// seconds.
var IntuneThrottle = ThrottleConfig{Window: 20 * time.Second, Requests: 2000, Writes: 200}

// enabled reports whether the config limits anything.
func (c ThrottleConfig) enabled() bool { return c.Window > 0 && (c.Requests > 0 || c.Writes > 0) }

// throttle counts each tenant's requests in fixed windows.
type throttle struct {
	cfg ThrottleConfig
	now func() time.Time

	mu      sync.Mutex
	tenants map[string]*tenantWindow
	swept   time.Time
}

type tenantWindow struct {
	start    time.Time
	requests int
	writes   int
}

func newThrottle(cfg ThrottleConfig, now func() time.Time) *throttle {
	return &throttle{cfg: cfg, now: now, tenants: make(map[string]*tenantWindow)}
}

// admit counts a request of tenant and reports how long to wait when it is over a limit.
func (t *throttle) admit(tenant string, write bool) (retryAfter time.Duration, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweep(now)
	w := t.tenants[tenant]
	if w == nil || now.Sub(w.start) >= t.cfg.Window {
		w = &tenantWindow{start: now}
		t.tenants[tenant] = w
	}
	overRequests := t.cfg.Requests > 0 && w.requests >= t.cfg.Requests
	overWrites := write && t.cfg.Writes > 0 && w.writes >= t.cfg.Writes
	if overRequests || overWrites {
		return w.start.Add(t.cfg.Window).Sub(now), false
	}
	w.requests++
	if write {
		w.writes++
	}
	return 0, true
}

// sweep forgets tenants whose window ended, once per window, so that memory stays bounded by
// the tenants active in the last window.
func (t *throttle) sweep(now time.Time) {
	if now.Sub(t.swept) < t.cfg.Window {
		return
	}
	for k, w := range t.tenants {
		if now.Sub(w.start) >= t.cfg.Window {
			delete(t.tenants, k)
		}
	}
	t.swept = now
}

// check refuses a tenant's requests beyond its limits with 429 and Retry-After. It runs after
// authentication, since the tenant comes from the token.
func (t *throttle) check(method, tenant string) error {
	write := method != http.MethodGet && method != http.MethodHead
	if wait, ok := t.admit(tenant, write); !ok {
		if wait < time.Second {
			wait = time.Second
		}
		return &remoteassist.Error{Code: remoteassist.ETHROTTLED, RetryAfter: wait,
			Message: "Too many requests from this tenant. Retry after the time given in the Retry-After header."}
	}
	return nil
}
