package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	probing "github.com/prometheus-community/pro-bing"
	"golang.org/x/net/icmp"

	"fibremon"
)

// LatencyOptions are the options of a latency round.
type LatencyOptions struct {
	// Method is "icmp", "tcp" or "auto": ICMP, falling back to TCP
	// connect when ICMP is not permitted or Target.Dial is set.
	Method string `yaml:"method"`
	// Count is the number of packets per round, at most MaxCount.
	Count int `yaml:"count"`
	// PacketInterval is the time between sending packets, at least
	// MinPacketInterval.
	PacketInterval time.Duration `yaml:"packet_interval"`
}

// DefaultLatencyOptions are the defaults of a latency round: ICMP when
// permitted, 10 packets, one every 200 ms.
var DefaultLatencyOptions = LatencyOptions{Method: "auto", Count: 10, PacketInterval: 200 * time.Millisecond}

// Latency limits.
const (
	MaxCount = 1000
	// MinPacketInterval keeps a misconfigured round from flooding its
	// target.
	MinPacketInterval = 10 * time.Millisecond
	// DefaultLatencyPort is the TCP-connect port when Target.Address names
	// no port.
	DefaultLatencyPort = "443"
	// PacketTimeout is how long a packet waits for its reply, within ctx's
	// deadline; a later reply is a loss. It is no longer than Linux's
	// initial SYN retransmission timeout (1 s), so a TCP connect attempt
	// sends exactly one SYN: a lost SYN is a lost packet, never a
	// 1-second RTT.
	PacketTimeout = time.Second
	// latencyTimeout is the default timeout of a round.
	latencyTimeout = 20 * time.Second
)

// Validate checks the options, zero fields taken as their defaults.
func (o LatencyOptions) Validate() error {
	o.setDefaults()
	switch o.Method {
	case "auto", "icmp", "tcp":
	default:
		return optionError(fibremon.KindLatency, "method", "%q: want auto, icmp or tcp", o.Method)
	}
	if o.Count < 1 || o.Count > MaxCount {
		return optionError(fibremon.KindLatency, "count", "%d out of range [1, %d]", o.Count, MaxCount)
	}
	if o.PacketInterval < MinPacketInterval {
		return optionError(fibremon.KindLatency, "packet_interval", "%v: at least %v", o.PacketInterval, MinPacketInterval)
	}
	return nil
}

func (o *LatencyOptions) setDefaults()               { *o = withDefaults(*o, DefaultLatencyOptions) }
func (LatencyOptions) defaultTimeout() time.Duration { return latencyTimeout }

func (o LatencyOptions) checkTimeout(d time.Duration) error {
	if round := time.Duration(o.Count) * o.PacketInterval; round >= d {
		return optionError(fibremon.KindLatency, "timeout", "%v is shorter than count × packet_interval = %v", d, round)
	}
	return nil
}

func (LatencyOptions) checkAddress(addr string) (string, error) {
	_, _, err := splitLatencyAddress(addr)
	return addr, err
}

