// Package fibremon is the vocabulary of the fibre-rollout monitor: the
// measurement Result a probe produces, the monitored Site, access
// technologies, rollout states and the error kinds every layer shares.
//
// It depends on the standard library only. Everything else in the module
// (probes, geo, stores, the HTTP API, the binaries) points inward to it.
package fibremon

import (
	"errors"
	"fmt"
)

// ErrorKind classifies an error by what the caller should do about it.
// New kinds are appended at the end only.
type ErrorKind int

const (
	KindUnknown  ErrorKind = iota // not a *Error
	Invalid                       // the input is wrong; retrying it will not help (4xx)
	NotFound                      // the thing asked for does not exist
	Conflict                      // the input contradicts stored state
	Transient                     // a dependency is unavailable; retry later (503)
	Internal                      // a bug or an unexpected failure (500)
	Unauthorized                  // no or unknown credentials (401)
	Forbidden                     // known credentials, not allowed to do this (403)
)

var kindNames = map[ErrorKind]string{
	KindUnknown:  "unknown",
	Invalid:      "invalid",
	NotFound:     "not found",
	Conflict:     "conflict",
	Transient:    "transient",
	Internal:     "internal",
	Unauthorized: "unauthorized",
	Forbidden:    "forbidden",
}

func (k ErrorKind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is an error with a kind and, for Invalid input, the field at fault
// (a JSON path such as "results[3].values.loss_ratio").
type Error struct {
	Kind  ErrorKind
	Field string
	Msg   string
	Err   error // wrapped cause, may be nil
}

// Error returns "field: msg". Msg already includes the cause's text when
// the error was made by Errorf with %w; a bare cause is used when Msg is empty.
func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error of the given kind. A %w verb in format wraps its
// argument as the cause.
func Errorf(kind ErrorKind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: kind, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// FieldErrorf returns an Invalid error naming the field at fault.
func FieldErrorf(field, format string, args ...any) error {
	return &Error{Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or KindUnknown.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindUnknown
}

// FieldOf returns the field named by the first *Error in err's chain, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// withField prefixes the field of an *Error with prefix; other errors are
// returned as Invalid errors on prefix.
func withField(prefix string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		f := prefix
		if e.Field != "" {
			f = prefix + "." + e.Field
		}
		return &Error{Kind: e.Kind, Field: f, Msg: e.Msg, Err: e.Err}
	}
	return &Error{Kind: Invalid, Field: prefix, Msg: err.Error()}
}
