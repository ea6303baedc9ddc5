package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// sideServer is a listener of serve's beside the API's: the operations listener (--ops-addr:
// health, readiness, metrics and profiles, with no connection cap, so that probes never queue
// behind API traffic) or the admin API's (--admin-addr).
type sideServer struct {
	http *http.Server
	done chan error
}

// startSide listens on addr and serves h there; an empty addr starts nothing. what names the
// listener in the log.
func startSide(what, addr string, h http.Handler, logger *slog.Logger, attrs ...any) (*sideServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	o := &sideServer{http: hs, done: make(chan error, 1)}
	go func() { o.done <- hs.Serve(ln) }()
	logger.Info(what, append([]any{"addr", ln.Addr().String()}, attrs...)...)
	return o, nil
}

// stop shuts the listener down after the API's: probes keep answering while the API drains.
func (o *sideServer) stop(ctx context.Context) {
	if o == nil {
		return
	}
	if err := o.http.Shutdown(ctx); err != nil {
		o.http.Close()
	}
	if err := <-o.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Default().Warn("listener", "error", err)
	}
}
