package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen/models"
	"github.com/remoteassist/remoteassist/internal/ordinal"
	"github.com/remoteassist/remoteassist/internal/requestid"
)

// graphError is how one domain error code appears on the wire.
type graphError struct {
	status int
	code   string
	// class is the validation failure class the code counts as in the metrics, if any.
	class failureClass
	// injected is the message of an error of this code that a fault rule or a Prefer header asks
	// for (inject.go); empty for a code no fault answers with.
	injected string
}

// graphErrors maps every domain error code to its HTTP status and Graph error code. It is the
// only place where that mapping is made.
var graphErrors = map[string]graphError{
	remoteassist.EINVALID:         {http.StatusBadRequest, "BadRequest", failSchema, "The request is malformed."},
	remoteassist.EUNAUTHENTICATED: {http.StatusUnauthorized, "InvalidAuthenticationToken", failAuth, "Access token validation failure."},
	remoteassist.EFORBIDDEN:       {http.StatusForbidden, "Forbidden", failForbidden, "Missing permissions on the request."},
	remoteassist.ENOTFOUND:        {http.StatusNotFound, "ResourceNotFound", failNone, "Resource not found."},
	remoteassist.EMETHOD:          {http.StatusMethodNotAllowed, "MethodNotAllowed", failNone, ""},
	remoteassist.ENOROUTE:         {http.StatusBadRequest, "No method match route template", failNone, ""},
	remoteassist.EMEDIATYPE: {http.StatusUnsupportedMediaType, "UnsupportedMediaType", failContentType,
		"The Content-Type is not supported. Send the body as application/json."},
	remoteassist.ETOOLARGE: {http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", failTooLarge,
		"The request body is larger than the limit."},
	remoteassist.ETIMEOUT: {http.StatusRequestTimeout, "RequestTimeout", failJSON,
		"The request body was not received in time. Send it faster, or retry."},
	remoteassist.ETHROTTLED:   {http.StatusTooManyRequests, "TooManyRequests", failThrottled, tenantThrottled},
	remoteassist.EUNAVAILABLE: {http.StatusServiceUnavailable, "ServiceUnavailable", failNone, remoteassist.UnavailableMessage},
	remoteassist.EINTERNAL:    {http.StatusInternalServerError, "InternalServerError", failNone, remoteassist.InternalMessage},
	codeClientClosed:          {statusClientClosed, "", failNone, ""},
	codeBadGateway: {http.StatusBadGateway, "BadGateway", failNone,
		"The service could not get an answer from a service it depends on. Retry later."},
	codeGatewayTimeout: {http.StatusGatewayTimeout, "GatewayTimeout", failNone,
		"The service timed out waiting for a service it depends on. Retry later."},
}

// statusClientClosed is the status the access log and the metrics record for a request whose
// client went away before it was answered: nginx's 499 "client closed request". It is not in
// the contract and a client is not meant to see it; see abandon. A request whose context was
// cancelled because the server cut it (serverCut) is recorded as statusServerCut instead.
const statusClientClosed = 499

// statusServerCut is the status recorded for a request the server itself cut before answering
// it: the 503 the client was owed, as Drain answers the requests it refuses at shutdown, and
// counted and logged as the server's failure, at ERROR with the cause. Nothing more is sent than
// for a 499: the connection or stream is already gone.
const statusServerCut = http.StatusServiceUnavailable

// Why the server cut a request (serverCut), for its access-log line.
var (
	errGraceOver = errors.New("the server closed the connection before the request was answered: " +
		"the shutdown's grace was over")
	errStreamDeadline = errors.New("the server's write deadline (WriteTimeout) reset the request's " +
		"HTTP/2 stream before it was answered")
)

// codeClientClosed is the server's own code, beside the domain's, for an error that only means
// the client gave up: the request's context was cancelled and the error says so.
const codeClientClosed = "client_closed"

// The server's codes for the statuses only a fault rule answers with: the failures of a service
// this one would depend on, as Graph reports them.
const (
	codeBadGateway     = "bad_gateway"
	codeGatewayTimeout = "gateway_timeout"
)

// The challenges of a 401: RFC 6750 names an error only when the request carried credentials.
var (
	challengeNoToken      = []string{`Bearer realm="remoteassist"`}
	challengeInvalidToken = []string{`Bearer realm="remoteassist", error="invalid_token"`}
)

