package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/control"
	"github.com/remoteassist/remoteassist/gen/admin/models"
)

// The test control plane's part of a request (Config.Control): the faults injected into its
// answer, after authentication (the rules match on the token's tenant and application) and
// before anything reads or changes stored state; and its entry in the journal, once answered.

// errDrop asks the entry layer to drop the connection without an answer.
var errDrop = errors.New("server: a fault rule drops the connection")

// errCutShort asks the entry layer to drop the connection of an answer already begun, whose rest
// failed (the store's, while a snapshot streams): the request is logged and counted as the 500
// it would have been, with its cause, and the client sees the connection closed mid-answer.
var errCutShort = errors.New("server: the answer failed after it began")

// inject applies what the control plane decides for the request: a delay, then an error or a
// dropped connection.
func (s *Server) inject(c echo.Context, st *request) error {
	req := c.Request()
	// Prefer is a list (RFC 7240): sent as several fields, it is their values joined by commas
	// (RFC 9110, 5.3), as a client that adds its own preferences to a test's sends it.
	prefer := strings.Join(req.Header.Values("Prefer"), ",")
	d, ok, err := s.control.Decide(control.Request{Tenant: st.principal.Tenant, App: st.principal.App,
		Operation: st.op.id, Method: req.Method}, prefer)
	if err != nil {
		return &remoteassist.Error{Code: remoteassist.EINVALID, Target: "Prefer", Message: err.Error() + "."}
	}
	if !ok {
		return nil
	}
	st.rule = d.Rule
	if d.Delay > 0 {
		extendWrite(c, d.Delay)
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-req.Context().Done():
			t.Stop()
			return req.Context().Err()
		}
	}
	switch {
	case d.Drop:
		return errDrop
	case d.Status != 0:
		st.injected = true
		return injectedError(d)
	}
	return nil
}

// extendWrite moves the write deadline of a request delayed by d to d past the server's
// WriteTimeout from now: a rule may delay an answer longer than the listener's WriteTimeout (up
// to 60 s against 30 s), and net/http's deadline, set when the request's headers were read, would
// otherwise expire during the delay, so that the client got EOF (or, over HTTP/2, a reset
// stream) in place of its answer. The answer keeps the whole of its usual budget once the delay
// is over. A server without WriteTimeout needs nothing; a request served other than by an
// http.Server, or a ResponseWriter that cannot set deadlines (a test's recorder), has no
// deadline to move.
func extendWrite(c echo.Context, d time.Duration) {
	hs, ok := c.Request().Context().Value(http.ServerContextKey).(*http.Server)
	if !ok || hs.WriteTimeout <= 0 {
		return
	}
	_ = http.NewResponseController(c.Response().Writer).SetWriteDeadline(time.Now().Add(d + hs.WriteTimeout))
}

// injectedError is the error of a fault's status, in the words the service uses for it.
func injectedError(d control.Decision) error {
	after := d.RetryAfter
	if d.OmitRetryAfter {
		after = noRetryAfter
	}
	e := &remoteassist.Error{RetryAfter: after, Err: errors.New("injected by fault rule " + d.Rule),
		Code: remoteassist.EINTERNAL, Message: remoteassist.InternalMessage}
	for code, g := range graphErrors {
		if g.status == d.Status && g.injected != "" {
			e.Code, e.Message = code, g.injected
		}
	}
	return e
}

// journal records a finished operation request in the control plane's journal.
func (s *Server) journal(c echo.Context, st *request, status int, latency time.Duration) {
	req := c.Request()
	e := models.JournalEntry{
		Time: st.start, Method: req.Method, Operation: st.op.id, Status: status,
		RequestId: st.requestID, ClientRequestId: st.clientRequestID,
		LatencyMs: float64(latency.Microseconds()) / 1000,
	}
	// The pointers are into the request's state, which is reused once the request is served:
	// Record keeps a copy of what they hold.
	if st.authenticated {
		e.Tenant = &st.principal.Tenant
		if st.principal.App != "" {
			e.App = &st.principal.App
		}
	}
	if st.rule != "" {
		e.Rule = &st.rule
	}
	if ra, err := strconv.Atoi(c.Response().Header().Get("Retry-After")); err == nil {
		e.RetryAfter = &ra
	}
	var set map[string]any
	if body, ok := st.body.(map[string]any); ok && status >= 200 && status < 300 || ok && status >= 400 {
		set = make(map[string]any, len(body))
		for name, v := range body {
			if name != "id" && !strings.HasPrefix(name, "@") {
				set[name] = v
			}
		}
	}
	// What the client sent, as it came: the query string, and the body as read.
	sent := append(append([]byte(req.URL.RawQuery), 0), st.sent...)
	s.control.Record(e, set, sent)
}
