// Package problem is the one error type of the service's refusals: a
// machine code (the API's error codes), the class of failure that decides
// how a front end answers it, a message for the customer and, for input
// that breaks a rule, one message per field.
//
// Domain rules and command services return a *Error (or wrap one); a
// front end turns it into its own answer by its class (adapters/httpapi
// has the one table from class to HTTP status). An error that carries no
// problem is the service's own failure and is answered as Unavailable.
package problem

import (
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Class is a kind of failure, as a client must react to it.
type Class uint8

const (
	// Unavailable: the service could not do it now; the same request may
	// succeed later. Every error that is not a problem is of this class.
	Unavailable Class = iota
	// Invalid: the input breaks a rule; Fields says where.
	Invalid
	// Malformed: the request cannot be read at all (its body is not JSON,
	// a header is unusable).
	Malformed
	// Unauthorized: no valid credentials.
	Unauthorized
	// Forbidden: the credentials do not allow it.
	Forbidden
	// NotFound: no such thing, or not the caller's.
	NotFound
	// MethodNotAllowed: the resource has no such operation.
	MethodNotAllowed
	// Timeout: the request did not arrive in time.
	Timeout
	// Conflict: the request contradicts the current state.
	Conflict
	// TooLarge: the request is larger than allowed.
	TooLarge
	// UnsupportedMedia: the request's content type is not accepted.
	UnsupportedMedia
	// InsufficientFunds: the organisation cannot pay for it.
	InsufficientFunds
	// RateLimited: too many requests; RetryAfter says when to try again.
	RateLimited
)

var classNames = [...]string{
	Unavailable: "unavailable", Invalid: "invalid", Malformed: "malformed", Unauthorized: "unauthorized",
	Forbidden: "forbidden", NotFound: "not found", MethodNotAllowed: "method not allowed", Timeout: "timeout",
	Conflict: "conflict", TooLarge: "too large", UnsupportedMedia: "unsupported media",
	InsufficientFunds: "insufficient funds", RateLimited: "rate limited",
}

// Classes lists every class.
func Classes() []Class {
	out := make([]Class, len(classNames))
	for i := range out {
		out[i] = Class(i)
	}
	return out
}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class " + strconv.Itoa(int(c))
}

// Error is a refusal: what a client is told, and why.
type Error struct {
	// Code is the machine-readable code (codes.go); it decides the class.
	Code Code
	// Message is for the customer, complete sentences.
	Message string
	// Fields maps a field path ("recipients[3]", "send_at") to what is
	// wrong with it; only for Invalid (and a body that is not an object).
	Fields map[string]string
	// RetryAfter, when not zero, is when the client should try again.
	RetryAfter time.Duration

	cause error
}

// New returns a problem of code with message.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// MsgInvalid is the message of a refusal whose details are in its fields.
const MsgInvalid = "One or more fields failed validation."

// InvalidFields returns the refusal of input whose fields break the rules:
// VALIDATION_ERROR with MsgInvalid and one message per field.
func InvalidFields(fields map[string]string) *Error {
	return &Error{Code: CodeValidation, Message: MsgInvalid, Fields: fields}
}

// Class is the class of the problem's code.
func (e *Error) Class() Class { return e.Code.Class() }

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, k := range slices.Sorted(maps.Keys(e.Fields)) {
		b.WriteString("; " + k + ": " + e.Fields[k])
	}
	return b.String()
}

// Unwrap returns the error the problem was made from, if any.
func (e *Error) Unwrap() error { return e.cause }

// Because returns a copy of e that wraps cause, so that errors.Is and
// errors.As still find cause.
func (e *Error) Because(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

// WithMessage returns a copy of e with another message.
func (e *Error) WithMessage(message string) *Error {
	c := *e
	c.Message = message
	return &c
}

// WithFields returns a copy of e with fields.
func (e *Error) WithFields(fields map[string]string) *Error {
	c := *e
	c.Fields = fields
	return &c
}

// WithRetryAfter returns a copy of e that tells the client to try again
// after d.
func (e *Error) WithRetryAfter(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// Carrier is an error type that carries data of its own (an amount, a
// wait) and says which problem it is.
type Carrier interface {
	error
	Problem() *Error
}

// As returns the problem err is or wraps, or false when err is the
// service's own failure.
func As(err error) (*Error, bool) {
	var p *Error
	if errors.As(err, &p) {
		return p, true
	}
	var c Carrier
	if errors.As(err, &c) {
		return c.Problem(), true
	}
	return nil, false
}
