package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/remoteassist/remoteassist"
	"github.com/remoteassist/remoteassist/gen"
)

// graphError is how one domain error code appears on the wire.
type graphError struct {
	status int
	code   string
}

// graphErrors maps every domain error code to its HTTP status and Graph error code. It is the
// only place where that mapping is made.
var graphErrors = map[string]graphError{
	remoteassist.EINVALID:         {http.StatusBadRequest, "BadRequest"},
	remoteassist.EUNAUTHENTICATED: {http.StatusUnauthorized, "InvalidAuthenticationToken"},
	remoteassist.EFORBIDDEN:       {http.StatusForbidden, "Forbidden"},
	remoteassist.ENOTFOUND:        {http.StatusNotFound, "ResourceNotFound"},
	remoteassist.EMETHOD:          {http.StatusMethodNotAllowed, "MethodNotAllowed"},
	remoteassist.EMEDIATYPE:       {http.StatusUnsupportedMediaType, "UnsupportedMediaType"},
	remoteassist.ETOOLARGE:        {http.StatusRequestEntityTooLarge, "RequestEntityTooLarge"},
	remoteassist.ETHROTTLED:       {http.StatusTooManyRequests, "TooManyRequests"},
	remoteassist.EUNAVAILABLE:     {http.StatusServiceUnavailable, "ServiceUnavailable"},
	remoteassist.EINTERNAL:        {http.StatusInternalServerError, "InternalServerError"},
}

// defaultRetryAfter is sent with 503s whose cause named no better delay.
const defaultRetryAfter = 5 * time.Second

// errorHandler is echo's HTTPErrorHandler: every error any layer returns ends here and leaves
// as the Graph error envelope. Internal details are logged, never sent.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	domainErr := s.toDomainError(err, c)
	ge, ok := graphErrors[domainErr.Code]
	if !ok {
		ge = graphErrors[remoteassist.EINTERNAL]
	}
	if ge.status >= 500 {
		s.logger.ErrorContext(c.Request().Context(), "request failed",
			"request_id", requestID(c), "error", err)
	}
	h := c.Response().Header()
	switch ge.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="remoteassist", error="invalid_token"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		after := domainErr.RetryAfter
		if after <= 0 {
			after = defaultRetryAfter
		}
		h.Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
	}
	message := domainErr.Message
	if ge.status == http.StatusInternalServerError {
		message = remoteassist.ErrorMessage(nil)
	}
	body := gen.ODataError{Error: gen.MainError{
		Code:    ge.code,
		Message: message,
		InnerError: gen.InnerError{
			Date:            time.Now().UTC().Format("2006-01-02T15:04:05"),
			RequestId:       requestID(c),
			ClientRequestId: clientRequestID(c),
		},
	}}
	if domainErr.Target != "" {
		body.Error.Target = &domainErr.Target
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(ge.status)
		return
	}
	if err := c.JSON(ge.status, body); err != nil {
		s.logger.ErrorContext(c.Request().Context(), "writing error response", "error", err)
	}
}

// toDomainError turns any error into a domain error: domain errors pass through, echo's routing
// errors get their codes, and everything else becomes EINTERNAL.
func (s *Server) toDomainError(err error, c echo.Context) *remoteassist.Error {
	var de *remoteassist.Error
	if errors.As(err, &de) {
		return de
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "The request timed out. Retry later.", Err: err}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return remoteassist.Errorf(remoteassist.ENOTFOUND, "Resource not found for the segment '%s'.", lastSegment(c.Request().URL.Path))
		case http.StatusMethodNotAllowed:
			return remoteassist.Errorf(remoteassist.EMETHOD, "The HTTP method '%s' is not allowed on this resource.", c.Request().Method)
		case http.StatusRequestEntityTooLarge:
			return tooLarge(s.maxBody)
		case http.StatusUnsupportedMediaType:
			return remoteassist.Errorf(remoteassist.EMEDIATYPE, "The request body must be sent as application/json.")
		case http.StatusBadRequest:
			// The generated parameter binders answer with their own 400s; the validator has
			// already refused anything out of contract, so this is a last resort.
			return remoteassist.Errorf(remoteassist.EINVALID, "The request is malformed.")
		case http.StatusServiceUnavailable:
			return &remoteassist.Error{Code: remoteassist.EUNAVAILABLE, Message: "The service is temporarily unavailable. Retry later."}
		}
	}
	return &remoteassist.Error{Code: remoteassist.EINTERNAL, Message: remoteassist.ErrorMessage(nil), Err: err}
}

// lastSegment returns the last segment of path, cut short so that a hostile path cannot make
// error messages large.
func lastSegment(path string) string {
	const maxLen = 64
	seg := path
	for len(seg) > 1 && seg[len(seg)-1] == '/' {
		seg = seg[:len(seg)-1]
	}
	if i := strings.LastIndexByte(seg, '/'); i >= 0 {
		seg = seg[i+1:]
	}
	if len(seg) > maxLen {
		seg = seg[:maxLen] + "..."
	}
	return strings.ToValidUTF8(seg, "")
}
