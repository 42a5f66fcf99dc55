package ndt7

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestNextMessageSize(t *testing.T) {
	tests := []struct {
		name string
		size int
		sent int64
		want int
	}{
		{"first message, nothing before", InitialMessageSize, InitialMessageSize, InitialMessageSize},
		{"just under 16x", InitialMessageSize, 16*InitialMessageSize - 1, InitialMessageSize},
		{"exactly 16x: not smaller, keep", InitialMessageSize, 16 * InitialMessageSize, InitialMessageSize},
		{"over 16x doubles", InitialMessageSize, 16*InitialMessageSize + 16, 2 * InitialMessageSize},
		{"far over 16x doubles once", InitialMessageSize, 1 << 40, 2 * InitialMessageSize},
		{"half max doubles to max", MaxMessageSize / 2, 1 << 40, MaxMessageSize},
		{"max stays", MaxMessageSize, 1 << 40, MaxMessageSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextMessageSize(tt.size, tt.sent); got != tt.want {
				t.Errorf("nextMessageSize(%d, %d) = %d; want %d", tt.size, tt.sent, got, tt.want)
			}
		})
	}
}

// TestMessageSizeSequence sends messages as a sender does and checks the
// whole sequence: starts at 8 KiB, powers of two, never shrinks, each
// doubling happens only when the size was below 1/16 of the bytes sent,
// and 1 MiB is reached and never exceeded.
func TestMessageSizeSequence(t *testing.T) {
	size, sent := InitialMessageSize, int64(0)
	var sizes []int
	for range 2000 {
		sizes = append(sizes, size)
		sent += int64(size)
		next := nextMessageSize(size, sent)
		if next != size && next != 2*size {
			t.Fatalf("after %d bytes: size %d -> %d; want unchanged or doubled", sent, size, next)
		}
		if next == 2*size && int64(size) >= sent/ScalingFraction {
			t.Fatalf("after %d bytes: doubled %d although it is not below 1/16 (%d)", sent, size, sent/ScalingFraction)
		}
		if next == size && size < MaxMessageSize && int64(size) < sent/ScalingFraction {
			t.Fatalf("after %d bytes: kept %d although it is below 1/16 (%d)", sent, size, sent/ScalingFraction)
		}
		size = next
	}
	if sizes[0] != 8<<10 {
		t.Errorf("first size = %d; want 8192", sizes[0])
	}
	if got := slices.Max(sizes); got != 1<<20 {
		t.Errorf("largest size = %d; want 1 MiB", got)
	}
	distinct := slices.Compact(slices.Clone(sizes))
	want := []int{8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 512 << 10, 1 << 20}
	if !slices.Equal(distinct, want) {
		t.Errorf("size steps = %v; want %v", distinct, want)
	}
}

