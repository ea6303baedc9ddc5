package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
)

// A request's state, as every layer finds it: taken from a pool by Server.ServeHTTP, filled in
// by the entry layer and the pipeline (middleware.go), read by the handlers, the error mapping,
// the metrics and the access log.

// request is what the layers learn of a request and pass on: its ids, the operation it was
// routed to, the verified caller and its validated body, and, for the log and the metrics, how
// it ended.
type request struct {
	start           time.Time
	requestID       string
	clientRequestID string
	// op is the contract operation the request was routed to; nil for other routes.
	op *operation
	// principal is the verified caller, once authenticated is true.
	principal remoteassist.Principal
	// body is the request body kin-openapi validated, for the handler to bind.
	body any
	// sent is the body as read (decompressed), for the journal to tell a request sent again
	// unchanged from another.
	sent []byte
	// rule names the fault rule (or "prefer") that applied, if any; injected is set when the
	// answer is its error, which the metrics do not count as a validation failure. A rule's
	// delay alone leaves the request to be served, and refused, as any other.
	rule string
	// err is the error the request was answered with, logged with the access line.
	err error

	// The one-byte fields together, last: padded one by one between the others, they made the
	// exchange 280 bytes where it takes 256.
	authenticated bool
	// bodyRead is set once the body was read to its end.
	bodyRead bool
	// failure is the validation failure class counted in the metrics, when one applies.
	failure  failureClass
	injected bool
}

// exchange is the ResponseWriter the server hands echo: net/http's, with the request's state
// beside it. Every layer finds the state through the echo context's writer, and both come from
// one pooled object (ServeHTTP); echo's own per-request store (Context.Set) would make a map for
// every request.
type exchange struct {
	http.ResponseWriter
	request
}

// Unwrap lets http.ResponseController reach net/http's writer (deadlines, flushing).
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// requestOf returns the state of the request c serves.
func requestOf(c echo.Context) *request {
	x, ok := c.Response().Writer.(*exchange)
	if !ok {
		// Only reachable if echo was served other than through Server.ServeHTTP: a bug. The
		// entry layer itself calls this before its recovery, so net/http's recovery closes the
		// connection.
		panic(errNotWired("exchange (Server.ServeHTTP)"))
	}
	return &x.request
}

// errNotWired reports a layer missing from the chain: a bug, never a client's fault.
type errNotWired string

func (e errNotWired) Error() string { return "server: " + string(e) + " layer did not run" }