// Latency sends a round of t.Latency.Count packets to t.Address, one every
// t.Latency.PacketInterval, and reports fibremon.PacketsSent, PacketsReceived, LossRatio,
// the RTT minimum, average, maximum and 95th percentile and JitterSeconds
// (see Summarize). It is Up when at least one packet came back.
//
// With Method "icmp" it sends ICMP echo requests: over a raw socket when
// permitted (root or CAP_NET_RAW), else over an unprivileged ICMP datagram
// socket (Linux, when net.ipv4.ping_group_range admits the process's group).
// If neither is permitted, or t.Dial is set (raw ICMP cannot go through a
// dialer), that is an error. On Linux an ICMP packet's RTT runs from just
// before its send to the kernel's receive timestamp of its reply
// (SO_TIMESTAMPNS, as iputils ping), so delays of this process in reading
// the reply are not counted; elsewhere, and should the kernel refuse the
// timestamp option, pro-bing pings and times the reply when the process
// reads it. With Method "tcp" each packet is a fresh TCP
// connect through t.Dial to host:port, timed to the end of the handshake; a
// refused connection counts as a reply, since its RST made the round trip.
// Method "auto" (the default) is ICMP when it is permitted and t.Dial is
// nil, TCP connect otherwise; Measurement.Method says which was used.
//
// A name is resolved once, before the round, with the default resolver;
// IPv4 is preferred when it has both families. A packet is lost when no
// reply comes within PacketTimeout or before ctx's deadline; packets not yet
// sent at the deadline are not counted as sent. A round therefore needs a
// deadline of at least (Count-1)*PacketInterval + PacketTimeout to send all its
// packets and wait for every reply. An ICMP round through pro-bing may
// return up to about 100 ms after the round or the deadline ends: its
// receive loop notices it should stop only when its read deadline (a
// backoff of up to 102.4 ms) expires.
func Latency(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindLatency)
	if err != nil {
		return Measurement{}, err
	}
	count, interval, method := t.Latency.Count, t.Latency.PacketInterval, t.Latency.Method
	if method == "icmp" && t.Dial != nil {
		return Measurement{}, optionError(fibremon.KindLatency, "method", "icmp cannot go through a custom Dial; use tcp or auto")
	}
	host, port, err := splitLatencyAddress(t.Address)
	if err != nil {
		return Measurement{}, badTargetf("latency address: %v", err)
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindLatency), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx, fibremon.KindLatency)
	defer cancel()

	ip, resolveErr := resolveIP(ctx, host)
	useICMP, privileged, err := latencyMethod(method, t.Dial != nil, ip.Is6(), logger)
	if err != nil {
		return Measurement{}, err
	}
	m := Measurement{Method: MethodTCPConnect}
	if useICMP {
		m.Method = MethodICMP
	}
	if resolveErr != nil {
		if err := cancelled(ctx); err != nil {
			return Measurement{}, err
		}
		m.Err = truncate("resolve " + host + ": " + describe(resolveErr, allowed))
		return m, nil
	}

	var r round
	if useICMP {
		r, err = icmpRound(ctx, ip, privileged, count, interval, logger)
		if err != nil {
			return Measurement{}, err
		}
	} else {
		addr := net.JoinHostPort(ip.String(), port)
		r = tcpRound(ctx, dialer(t), addr, count, interval)
	}
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	stats := Summarize(r.sent, r.rtts)
	m.Up = stats.Received > 0
	m.Values = stats.Values()
	switch {
	case m.Up:
	case stats.Sent == 0 && r.lastErr != "":
		m.Err = truncate("no packet sent: " + r.lastErr)
	case stats.Sent == 0:
		m.Err = "no packet sent before the deadline"
	case r.lastErr != "":
		m.Err = truncate(fmt.Sprintf("all %d packets lost, last: %s", stats.Sent, r.lastErr))
	default:
		m.Err = fmt.Sprintf("all %d packets lost", stats.Sent)
	}
	logger.Debug("latency round", "method", m.Method, "up", m.Up,
		"packets_sent", stats.Sent, "packets_received", stats.Received,
		"rtt_avg_seconds", stats.Avg.Seconds(), "kernel_timestamps", r.stamped,
		"user_rtt_avg_seconds", Summarize(0, r.userRTTs).Avg.Seconds())
	return m, nil
}

// splitLatencyAddress splits "host", "host:port", "[v6]:port" or a bare
// IPv6 address into host and port (DefaultLatencyPort if none).
func splitLatencyAddress(addr string) (host, port string, err error) {
	if addr == "" {
		return "", "", errors.New("missing")
	}
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		// No port: a name, an IPv4 address or a bare or bracketed IPv6 one.
		host, port = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), DefaultLatencyPort
		if strings.Contains(host, ":") {
			if _, perr := netip.ParseAddr(host); perr != nil {
				return "", "", fmt.Errorf("%q: %v", addr, err)
			}
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("%q: no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q: bad port %q", addr, port)
	}
	return host, port, nil
}

// resolveIP returns host's address, preferring IPv4.
func resolveIP(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, fmt.Errorf("lookup %s: no addresses", host)
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	return ips[0], nil
}

// latencyMethod decides between ICMP (raw or unprivileged) and TCP connect.
// It is an error only for method "icmp" when ICMP is not permitted.
func latencyMethod(method string, dialSet, ipv6 bool, logger *slog.Logger) (useICMP, privileged bool, err error) {
	if method == "tcp" || (method == "auto" && dialSet) {
		return false, false, nil
	}
	privileged, err = icmpPermission(ipv6)
	switch {
	case err == nil:
		return true, privileged, nil
	case method == "icmp":
		return false, false, fmt.Errorf("latency: ICMP not permitted (use method tcp or auto): %w", err)
	}
	logger.Debug("ICMP not permitted, using TCP connect", "err", err)
	return false, false, nil
}

