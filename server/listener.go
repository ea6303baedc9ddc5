package server

import (
	"encoding/json"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/remoteassist/remoteassist/gen/models"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// LimitListener caps the connections accepted from ln and open at once at l.MaxConnections
// (DefaultLimits' when zero; no cap when negative). A connection beyond the cap is not left in
// the kernel's accept queue, where its client would wait for a timeout and probes would queue
// behind it: it is accepted, answered Graph's 503 with Retry-After, and closed.
func LimitListener(ln net.Listener, l Limits) net.Listener {
	n := l.withDefaults().MaxConnections
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), refusing: make(chan struct{}, maxRefusing)}
}

// maxRefusing bounds the refusals being written at once; past it a connection over the cap is
// closed without an answer, so a flood costs no more than that many goroutines.
const maxRefusing = 64

type limitListener struct {
	net.Listener
	// slots holds one token per connection accepted and not yet closed.
	slots chan struct{}
	// refusing holds one token per refusal being written.
	refusing chan struct{}
}

// Accept returns the next connection within the cap, refusing those beyond it on the way.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuse(c)
			}()
		default:
			c.Close()
		}
	}
}

// refuseTimeout bounds writing a refusal and waiting for the client to take it.
const refuseTimeout = time.Second

// refuse answers a connection over the cap with 503 and closes it. It half-closes first and
// reads what the client sent, briefly, so that closing does not reset the connection (which
// could lose the answer) while the request is still arriving.
func refuse(c net.Conn) {
	defer c.Close()
	id := requestid.New()
	body, _ := json.Marshal(models.ODataError{Error: models.MainError{
		Code:    "ServiceUnavailable",
		Message: "The service has too many connections open. Retry later.",
		InnerError: models.InnerError{
			Date: time.Now().UTC().Format("2006-01-02T15:04:05"), RequestId: id, ClientRequestId: id,
		},
	}})
	c.SetDeadline(time.Now().Add(refuseTimeout))
	io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: private\r\n"+
		"Retry-After: 1\r\nRequest-Id: "+id+"\r\nClient-Request-Id: "+id+"\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(len(body)+1)+"\r\n\r\n"+string(body)+"\n")
	if tc, ok := c.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite()
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
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