func TestMeasurementJSONFieldNames(t *testing.T) {
	m := Measurement{
		AppInfo:        &AppInfo{ElapsedTime: 1, NumBytes: 2},
		ConnectionInfo: &ConnectionInfo{Client: "1.2.3.4:5678", Server: "[::1]:2345", UUID: "u"},
		Origin:         OriginServer,
		Test:           TestDownload,
		TCPInfo:        &TCPInfo{},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	// The field names of the specification's measurement message.
	want := map[string][]string{
		"":               {"AppInfo", "ConnectionInfo", "Origin", "TCPInfo", "Test"},
		"AppInfo":        {"ElapsedTime", "NumBytes"},
		"ConnectionInfo": {"Client", "Server", "UUID"},
		"TCPInfo": {"BusyTime", "BytesAcked", "BytesReceived", "BytesRetrans", "BytesSent",
			"ElapsedTime", "MinRTT", "RTT", "RTTVar", "RWndLimited", "SndBufLimited"},
	}
	keys := func(v any) []string {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		return slices.Sorted(maps.Keys(obj))
	}
	for obj, wantKeys := range want {
		v := any(got)
		if obj != "" {
			v = got[obj]
		}
		if k := keys(v); !slices.Equal(k, wantKeys) {
			t.Errorf("keys of %q = %v; want %v", obj, k, wantKeys)
		}
	}
	if got["Origin"] != "server" || got["Test"] != "download" {
		t.Errorf("Origin, Test = %v, %v; want server, download", got["Origin"], got["Test"])
	}

	// Optional parts are omitted, not null.
	b, err = json.Marshal(Measurement{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "{}" {
		t.Errorf("json.Marshal(Measurement{}) = %s; want {}", b)
	}
}

// specExample is the measurement message of the specification.
const specExample = `{
  "AppInfo": {"ElapsedTime": 1234, "NumBytes": 1234},
  "ConnectionInfo": {"Client": "1.2.3.4:5678", "Server": "[::1]:2345", "UUID": "<platform-specific-string>"},
  "Origin": "server",
  "Test": "download",
  "WSPingInfo": {"ElapsedTime": 1234, "LastRTT": 134, "MinRTT": 1234},
  "TCPInfo": {
    "BusyTime": 1, "BytesAcked": 2, "BytesReceived": 3, "BytesSent": 4, "BytesRetrans": 5,
    "ElapsedTime": 6, "MinRTT": 7, "RTT": 8, "RTTVar": 9, "RWndLimited": 10, "SndBufLimited": 11
  }
}`

func TestParseMeasurement(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Measurement
		wantErr error
	}{
		{
			name: "spec example",
			in:   specExample,
			want: &Measurement{
				AppInfo:        &AppInfo{ElapsedTime: 1234, NumBytes: 1234},
				ConnectionInfo: &ConnectionInfo{Client: "1.2.3.4:5678", Server: "[::1]:2345", UUID: "<platform-specific-string>"},
				Origin:         "server",
				Test:           "download",
				TCPInfo: &TCPInfo{BusyTime: 1, BytesAcked: 2, BytesReceived: 3, BytesSent: 4, BytesRetrans: 5,
					ElapsedTime: 6, MinRTT: 7, RTT: 8, RTTVar: 9, RWndLimited: 10, SndBufLimited: 11},
			},
		},
		{name: "empty object", in: `{}`, want: &Measurement{}},
		{name: "not json", in: `{"AppInfo":`, wantErr: ErrMalformedMeasurement},
		{name: "not an object", in: `[1,2]`, wantErr: ErrMalformedMeasurement},
		{name: "wrong type", in: `{"AppInfo":{"NumBytes":"many"}}`, wantErr: ErrMalformedMeasurement},
		{name: "negative bytes", in: `{"AppInfo":{"NumBytes":-1}}`, wantErr: ErrMalformedMeasurement},
		{name: "negative rtt", in: `{"TCPInfo":{"MinRTT":-5}}`, wantErr: ErrMalformedMeasurement},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMeasurement([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseMeasurement(%q) error = %v; want %v", tt.in, err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseMeasurement(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzParseMeasurement(f *testing.F) {
	f.Add([]byte(specExample))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"AppInfo":{"NumBytes":-1}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeasurement(b)
		if err != nil {
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("json.Marshal(%+v): %v", m, err)
		}
		m2, err := parseMeasurement(again)
		if err != nil {
			t.Fatalf("parseMeasurement(%s) after a round trip: %v", again, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Errorf("round trip: %+v != %+v", m, m2)
		}
	})
}

func TestNewHandlerDuration(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultDuration},
		{-time.Second, DefaultDuration},
		{3 * time.Second, 3 * time.Second},
		{time.Hour, MaxDuration},
	}
	for _, tt := range tests {
		h := NewHandler(nil, ServerOptions{MaxDuration: tt.in})
		if h.maxDuration != tt.want {
			t.Errorf("NewHandler(MaxDuration: %s).maxDuration = %s; want %s", tt.in, h.maxDuration, tt.want)
		}
		if h.prepErr != nil || len(h.messages) != 8 {
			t.Errorf("NewHandler: %d prepared messages, err %v; want 8, nil", len(h.messages), h.prepErr)
		}
	}
}

func TestClientDuration(t *testing.T) {
	tests := []struct {
		in, want time.Duration
	}{
		{0, DefaultDuration},
		{2 * time.Second, 2 * time.Second},
		{time.Minute, MaxDuration},
	}
	for _, tt := range tests {
		c := Client{Duration: tt.in}
		if got := c.duration(); got != tt.want {
			t.Errorf("Client{Duration: %s}.duration() = %s; want %s", tt.in, got, tt.want)
		}
	}
}
