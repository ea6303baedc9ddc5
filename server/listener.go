package server

import (
	"crypto/tls"
	"encoding/json"
	"errors"
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
// behind it: it is accepted, answered Graph's 503 with Retry-After, and closed. For connections
// served over TLS, use LimitTLSListener.
func LimitListener(ln net.Listener, l Limits) net.Listener {
	return limit(ln, l, nil)
}

// LimitTLSListener is LimitListener for a listener whose connections http.Server.ServeTLS serves
// with cfg: ServeTLS wraps the listener it returns, which caps the raw connections as
// LimitListener does but answers those beyond the cap over TLS, with cfg's certificates, so that
// a client gets its 503 and Retry-After rather than plaintext on a TLS socket (a handshake
// error, after which SDKs do not back off). The cap stays under the TLS listener because
// net/http only does the handshake, ALPN (HTTP/2) and Request.TLS for the *tls.Conn that
// Accept returns, which a counting wrapper around it would hide.
//
// A refusal is HTTP/1.1 whatever ALPN the client offers: clients that offer h2 offer http/1.1
// beside it (Go's, curl, browsers, the SDKs' stacks); one offering h2 alone fails the handshake
// instead (no_application_protocol). Its handshake is made by the refusal's goroutine, never
// on the accept loop, under the refusal's deadline.
func LimitTLSListener(ln net.Listener, l Limits, cfg *tls.Config) net.Listener {
	return limit(ln, l, refusalTLS(cfg))
}

func limit(ln net.Listener, l Limits, refuseTLS *tls.Config) net.Listener {
	l = l.withDefaults()
	if l.MaxConnections <= 0 {
		return ln
	}
	refused := l.Refused
	if refused == nil {
		refused = func(bool) {}
	}
	return &limitListener{Listener: ln, slots: make(chan struct{}, l.MaxConnections), refusing: make(chan struct{}, maxRefusing),
		refuseTLS: refuseTLS, refused: refused}
}

// refusalTLS is cfg for answering refusals: the same certificates and versions, and only
// http/1.1 by ALPN, which is what refuse writes.
func refusalTLS(cfg *tls.Config) *tls.Config {
	r := cfg.Clone()
	r.NextProtos = []string{"http/1.1"}
	if get := r.GetConfigForClient; get != nil {
		r.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c, err := get(hello)
			if c == nil || err != nil {
				return c, err
			}
			c = c.Clone()
			c.NextProtos = []string{"http/1.1"}
			return c, nil
		}
	}
	return r
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
	// refuseTLS, when set, is the TLS configuration refusals are answered over.
	refuseTLS *tls.Config
	// refused is told of each refusal (Limits.Refused).
	refused func(answered bool)
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
			go func(c net.Conn) {
				defer func() { <-l.refusing }()
				if l.refuseTLS != nil {
					c = tls.Server(c, l.refuseTLS)
				}
				refuse(c, l.refused)
			}(c)
		default:
			l.refused(false)
			c.Close()
		}
	}
}

// refuseWait bounds waiting for the first bytes of a refused connection's request (over TLS,
// its handshake first); refuseTimeout then bounds writing the refusal and waiting for the client
// to take it.
const (
	refuseWait    = 500 * time.Millisecond
	refuseTimeout = time.Second
)

// refuse answers a connection over the cap with 503 and closes it. It waits for the request to
// begin before it answers (over TLS, that is the handshake and the first record), so that the
// 503 is the answer to a request: an HTTP client that reads an answer on a connection before it
// has sent its request calls it unsolicited and fails the request instead (Go's transport does).
// A client that sends nothing within refuseWait gets the 503 all the same. Then it half-closes
// (over TLS, with close_notify, whose write crypto/tls bounds by 5 s of its own) and reads what
// the client sent, briefly, so that closing does not reset the connection (which could lose the
// answer) while the request is still arriving.
func refuse(c net.Conn, answered func(bool)) {
	defer c.Close()
	id := requestid.New()
	body, _ := json.Marshal(models.ODataError{Error: models.MainError{
		Code:    "ServiceUnavailable",
		Message: "The service has too many connections open. Retry later.",
		InnerError: models.InnerError{
			Date: time.Now().UTC().Format("2006-01-02T15:04:05"), RequestId: id, ClientRequestId: id,
		},
	}})
	c.SetReadDeadline(time.Now().Add(refuseWait))
	first := make([]byte, 1024)
	if _, err := c.Read(first); err != nil && !isTimeout(err) {
		answered(false) // the client went away, or its TLS handshake failed
		return
	}
	c.SetDeadline(time.Now().Add(refuseTimeout))
	if _, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: private\r\n"+
		"Retry-After: 1\r\nRequest-Id: "+id+"\r\nClient-Request-Id: "+id+"\r\nConnection: close\r\nContent-Length: "+
		strconv.Itoa(len(body)+1)+"\r\n\r\n"+string(body)+"\n"); err != nil {
		answered(false)
		return
	}
	answered(true)
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

// isTimeout reports whether err is a deadline's.
func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// SideListener is one of serve's listeners beside the API's. Each has a connection cap of its
// own (SideLimits), so that a flood of idle connections there holds a bounded number of file
// descriptors and never touches the API's listener or its cap, and counts its refusals in a
// metric of its own.
type SideListener int

const (
	// OpsListener serves OpsHandler (serve --ops-addr), capped at OpsMaxConnections.
	OpsListener SideListener = iota
	// AdminListener serves the admin API (NewAdmin; serve --admin-addr), capped at
	// AdminMaxConnections.
	AdminListener
	numSideListeners
)

// OpsMaxConnections caps the connections open at once on the operations listener: its probes
// are unauthenticated, and without a cap a slow-loris there could take every file descriptor
// of the process. Orchestrators and scrapers hold a few connections each.
const OpsMaxConnections = 64

// AdminMaxConnections caps the connections open at once on the admin API's listener. A
// connection is held before its token is checked, so without a cap anyone who reaches the
// port could hold file descriptors and memory without bound. It is twice the admin requests
// admitted in progress at once (a token's share of DefaultMaxConcurrentRequests, 256), so that a
// test suite that many workers wide is answered the admission's 429 before it meets this 503,
// and its idle keep-alive connections have room beside those.
const AdminMaxConnections = 2 * DefaultMaxConcurrentRequests / tokenShare

// sideListeners describes each side listener: its metric's infix
// (remoteassist_<metric>_connections_refused_total), what it is and the flag that opens it, for
// the metric's help, and its cap.
var sideListeners = [numSideListeners]struct {
	metric, what, flag string
	maxConnections     int
}{
	OpsListener:   {"ops", "operations listener", "--ops-addr", OpsMaxConnections},
	AdminListener: {"admin", "admin API listener", "--admin-addr", AdminMaxConnections},
}
