package probes

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/icmp"

	"fibremon"
)

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func TestSummarize(t *testing.T) {
	oneToTwenty := make([]time.Duration, 20)
	for i := range oneToTwenty {
		oneToTwenty[i] = ms(float64(i + 1))
	}
	tests := []struct {
		name string
		sent int
		rtts []time.Duration
		want Stats
	}{
		{"nothing sent", 0, nil, Stats{}},
		{"all lost", 3, nil, Stats{Sent: 3, Loss: 1}},
		{"one reply", 1, []time.Duration{ms(5)}, Stats{Sent: 1, Received: 1, Min: ms(5), Avg: ms(5), Max: ms(5), P95: ms(5)}},
		{
			// D = 16 ms twice: J = 16/16 = 1 ms, then 1 + (16-1)/16 = 1.9375 ms.
			"spike", 3, []time.Duration{ms(10), ms(26), ms(10)},
			Stats{Sent: 3, Received: 3, Min: ms(10), Avg: 15333333, Max: ms(26), P95: ms(26), Jitter: 1937500},
		},
		{
			// Send order counts for jitter: D = 20, 10 ms → J = 1.25, then 1.25 + 8.75/16 ms.
			"unsorted", 3, []time.Duration{ms(30), ms(10), ms(20)},
			Stats{Sent: 3, Received: 3, Min: ms(10), Avg: ms(20), Max: ms(30), P95: ms(30), Jitter: 1796875},
		},
		{
			// One lost of five; D = 2, 1, 4 ms → J = 0.125, 0.1796875, 0.41845703125 ms.
			"one lost", 5, []time.Duration{ms(10), ms(12), ms(11), ms(15)},
			Stats{Sent: 5, Received: 4, Min: ms(10), Avg: ms(12), Max: ms(15), P95: ms(15), Jitter: 418457, Loss: 0.2},
		},
		{
			// Nearest rank: ceil(0.95*20) = 19th of 20. Steady D = 1 ms:
			// J = 1 ms * (1 - (15/16)^19) = 706603.957 ns.
			"twenty", 20, oneToTwenty,
			Stats{Sent: 20, Received: 20, Min: ms(1), Avg: ms(10.5), Max: ms(20), P95: ms(19), Jitter: 706604},
		},
		{"sent raised to received", 1, []time.Duration{ms(1), ms(1)}, Stats{Sent: 2, Received: 2, Min: ms(1), Avg: ms(1), Max: ms(1), P95: ms(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.sent, tt.rtts); got != tt.want {
				t.Errorf("Summarize(%d, %v) = %+v; want %+v", tt.sent, tt.rtts, got, tt.want)
			}
		})
	}
}

func TestStatsValues(t *testing.T) {
	tests := []struct {
		s    Stats
		want map[string]float64
	}{
		{Stats{}, map[string]float64{fibremon.PacketsSent: 0, fibremon.PacketsReceived: 0}},
		{Stats{Sent: 2, Loss: 1}, map[string]float64{fibremon.PacketsSent: 2, fibremon.PacketsReceived: 0, fibremon.LossRatio: 1}},
		{
			Stats{Sent: 2, Received: 1, Min: ms(1), Avg: ms(2), Max: ms(3), P95: ms(4), Jitter: ms(5), Loss: 0.5},
			map[string]float64{
				fibremon.PacketsSent: 2, fibremon.PacketsReceived: 1, fibremon.LossRatio: 0.5,
				fibremon.MinRTTSeconds: 0.001, fibremon.AvgRTTSeconds: 0.002, fibremon.MaxRTTSeconds: 0.003, fibremon.P95RTTSeconds: 0.004,
			},
		},
		{
			Stats{Sent: 2, Received: 2, Min: ms(1), Avg: ms(2), Max: ms(3), P95: ms(4), Jitter: ms(5)},
			map[string]float64{
				fibremon.PacketsSent: 2, fibremon.PacketsReceived: 2, fibremon.LossRatio: 0,
				fibremon.MinRTTSeconds: 0.001, fibremon.AvgRTTSeconds: 0.002, fibremon.MaxRTTSeconds: 0.003, fibremon.P95RTTSeconds: 0.004,
				fibremon.JitterSeconds: 0.005,
			},
		},
	}
	for _, tt := range tests {
		got := tt.s.Values()
		if len(got) != len(tt.want) {
			t.Errorf("%+v.Values() = %v; want %v", tt.s, got, tt.want)
			continue
		}
		for k, v := range tt.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%+v.Values()[%q] = %v, %v; want %v", tt.s, k, g, ok, v)
			}
		}
	}
}

