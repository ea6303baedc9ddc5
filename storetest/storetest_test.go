package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/memory"
)

// racyStore reads and writes under separate locks, the lost-update bug the concurrency check
// exists to catch. So that it loses updates for certain, whatever the scheduler does, each
// update waits between its read and its write until all the concurrent updates of its tenant
// (together of them) have read: they all start from the same old value, and the last write wins.
type racyStore struct {
	together int

	mu      sync.Mutex
	tenants map[string]remoteassist.Settings
	readers map[string]*readBarrier
}

// readBarrier counts the updates of one tenant that have read; all is closed when together have.
type readBarrier struct {
	n   int
	all chan struct{}
}

func newRacyStore(together int) *racyStore {
	return &racyStore{together: together, tenants: map[string]remoteassist.Settings{}, readers: map[string]*readBarrier{}}
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
	s.mu.Lock()
	b := s.readers[tenant]
	if b == nil {
		b = &readBarrier{all: make(chan struct{})}
		s.readers[tenant] = b
	}
	b.n++
	if b.n == s.together {
		close(b.all)
	}
	s.mu.Unlock()
	// A bound on a hang only: the check starts all the updates of a tenant at once.
	select {
	case <-b.all:
	case <-ctx.Done():
		return remoteassist.Settings{}, ctx.Err()
	case <-time.After(time.Minute):
		return remoteassist.Settings{}, fmt.Errorf("racyStore: only %d of the %d updates of %s started within a minute", b.n, s.together, tenant)
	}
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
	// checkConcurrentUpdates runs one update per property of each tenant at once: three.
	err := checkConcurrentUpdates(t.Context(), newRacyStore(3), 50, perWriter)
	if err == nil {
		t.Fatal("the concurrency check passed a store that loses updates")
	}
	if !strings.Contains(err.Error(), "lost update") {
		t.Fatalf("the concurrency check failed the racy store, but not for a lost update: %v", err)
	}
	if err := checkConcurrentUpdates(t.Context(), memory.New(), 50, perWriter); err != nil {
		t.Fatalf("the concurrency check failed the memory store: %v", err)
	}
}
