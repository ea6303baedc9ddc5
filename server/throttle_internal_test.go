package server

import (
	"fmt"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
)

// TestThrottleMemoryIsBounded: a flood of distinct tenants and applications within one window
// keeps at most maxWindows windows.
func TestThrottleMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	th := newThrottle(IntuneThrottle, func() time.Time { return now })
	for i := range maxWindows {
		if err := th.check("GET", remoteassist.Principal{Tenant: fmt.Sprint("tenant-", i), App: fmt.Sprint("app-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := th.windows.Len(); n > maxWindows {
		t.Fatalf("%d windows kept, bound %d", n, maxWindows)
	}
}
