package system

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status and problem type in
// system/api; nothing else in the code base decides how an error is shown.
const (
	EINVALID              = "invalid"                // the request is malformed or fails validation
	ENOTFOUND             = "not-found"              // the resource does not exist
	ECONFLICT             = "conflict"               // the request conflicts with current state
	EUNAUTHORIZED         = "unauthorized"           // no or bad credentials
	EFORBIDDEN            = "forbidden"              // authenticated, but not allowed
	ERATELIMIT            = "rate-limited"           // too many requests
	ETOOLARGE             = "too-large"              // the request body is over the limit
	EUNSUPPORTED          = "unsupported"            // the request's media type is not accepted
	ETRANSITION           = "illegal-stage"          // a stage move the pipeline does not allow
	EDNC                  = "dnc"                    // the contact is on the do-not-contact list
	EPRECONDITION         = "precondition"           // If-Match did not match
	EIDEMPOTENCY          = "idempotency-key-reused" // an Idempotency-Key sent again with another request
	EPRECONDITIONREQUIRED = "precondition-required"  // If-Match is required and missing
	EUNAVAILABLE          = "unavailable"            // a dependency is down
	EINTERNAL             = "internal"               // a bug or an unexpected failure
	EMETHOD               = "method-not-allowed"
	ENOTACCEPTABLE        = "not-acceptable"
)

// Error is the product's one error type: a code callers can switch on and a
// message that is safe to show a client.
type Error struct {
	Code    string
	Message string
	// Fields names the request fields at fault, with what is wrong with each,
	// for validation errors.
	Fields map[string]string
}

// Error returns the message; ErrorCode gives the code.
func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming each bad field.
func Invalid(fields map[string]string) *Error {
	return &Error{Code: EINVALID, Message: "the request has invalid fields", Fields: fields}
}

// ErrorCode returns the code of err, EINTERNAL for an error that is not an
// *Error, and "" for nil.
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

// ErrorMessage returns the client-safe message of err. Errors that are not an
// *Error are internal: their text may hold SQL or addresses, so it is hidden.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Permanent reports whether retrying what failed with err cannot help: the
// thing is gone (ENOTFOUND) or the request is malformed (EINVALID). Queue
// workers stop retrying such work.
func Permanent(err error) bool {
	switch ErrorCode(err) {
	case ENOTFOUND, EINVALID:
		return true
	}
	return false
}