// writeError writes err as the Graph error envelope: every error any layer returns ends here.
// Internal details are kept for the access log (finish), never sent.
func (s *Server) writeError(c echo.Context, st *request, err error) {
	res := c.Response()
	if res.Committed {
		return
	}
	req := c.Request()
	domainErr := s.toDomainError(err, req)
	ge, ok := graphErrors[domainErr.Code]
	if !ok {
		ge = graphErrors[remoteassist.EINTERNAL]
	}
	if ge.status == statusClientClosed {
		status := statusClientClosed
		if cut := s.serverCut(req, res.Writer); cut != nil {
			status, st.err = statusServerCut, fmt.Errorf("%w: %w", cut, err)
		}
		abandon(res, status)
		return
	}
	st.err = err
	if st.failure == failNone && st.op != nil && !st.injected {
		st.failure = ge.class
		if errors.Is(err, remoteassist.ErrEmptyPatch) {
			st.failure = failEmptyPatch
		}
	}
	h := res.Header()
	if domainErr.Code == remoteassist.ENOROUTE {
		delete(h, "Allow") // echo's router set it for the 405 this answer replaces
	}
	switch ge.status {
	case http.StatusUnauthorized:
		h["Www-Authenticate"] = challengeInvalidToken
		if len(req.Header["Authorization"]) == 0 {
			h["Www-Authenticate"] = challengeNoToken
		}
	case http.StatusMethodNotAllowed:
		if allow, ok := s.allow[req.URL.Path]; ok {
			h["Allow"] = allow
		} else if allow, ok := s.allow[c.Path()]; ok {
			h["Allow"] = allow
		}
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		switch after := domainErr.RetryAfter; {
		case after == noRetryAfter:
		case after <= 0:
			h.Set("Retry-After", strconv.Itoa(int(defaultRetryAfter/time.Second)))
		default:
			h.Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
		}
	}
	if req.Method == http.MethodHead {
		res.WriteHeader(ge.status)
		return
	}
	if err := c.JSONPretty(ge.status, errorEnvelope(ge, domainErr, st), ""); err != nil {
		st.err = errors.Join(st.err, fmt.Errorf("writing the error response: %w", err))
	}
}

// errorEnvelope is the Graph error envelope of a domain error, as the contract defines it.
func errorEnvelope(ge graphError, e *remoteassist.Error, st *request) models.ODataError {
	message := e.Message
	if ge.status == http.StatusInternalServerError {
		message = remoteassist.InternalMessage
	}
	env := models.ODataError{Error: models.MainError{
		Code:    ge.code,
		Message: message,
		InnerError: models.InnerError{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestId:       st.requestID,
			ClientRequestId: st.clientRequestID,
		},
	}}
	if e.Target != "" {
		env.Error.Target = &e.Target
	}
	return env
}

// abandon ends a request whose client has gone, or whose connection or stream the server has
// cut, without an answer nobody would read: the status (statusClientClosed or statusServerCut)
// is recorded for the access log and the metrics, and an HTTP/1 connection is closed without a
// byte written. Where the connection cannot be taken over (HTTP/2, whose stream is already
// reset or whose connection is closed, or a ResponseWriter of a test), a bare header of that
// status without a body is written instead, so that even then no 500 envelope leaves.
func abandon(res *echo.Response, status int) {
	if conn, _, err := http.NewResponseController(res.Writer).Hijack(); err == nil {
		res.Status, res.Committed = status, true
		conn.Close()
		return
	}
	res.WriteHeader(status)
}

// serverCut returns why the server, not the client, ended a request whose context was
// cancelled before it was answered, or nil when nothing says so. net/http cancels the context
// in the same way whoever ends the connection or the stream, so the server tells its own cuts
// from what it did: Cut was called, which serve does once a shutdown's grace is over, to end the
// requests left with http.Server.Close; or, over HTTP/2, the stream was reset by the
// server's write deadline (WriteTimeout, or the deadline a fault's delay moved), which is why a
// flush of it now fails with os.ErrDeadlineExceeded rather than the error of a stream the client
// reset or a connection it left. Flushing a stream already closed sends nothing. (Over HTTP/1,
// net/http's read and write deadlines never cancel a request's context while its handler runs.)
func (s *Server) serverCut(req *http.Request, w http.ResponseWriter) error {
	if s.cutting.Load() {
		return errGraceOver
	}
	if req.ProtoMajor == 2 {
		if err := http.NewResponseController(w).Flush(); errors.Is(err, os.ErrDeadlineExceeded) {
			return errStreamDeadline
		}
	}
	return nil
}