// icmpPermitted reports whether this process may send ICMP echo requests
// over IPv4, by the same test as ping: a raw or an ICMP datagram socket.
func icmpPermitted() (raw, dgram bool) {
	if c, err := icmp.ListenPacket("ip4:icmp", ""); err == nil {
		c.Close()
		raw = true
	}
	if c, err := icmp.ListenPacket("udp4", ""); err == nil {
		c.Close()
		dgram = true
	}
	return raw, dgram
}

func TestLatency(t *testing.T) {
	t.Parallel()
	raw, dgram := icmpPermitted()
	autoMethod := MethodTCPConnect // the fallback, when ICMP is not permitted
	if raw || dgram {
		autoMethod = MethodICMP
	}
	t.Logf("ICMP permitted: raw %v, unprivileged %v; auto uses %s", raw, dgram, autoMethod)
	listener := MustListen(t).Addr().String()

	tests := []struct {
		name       string
		target     Target
		timeout    time.Duration
		wantErr    bool
		wantMethod string
		wantUp     bool
		wantSent   float64
		wantRecv   float64
		wantErrMsg string        // substring of Measurement.Err
		dials      *atomic.Int32 // counts calls of target.Dial
		wantDials  int32
	}{
		{
			name:       "auto to loopback",
			target:     Target{Address: listener, Options: Options{Latency: LatencyOptions{Count: 5, PacketInterval: 10 * time.Millisecond}}},
			wantMethod: autoMethod, wantUp: true, wantSent: 5, wantRecv: 5,
		},
		{
			name:       "icmp to loopback",
			target:     Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Method: "icmp", Count: 5, PacketInterval: 10 * time.Millisecond}}},
			wantErr:    autoMethod != MethodICMP, // no permission and no fallback
			wantMethod: MethodICMP, wantUp: true, wantSent: 5, wantRecv: 5,
		},
		{
			// Packets at 0 and 500 ms; the third would be sent after the
			// deadline. 250 ms either side, for a loaded machine.
			name:       "round cut by the deadline",
			target:     Target{Address: listener, Options: Options{Latency: LatencyOptions{Count: 10, PacketInterval: 500 * time.Millisecond}}},
			timeout:    750 * time.Millisecond,
			wantMethod: autoMethod, wantUp: true, wantSent: 2, wantRecv: 2,
		},
		{
			name:       "tcp to listener",
			target:     Target{Address: listener, Options: Options{Latency: LatencyOptions{Method: "tcp", Count: 5, PacketInterval: 10 * time.Millisecond}}},
			wantMethod: MethodTCPConnect, wantUp: true, wantSent: 5, wantRecv: 5,
		},
		{
			name:       "tcp refused is a reply",
			target:     Target{Address: MustClosedPort(t), Options: Options{Latency: LatencyOptions{Method: "tcp", Count: 4, PacketInterval: 10 * time.Millisecond}}},
			wantMethod: MethodTCPConnect, wantUp: true, wantSent: 4, wantRecv: 4,
		},
		{
			name:       "tcp black-holed",
			target:     Target{Address: MustBlackHole(t), Options: Options{Latency: LatencyOptions{Method: "tcp", Count: 3, PacketInterval: 50 * time.Millisecond}}},
			timeout:    400 * time.Millisecond,
			wantMethod: MethodTCPConnect, wantUp: false, wantSent: 3, wantRecv: 0,
			wantErrMsg: "all 3 packets lost, last: timeout after",
		},
		{
			name:       "auto through Dial uses tcp",
			target:     Target{Address: listener, Options: Options{Latency: LatencyOptions{Count: 3, PacketInterval: 10 * time.Millisecond}}},
			wantMethod: MethodTCPConnect, wantUp: true, wantSent: 3, wantRecv: 3,
			dials: new(atomic.Int32), wantDials: 3,
		},
		{
			name:       "unresolvable",
			target:     Target{Address: "no-such-host.invalid", Options: Options{Latency: LatencyOptions{Method: "tcp"}}},
			timeout:    time.Second,
			wantMethod: MethodTCPConnect, wantUp: false,
			wantErrMsg: "resolve no-such-host.invalid: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := orDefault(tt.timeout, 5*time.Second)
			if tt.dials != nil {
				tt.target.Dial = countingDial(tt.dials)
			}
			start := time.Now()
			m, err := Latency(withTimeoutCtx(t, timeout), tt.target, discard)
			elapsed := time.Since(start)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Latency(%+v) = %+v, nil; want an error", tt.target, m)
				}
				t.Logf("error as expected: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("Latency(%+v) error = %v", tt.target, err)
			}
			t.Logf("%s in %v: up %v, err %q, values %v", m.Method, elapsed.Round(time.Millisecond), m.Up, m.Err, m.Values)
			if tt.dials != nil && tt.dials.Load() != tt.wantDials {
				t.Errorf("Latency(%q) called Dial %d times; want %d (one per packet)", tt.target.Address, tt.dials.Load(), tt.wantDials)
			}
			checkResult(t, fibremon.KindLatency, tt.target.Address, m)
			if m.Method != tt.wantMethod || m.Up != tt.wantUp {
				t.Errorf("Latency(%q) Method, Up = %q, %v; want %q, %v", tt.target.Address, m.Method, m.Up, tt.wantMethod, tt.wantUp)
			}
			if !strings.Contains(m.Err, tt.wantErrMsg) || m.Up != (m.Err == "") {
				t.Errorf("Latency(%q) Err = %q; want it to contain %q", tt.target.Address, m.Err, tt.wantErrMsg)
			}
			if elapsed > timeout+timeoutSlack {
				t.Errorf("Latency(%q) took %v; want at most its timeout %v (+%v)", tt.target.Address, elapsed, timeout, timeoutSlack)
			}
			if tt.wantErrMsg != "" && strings.HasPrefix(tt.wantErrMsg, "resolve") {
				return // no packets
			}
			v := m.Values
			if v[fibremon.PacketsSent] != tt.wantSent || v[fibremon.PacketsReceived] != tt.wantRecv {
				t.Errorf("Latency(%q) sent, received = %v, %v; want %v, %v", tt.target.Address,
					v[fibremon.PacketsSent], v[fibremon.PacketsReceived], tt.wantSent, tt.wantRecv)
			}
			if want := (tt.wantSent - tt.wantRecv) / tt.wantSent; v[fibremon.LossRatio] != want {
				t.Errorf("Latency(%q) loss = %v; want %v", tt.target.Address, v[fibremon.LossRatio], want)
			}
			if tt.wantRecv == 0 {
				if _, ok := v[fibremon.AvgRTTSeconds]; ok {
					t.Errorf("Latency(%q) reports an average RTT with no reply: %v", tt.target.Address, v)
				}
				return
			}
			lo, avg, p95, hi := v[fibremon.MinRTTSeconds], v[fibremon.AvgRTTSeconds], v[fibremon.P95RTTSeconds], v[fibremon.MaxRTTSeconds]
			// Only the best RTT is bounded: a loaded machine delays some
			// packets, rarely all of them.
			if !(0 < lo && lo <= avg && avg <= hi && lo <= p95 && p95 <= hi && lo < 0.1) {
				t.Errorf("Latency(%q) RTTs min %v avg %v p95 %v max %v; want 0 < min <= avg, p95 <= max and min < 100ms on loopback",
					tt.target.Address, lo, avg, p95, hi)
			}
			if _, ok := v[fibremon.JitterSeconds]; !ok {
				t.Errorf("Latency(%q) reports no jitter: %v", tt.target.Address, v)
			}
		})
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func TestLatencyBadTarget(t *testing.T) {
	var d net.Dialer
	tests := []struct {
		name   string
		target Target
	}{
		{"no address", Target{}},
		{"bad port", Target{Address: "127.0.0.1:http"}},
		{"port 0", Target{Address: "127.0.0.1:0"}},
		{"bad IPv6", Target{Address: "::1::2"}},
		{"negative count", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Count: -1}}}},
		{"count too large", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Count: MaxCount + 1}}}},
		{"negative interval", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{PacketInterval: -time.Second}}}},
		{"interval too short", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{PacketInterval: time.Microsecond}}}},
		{"unknown method", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Method: "udp"}}}},
		{"icmp through Dial", Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Method: "icmp"}}, Dial: d.DialContext}},
		{"wrong kind", Target{Kind: fibremon.KindHTTP, Address: "127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Latency(t.Context(), tt.target, discard)
			if !errors.Is(err, ErrBadTarget) {
				t.Errorf("Latency(%+v) = %+v, %v; want a bad target error", tt.target, m, err)
			}
		})
	}
}

