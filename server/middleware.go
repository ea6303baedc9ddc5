package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// reqState is everything a request carries from layer to layer, in one struct that is reused
// from request to request. It is the echo.Context the layers after the entry layer and the
// handlers receive. Echo's own context store (c.Set) would allocate a map per request and box
// every value put in it.
type reqState struct {
	echo.Context

	start           time.Time
	requestID       string
	clientRequestID string
	// op is the contract operation the request was routed to; nil for other routes.
	op *operation
	// principal is the verified caller, once authenticated is true.
	principal     remoteassist.Principal
	authenticated bool
	// failure is the validation failure class counted in the metrics, when one applies.
	failure failureClass
	// fields is the validated request body; fieldBuf backs it.
	fields   []bodyField
	fieldBuf [8]bodyField
	// members is the scanned request body; memberBuf backs it.
	members   []member
	memberBuf [8]member
	// body receives the request body; out builds the response. Both are reused.
	body []byte
	out  []byte
}

// maxReusedBuffer bounds the buffers a reqState keeps between requests, so that one large body
// does not pin its memory in the pool.
const maxReusedBuffer = 4 << 10

// reset makes st ready for a new request on c.
func (st *reqState) reset(c echo.Context) {
	st.Context = c
	st.op = nil
	st.principal = remoteassist.Principal{}
	st.authenticated = false
	st.failure = failNone
	st.fields = st.fieldBuf[:0]
	st.members = st.memberBuf[:0]
	if cap(st.body) > maxReusedBuffer {
		st.body = nil
	}
	if cap(st.out) > maxReusedBuffer {
		st.out = nil
	}
}

// release drops the references st holds into the finished request.
func (st *reqState) release() {
	st.Context = nil
	st.principal = remoteassist.Principal{}
	clear(st.fieldBuf[:])
	clear(st.memberBuf[:])
	st.fields, st.members = nil, nil
}

// Header values that never change, shared by every response: net/http and echo only read
// them, and anyone replacing one (Header.Set) replaces the slice, not its element.
var (
	cachePrivate    = []string{"private"}
	contentTypeJSON = []string{"application/json"}
)

// entry is the first layer of every request, API or not. It settles the request ids and puts
// them on the response before anything else can fail, recovers panics, writes every error as
// the Graph envelope, and finally counts and logs the request.
func (s *Server) entry(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := s.states.Get().(*reqState)
		st.reset(c)
		st.start = time.Now()
		id := requestid.New()
		clientID := c.Request().Header.Get("Client-Request-Id") // canonical: no allocation to canonicalise
		if !requestid.UsableClientID(clientID) {
			clientID = id
		}
		st.requestID, st.clientRequestID = id, clientID
		// One allocation for both id headers; the capacity limits keep an append to one from
		// overwriting the other.
		ids := []string{id, clientID}
		h := c.Response().Header()
		h["Request-Id"] = ids[0:1:1]
		h["Client-Request-Id"] = ids[1:2:2]
		h["Cache-Control"] = cachePrivate

		if err := s.call(next, st); err != nil {
			s.writeError(st, err)
		}
		s.finish(st)
		st.release()
		s.states.Put(st)
		return nil
	}
}

// call runs the rest of the chain and turns a panic in it into a 500 Graph envelope; the stack
// goes to the server log only.
func (s *Server) call(next echo.HandlerFunc, st *reqState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.logger.ErrorContext(st.Request().Context(), "panic serving request",
				"request_id", st.requestID, "panic", r, "stack", string(debug.Stack()))
			err = remoteassist.Internal(nil)
		}
	}()
	return next(st)
}

// finish counts the request in the metrics and writes its access log line: ids, tenant,
// operation, status and latency. Tokens and bodies are never logged.
func (s *Server) finish(st *reqState) {
	latency := time.Since(st.start)
	status := st.Response().Status
	s.metrics.observe(st, status, latency)
	ctx := st.Request().Context()
	if !s.logger.Enabled(ctx, slog.LevelInfo) {
		return
	}
	opID, tenant := unknownOperation, ""
	if st.op != nil {
		opID = st.op.id
	}
	if st.authenticated {
		tenant = st.principal.Tenant
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "request",
		slog.String("request_id", st.requestID),
		slog.String("client_request_id", st.clientRequestID),
		slog.String("method", st.Request().Method),
		slog.String("path", truncate(st.Request().URL.Path, 256)),
		slog.String("operation", opID),
		slog.String("tenant", tenant),
		slog.Int("status", status),
		slog.Duration("latency", latency),
	)
}

// pipeline is the per-operation part of the request path, in one layer: concurrency cap,
// authentication, throttling, authorization and contract validation, in that order.
func (s *Server) pipeline(op *operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			st, ok := c.(*reqState)
			if !ok {
				return remoteassist.Internal(errNotWired("entry"))
			}
			st.op = op
			// The cap counts with one atomic instead of a semaphore channel: the common case
			// is one add and one subtract, with no lock.
			n := s.inFlight.Add(1)
			defer s.inFlight.Add(-1)
			if s.maxInFlight > 0 && n > s.maxInFlight {
				return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, RetryAfter: time.Second,
					Message: "The service is busy. Retry later."}
			}
			if err := s.authenticate(st); err != nil {
				return err
			}
			if s.throttle != nil {
				if err := s.throttle.check(st); err != nil {
					return err
				}
			}
			if !st.principal.HasAny(op.permissions) {
				return forbidden(op, st.principal)
			}
			if err := s.validateParams(st, op); err != nil {
				return err
			}
			if op.body != nil {
				if err := s.readBody(st, op); err != nil {
					return err
				}
			}
			if op.direct != nil {
				if handled, err := op.direct(st); handled {
					return err
				}
			}
			return next(st)
		}
	}
}
