package server

import (
	"io"
	"net"
	"sync/atomic"
	"time"
)

// plainLinger bounds how long a connection that sent plain HTTP to the TLS port is read after
// its answer, and how much of it: enough for a request's headers and a small body.
const (
	plainLingerTime  = 500 * time.Millisecond
	plainLingerBytes = 256 << 10
)

// AnswerPlainHTTP wraps the raw listener of a server that http.Server.ServeTLS (or
// httptest.Server.StartTLS) serves, so that a client sending plain HTTP to it reads net/http's
// answer ("400 Bad Request: Client sent an HTTP request to an HTTPS server.").
// net/http writes it after reading only the first few hundred bytes and closes the connection
// at once; with the rest of the request (any request with a bearer token is longer) still
// unread, the close sends a TCP reset, which reaches the client before it has read the answer,
// so it saw "connection reset by peer" instead. A connection whose first byte is not a TLS
// handshake record is closed as net/http closes its own HTTP/1 connections: the write side
// first, then what the client still sends is read and discarded, for a bounded time, and then
// it is closed.
func AnswerPlainHTTP(ln net.Listener) net.Listener { return plainLingerListener{ln} }

type plainLingerListener struct{ net.Listener }

func (l plainLingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &plainLingerConn{Conn: c}, nil
}

type plainLingerConn struct {
	net.Conn
	first atomic.Bool // the first bytes were read
	plain atomic.Bool // and they were not a TLS handshake record
}

// recordTypeHandshake is the first byte of a TLS ClientHello's record.
const recordTypeHandshake = 0x16

func (c *plainLingerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.first.CompareAndSwap(false, true) {
		c.plain.Store(p[0] != recordTypeHandshake)
	}
	return n, err
}

func (c *plainLingerConn) Close() error {
	if c.plain.CompareAndSwap(true, false) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
			_ = c.Conn.SetReadDeadline(time.Now().Add(plainLingerTime))
			_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, plainLingerBytes))
		}
	}
	return c.Conn.Close()
}