// icmpPermission reports whether this process may open a raw ICMP socket
// (privileged) or else an unprivileged ICMP datagram socket, by opening and
// closing one. The error says why neither is permitted.
func icmpPermission(ipv6 bool) (privileged bool, err error) {
	raw, dgram := "ip4:icmp", "udp4"
	if ipv6 {
		raw, dgram = "ip6:ipv6-icmp", "udp6"
	}
	c, rawErr := icmp.ListenPacket(raw, "")
	if rawErr == nil {
		c.Close()
		return true, nil
	}
	c, dgramErr := icmp.ListenPacket(dgram, "")
	if dgramErr == nil {
		c.Close()
		return false, nil
	}
	return false, fmt.Errorf("raw socket: %w; unprivileged: %w", rawErr, dgramErr)
}

// round is what a latency round saw: RTTs of the packets that came back, in
// the order they were sent, and why the last failed packet failed.
type round struct {
	sent    int
	rtts    []time.Duration
	lastErr string
	// stamped counts the replies that carried a kernel receive timestamp,
	// and userRTTs holds, in the order they were read, what their RTTs
	// would have been with the receive time taken in user space (kernel
	// timestamps only; for diagnostics).
	stamped  int
	userRTTs []time.Duration
}

// proBingRound pings ip with pro-bing, which timestamps replies in user
// space. The error is for a socket that could not be set up; a send failure
// (e.g. no route) ends the round with lastErr.
func proBingRound(ctx context.Context, ip netip.Addr, privileged bool, count int, interval time.Duration, logger *slog.Logger) (round, error) {
	type reply struct {
		seq int
		rtt time.Duration
	}
	var (
		replies []reply
		setUp   bool
	)
	p := probing.New(ip.String())
	p.SetIPAddr(&net.IPAddr{IP: net.IP(ip.AsSlice()), Zone: ip.Zone()})
	p.SetPrivileged(privileged)
	p.SetLogger(pingLogger{logger})
	p.Count = count
	p.Interval = interval
	p.Timeout = time.Duration(count-1)*interval + PacketTimeout
	p.RecordRtts, p.RecordTTLs = false, false
	// pro-bing calls OnSetup before its goroutines start and OnRecv from
	// its run loop, which RunWithContext waits for: no locking needed.
	p.OnSetup = func() { setUp = true }
	p.OnRecv = func(pkt *probing.Packet) {
		replies = append(replies, reply{pkt.Seq, pkt.Rtt})
	}
	err := p.RunWithContext(ctx)
	if err != nil && !setUp {
		return round{}, fmt.Errorf("latency: ICMP socket: %w", err)
	}
	r := round{sent: p.Statistics().PacketsSent}
	if err != nil && ctx.Err() == nil {
		r.lastErr = describe(err, 0)
	}
	// Sequence numbers count up from 0 in send order (they wrap at 65536,
	// beyond MaxCount).
	slices.SortFunc(replies, func(a, b reply) int { return a.seq - b.seq })
	for _, rp := range replies {
		r.rtts = append(r.rtts, rp.rtt)
	}
	return r, nil
}

