package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remoteassist/remoteassist"
)

// instrumentedStore times every call into the store, so that the latency the store adds can be
// told from the service's own.
type instrumentedStore struct {
	next           remoteassist.Store
	settings       prometheus.Observer
	updateSettings prometheus.Observer
}

// instrumentedPinger is an instrumentedStore over a store that can be pinged; it stays a
// remoteassist.Pinger so that readiness still probes the store.
type instrumentedPinger struct {
	instrumentedStore
	pinger remoteassist.Pinger
}

// instrumentStore wraps store so that its calls are observed in m.
func instrumentStore(store remoteassist.Store, m *metrics) remoteassist.Store {
	is := instrumentedStore{
		next:           store,
		settings:       m.store.WithLabelValues("settings"),
		updateSettings: m.store.WithLabelValues("update_settings"),
	}
	if p, ok := store.(remoteassist.Pinger); ok {
		return &instrumentedPinger{instrumentedStore: is, pinger: p}
	}
	return &is
}

// Settings returns the tenant's settings.
func (s *instrumentedStore) Settings(ctx context.Context, tenant string) (remoteassist.Settings, error) {
	start := time.Now()
	v, err := s.next.Settings(ctx, tenant)
	s.settings.Observe(time.Since(start).Seconds())
	return v, err
}

// UpdateSettings merges p into the tenant's settings.
func (s *instrumentedStore) UpdateSettings(ctx context.Context, tenant string, p remoteassist.Patch) (remoteassist.Settings, error) {
	start := time.Now()
	v, err := s.next.UpdateSettings(ctx, tenant, p)
	s.updateSettings.Observe(time.Since(start).Seconds())
	return v, err
}

// Ping reports whether the store can serve requests now.
func (s *instrumentedPinger) Ping(ctx context.Context) error { return s.pinger.Ping(ctx) }
