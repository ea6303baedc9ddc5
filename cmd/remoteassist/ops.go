package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/remoteassist/remoteassist/server"
)

// opsServer is the optional operations listener (--ops-addr): health, readiness, metrics and
// profiles on a socket of their own, with no connection cap, so that probes never queue behind
// API traffic.
type opsServer struct {
	http *http.Server
	done chan error
}

// startOps listens on addr and serves srv's operations handler; an empty addr starts nothing.
func startOps(addr string, srv *server.Server, logger *slog.Logger) (*opsServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.OpsHandler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	o := &opsServer{http: hs, done: make(chan error, 1)}
	go func() { o.done <- hs.Serve(ln) }()
	logger.Info("operations listener", "addr", ln.Addr().String(), "paths", "/healthz /readyz /metrics /debug/pprof/")
	return o, nil
}

// stop shuts the listener down after the API's: probes keep answering while the API drains.
func (o *opsServer) stop(ctx context.Context) {
	if o == nil {
		return
	}
	if err := o.http.Shutdown(ctx); err != nil {
		o.http.Close()
	}
	if err := <-o.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Default().Warn("operations listener", "error", err)
	}
}
