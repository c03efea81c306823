package platform

import (
	"errors"
	"fmt"
)

// Code is an error's stable kind. Callers and tests branch on codes, never on messages.
type Code string

// The error codes every layer of Wharf speaks. The HTTP edge maps each to one status.
const (
	Invalid      Code = "invalid"      // the request is malformed or breaks a rule
	NotFound     Code = "not_found"    // the thing does not exist, or the caller may not know it does
	Conflict     Code = "conflict"     // a concurrent change won, or the state forbids the action
	Forbidden    Code = "forbidden"    // the caller is known but not allowed
	Unauthorized Code = "unauthorized" // the caller is not known
	Unavailable  Code = "unavailable"  // a dependency cannot be reached or is not ready
	Internal     Code = "internal"     // a bug or an unexpected failure
)

// Error is Wharf's one error type. Message is safe to show to the caller; Err is the
// underlying cause, kept for logs and never shown.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	case e.Message != "":
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	}
	return string(e.Code)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given code with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error of the given code whose cause is err.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, Internal for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ErrorMessage returns the caller-safe message of the first *Error in err's chain, and a
// generic text for any other error, whose details must not leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "an internal error occurred"
}