// echoErrorHandler is echo's HTTPErrorHandler. The entry layer handles every error of the
// chain, so this only runs if echo itself fails before the chain starts (a Pre layer).
func (s *Server) echoErrorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	st := requestOf(c)
	st.requestID = requestid.New()
	st.clientRequestID = st.requestID
	s.writeError(c, st, err)
}

// toDomainError turns any error into a domain error: a cancellation by a client that went
// away becomes codeClientClosed, whatever a lower layer made of it; domain errors pass through;
// echo's routing errors get their codes; everything else becomes EINTERNAL. A context.Canceled
// while the request's own context is still live is not the client's doing: it stays EINTERNAL.
func (s *Server) toDomainError(err error, req *http.Request) *remoteassist.Error {
	if errors.Is(err, context.Canceled) && req.Context().Err() != nil {
		return &remoteassist.Error{Code: codeClientClosed, Message: "The client closed the request.", Err: err}
	}
	if de, ok := errors.AsType[*remoteassist.Error](err); ok {
		return de
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "The request timed out. Retry later.", Err: err}
	}
	if he, ok := errors.AsType[*echo.HTTPError](err); ok {
		switch he.Code {
		case http.StatusNotFound:
			return remoteassist.Errorf(remoteassist.ENOTFOUND, "Resource not found for the segment '%s'.", s.unresolvedSegment(req))
		case http.StatusMethodNotAllowed:
			if r, ok := s.routeTemplates[req.URL.Path]; ok {
				return remoteassist.NoRoute(r.template, req.Method, r.path)
			}
			return remoteassist.Errorf(remoteassist.EMETHOD, "The HTTP method '%s' is not allowed on this resource.", remoteassist.Clip(req.Method, 32))
		case http.StatusBadRequest:
			// The generated parameter binders answer with their own 400s, such as "Expected
			// one value for client-request-id, got 2", though the validator has already
			// refused what they would (a header sent twice: refuseRepeatedHeaders). Should
			// one still get here, its message names the parameter: pass it on.
			if msg, ok := he.Message.(string); ok && msg != "" {
				return remoteassist.Errorf(remoteassist.EINVALID, "The request is malformed: %s.", remoteassist.Clip(msg, 120))
			}
			return remoteassist.Errorf(remoteassist.EINVALID, "The request is malformed.")
		}
	}
	return remoteassist.Internal(err)
}

// unresolvedSegment is the segment of path where it leaves every route, as Graph names it in
// a 404: the first segment no route has at its place, after the longest run of segments some
// route shares with path (a route's parameter takes any segment). A path that leaves no route
// that way (a route's prefix, or one with an empty segment such as a trailing slash) is named by
// its last segment. The segments are those echo routed on: of the escaped path when net/http
// kept the client's escaping (an encoded '/' is inside a segment), the segment named decoded.
// The name is cut short, so that a hostile path cannot make messages large.
func (s *Server) unresolvedSegment(req *http.Request) string {
	segs := strings.Split(strings.Trim(echo.GetPath(req), "/"), "/")
	matched := 0
	for _, route := range s.routeSegments {
		n := 0
		for n < len(segs) && n < len(route) && segmentMatches(route[n], segs[n], s.fold) {
			n++
		}
		matched = max(matched, n)
	}
	seg := segs[len(segs)-1]
	if matched < len(segs) && segs[matched] != "" {
		seg = segs[matched]
	}
	if decoded, err := url.PathUnescape(seg); err == nil && req.URL.RawPath != "" {
		seg = decoded
	}
	return remoteassist.Clip(seg, 64)
}

// segmentMatches reports whether a route's segment (echo's: ":name" a parameter) takes seg.
func segmentMatches(route, seg string, fold bool) bool {
	return strings.HasPrefix(route, ":") || route == seg || fold && ordinal.EqualIgnoreCase(route, seg)
}
