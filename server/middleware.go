package server

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/internal/fastslog"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// cachePrivate is the Cache-Control of every response. Header values are only read by net/http
// and echo, and replacing one (Header.Set) replaces the slice, not its element, so one slice
// serves every response.
var cachePrivate = []string{"private"}

// entry is the first layer of every request, API or not. It settles the request ids and puts
// them on the response before anything else can fail, recovers panics, writes every error as
// the Graph envelope, and finally counts and logs the request.
func (s *Server) entry(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := requestOf(c)
		st.start, st.requestID = time.Now(), requestid.New()
		st.clientRequestID = c.Request().Header.Get("Client-Request-Id")
		if !requestid.UsableClientID(st.clientRequestID) {
			st.clientRequestID = st.requestID
		}
		h := c.Response().Header()
		ids := []string{st.requestID, st.clientRequestID} // one allocation for both values
		h["Request-Id"] = ids[0:1:1]
		h["Client-Request-Id"] = ids[1:2:2]
		h["Cache-Control"] = cachePrivate

		err := s.call(next, c)
		if dropped, cut := errors.Is(err, errDrop), errors.Is(err, errCutShort); dropped || cut {
			// A fault rule asked for the connection to be dropped: it is journalled as status 0,
			// then net/http closes the connection without a byte (http.ErrAbortHandler). An
			// answer cut short is logged as the 500 it is, and its connection closed too.
			c.Response().Status = 0
			if cut {
				c.Response().Status, st.err = http.StatusInternalServerError, err
			}
			s.finish(c, st)
			panic(http.ErrAbortHandler)
		}
		if err != nil {
			if !st.bodyRead {
				bound(c, s.drainTimeout, s.admission.isDraining())
			}
			s.writeError(c, st, err)
		}
		s.finish(c, st)
		return nil
	}
}

// drainLimit is how much of a refused request's body is read before the answer: net/http's own
// bound for HTTP/1.1 (maxPostHandlerReadBytes).
const drainLimit = 256 << 10

// bound limits the wait for the body of a request refused before its body was read, or while it
// was. net/http reads the rest (up to 256 KiB) before it sends the answer over HTTP/1.1, which
// keeps the connection for the client's next request and lets a client that is still sending,
// such as an SDK about to retry, finish its write; but a slow client must not hold the answer:
// past timeout the read fails, and the connection is closed after the answer instead.
//
// Over HTTP/2 net/http answers at once and resets the stream's unread rest, and a client still
// writing that body then races its own retry: Microsoft's Go SDK rewinds the body it is about to
// resend while its transport may still be reading it, so a throttled gzip PATCH's retry arrives
// cut short and is refused as not gzip (sdkcompat/README.md, finding 3). So over HTTP/2 the rest
// of a body net/http would have read over HTTP/1.1 is read here, under the same bounds (drains),
// but for a shutdown's refusals (draining), which do not wait on a client.
func bound(c echo.Context, timeout time.Duration, draining bool) {
	req := c.Request()
	if req.Body == nil || req.Body == http.NoBody {
		return
	}
	// Not every ResponseWriter can set deadlines (a test's recorder cannot); its body does not
	// wait on a client either.
	_ = http.NewResponseController(c.Response().Writer).SetReadDeadline(time.Now().Add(timeout))
	if drains(req) && !draining {
		_, _ = io.CopyN(io.Discard, req.Body, drainLimit+1)
	}
}

// drains reports whether bound reads the rest of req's body before the answer: over HTTP/2, and
// only a body net/http's HTTP/1.1 server would read, one not declared drainLimit or longer (a
// larger one is answered at once, and the stream reset). Unlike HTTP/1.1's, an HTTP/2 request
// does not show whether it waits for a 100 Continue (net/http removes the Expect header and
// sends the 100 at the first read), so such a client is invited to send a body under drainLimit
// it then sends for nothing; SDKs do not ask for one for bodies this small.
func drains(req *http.Request) bool {
	return req.ProtoMajor == 2 && req.ContentLength < drainLimit
}

