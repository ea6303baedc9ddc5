package server

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// plainLinger bounds how long a connection that sent plain HTTP to the TLS port is read after
// its answer, and how much of it: enough for a request's headers and a small body.
const (
	plainLingerTime  = 500 * time.Millisecond
	plainLingerBytes = 256 << 10
)

// plainHTTPAnswer is net/http's answer to plain HTTP on a TLS port, which it writes itself for
// some methods only (GET, HEAD, POST, PUT, OPTIONS: tlsRecordHeaderLooksLikeHTTP).
const plainHTTPAnswer = "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"

// AnswerPlainHTTP wraps the raw listener of a server that http.Server.ServeTLS (or
// httptest.Server.StartTLS) serves, so that a client sending plain HTTP to it, whatever its
// method, reads net/http's answer ("400 Bad Request: Client sent an HTTP request to an HTTPS
// server.") rather than a reset or nothing:
//   - net/http writes that answer for GET, HEAD, POST, PUT and OPTIONS only; a PATCH or a DELETE
//     (the API's write, a test's cleanup) fails its handshake and is closed unanswered, so a
//     connection whose first bytes are another HTTP method and a space gets the same answer when
//     it is closed with nothing written;
//   - net/http closes the connection as soon as it has written, with the rest of the request
//     (any request with a bearer token is longer than what it read) unread, and that close sends
//     a TCP reset, which reaches the client before it has read the answer ("connection reset by
//     peer"). So an answered connection is closed as net/http closes its own HTTP/1 connections:
//     the write side first, then what the client still sends is read and discarded, for a
//     bounded time, and then it is closed, in the background: the closer (http.Server.Close,
//     under its lock, at a shutdown) does not wait for it.
//
// Connections that start with a TLS handshake record are left as they are.
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
	mu     sync.Mutex
	first  [8]byte // the first bytes read, enough for a method and its space
	nfirst int
	wrote  atomic.Bool // something was written (net/http's answer, or a handshake's)
	close  sync.Once
}

// recordTypeHandshake is the first byte of a TLS ClientHello's record.
const recordTypeHandshake = 0x16

func (c *plainLingerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.nfirst < len(c.first) {
			c.nfirst += copy(c.first[c.nfirst:], p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

func (c *plainLingerConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

func (c *plainLingerConn) Close() error {
	err := net.ErrClosed
	c.close.Do(func() {
		c.mu.Lock()
		first := c.first[:c.nfirst]
		c.mu.Unlock()
		if len(first) == 0 || first[0] == recordTypeHandshake {
			err = c.Conn.Close()
			return
		}
		if !c.wrote.Load() {
			if !startsWithMethod(first) {
				err = c.Conn.Close()
				return
			}
			_ = c.Conn.SetWriteDeadline(time.Now().Add(plainLingerTime))
			_, _ = io.WriteString(c.Conn, plainHTTPAnswer)
		}
		err = nil
		go func() {
			if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				_ = c.Conn.SetReadDeadline(time.Now().Add(plainLingerTime))
				_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, plainLingerBytes))
			}
			_ = c.Conn.Close()
		}()
	})
	return err
}

// startsWithMethod reports whether b starts as an HTTP/1 request line does: a method of capital
// letters, then a space.
func startsWithMethod(b []byte) bool {
	for i, c := range b {
		switch {
		case c == ' ':
			return i > 0
		case c < 'A' || c > 'Z':
			return false
		}
	}
	return false
}
