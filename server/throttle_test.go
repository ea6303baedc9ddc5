package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist/jwtauth"
	"github.com/remoteassist/remoteassist/server"
)

// clock is a settable time source for throttling windows.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestThrottlePerTenant(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	h := newHarnessWith(t, func(c *server.Config) {
		c.Throttle = server.ThrottleConfig{Window: 20 * time.Second, Requests: 6, Writes: 3}
		c.Now = clk.Now
	})
	noisy := h.token("noisy", readWriteConfig)
	quiet := h.token("quiet", readWriteConfig)

	for i := 0; i < 3; i++ {
		if res := h.patch(noisy, `{"blockChat":true}`); res.status != http.StatusOK {
			t.Fatalf("write %d: %d %s", i, res.status, res.body)
		}
	}
	clk.advance(5 * time.Second)
	res := h.patch(noisy, `{"blockChat":false}`)
	if res.status != http.StatusTooManyRequests {
		t.Fatalf("4th write in the window: %d, want 429", res.status)
	}
	code, msg, _ := res.graphError(t)
	if code != "TooManyRequests" || msg == "" {
		t.Errorf("code %q message %q", code, msg)
	}
	retry, err := strconv.Atoi(res.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 15 {
		t.Errorf("Retry-After %q, want the 15s left in the window", res.header.Get("Retry-After"))
	}
	if h.stored("noisy").BlockChat != true {
		t.Error("a throttled write changed state")
	}
	// Reads still fit under the request limit (3 writes + 3 reads = 6), then stop too.
	for i := 0; i < 3; i++ {
		if res := h.get(noisy); res.status != http.StatusOK {
			t.Fatalf("read %d: %d", i, res.status)
		}
	}
	if res := h.get(noisy); res.status != http.StatusTooManyRequests {
		t.Fatalf("7th request: %d, want 429", res.status)
	}
	// Another tenant is unaffected by the flood.
	if res := h.patch(quiet, `{"blockChat":true}`); res.status != http.StatusOK {
		t.Errorf("other tenant throttled: %d", res.status)
	}
	// The window ends and the tenant is served again.
	clk.advance(15 * time.Second)
	if res := h.patch(noisy, `{"blockChat":false}`); res.status != http.StatusOK {
		t.Errorf("after the window: %d %s", res.status, res.body)
	}
}

func TestThrottleOffByDefault(t *testing.T) {
	h := newHarness(t)
	tok := h.token("busy", readWriteConfig)
	for i := 0; i < 250; i++ {
		if res := h.patch(tok, `{"blockChat":true}`); res.status != http.StatusOK {
			t.Fatalf("write %d: %d", i, res.status)
		}
	}
}

// TestThrottlePerApplication: each application of a tenant has its own limits within the
// tenant's, as Intune's; the 429 of an application says so; Retry-After can be left out.
func TestThrottlePerApplication(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)}
	h := newHarnessWith(t, func(c *server.Config) {
		c.Throttle = server.ThrottleConfig{Window: 20 * time.Second, Requests: 6, Writes: 4, AppRequests: 4, AppWrites: 2, OmitRetryAfter: true}
		c.Now = clk.Now
	})
	mint := func(app string) string {
		tok, err := h.key.Mint(jwtauth.TokenSpec{Tenant: "contoso", Subject: "s", Scopes: []string{readWriteConfig}, App: app, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	sync, portal := mint("sync-job"), mint("portal")
	for i := range 2 {
		if res := h.patch(sync, `{"blockChat":true}`); res.status != http.StatusOK {
			t.Fatalf("sync-job write %d: %d", i, res.status)
		}
	}
	res := h.patch(sync, `{"blockChat":true}`)
	_, msg, _ := res.graphError(t)
	if res.status != http.StatusTooManyRequests || !strings.Contains(msg, "application") {
		t.Fatalf("sync-job's third write: %d %q, want the application's 429", res.status, msg)
	}
	if ra := res.header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q, want none", ra)
	}
	// The other application still has its own writes, until the tenant's run out.
	for i := range 2 {
		if res := h.patch(portal, `{"blockChat":false}`); res.status != http.StatusOK {
			t.Fatalf("portal write %d: %d", i, res.status)
		}
	}
	if res := h.get(portal); res.status != http.StatusOK {
		t.Fatalf("portal read: %d", res.status)
	}
	// 2 + 2 writes and 1 read: the tenant's 6th request is its last.
	if res := h.get(portal); res.status != http.StatusOK {
		t.Fatalf("the tenant's 6th request: %d", res.status)
	}
	res = h.get(portal)
	_, msg, _ = res.graphError(t)
	if res.status != http.StatusTooManyRequests || !strings.Contains(msg, "tenant") {
		t.Fatalf("the tenant's 7th request: %d %q, want the tenant's 429", res.status, msg)
	}
	clk.advance(20 * time.Second)
	if res := h.patch(sync, `{"blockChat":true}`); res.status != http.StatusOK {
		t.Errorf("after the window: %d", res.status)
	}
}
