package client

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry defaults. Three retries is what Microsoft's Graph SDKs do; the delays start small
// because this API answers in milliseconds, and the cap keeps a throttled call from hanging
// for minutes.
const (
	DefaultMaxRetries     = 3
	DefaultRetryBaseDelay = 500 * time.Millisecond
	DefaultRetryMaxDelay  = 30 * time.Second
)

// retryPolicy says how often and how long to wait before retrying a 429, 503 or 504.
type retryPolicy struct {
	max       int
	baseDelay time.Duration
	maxDelay  time.Duration
}

// retryable reports whether a response with this status is worth retrying: the service
// said "not now" (429, 503) or a gateway gave up waiting for it (504). Anything else would
// fail the same way again.
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// delay returns how long to wait before retry number n (0-based), and false when the
// policy allows no such wait: the service asked for longer than maxDelay. Retry-After, when
// given, is obeyed as is, since waiting less only earns another 429; otherwise the delay grows
// exponentially from baseDelay with "equal jitter" (a random point in the upper half), so that
// clients throttled together do not come back together.
func (p retryPolicy) delay(n int, retryAfter time.Duration, jitter func(int64) int64) (time.Duration, bool) {
	if retryAfter > 0 {
		return retryAfter, retryAfter <= p.maxDelay
	}
	d := p.baseDelay
	for i := 0; i < n && d < p.maxDelay; i++ {
		d *= 2
	}
	d = min(d, p.maxDelay)
	if half := int64(d / 2); half > 0 {
		d = time.Duration(half + jitter(half+1))
	}
	return d, true
}

// defaultJitter draws uniformly from [0, n).
func defaultJitter(n int64) int64 { return rand.Int64N(n) }

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date (RFC 9110 §10.2.3).
// It returns 0 when the header is absent, malformed or in the past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		// Bound the value before multiplying, so a huge header cannot overflow into a
		// negative duration.
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// sleep waits for d or until ctx is done, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
