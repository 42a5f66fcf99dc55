package probes

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"fibremon"
)

// testZone is what MustDNSServer serves: A records of fibre.test. names.
var testZone = map[string][]netip.Addr{
	"one.fibre.test.": {netip.MustParseAddr("192.0.2.10")},
	"two.fibre.test.": {netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21")},
}

// MustDNSServer starts an authoritative DNS server for testZone on
// 127.0.0.1 (UDP) and returns its address. Names in the zone have A records
// and no others; any other name is NXDOMAIN.
//
// Liveness: the serving goroutine exits when Cleanup shuts the server down.
func MustDNSServer(tb testing.TB) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{
		PacketConn:        pc,
		NotifyStartedFunc: func() { close(started) },
		Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
			resp := new(dns.Msg)
			resp.SetReply(req)
			resp.Authoritative = true
			q := req.Question[0]
			addrs, ok := testZone[strings.ToLower(q.Name)]
			switch {
			case !ok:
				resp.SetRcode(req, dns.RcodeNameError)
			case q.Qtype == dns.TypeA:
				for _, a := range addrs {
					resp.Answer = append(resp.Answer, &dns.A{
						Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
						A:   net.IP(a.AsSlice()),
					})
				}
			}
			w.WriteMsg(resp)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.ActivateAndServe() }()
	select {
	case <-started:
	case err := <-served:
		tb.Fatalf("DNS server: %v", err)
	}
	tb.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// mustSilentUDP returns the address of a UDP socket that reads and drops
// every datagram: a DNS server that never answers.
func mustSilentUDP(tb testing.TB) string {
	tb.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func TestDNS(t *testing.T) {
	t.Parallel()
	server := MustDNSServer(t)
	closedUDP := mustSilentUDP(t)
	// Closing the socket again leaves a port that answers ICMP port
	// unreachable: the client's read is refused.
	if c, err := net.ListenPacket("udp", "127.0.0.1:0"); err == nil {
		closedUDP = c.LocalAddr().String()
		c.Close()
	}
	tests := []struct {
		name        string
		target      Target
		timeout     time.Duration
		wantUp      bool
		wantAnswers float64 // -1: no dns_answers value
		wantErrMsg  string
	}{
		{name: "one A", target: Target{Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: server}}}, wantUp: true, wantAnswers: 1},
		{name: "two A, relative name", target: Target{Address: "two.fibre.test", Options: Options{DNS: DNSOptions{Server: server}}}, wantUp: true, wantAnswers: 2},
		{name: "NXDOMAIN", target: Target{Address: "missing.fibre.test.", Options: Options{DNS: DNSOptions{Server: server}}}, wantAnswers: 0, wantErrMsg: "NXDOMAIN"},
		{name: "silent server", target: Target{Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: mustSilentUDP(t)}}}, timeout: 300 * time.Millisecond,
			wantAnswers: -1, wantErrMsg: "timeout after "},
		{name: "refused", target: Target{Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: closedUDP}}}, timeout: 2 * time.Second,
			wantAnswers: -1, wantErrMsg: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := orDefault(tt.timeout, 5*time.Second)
			var dials atomic.Int32
			tt.target.Dial = countingDial(&dials)
			start := time.Now()
			m, err := DNS(withTimeoutCtx(t, timeout), tt.target, discard)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("DNS(%q) error = %v", tt.target.Address, err)
			}
			t.Logf("in %v: %+v", elapsed.Round(time.Millisecond), m)
			checkResult(t, fibremon.KindDNS, tt.target.Address, m)
			if m.Up != tt.wantUp || m.Method != MethodDNSUDP {
				t.Errorf("DNS(%q) Up, Method = %v, %q; want %v, %q", tt.target.Address, m.Up, m.Method, tt.wantUp, MethodDNSUDP)
			}
			got, ok := m.Values[fibremon.DNSAnswers]
			if (tt.wantAnswers < 0 && ok) || (tt.wantAnswers >= 0 && (!ok || got != tt.wantAnswers)) {
				t.Errorf("DNS(%q) values = %v; want %s = %v", tt.target.Address, m.Values, fibremon.DNSAnswers, tt.wantAnswers)
			}
			if !strings.Contains(m.Err, tt.wantErrMsg) || m.Up != (m.Err == "") {
				t.Errorf("DNS(%q) Err = %q; want it to contain %q", tt.target.Address, m.Err, tt.wantErrMsg)
			}
			if elapsed > timeout+timeoutSlack {
				t.Errorf("DNS(%q) took %v; want at most its timeout %v (+%v)", tt.target.Address, elapsed, timeout, timeoutSlack)
			}
			if dials.Load() == 0 {
				t.Errorf("DNS(%q) never called Target.Dial", tt.target.Address)
			}
		})
	}
}

func TestDNSBadTarget(t *testing.T) {
	for _, tg := range []Target{
		{},
		{Address: "one.fibre.test.", Options: Options{DNS: DNSOptions{Server: "127.0.0.1"}}},
		{Address: "one.fibre.test.", Kind: fibremon.KindHTTP},
	} {
		m, err := DNS(t.Context(), tg, discard)
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("DNS(%+v) = %+v, %v; want a bad target error", tg, m, err)
		}
	}
}
