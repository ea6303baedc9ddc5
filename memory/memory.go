// Package memory is an in-memory remoteassist.Store: fast and exact, but gone when the process
// ends. It backs tests and the in-process emulator.
package memory

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/remoteassist/remoteassist"
)

// Store keeps settings in a map guarded by a mutex.
type Store struct {
	mu      sync.RWMutex
	tenants map[string]remoteassist.Settings
}

var _ remoteassist.Store = (*Store)(nil)

// New returns an empty store: every tenant reads the defaults.
func New() *Store {
	return &Store{tenants: make(map[string]remoteassist.Settings)}
}

// Settings returns the tenant's settings.
func (s *Store) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return remoteassist.Settings{}, err
	}
	s.mu.RLock()
	v, ok := s.tenants[tenant]
	s.mu.RUnlock()
	if !ok {
		return remoteassist.DefaultSettings(tenant), nil
	}
	return v, nil
}

// UpdateSettings merges p into the tenant's settings under the store's lock.
func (s *Store) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	if err := remoteassist.CheckUpdate(ctx, tenant, p); err != nil {
		return remoteassist.Settings{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.tenants[tenant]
	if !ok {
		v = remoteassist.DefaultSettings(tenant)
	}
	v = p.Apply(v)
	s.tenants[tenant] = v
	return v, nil
}

var _ remoteassist.StateStore = (*Store)(nil)

// ResetSettings forgets the tenant's settings.
func (s *Store) ResetSettings(ctx context.Context, tenant string) error {
	if err := remoteassist.CheckRead(ctx, tenant); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tenants, tenant)
	return nil
}

// EachSettings copies every tenant's settings but the defaults under the store's read lock, and
// calls fn with each of the copies, in order, without the lock.
func (s *Store) EachSettings(ctx context.Context, fn func(tenant string, v remoteassist.Settings) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	type entry struct {
		tenant string
		v      remoteassist.Settings
	}
	s.mu.RLock()
	all := make([]entry, 0, len(s.tenants))
	for tenant, v := range s.tenants {
		if v != remoteassist.DefaultSettings(tenant) {
			all = append(all, entry{tenant, v})
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(all, func(a, b entry) int { return strings.Compare(a.tenant, b.tenant) })
	for _, e := range all {
		if err := fn(e.tenant, e.v); err != nil {
			return err
		}
	}
	return nil
}

// ReplaceAllSettings swaps every tenant's settings for all's, under the store's lock.
func (s *Store) ReplaceAllSettings(ctx context.Context, all map[string]remoteassist.Settings) error {
	if err := remoteassist.CheckReplace(ctx, all); err != nil {
		return err
	}
	next := make(map[string]remoteassist.Settings, len(all))
	for tenant, v := range all {
		v.ID = remoteassist.SettingsID(tenant)
		next[tenant] = v
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tenants = next
	return nil
}
