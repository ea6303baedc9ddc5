package server

import (
	"log/slog"
	"net/http"
	"time"
)

// Limits protect the HTTP server from slow and greedy clients.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers: a slow-loris client is cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection may wait for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConnections caps open connections; a connection beyond it is answered 503 at once and
	// closed (LimitListener). 0 means DefaultLimits' cap; negative, no cap.
	MaxConnections int
	// Refused, if set, is called for each connection the cap refuses (LimitListener), with
	// answered true once its 503 was written, and false when it was closed without it (too many
	// refusals were being written already, or the client left or failed its TLS handshake
	// first): Server.ConnectionRefused counts them in the server's metrics.
	Refused func(answered bool)
}

// DefaultLimits suit a service whose requests and responses are a few hundred bytes.
var DefaultLimits = Limits{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       15 * time.Second,
	WriteTimeout:      30 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    32 << 10,
	MaxConnections:    8192,
}

// NewHTTPServer returns an http.Server for h with the limits applied; zero fields of l take
// DefaultLimits' values. Serve it on a listener wrapped by LimitListener to cap connections.
func NewHTTPServer(h http.Handler, l Limits, logger *slog.Logger) *http.Server {
	l = l.withDefaults()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	return srv
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.ReadHeaderTimeout > 0 {
		d.ReadHeaderTimeout = l.ReadHeaderTimeout
	}
	if l.ReadTimeout > 0 {
		d.ReadTimeout = l.ReadTimeout
	}
	if l.WriteTimeout > 0 {
		d.WriteTimeout = l.WriteTimeout
	}
	if l.IdleTimeout > 0 {
		d.IdleTimeout = l.IdleTimeout
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxConnections != 0 {
		d.MaxConnections = l.MaxConnections
	}
	d.Refused = l.Refused
	return d
}