// tcpRound times count TCP connects to addr, started every interval
// whether or not the previous one has finished, like ping.
//
// Liveness: one goroutine per packet, each bounded by PacketTimeout and
// ctx; tcpRound waits for all of them before it returns.
func tcpRound(ctx context.Context, dial DialFunc, addr string, count int, interval time.Duration) round {
	type reply struct {
		ok  bool
		rtt time.Duration
		err string
	}
	replies := make([]reply, count)
	var wg sync.WaitGroup
	start := time.Now()
	sent := 0
send:
	for i := range count {
		if i > 0 {
			timer := time.NewTimer(time.Until(start.Add(time.Duration(i) * interval)))
			select {
			case <-ctx.Done():
				timer.Stop()
				break send
			case <-timer.C:
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		wg.Go(func() {
			rtt, err := connectOnce(ctx, dial, addr)
			replies[i] = reply{ok: err == "", rtt: rtt, err: err}
		})
	}
	wg.Wait()
	r := round{sent: sent}
	for _, rp := range replies[:sent] {
		if rp.ok {
			r.rtts = append(r.rtts, rp.rtt)
		} else {
			r.lastErr = rp.err
		}
	}
	return r
}

// connectOnce times one TCP handshake. A refused connection is a reply;
// otherwise a non-empty error says why the packet was lost.
func connectOnce(ctx context.Context, dial DialFunc, addr string) (time.Duration, string) {
	allowed := PacketTimeout
	if deadline, ok := ctx.Deadline(); ok {
		allowed = min(allowed, time.Until(deadline))
	}
	ctx, cancel := context.WithTimeout(ctx, allowed)
	defer cancel()
	t0 := time.Now()
	c, err := dial(ctx, "tcp", addr)
	rtt := time.Since(t0)
	if err == nil {
		c.Close()
		return rtt, ""
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return rtt, ""
	}
	return 0, describe(err, allowed)
}

// Stats summarises a latency round.
type Stats struct {
	Sent, Received int
	// Min, Avg, Max and P95 are over the received packets' RTTs. P95 is
	// the nearest-rank 95th percentile: the smallest RTT at or above 95 %
	// of them (with 10 packets, the maximum).
	Min, Avg, Max, P95 time.Duration
	// Jitter is the RFC 3550 (section 6.4.1) interarrival jitter estimate
	// applied to RTTs; see Summarize.
	Jitter time.Duration
	// Loss is 1 - Received/Sent, 0 when nothing was sent.
	Loss float64
}

// Summarize computes a round's statistics from the number of packets sent
// and the RTTs of those that came back, in the order they were sent (sent
// is raised to len(rtts) if smaller).
//
// Jitter follows RFC 3550: J += (|D| - J)/16, starting from J = 0, where D
// for a pair of consecutive received packets is the difference of their
// transit times. An echo's RTT is its transit time measured on one clock,
// so D(i-1, i) = RTT(i) - RTT(i-1); a lost packet is skipped, so D compares
// the packets before and after it. With gain 1/16 and only Count-1
// differences the estimate is still rising from 0: for a steady |D| = d a
// 10-packet round reports d*(1-(15/16)^9) ≈ 0.44 d. Compare jitter only
// between rounds of the same Count.
func Summarize(sent int, rtts []time.Duration) Stats {
	s := Stats{Sent: max(sent, len(rtts)), Received: len(rtts)}
	if s.Sent > 0 {
		s.Loss = float64(s.Sent-s.Received) / float64(s.Sent)
	}
	if s.Received == 0 {
		return s
	}
	sorted := slices.Sorted(slices.Values(rtts))
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	var sum float64
	for _, rtt := range rtts {
		sum += float64(rtt)
	}
	s.Avg = time.Duration(math.Round(sum / float64(len(rtts))))
	rank := (95*len(sorted) + 99) / 100 // ceil(0.95 n), in integers
	s.P95 = sorted[rank-1]
	var j float64
	for i := 1; i < len(rtts); i++ {
		d := math.Abs(float64(rtts[i] - rtts[i-1]))
		j += (d - j) / 16
	}
	s.Jitter = time.Duration(math.Round(j))
	return s
}

// Values returns s keyed by fibremon value names, in seconds: packet
// counts always, the loss ratio when a packet was sent, RTTs when one came
// back, jitter when two did.
func (s Stats) Values() map[string]float64 {
	v := map[string]float64{
		fibremon.PacketsSent:     float64(s.Sent),
		fibremon.PacketsReceived: float64(s.Received),
	}
	if s.Sent > 0 {
		v[fibremon.LossRatio] = s.Loss
	}
	if s.Received > 0 {
		v[fibremon.MinRTTSeconds] = s.Min.Seconds()
		v[fibremon.AvgRTTSeconds] = s.Avg.Seconds()
		v[fibremon.MaxRTTSeconds] = s.Max.Seconds()
		v[fibremon.P95RTTSeconds] = s.P95.Seconds()
	}
	if s.Received > 1 {
		v[fibremon.JitterSeconds] = s.Jitter.Seconds()
	}
	return v
}

// pingLogger sends pro-bing's log lines to slog.
type pingLogger struct{ l *slog.Logger }

// Fatalf is called by pro-bing for errors it continues after.
func (p pingLogger) Fatalf(format string, v ...any) {
	p.l.Error("pro-bing: " + fmt.Sprintf(format, v...))
}
func (p pingLogger) Errorf(format string, v ...any) {
	p.l.Error("pro-bing: " + fmt.Sprintf(format, v...))
}
func (p pingLogger) Warnf(format string, v ...any) {
	p.l.Warn("pro-bing: " + fmt.Sprintf(format, v...))
}
func (p pingLogger) Infof(format string, v ...any) {
	p.l.Info("pro-bing: " + fmt.Sprintf(format, v...))
}
func (p pingLogger) Debugf(format string, v ...any) {
	p.l.Debug("pro-bing: " + fmt.Sprintf(format, v...))
}
