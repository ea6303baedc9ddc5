package remoteassist

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Error codes shared by every layer. The HTTP layer maps each to a status and a Graph error code
// in exactly one place.
const (
	EINVALID         = "invalid"         // the request is malformed or out of contract
	EUNAUTHENTICATED = "unauthenticated" // no valid credentials
	EFORBIDDEN       = "forbidden"       // valid credentials without the needed permission
	ENOTFOUND        = "not_found"       // no such resource
	EMETHOD          = "method"          // the resource does not support the method
	ENOROUTE         = "no_route"        // the same, answered as Intune's OData routing does (NoRoute)
	EMEDIATYPE       = "media_type"      // the body is not in a supported media type
	ETOOLARGE        = "too_large"       // the body is over the size limit
	ETIMEOUT         = "timeout"         // the client did not send the request in time
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
	if e, ok := errors.AsType[*Error](err); ok {
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
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return InternalMessage
}

// The words of a refused request body or parameter. Every layer that refuses a value (the
// server's validation, the domain, the Go client before a round trip) builds its message here,
// so that the same mistake reads the same wherever it is caught.

// InvalidValue is the EINVALID error for a value of a property or parameter (kind names which)
// that the contract does not allow. problem says why, in the words of the helpers below; empty,
// the message only names the value's place.
func InvalidValue(kind, name, problem string) *Error {
	name = Clip(name, 64)
	msg := "Invalid value for " + kind + " '" + name + "'"
	if problem != "" {
		msg += ": " + problem
	}
	return &Error{Code: EINVALID, Target: name, Message: msg + "."}
}

// EnumProblem says that value is not one of allowed.
func EnumProblem(value any, allowed []string) string {
	return RenderValue(value) + ". Allowed values: " + strings.Join(allowed, ", ")
}

// TypeProblem says that the value has the wrong JSON type: "expected a boolean, got a string".
func TypeProblem(expected, got string) string { return "expected " + expected + ", got " + got }

// NullProblem says that the value may not be null.
const NullProblem = "null is not allowed"

// RangeProblem says that a number is beyond what a double holds (1e400), for a property or
// parameter that takes numbers.
const RangeProblem = "the number is out of range"

// BoundsProblem says what numbers the contract allows, from its minimum and maximum (either may
// be nil): "want 1 to 1000000", "want at least 0". It is empty when neither is given.
func BoundsProblem(lo, hi *float64) string {
	n := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	switch {
	case lo != nil && hi != nil:
		return "want " + n(*lo) + " to " + n(*hi)
	case lo != nil:
		return "want at least " + n(*lo)
	case hi != nil:
		return "want at most " + n(*hi)
	}
	return ""
}

// LengthProblem says how long a string may be, from the contract's minLength and maxLength (nil
// for none): "want at most 256 characters".
func LengthProblem(minLength uint64, maxLength *uint64) string {
	chars := func(n uint64) string {
		if n == 1 {
			return "1 character"
		}
		return strconv.FormatUint(n, 10) + " characters"
	}
	switch {
	case maxLength != nil && minLength > 0:
		return "want " + strconv.FormatUint(minLength, 10) + " to " + chars(*maxLength)
	case maxLength != nil:
		return "want at most " + chars(*maxLength)
	}
	return "want at least " + chars(minLength)
}

// DateTimeProblem says what a date-time is. In a URL's query a '+' is a space, so an offset
// such as +01:00 must be sent as %2B01:00.
const DateTimeProblem = "want an RFC 3339 date-time such as 2026-01-02T15:04:05Z (in a URL, an offset's '+' as %2B)"

// PatternProblem says that a string does not match the contract's pattern.
func PatternProblem(pattern string) string { return "want a value matching " + pattern }

// UnsupportedOption is the EINVALID error for a query parameter the operation does not take, in
// the words of Graph's OData layer; supported, unless nil, lists those it takes, which the
// message then names.
func UnsupportedOption(name string, supported []string) *Error {
	name = Clip(name, 64)
	msg := "The query parameter '" + name + "' is not supported."
	switch {
	case supported == nil:
	case len(supported) == 0:
		msg += " The operation takes none."
	default:
		msg += " Supported: " + strings.Join(supported, ", ") + "."
	}
	return &Error{Code: EINVALID, Target: name, Message: msg}
}

// RepeatedOption is the EINVALID error for a query parameter of one value sent more than once,
// in the words of Graph's OData layer.
func RepeatedOption(name string) *Error {
	name = Clip(name, 64)
	return &Error{Code: EINVALID, Target: name,
		Message: "Query option '" + name + "' was specified more than once, but it must be specified at most once."}
}

// RepeatedHeader is the EINVALID error for a request header parameter of one value sent more
// than once, worded as RepeatedOption is for a query option.
func RepeatedHeader(name string) *Error {
	name = Clip(name, 64)
	return &Error{Code: EINVALID, Target: name,
		Message: "Header '" + name + "' was specified more than once, but it must be specified at most once."}
}

// NoRoute is the ENOROUTE error for a method the resource does not take, in the words of
// Intune's OData routing: template is the OData route template of the resource's path
// ("~/singleton/navigation"), path the path under the service root. Intune's message names the
// path with its own internal service's prefix, which is no business of a client's: it is left out.
func NoRoute(template, method, path string) *Error {
	return &Error{Code: ENOROUTE, Message: "No OData route exists that match template " + template +
		" with http verb " + Clip(method, 32) + " for request " + path + "."}
}

// NotAnObject is the EINVALID error for a request body that is JSON but not an object: got is
// what it is instead ("an array", "null").
func NotAnObject(got string) *Error {
	return &Error{Code: EINVALID, Message: "The request body must be a JSON object, not " + got + "."}
}

// UnknownProperty is the EINVALID error for a body property that the object holding it, of the
// type typeName ("" when it has no name), does not have; allowed lists those it has.
func UnknownProperty(name, typeName string, allowed []string) *Error {
	name = Clip(name, 64)
	msg := "Property '" + name + "' does not exist"
	if typeName != "" {
		msg += " on type '" + typeName + "'"
	}
	if len(allowed) > 0 {
		msg += ". Allowed properties: " + strings.Join(allowed, ", ")
	}
	return &Error{Code: EINVALID, Target: name, Message: msg + "."}
}

// MissingProperty is the EINVALID error for a body that leaves out a property it requires.
func MissingProperty(name string) *Error {
	name = Clip(name, 64)
	return &Error{Code: EINVALID, Target: name, Message: "Property '" + name + "' is required."}
}

// DuplicateProperty is the EINVALID error for a body naming a property more than once.
func DuplicateProperty(name string) *Error {
	name = Clip(name, 64)
	return &Error{Code: EINVALID, Target: name,
		Message: "Unable to read JSON request payload: the property '" + name + "' appears more than once."}
}

// AmbiguousProperty is the EINVALID error for a body naming one property twice in different
// casings, where names are matched without regard to case.
func AmbiguousProperty(name string, spellings []string) *Error {
	name = Clip(name, 64)
	quoted := make([]string, len(spellings))
	for i, s := range spellings {
		quoted[i] = "'" + Clip(s, 64) + "'"
	}
	return &Error{Code: EINVALID, Target: name, Message: "Unable to read JSON request payload: the property '" + name +
		"' appears more than once, as " + strings.Join(quoted, " and ") + "."}
}

// ReadOnlyMismatch is the EINVALID error for a read-only property sent back with another value
// than the object's.
func ReadOnlyMismatch(name string) *Error {
	return InvalidValue("property", name, "it is read-only and, when sent, must be the object's current id")
}

// EmptyPatch is the EINVALID error for a patch that changes nothing, in Intune's words; its
// cause is ErrEmptyPatch.
func EmptyPatch() *Error {
	return &Error{Code: EINVALID, Message: "Invalid patch, at least 1 property must be changed.", Err: ErrEmptyPatch}
}

// RenderValue shows a client's value in a message: JSON-encoded and cut short.
func RenderValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "the value"
	}
	return Clip(string(b), 64)
}

// Clip cuts s to n bytes (marking the cut with "...") and drops invalid UTF-8, so that
// whatever a client sent cannot make a message long or unprintable.
func Clip(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "..."
	} else if utf8.ValidString(s) {
		return s // what nearly every call gets, checked eight bytes at a time
	}
	return strings.ToValidUTF8(s, "")
}
