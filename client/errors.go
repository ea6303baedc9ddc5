package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/remoteassist/remoteassist/gen/models"
)

// Error is an error response from the service: any status other than 2xx. Graph's error
// envelope fills Code and Message; a body that is not the envelope (a proxy's HTML page, an
// empty body) still yields an Error with the status and the start of the body as Message.
type Error struct {
	// StatusCode is the HTTP status, such as 400 or 429.
	StatusCode int
	// Code is Graph's machine-readable error code, such as "BadRequest" or
	// "InvalidAuthenticationToken". It is empty when the body was not Graph's envelope.
	Code string
	// Message is the human-readable description.
	Message string
	// Target names the property or parameter the error is about, when the service said.
	Target string
	// RequestID is the identifier the service gave the request: quote it when reporting.
	RequestID string
	// ClientRequestID is the client-request-id the client sent, as the service echoed it.
	ClientRequestID string
	// RetryAfter is how long the service asked the client to wait (429, 503), zero when it did
	// not say.
	RetryAfter time.Duration
	// Retries is how many times the call sent its request again, after a 429, 503 or 504,
	// before this answer came: 0 for the answer to its first request.
	Retries int
	// NotRetried says why the call returned this answer rather than wait and send the request
	// again, for the statuses the client retries (429, 503, 504). It is empty for the others,
	// and for an answer whose wait the context's end interrupted: the call's error then
	// matches ctx.Err() as well.
	NotRetried RetryStop
}

// RetryStop is why a call gave up retrying: RetriesSpent, WaitTooLong or WaitPastDeadline.
type RetryStop string

const (
	// RetriesSpent: the call made every retry WithRetry allows (none with maxRetries 0).
	RetriesSpent RetryStop = "retries spent"
	// WaitTooLong: the service asked for a longer wait than WithRetry's maxDelay.
	WaitTooLong RetryStop = "wait too long"
	// WaitPastDeadline: the wait would have ended after the context's deadline.
	WaitPastDeadline RetryStop = "wait past deadline"
)

// Error renders the error on one line, as "Code: Message (request-id ID, status N)". An answer
// the client gave up retrying says why inside the parentheses: "(request-id ID, status 429; the
// service asked to wait 20s: gave up after 3 retries)".
func (e *Error) Error() string {
	// The envelope's fields come as the service wrote them, and Intune's messages often span
	// lines (a JSON document with CRLFs inside the message): the line is made of them here.
	var b strings.Builder
	if code := oneLine(e.Code); code != "" {
		b.WriteString(code)
	} else if text := http.StatusText(e.StatusCode); text != "" {
		b.WriteString(text)
	} else {
		b.WriteString("HTTP error")
	}
	if msg := oneLine(e.Message); msg != "" {
		b.WriteString(": ")
		b.WriteString(msg)
	}
	b.WriteString(" (")
	if e.RequestID != "" {
		b.WriteString("request-id ")
		b.WriteString(e.RequestID)
		b.WriteString(", ")
	}
	fmt.Fprintf(&b, "status %d", e.StatusCode)
	if e.NotRetried != "" {
		b.WriteString("; ")
		b.WriteString(e.retryOutcome())
	}
	b.WriteString(")")
	return b.String()
}

// retryOutcome says what the service asked and why the client stopped retrying.
func (e *Error) retryOutcome() string {
	var b strings.Builder
	if e.RetryAfter > 0 {
		b.WriteString("the service asked to wait " + seconds(e.RetryAfter))
	} else {
		b.WriteString("no Retry-After")
	}
	switch e.NotRetried {
	case WaitTooLong:
		b.WriteString(", longer than the client waits")
	case WaitPastDeadline:
		b.WriteString(", past the context's deadline")
	}
	switch e.Retries {
	case 0:
		b.WriteString(": not retried")
	case 1:
		b.WriteString(": gave up after 1 retry")
	default:
		fmt.Fprintf(&b, ": gave up after %d retries", e.Retries)
	}
	return b.String()
}

// seconds renders a wait as whole seconds, rounded up, as Retry-After counts them: "20s".
func seconds(d time.Duration) string {
	return fmt.Sprintf("%ds", (d+time.Second-1)/time.Second)
}

// maxMessage bounds a Message taken from a body that is not Graph's envelope, so that an HTML
// error page does not become a screenful of error text.
const maxMessage = 200

// newError builds the Error for a non-2xx response whose body has been read.
func newError(res *http.Response, body []byte, now time.Time) *Error {
	e := &Error{
		StatusCode:      res.StatusCode,
		RequestID:       res.Header.Get("request-id"),
		ClientRequestID: res.Header.Get("client-request-id"),
		RetryAfter:      retryAfter(res.Header.Get("Retry-After"), now),
	}
	var env models.ODataError
	if json.Unmarshal(body, &env) == nil && (env.Error.Code != "" || env.Error.Message != "") {
		e.Code = env.Error.Code
		e.Message = env.Error.Message
		if env.Error.Target != nil {
			e.Target = *env.Error.Target
		}
		// The envelope repeats the ids; a proxy may have dropped the headers, so fill in.
		if e.RequestID == "" {
			e.RequestID = env.Error.InnerError.RequestId
		}
		if e.ClientRequestID == "" {
			e.ClientRequestID = env.Error.InnerError.ClientRequestId
		}
		return e
	}
	e.Message = bodySnippet(body)
	return e
}

// oneLine turns text into one printable line: runs of white space become one space, control
// characters and invalid UTF-8 go.
func oneLine(text string) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(text, "")), " ")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
}

// bodySnippet turns an arbitrary body into one short printable line.
func bodySnippet(body []byte) string {
	s := oneLine(string(body))
	if r := []rune(s); len(r) > maxMessage {
		s = string(r[:maxMessage]) + "..."
	}
	return s
}

// statusOf returns the status of the *Error in err's chain, 0 when there is none.
func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.StatusCode
	}
	return 0
}

// IsBadRequest reports whether err is a 400 from the service: the request was out of contract.
func IsBadRequest(err error) bool { return statusOf(err) == http.StatusBadRequest }

// IsUnauthorized reports whether err is a 401: the token is missing, expired or not trusted.
func IsUnauthorized(err error) bool { return statusOf(err) == http.StatusUnauthorized }

// IsForbidden reports whether err is a 403: the token lacks the permission the call needs.
func IsForbidden(err error) bool { return statusOf(err) == http.StatusForbidden }

// IsNotFound reports whether err is a 404, typically a base URL without the /beta segment.
func IsNotFound(err error) bool { return statusOf(err) == http.StatusNotFound }

// IsThrottled reports whether err is a 429: the tenant is over its request rate. The
// *Error's RetryAfter says how long to wait.
func IsThrottled(err error) bool { return statusOf(err) == http.StatusTooManyRequests }

// IsUnavailable reports whether err is a 503 or 504: the service or its store is temporarily
// unreachable.
func IsUnavailable(err error) bool {
	s := statusOf(err)
	return s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout
}
