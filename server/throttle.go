package server

import (
	"net/http"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/remoteassist/remoteassist"
)

// ThrottleConfig limits request rates the way Intune does, in fixed windows: a tenant may make
// at most Requests requests, of which at most Writes are writes, per Window, across all its
// applications; and each application of a tenant (the token's appid or azp) at most
// AppRequests and AppWrites. A zero limit is no limit. Limits are per process: with N replicas
// a tenant can make up to N times as many requests.
type ThrottleConfig struct {
	// Window is the period the counts are kept over; 0 disables throttling.
	Window time.Duration
	// Requests and Writes cap a tenant's requests of any kind and its writes (PATCH).
	Requests, Writes int
	// AppRequests and AppWrites cap the same for each application of a tenant.
	AppRequests, AppWrites int
	// OmitRetryAfter sends 429s without Retry-After, as users report some Intune 429s come.
	OmitRetryAfter bool
}

// IntuneThrottle is Intune's published limit for remote assistance: per tenant, across all
// applications, 2,000 requests and 200 writes per 20 seconds; per application per tenant, 1,000
// requests and 100 writes.
var IntuneThrottle = ThrottleConfig{Window: 20 * time.Second, Requests: 2000, Writes: 200, AppRequests: 1000, AppWrites: 100}

// enabled reports whether the config limits anything.
func (c ThrottleConfig) enabled() bool {
	return c.Window > 0 && (c.Requests > 0 || c.Writes > 0 || c.AppRequests > 0 || c.AppWrites > 0)
}

// maxWindows bounds the windows kept: a flood of distinct tenants or applications cannot grow
// the throttle's memory past it. The least recently seen goes first, and starts afresh if it
// comes back, which errs on letting a request through.
const maxWindows = 100_000

// throttle counts the requests of each tenant, and of each application of a tenant, in fixed
// windows.
type throttle struct {
	cfg ThrottleConfig
	now func() time.Time

	mu      sync.Mutex
	windows *lru.Cache[windowKey, *window]
}

// windowKey names a tenant's window (app empty) or one of its applications'.
type windowKey struct {
	tenant, app string
	perApp      bool
}

type window struct {
	start    time.Time
	requests int
	writes   int
}

func newThrottle(cfg ThrottleConfig, now func() time.Time) *throttle {
	windows, _ := lru.New[windowKey, *window](maxWindows)
	return &throttle{cfg: cfg, now: now, windows: windows}
}

// admit counts a request, in the tenant's window and in its application's, and reports which
// limit it is over and how long until that window ends.
func (t *throttle) admit(tenant, app string, write bool) (retryAfter time.Duration, perApp, ok bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	tw := t.window(windowKey{tenant: tenant}, now)
	aw := t.window(windowKey{tenant: tenant, app: app, perApp: true}, now)
	over := func(w *window, requests, writes int) bool {
		return requests > 0 && w.requests >= requests || write && writes > 0 && w.writes >= writes
	}
	switch {
	case over(tw, t.cfg.Requests, t.cfg.Writes):
		return tw.start.Add(t.cfg.Window).Sub(now), false, false
	case over(aw, t.cfg.AppRequests, t.cfg.AppWrites):
		return aw.start.Add(t.cfg.Window).Sub(now), true, false
	}
	for _, w := range []*window{tw, aw} {
		w.requests++
		if write {
			w.writes++
		}
	}
	return 0, false, true
}

// window returns the current window of key, a new one when the last has ended.
func (t *throttle) window(key windowKey, now time.Time) *window {
	w, ok := t.windows.Get(key)
	if !ok || now.Sub(w.start) >= t.cfg.Window {
		w = &window{start: now}
		t.windows.Add(key, w)
	}
	return w
}

// The refusals, in Graph's words.
const (
	tenantThrottled = "Too many requests from this tenant. Retry after the time given in the Retry-After header."
	appThrottled    = "Too many requests from this application for this tenant. Retry after the time given in the Retry-After header."
)

// check refuses a caller's requests beyond its limits with 429 and, unless the config omits it,
// Retry-After. It runs after authentication, since the tenant and the application come from the
// token.
func (t *throttle) check(method string, p remoteassist.Principal) error {
	write := method != http.MethodGet && method != http.MethodHead
	wait, perApp, ok := t.admit(p.Tenant, p.App, write)
	if ok {
		return nil
	}
	msg := tenantThrottled
	if perApp {
		msg = appThrottled
	}
	if t.cfg.OmitRetryAfter {
		wait = noRetryAfter
	} else if wait < time.Second {
		wait = time.Second
	}
	return &remoteassist.Error{Code: remoteassist.ETHROTTLED, RetryAfter: wait, Message: msg}
}

// noRetryAfter, as an error's RetryAfter, asks writeError to send no Retry-After at all.
const noRetryAfter = -1
