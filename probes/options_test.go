package probes

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"fibremon"
)

// TestOptionsDefaults: the zero options of every kind are valid, and Check
// fills them with the kind's Default…Options.
func TestOptionsDefaults(t *testing.T) {
	want := map[fibremon.Kind]Options{
		fibremon.KindLatency:  {Latency: DefaultLatencyOptions},
		fibremon.KindTCP:      {TCP: DefaultTCPOptions},
		fibremon.KindHTTP:     {HTTP: DefaultHTTPOptions},
		fibremon.KindDNS:      {DNS: DefaultDNSOptions},
		fibremon.KindDownload: {Throughput: DefaultThroughputOptions},
		fibremon.KindUpload:   {Throughput: DefaultThroughputOptions},
	}
	addr := map[fibremon.Kind]string{
		fibremon.KindLatency: "127.0.0.1", fibremon.KindTCP: "127.0.0.1:1", fibremon.KindHTTP: "http://h/",
		fibremon.KindDNS: "example.org", fibremon.KindDownload: "h", fibremon.KindUpload: "h",
	}
	for _, k := range fibremon.Kinds {
		got, err := Target{Kind: k, Address: addr[k]}.Check()
		if err != nil {
			t.Errorf("%s: Check of zero options: %v", k, err)
			continue
		}
		if !reflect.DeepEqual(got.Options, want[k]) {
			t.Errorf("%s: Check filled options %+v; want %+v", k, got.Options, want[k])
		}
		if err := (&Options{}).of(k).Validate(); err != nil {
			t.Errorf("%s: zero options: Validate() = %v", k, err)
		}
	}
	if DefaultLatencyOptions.Count != 10 || DefaultLatencyOptions.PacketInterval != 200*time.Millisecond ||
		DefaultThroughputOptions.Duration != 10*time.Second || DefaultThroughputOptions.MaxOtherTrafficRatio != 0.10 {
		t.Errorf("defaults changed: %+v, %+v", DefaultLatencyOptions, DefaultThroughputOptions)
	}
}

