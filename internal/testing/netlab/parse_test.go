package netlab

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fixtures are real outputs of iperf3 3.12 and iputils ping (Debian
// bookworm) in a lab: 30/3 Mbit/s, 20 ms, 5 % loss; ping-ok.txt on
// loopback.

func TestParseIperf3(t *testing.T) {
	for _, tc := range []struct {
		file string
		want Iperf3Result
	}{
		{"iperf3-download.json", Iperf3Result{BitsPerSecond: 27814929.25353732, Retransmits: 307, Congestion: "bbr"}},
		{"iperf3-upload.json", Iperf3Result{BitsPerSecond: 2851714.6327720466, Retransmits: 12, MinRTT: 37233 * time.Microsecond, Congestion: "bbr"}},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseIperf3(b)
		if err != nil {
			t.Fatalf("parseIperf3(%s): %v", tc.file, err)
		}
		if got != tc.want {
			t.Errorf("parseIperf3(%s) = %+v; want %+v", tc.file, got, tc.want)
		}
	}
	for _, bad := range []string{`{"error": "unable to connect to server: Connection refused"}`, `{"end": {}}`, `not json`} {
		if got, err := parseIperf3([]byte(bad)); err == nil {
			t.Errorf("parseIperf3(%q) = %+v, nil; want an error", bad, got)
		}
	}
}

func TestParsePing(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		file string
		want PingResult
		loss float64
	}{
		{"ping-ok.txt", PingResult{Sent: 20, Received: 20, Min: ms(0.003), Avg: ms(0.011), Max: ms(0.022)}, 0},
		{"ping-loss.txt", PingResult{Sent: 100, Received: 96, Min: ms(20.126), Avg: ms(20.570), Max: ms(38.998)}, 0.04},
		{"ping-all-lost.txt", PingResult{Sent: 3}, 1},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePing(b)
		if err != nil {
			t.Fatalf("parsePing(%s): %v", tc.file, err)
		}
		if got != tc.want || got.Loss() != tc.loss {
			t.Errorf("parsePing(%s) = %+v (loss %g); want %+v (loss %g)", tc.file, got, got.Loss(), tc.want, tc.loss)
		}
	}
	if got, err := parsePing([]byte("ping: connect: Network is unreachable\n")); err == nil {
		t.Errorf("parsePing(unreachable) = %+v, nil; want an error", got)
	}
}