func TestSplitLatencyAddress(t *testing.T) {
	tests := []struct{ in, host, port string }{
		{"example.net", "example.net", "443"},
		{"example.net:80", "example.net", "80"},
		{"192.0.2.7", "192.0.2.7", "443"},
		{"::1", "::1", "443"},
		{"[::1]", "::1", "443"},
		{"[::1]:8443", "::1", "8443"},
	}
	for _, tt := range tests {
		host, port, err := splitLatencyAddress(tt.in)
		if err != nil || host != tt.host || port != tt.port {
			t.Errorf("splitLatencyAddress(%q) = %q, %q, %v; want %q, %q, nil", tt.in, host, port, err, tt.host, tt.port)
		}
	}
}

// noNetRawEnv marks the child process TestLatencyWithoutNetRaw runs itself
// in.
const noNetRawEnv = "FIBREMON_PROBES_TEST_NO_NET_RAW"

// TestLatencyWithoutNetRaw proves the fallback where ICMP is not permitted.
// As root it re-runs itself under setpriv without CAP_NET_RAW (in its
// bounding set, so root cannot regain it), so raw ICMP is refused for real.
func TestLatencyWithoutNetRaw(t *testing.T) {
	t.Parallel()
	if os.Getenv(noNetRawEnv) == "" && os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skipf("cannot drop CAP_NET_RAW: %v (TestLatency still checks the method auto picks)", err)
		}
		cmd := exec.CommandContext(t.Context(), setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", "--",
			os.Args[0], "-test.run=^TestLatencyWithoutNetRaw$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), noNetRawEnv+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("child without CAP_NET_RAW:\n%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		if !strings.Contains(string(out), "--- PASS: TestLatencyWithoutNetRaw") {
			t.Fatalf("child did not pass TestLatencyWithoutNetRaw")
		}
		return
	}

	raw, dgram := icmpPermitted()
	if raw {
		t.Skip("raw ICMP is permitted without root or with CAP_NET_RAW dropped: no fallback to test")
	}
	listener := MustListen(t).Addr().String()
	want := MethodTCPConnect
	if dgram {
		want = MethodICMP // unprivileged ICMP, allowed by net.ipv4.ping_group_range
	}
	m, err := Latency(withTimeoutCtx(t, 5*time.Second), Target{Address: listener, Options: Options{Latency: LatencyOptions{Count: 3, PacketInterval: 10 * time.Millisecond}}}, discard)
	if err != nil || m.Method != want || !m.Up || m.Values[fibremon.PacketsReceived] != 3 {
		t.Errorf("Latency(auto, %q) = %+v, %v; want method %q, up, 3 received", listener, m, err, want)
	}
	checkResult(t, fibremon.KindLatency, listener, m)

	m, err = Latency(withTimeoutCtx(t, 5*time.Second), Target{Address: "127.0.0.1", Options: Options{Latency: LatencyOptions{Method: "icmp", Count: 2, PacketInterval: 10 * time.Millisecond}}}, discard)
	if dgram != (err == nil) {
		t.Errorf("Latency(icmp) = %+v, %v; want an error exactly when ICMP is not permitted (unprivileged ICMP: %v)", m, err, dgram)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Latency(icmp) error = %v; want a permission error", err)
	}
	t.Logf("method icmp without permission: %v", err)
}
