package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
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
	// MaxConnections caps open connections; further ones wait in the kernel's accept queue.
	// 0 means no cap.
	MaxConnections int
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
	return d
}

// LimitListener caps the connections accepted from ln and open at once at l.MaxConnections
// (DefaultLimits' when zero; no cap when negative).
func LimitListener(ln net.Listener, l Limits) net.Listener {
	n := l.withDefaults().MaxConnections
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	// slots holds one token per connection accepted and not yet closed.
	slots chan struct{}
	// done is closed by Close, so that an Accept waiting for a slot gives up.
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for a free slot before accepting, so excess connections queue in the kernel
// rather than costing the process memory. Once the listener is closed it fails, without
// waiting for a slot.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close closes the listener and wakes an Accept waiting for a slot.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back when closed, once however many times it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
