package client

import (
	"context"
	"time"
)

// SetWaitHooks lets the external tests observe the waits between retries without waiting:
// sleep replaces the timer, now the clock that Retry-After dates and deadlines are read
// with, and jitter the random draw of the backoff. A nil hook keeps the current one.
func SetWaitHooks(c *Client, sleep func(context.Context, time.Duration) error, now func() time.Time, jitter func(int64) int64) {
	if sleep != nil {
		c.sleep = sleep
	}
	if now != nil {
		c.now = now
	}
	if jitter != nil {
		c.jitter = jitter
	}
}

// Sleep is the timer a Client waits with, for hooks that observe a wait and still wait.
var Sleep = sleep
