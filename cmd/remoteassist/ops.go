package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/remoteassist/remoteassist/server"
)

// sideServer is a listener of serve's beside the API's, each with a connection cap of its own
// (server.SideLimits): the operations listener (--ops-addr: health, readiness, metrics and
// profiles, so that probes never queue behind API traffic or its cap) or the admin API's
// (--admin-addr).
type sideServer struct {
	what, addr string // for the log and the error: "operations listener", "127.0.0.1:9090"
	http       *http.Server
	done       chan struct{} // closed once Serve has returned
	err        error         // what Serve returned, set before done is closed
}

// startSide listens on addr and serves h there, its connections capped by limits
// (LimitListener; a negative MaxConnections is none); an empty addr starts nothing. what names
// the listener in the log, which is logger's, as is the http.Server's.
func startSide(what, addr string, h http.Handler, limits server.Limits, logger *slog.Logger, attrs ...any) (*sideServer, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = server.LimitListener(ln, limits)
	// Headers are bounded as the API's are: with net/http's default (1 MiB), a few hundred
	// connections sending headers that never end held hundreds of MB.
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: server.DefaultLimits.MaxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	o := &sideServer{what: what, addr: ln.Addr().String(), http: hs, done: make(chan struct{})}
	go func() {
		o.err = hs.Serve(ln)
		close(o.done)
	}()
	logger.Info(what, append([]any{"addr", o.addr}, attrs...)...)
	return o, nil
}

// failed is closed when the listener stops serving on its own, before stop: its Serve failed
// (failure says how). It is nil, never ready, for a listener that was not started.
func (o *sideServer) failed() <-chan struct{} {
	if o == nil {
		return nil
	}
	return o.done
}

// failure is the error a listener that stopped serving ended with; nil while it serves, or once
// stop has shut it down as asked.
func (o *sideServer) failure() error {
	if o == nil {
		return nil
	}
	select {
	case <-o.done:
	default:
		return nil
	}
	if o.err == nil || errors.Is(o.err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("the %s on %s failed: %w", o.what, o.addr, o.err)
}

// stop shuts the listener down after the API's: probes keep answering while the API drains.
// It returns the listener's failure, if it failed before.
func (o *sideServer) stop(ctx context.Context) error {
	if o == nil {
		return nil
	}
	if err := o.http.Shutdown(ctx); err != nil {
		o.http.Close()
	}
	<-o.done
	return o.failure()
}