// call runs the rest of the chain and turns a panic in it into a 500 Graph envelope; the stack
// goes to the server log only.
func (s *Server) call(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.logger.ErrorContext(c.Request().Context(), "panic serving request",
				"request_id", requestOf(c).requestID, "panic", r, "stack", string(debug.Stack()))
			err = remoteassist.Internal(nil)
		}
	}()
	return next(c)
}

// finish counts the request in the metrics and writes its one access-log line: ids, tenant,
// operation, status and latency, at Error with the cause for a 5xx. Tokens and bodies are never
// logged. The method and the path, which a client picks (any token, any bytes, up to the header
// limit), are clipped.
func (s *Server) finish(c echo.Context, st *request) {
	latency := time.Since(st.start)
	status := c.Response().Status
	var om *opMetrics
	if st.op != nil {
		om = st.op.metrics
	}
	s.metrics.observe(om, st.failure, c.Request().Method, status, latency)
	if s.control != nil && st.op != nil {
		s.journal(c, st, status, latency)
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	ctx := c.Request().Context()
	if !s.logger.Enabled(ctx, level) {
		return
	}
	opID, tenant := unknownOperation, ""
	if st.op != nil {
		opID = st.op.id
	}
	if st.authenticated {
		tenant = st.principal.Tenant
	}
	// The line goes to the handler through fastslog.Log rather than Logger.LogAttrs, which
	// would read the clock again and walk the stack for a source position the access log never
	// shows (about 3 % of a /healthz served under load), and make a slog.Record, which serve's
	// handler does without (fastslog.Log says what that saves).
	attrs := make([]slog.Attr, 0, 10) // on the stack: fastslog.Log keeps none
	attrs = append(attrs,
		slog.String("request_id", st.requestID),
		slog.String("client_request_id", st.clientRequestID),
		slog.String("method", remoteassist.Clip(c.Request().Method, 32)),
		slog.String("path", remoteassist.Clip(c.Request().URL.Path, 256)),
		slog.String("operation", opID),
		slog.String("tenant", tenant),
		slog.Int("status", status),
		slog.Duration("latency", latency),
	)
	if level == slog.LevelError && st.err != nil {
		attrs = append(attrs, slog.String("error", st.err.Error()))
	}
	if st.rule != "" {
		attrs = append(attrs, slog.String("fault_rule", st.rule))
	}
	_ = fastslog.Log(ctx, s.logger.Handler(), st.start.Add(latency), level, "request", attrs...)
}

// pipeline is the per-operation part of the request path, in one layer: authentication,
// throttling and authorization; a place among the caller's requests; the body read; a global
// slot (admission.go says why in that order); then the contract's validation of the parameters
// and the body.
func (s *Server) pipeline(op *operation) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			st := requestOf(c)
			st.op = op
			req := c.Request()
			token, err := s.authenticate(req, st)
			if err != nil {
				return err
			}
			if s.control != nil {
				if err := s.inject(c, st); err != nil {
					return err
				}
			}
			if s.throttle != nil {
				if err := s.throttle.check(req.Method, st.principal); err != nil {
					return err
				}
			}
			if len(op.permissions) > 0 && !st.principal.HasAny(op.permissions) {
				return forbidden(op, st.principal)
			}
			caller, err := s.admission.enterCaller(st.principal.Tenant, token)
			if err != nil {
				return err
			}
			defer s.admission.leaveCaller(caller)
			var data []byte
			if op.body != nil {
				data, err = s.admission.readBody(c.Response().Writer, req, s.maxBody)
				st.bodyRead, st.sent = err == nil, data
				if err != nil {
					// An unreadable body (bad gzip) counts as one that is not JSON; the other
					// refusals (415, 413, 408) count by their codes.
					if remoteassist.ErrorCode(err) == remoteassist.EINVALID {
						st.failure = failJSON
					}
					return err
				}
			}
			if err := s.admission.enter(); err != nil {
				return err
			}
			defer s.admission.leave()
			if err := validateParams(c, op, s.fold, s.strictQuery); err != nil {
				return err
			}
			if op.body != nil {
				validate := validateBody
				if op.entries != "" {
					validate = validateEntries
				}
				body, class, err := validate(req.Context(), data, op, s.fold)
				if err != nil {
					st.failure = class
					return err
				}
				st.body = body
			}
			return next(c)
		}
	}
}