// TestCheck: what a Target's probe refuses, Check refuses with the field
// at fault; what it accepts comes back canonical.
func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		target    Target
		wantField string
		wantMsg   string
		wantAddr  string
	}{
		{name: "ndt7 host", target: Target{Kind: fibremon.KindUpload, Address: "ndt.example.org"}, wantAddr: "wss://ndt.example.org"},
		{name: "explicit option kept", target: Target{Kind: fibremon.KindLatency, Address: "h", Options: Options{Latency: LatencyOptions{Count: 3}}}, wantAddr: "h"},
		{name: "unknown kind", target: Target{Kind: "speedtest", Address: "h"}, wantField: "kind"},
		{name: "other kind's options", target: Target{Kind: fibremon.KindHTTP, Address: "http://h/", Options: Options{Latency: LatencyOptions{Count: 5}}},
			wantField: "options", wantMsg: "latency options given to the http probe"},
		{name: "count", target: Target{Kind: fibremon.KindLatency, Address: "h", Options: Options{Latency: LatencyOptions{Count: MaxCount + 1}}},
			wantField: "count", wantMsg: "1001 out of range [1, 1000]"},
		{name: "packet interval", target: Target{Kind: fibremon.KindLatency, Address: "h", Options: Options{Latency: LatencyOptions{PacketInterval: time.Millisecond}}},
			wantField: "packet_interval", wantMsg: "1ms: at least 10ms"},
		{name: "method", target: Target{Kind: fibremon.KindLatency, Address: "h", Options: Options{Latency: LatencyOptions{Method: "udp"}}},
			wantField: "method", wantMsg: `"udp": want auto, icmp or tcp`},
		{name: "latency address", target: Target{Kind: fibremon.KindLatency, Address: "h:http"}, wantField: "address", wantMsg: `"h:http": bad port "http"`},
		{name: "expect status", target: Target{Kind: fibremon.KindHTTP, Address: "http://h/", Options: Options{HTTP: HTTPOptions{ExpectStatus: []int{200, 99}}}},
			wantField: "expect_status[1]", wantMsg: "99 is not an HTTP status"},
		{name: "http URL", target: Target{Kind: fibremon.KindHTTP, Address: "ws://h/"}, wantField: "address", wantMsg: `"ws://h/": want an http(s) URL`},
		{name: "dns server", target: Target{Kind: fibremon.KindDNS, Address: "h", Options: Options{DNS: DNSOptions{Server: "h:0"}}},
			wantField: "server", wantMsg: `"h:0": bad port`},
		{name: "tcp address", target: Target{Kind: fibremon.KindTCP, Address: "h"}, wantField: "address", wantMsg: `"h": want host:port`},
		{name: "duration", target: Target{Kind: fibremon.KindUpload, Address: "h", Options: Options{Throughput: ThroughputOptions{Duration: time.Minute}}},
			wantField: "duration", wantMsg: "1m0s out of range [1s, 15s] (ndt7)"},
		{name: "ratio", target: Target{Kind: fibremon.KindDownload, Address: "h", Options: Options{Throughput: ThroughputOptions{MaxOtherTrafficRatio: 1.5}}},
			wantField: "max_other_traffic_ratio", wantMsg: "1.5 out of range (0, 1]"},
		{name: "ndt7 address", target: Target{Kind: fibremon.KindDownload, Address: "ftp://h/"}, wantField: "address", wantMsg: `ndt7 server: "ftp://h/": want an http(s) or ws(s) URL or a host`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.target.Check()
			if tt.wantField == "" {
				if err != nil || got.Address != tt.wantAddr {
					t.Fatalf("Check() = %+v, %v; want address %q", got, err, tt.wantAddr)
				}
				return
			}
			var te *TargetError
			if !errors.As(err, &te) || !errors.Is(err, ErrBadTarget) {
				t.Fatalf("Check() error = %v; want a *TargetError", err)
			}
			if te.Field != tt.wantField || (tt.wantMsg != "" && te.Msg != tt.wantMsg) || te.Kind != tt.target.Kind {
				t.Errorf("Check() error = %+v; want kind %s, field %q, message %q", *te, tt.target.Kind, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestCheckTimeout(t *testing.T) {
	tests := []struct {
		target  Target
		timeout time.Duration
		wantErr string
	}{
		{Target{Kind: fibremon.KindLatency}, 2 * time.Second, "probes: bad target: latency timeout: 2s is shorter than count × packet_interval = 2s"},
		{Target{Kind: fibremon.KindLatency}, DefaultTimeout(fibremon.KindLatency), ""},
		{Target{Kind: fibremon.KindUpload, Options: Options{Throughput: ThroughputOptions{Duration: 5 * time.Second}}}, 6 * time.Second,
			"probes: bad target: upload timeout: 6s must exceed duration 5s by at least 2s"},
		{Target{Kind: fibremon.KindDownload}, DefaultTimeout(fibremon.KindDownload), ""},
		{Target{Kind: fibremon.KindTCP}, time.Millisecond, ""},
	}
	for _, tt := range tests {
		err := tt.target.CheckTimeout(tt.timeout)
		if got := errString(err); got != tt.wantErr {
			t.Errorf("%s CheckTimeout(%v) = %q; want %q", tt.target.Kind, tt.timeout, got, tt.wantErr)
		}
	}
	for k, want := range map[fibremon.Kind]time.Duration{fibremon.KindDownload: 30 * time.Second, fibremon.KindLatency: 20 * time.Second,
		fibremon.KindHTTP: 10 * time.Second, fibremon.KindTCP: 10 * time.Second, fibremon.KindDNS: 10 * time.Second} {
		if got := DefaultTimeout(k); got != want {
			t.Errorf("DefaultTimeout(%s) = %v; want %v", k, got, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
