package ndt7

import "errors"

// Errors returned by [Client.Download] and [Client.Upload], wrapped with
// context; compare with errors.Is.
var (
	// ErrHandshake: the server did not upgrade the connection.
	ErrHandshake = errors.New("ndt7: handshake failed")
	// ErrSubprotocol: the server upgraded without selecting SubProtocol.
	ErrSubprotocol = errors.New("ndt7: server did not select subprotocol " + SubProtocol)
	// ErrMessageTooBig: the peer sent a message larger than MaxMessageSize
	// plus slack.
	ErrMessageTooBig = errors.New("ndt7: message too big")
	// ErrMalformedMeasurement: a text message is not a valid Measurement.
	ErrMalformedMeasurement = errors.New("ndt7: malformed measurement")
	// ErrProtocol: the peer broke the protocol (e.g. binary messages in the
	// wrong direction, an abnormal close code).
	ErrProtocol = errors.New("ndt7: protocol violation")
	// ErrStalled: no progress for the read/write timeout, or the test did
	// not end within its duration plus a grace period.
	ErrStalled = errors.New("ndt7: stalled")
	// ErrAborted: the connection ended without a closing handshake before
	// the test duration elapsed.
	ErrAborted = errors.New("ndt7: connection closed before the test ended")
	// ErrNoData: the test ended without any payload transferred.
	ErrNoData = errors.New("ndt7: no data transferred")
	// ErrNoMeasurement: an upload ended without a usable server measurement.
	ErrNoMeasurement = errors.New("ndt7: no usable server measurement")
	// ErrImplausible: the server's measurement contradicts what the client
	// itself sent.
	ErrImplausible = errors.New("ndt7: implausible server measurement")
)
