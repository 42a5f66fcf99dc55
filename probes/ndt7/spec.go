package ndt7

import "time"

// URL paths and WebSocket subprotocol defined by the specification.
const (
	DownloadPath = "/ndt/v7/download"
	UploadPath   = "/ndt/v7/upload"
	SubProtocol  = "net.measurementlab.ndt.v7"
)

// Test names, as used in [Measurement.Test] and [Summary.Test].
const (
	TestDownload = "download"
	TestUpload   = "upload"
)

// Measurement origins, as used in [Measurement.Origin].
const (
	OriginServer = "server"
	OriginClient = "client"
)

// Message sizes and timing.
const (
	// InitialMessageSize is the size of the first binary message.
	InitialMessageSize = 1 << 13

	// MaxMessageSize is the largest binary message a sender produces.
	MaxMessageSize = 1 << 20

	// MaxReadMessageSize is the largest binary message a reader accepts,
	// the smallest limit the specification allows (1 << 24). Binary
	// messages are discarded as they stream in, never buffered.
	MaxReadMessageSize = 1 << 24

	// ScalingFraction: the message size doubles while it is smaller than
	// 1/ScalingFraction of the bytes sent so far.
	ScalingFraction = 16

	// MeasurementInterval is how often the server sends a Measurement.
	MeasurementInterval = 250 * time.Millisecond

	// DefaultDuration is the expected length of a test.
	DefaultDuration = 10 * time.Second

	// MaxDuration is the hard upper bound on the length of a test.
	MaxDuration = 15 * time.Second

	// maxQueryLength is the longest query string a server accepts.
	maxQueryLength = 4096

	// readLimit is the largest message (payload bytes) either side reads.
	readLimit = MaxReadMessageSize

	// maxTextSize is the largest text message (a JSON Measurement, a few
	// hundred bytes in practice) either side reads; text is buffered.
	maxTextSize = 64 << 10

	// closeGrace bounds the closing handshake after a test ends.
	closeGrace = 2 * time.Second
)

// nextMessageSize returns the size of the binary message to send after one
// of size bytes, when sent bytes (including that message) have been sent.
// The size doubles while it is below sent/ScalingFraction and never exceeds
// MaxMessageSize.
func nextMessageSize(size int, sent int64) int {
	if size >= MaxMessageSize || int64(size) >= sent/ScalingFraction {
		return size
	}
	return min(size*2, MaxMessageSize)
}
