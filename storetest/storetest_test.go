package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/memory"
)

// racyStore reads and writes under separate locks, the lost-update bug the concurrency check
// exists to catch.
type racyStore struct {
	mu      sync.Mutex
	tenants map[string]remoteassist.Settings
}

func (s *racyStore) Settings(_ context.Context, tenant string) (remoteassist.Settings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.tenants[tenant]; ok {
		return v, nil
	}
	return remoteassist.DefaultSettings(tenant), nil
}

func (s *racyStore) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	if err := p.Validate(); err != nil {
		return remoteassist.Settings{}, err
	}
	v, _ := s.Settings(ctx, tenant)
	// Give the other writers of this tenant time to read the same old value.
	time.Sleep(time.Millisecond)
	runtime.Gosched()
	v = p.Apply(v)
	s.mu.Lock()
	s.tenants[tenant] = v
	s.mu.Unlock()
	return v, nil
}

// TestConcurrentUpdatesCatchesLostUpdates keeps the concurrency check honest: a check that a
// racy store passes would prove nothing about the real ones.
func TestConcurrentUpdatesCatchesLostUpdates(t *testing.T) {
	perWriter := func(k int) string { return fmt.Sprintf("t-%d", k) }
	if err := checkConcurrentUpdates(t.Context(), &racyStore{tenants: map[string]remoteassist.Settings{}}, 50, perWriter); err == nil {
		t.Fatal("the concurrency check passed a store that loses updates")
	}
	if err := checkConcurrentUpdates(t.Context(), memory.New(), 50, perWriter); err != nil {
		t.Fatalf("the concurrency check failed the memory store: %v", err)
	}
}
