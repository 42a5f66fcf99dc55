package ndt7

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
)

// Measurement is the JSON object carried by ndt7 text messages. Field names
// are those of the specification; every part is optional on the wire.
type Measurement struct {
	AppInfo        *AppInfo        `json:"AppInfo,omitempty"`
	ConnectionInfo *ConnectionInfo `json:"ConnectionInfo,omitempty"`
	Origin         string          `json:"Origin,omitempty"` // OriginServer or OriginClient
	Test           string          `json:"Test,omitempty"`   // TestDownload or TestUpload
	TCPInfo        *TCPInfo        `json:"TCPInfo,omitempty"`
}

// AppInfo is an application-level measurement.
type AppInfo struct {
	// ElapsedTime is the time since the start of the test, in µs.
	ElapsedTime int64 `json:"ElapsedTime"`
	// NumBytes is the number of message payload bytes sent (download) or
	// received (upload) since the start of the test, WebSocket framing
	// excluded.
	NumBytes int64 `json:"NumBytes"`
}

// ConnectionInfo describes the connection, as seen by the server. A server
// sends it once, in its first measurement.
type ConnectionInfo struct {
	Client string `json:"Client,omitempty"` // "address:port", IPv6 in brackets
	Server string `json:"Server,omitempty"`
	UUID   string `json:"UUID,omitempty"`
}

// TCPInfo holds the kernel's TCP_INFO counters of the server socket. Byte
// counts are at the TCP level (WebSocket and TLS overhead included); times
// are in µs.
type TCPInfo struct {
	BusyTime      int64 `json:"BusyTime"`      // tcpi_busy_time
	BytesAcked    int64 `json:"BytesAcked"`    // tcpi_bytes_acked
	BytesReceived int64 `json:"BytesReceived"` // tcpi_bytes_received
	BytesSent     int64 `json:"BytesSent"`     // tcpi_bytes_sent (incl. retransmissions)
	BytesRetrans  int64 `json:"BytesRetrans"`  // tcpi_bytes_retrans
	ElapsedTime   int64 `json:"ElapsedTime"`   // since the start of the test
	MinRTT        int64 `json:"MinRTT"`        // tcpi_min_rtt
	RTT           int64 `json:"RTT"`           // tcpi_rtt (smoothed)
	RTTVar        int64 `json:"RTTVar"`        // tcpi_rttvar
	RWndLimited   int64 `json:"RWndLimited"`   // tcpi_rwnd_limited
	SndBufLimited int64 `json:"SndBufLimited"` // tcpi_sndbuf_limited
}

// parseMeasurement decodes a text message. Negative counters are rejected:
// they cannot come from a working implementation.
func parseMeasurement(b []byte) (*Measurement, error) {
	var m Measurement
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedMeasurement, err)
	}
	neg := func(v ...int64) bool {
		for _, x := range v {
			if x < 0 {
				return true
			}
		}
		return false
	}
	if a := m.AppInfo; a != nil && neg(a.ElapsedTime, a.NumBytes) {
		return nil, fmt.Errorf("%w: negative AppInfo value", ErrMalformedMeasurement)
	}
	if t := m.TCPInfo; t != nil && neg(t.BusyTime, t.BytesAcked, t.BytesReceived, t.BytesSent,
		t.BytesRetrans, t.ElapsedTime, t.MinRTT, t.RTT, t.RTTVar, t.RWndLimited, t.SndBufLimited) {
		return nil, fmt.Errorf("%w: negative TCPInfo value", ErrMalformedMeasurement)
	}
	return &m, nil
}

// randomPayload is MaxMessageSize random bytes, drawn once per process and
// shared read-only by every sender: messages are slices of it.
var randomPayload = sync.OnceValue(func() []byte {
	b := make([]byte, MaxMessageSize)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return b
})
