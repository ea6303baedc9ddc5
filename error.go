package remoteassist

import (
	"errors"
	"fmt"
	"time"
)

// Error codes shared by every layer. The HTTP layer maps each to a status and a Graph error code
// in exactly one place.
const (
	EINVALID         = "invalid"         // the request is malformed or out of contract
	EUNAUTHENTICATED = "unauthenticated" // no valid credentials
	EFORBIDDEN       = "forbidden"       // valid credentials without the needed permission
	ENOTFOUND        = "not_found"       // no such resource
	EMETHOD          = "method"          // the resource does not support the method
	EMEDIATYPE       = "media_type"      // the body is not in a supported media type
	ETOOLARGE        = "too_large"       // the body is over the size limit
	ETHROTTLED       = "throttled"       // the caller is over its request rate
	EUNAVAILABLE     = "unavailable"     // a dependency is unreachable; retry later
	EINTERNAL        = "internal"        // a bug or unexpected failure; details stay server-side
)

// Error is a domain error: a code from the list above and a message safe to show a client.
type Error struct {
	Code    string
	Message string
	// Target names the property or parameter the error is about, when there is one.
	Target string
	// RetryAfter tells the client how long to wait before retrying (ETHROTTLED, EUNAVAILABLE).
	RetryAfter time.Duration
	// Err is the underlying cause. It is logged, never shown to a client.
	Err error
}

// Error describes the error for logs: code, message and cause. Clients see the Message only.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("remoteassist %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("remoteassist %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other non-nil
// error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// Client-safe messages of the errors whose details must stay server-side.
const (
	// InternalMessage is all a client learns of an internal error.
	InternalMessage = "An internal server error occurred."
	// UnavailableMessage tells a client that a dependency is out of reach for now.
	UnavailableMessage = "The service is temporarily unavailable. Retry later."
)

// Internal returns an EINTERNAL error for cause, which is logged, never shown.
func Internal(cause error) *Error {
	return &Error{Code: EINTERNAL, Message: InternalMessage, Err: cause}
}

// Unavailable returns an EUNAVAILABLE error for cause, which is logged, never shown.
func Unavailable(cause error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: UnavailableMessage, Err: cause}
}

// ErrorMessage returns the client-safe message of the first *Error in err's chain, and a generic
// message for any other error so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return InternalMessage
}
