package probes

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"fibremon"
	"fibremon/probes/ndt7"
)

// ThroughputOptions.Interface values other than an interface name.
const (
	// InterfaceAuto watches the interface of the route to the ndt7
	// server, unless that is the loopback interface: a server on the
	// probe's own host measures no access line, and every local process
	// talks over loopback.
	InterfaceAuto = "auto"
	// InterfaceNone turns the other-traffic check off.
	InterfaceNone = "none"
)

// VoidPrefix starts the Measurement.Err of a void throughput test.
const VoidPrefix = "void: "

// Traffic is the account of an interface's traffic during a throughput
// test, from its byte counters read before and after the test.
type Traffic struct {
	Interface string
	// CounterBytes is what the interface counted, received plus sent
	// (halved on a loopback interface, which counts every packet twice).
	CounterBytes int64
	// TestBytes estimates the test's own bytes on the link, both
	// directions: the socket's TCP payload plus per-segment headers.
	TestBytes int64
	// OtherBytes is the traffic the test does not explain (never
	// negative), and OtherRatio = OtherBytes / TestBytes.
	OtherBytes int64
	OtherRatio float64
	// Void is true when OtherRatio reached MaxOtherTrafficRatio: the line
	// was shared, so the speed says little about it.
	Void bool
}

// ThroughputOptions are the options of a download or upload test.
type ThroughputOptions struct {
	// Duration is how long the ndt7 test transfers, from 1 s to
	// ndt7.MaxDuration.
	Duration time.Duration `yaml:"duration"`
	// EarlyStop ends the test once its throughput has settled
	// (ndt7.Client.EarlyStop).
	EarlyStop bool `yaml:"early_stop"`
	// Interface is the interface whose byte counters tell whether other
	// traffic shared the line during the test: a name, InterfaceAuto or
	// InterfaceNone. A Target with Dial set is never checked (an
	// emulated line's traffic reaches no interface).
	Interface string `yaml:"interface"`
	// MaxOtherTrafficRatio: a test during which the other traffic on
	// Interface reached this fraction of the test's own bytes is void
	// (MisuraInternet voids a test at 10 %), in (0, 1].
	MaxOtherTrafficRatio float64 `yaml:"max_other_traffic_ratio"`
}

// DefaultThroughputOptions are the defaults of a download or upload test:
// ndt7's 10 s, the interface of the route to the server, void at 10 %
// other traffic, as in MisuraInternet's Ne.Me.Sys.
var DefaultThroughputOptions = ThroughputOptions{
	Duration:             ndt7.DefaultDuration,
	Interface:            InterfaceAuto,
	MaxOtherTrafficRatio: 0.10,
}

// Throughput limits.
const (
	MinDuration = time.Second
	// throughputTimeout is the default timeout of a test.
	throughputTimeout = 30 * time.Second
	// throughputOverhead is the time a test needs beyond its duration: the
	// handshake, and the server's last measurement.
	throughputOverhead = 2 * time.Second
)

// Validate checks the options, zero fields taken as their defaults.
func (o ThroughputOptions) Validate() error {
	o.setDefaults()
	if o.Duration < MinDuration || o.Duration > ndt7.MaxDuration {
		return optionError("", "duration", "%v out of range [%v, %v] (ndt7)", o.Duration, MinDuration, ndt7.MaxDuration)
	}
	if !(o.MaxOtherTrafficRatio > 0 && o.MaxOtherTrafficRatio <= 1) {
		return optionError("", "max_other_traffic_ratio", "%v out of range (0, 1]", o.MaxOtherTrafficRatio)
	}
	return nil
}

func (o *ThroughputOptions) setDefaults()               { *o = withDefaults(*o, DefaultThroughputOptions) }
func (ThroughputOptions) defaultTimeout() time.Duration { return throughputTimeout }

func (o ThroughputOptions) checkTimeout(d time.Duration) error {
	if d < o.Duration+throughputOverhead {
		return optionError("", "timeout", "%v must exceed duration %v by at least %v", d, o.Duration, throughputOverhead)
	}
	return nil
}

func (ThroughputOptions) checkAddress(addr string) (string, error) {
	u, err := NDT7URL(addr)
	if err != nil {
		return "", fmt.Errorf("ndt7 server: %w", err)
	}
	return u, nil
}

// NDT7URL returns the base URL of an ndt7 server given as an http(s) or
// ws(s) URL (kept as is: a path ending in /ndt/v7/download or
// /ndt/v7/upload, and a query such as an access token, are used as
// given), or as a bare host or host:port, which means wss://host[:port].
func NDT7URL(s string) (string, error) {
	if s == "" {
		return "", errors.New("missing")
	}
	if !strings.Contains(s, "://") {
		s = "wss://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return "", fmt.Errorf("%q: want an http(s) or ws(s) URL or a host", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q: no host", s)
	}
	return s, nil
}

// Download measures the download speed of the line with an ndt7 test
// against the server at t.Address (see NDT7URL). The speed is computed at
// the receiver, the probe, as the ndt7 spec says.
func Download(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindDownload)
	if err != nil {
		return Measurement{}, err
	}
	m, _, err := Throughput(ctx, t, logger)
	return m, err
}

// Upload measures the upload speed of the line with an ndt7 test; the speed
// comes from the bytes the server reports it received.
func Upload(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindUpload)
	if err != nil {
		return Measurement{}, err
	}
	m, _, err := Throughput(ctx, t, logger)
	return m, err
}

// Throughput runs one ndt7 test of t.Kind (download or upload) with the
// options t.Throughput. The Traffic account is non-nil when the
// other-traffic check ran; a void test is a Measurement with Up false, the
// values fibremon.Void (1) and fibremon.CrossTrafficRatio, and an Err
// starting with VoidPrefix that tells the other traffic and the speed
// measured.
func Throughput(ctx context.Context, t Target, logger *slog.Logger) (Measurement, *Traffic, error) {
	m, tr, err := throughput(ctx, t, discardIfNil(logger))
	if err != nil {
		return Measurement{}, nil, err
	}
	return m, tr, nil
}

func throughput(ctx context.Context, t Target, logger *slog.Logger) (Measurement, *Traffic, error) {
	kind := t.Kind
	if kind != fibremon.KindDownload && kind != fibremon.KindUpload {
		return Measurement{}, nil, badTargetf("kind %q is not a throughput test", kind)
	}
	t, err := t.Check()
	if err != nil {
		return Measurement{}, nil, err
	}
	address, opts := t.Address, t.Throughput
	ctx, cancel, _ := withTimeout(ctx, kind)
	defer cancel()
	c := &ndt7.Client{Duration: opts.Duration, UserAgent: "fibreprobe", EarlyStop: opts.EarlyStop}
	if t.Dial != nil {
		c.Dial = t.Dial
	}
	// Traffic through an emulated line never reaches an interface.
	var w *watch
	if t.Dial == nil && opts.Interface != InterfaceNone {
		w, err = startWatch(ctx, opts.Interface, address)
		if err != nil {
			logger.Warn("other traffic not checked", "kind", kind, "target", t.Address, "err", err)
		}
	}
	var s ndt7.Summary
	if kind == fibremon.KindDownload {
		s, err = c.Download(ctx, address)
	} else {
		s, err = c.Upload(ctx, address)
	}
	if err != nil {
		if cerr := cancelled(ctx); cerr != nil {
			return Measurement{}, nil, cerr
		}
		logger.Debug("ndt7 test failed", "kind", kind, "target", t.Address, "err", err)
		return Measurement{Method: MethodNDT7, Err: truncate(err.Error())}, nil, nil
	}
	key := fibremon.DownloadBytesPerSecond
	if kind == fibremon.KindUpload {
		key = fibremon.UploadBytesPerSecond
	}
	m := Measurement{Up: true, Method: MethodNDT7, Values: map[string]float64{
		key:                       s.BytesPerSecond,
		fibremon.TransferredBytes: float64(s.Bytes),
	}}
	if s.MinRTT > 0 {
		m.Values[fibremon.MinRTTSeconds] = s.MinRTT.Seconds()
	}
	if s.RetransmissionRatio >= 0 && s.RetransmissionRatio <= 1 {
		m.Values[fibremon.RetransmissionRatio] = s.RetransmissionRatio
	}
	if w == nil {
		return m, nil, nil
	}
	tr, err := w.finish(s.Socket, opts.MaxOtherTrafficRatio)
	if err != nil {
		logger.Warn("other traffic not checked", "kind", kind, "target", t.Address, "err", err)
		return m, nil, nil
	}
	if tr.Void {
		// A void test is no measurement of the line: its speed is not
		// reported as one, only told in the error; the values mark it.
		m.Up = false
		m.Values = map[string]float64{fibremon.Void: 1, fibremon.CrossTrafficRatio: tr.OtherRatio}
		m.Err = truncate(fmt.Sprintf("%sother traffic on %s was %.1f %% of the test's %d bytes (limit %g %%); the test measured %.1f Mbit/s",
			VoidPrefix, tr.Interface, 100*tr.OtherRatio, tr.TestBytes, 100*opts.MaxOtherTrafficRatio, fibremon.ToMbitPerSecond(s.BytesPerSecond)))
	}
	return m, tr, nil
}

// watch holds an interface's byte counters from before a test.
type watch struct {
	iface    string
	loopback bool
	ethernet bool // frames carry an Ethernet header the counters include
	rx, tx   int64
}

// startWatch picks the interface to watch (see InterfaceAuto) and reads
// its counters. It returns nil, nil when there is nothing to watch.
func startWatch(ctx context.Context, iface, serverURL string) (*watch, error) {
	w := &watch{iface: iface}
	if iface == InterfaceAuto || iface == "" {
		name, loopback, err := routeInterface(ctx, serverURL)
		if err != nil {
			return nil, err
		}
		if loopback {
			return nil, nil
		}
		w.iface = name
	}
	ifi, err := net.InterfaceByName(w.iface)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", w.iface, err)
	}
	w.loopback = ifi.Flags&net.FlagLoopback != 0
	w.ethernet = isEthernet(w.iface)
	if w.rx, w.tx, err = readCounters(w.iface); err != nil {
		return nil, err
	}
	return w, nil
}

// Bytes per segment that an Ethernet interface counts beyond the IP
// packet (its header; the FCS is not counted).
const linkHeaderBytes = 14

// isEthernet reports whether the interface's link type is Ethernet
// (ARPHRD_ETHER, which veth and wireless interfaces also report), as
// opposed to IP-level links such as ppp, tun or WireGuard, whose counters
// have no link header.
func isEthernet(iface string) bool {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", iface, "type"))
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// finish reads the counters again and accounts for the test whose socket
// counters are sock.
func (w *watch) finish(sock *ndt7.SocketStats, maxRatio float64) (*Traffic, error) {
	if sock == nil {
		return nil, errors.New("the test's socket counters are unavailable")
	}
	rx, tx, err := readCounters(w.iface)
	if err != nil {
		return nil, err
	}
	counted := (rx - w.rx) + (tx - w.tx)
	if counted < 0 {
		return nil, fmt.Errorf("interface %s: counters went backwards", w.iface)
	}
	own := sock.WireBytes()
	if w.loopback {
		// Both ends are local: every packet is counted once sent and once
		// received, the test's and any other's alike.
		counted /= 2
	} else if w.ethernet {
		own += linkHeaderBytes * (sock.SegsIn + sock.SegsOut)
	}
	tr := &Traffic{Interface: w.iface, CounterBytes: counted, TestBytes: own, OtherBytes: max(counted-own, 0)}
	if own > 0 {
		tr.OtherRatio = float64(tr.OtherBytes) / float64(own)
	}
	tr.Void = own > 0 && tr.OtherRatio >= maxRatio
	return tr, nil
}

// routeInterface finds the interface of the route to serverURL's host,
// and whether that is the loopback interface (the host is this machine).
// No packet is sent: a connected UDP socket only asks the kernel for the
// route.
func routeInterface(ctx context.Context, serverURL string) (name string, loopback bool, err error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", false, err
	}
	port := u.Port()
	if port == "" {
		port = "443"
		if u.Scheme == "http" || u.Scheme == "ws" {
			port = "80"
		}
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return "", false, fmt.Errorf("route to %s: %w", u.Host, err)
	}
	local, remote := c.LocalAddr().(*net.UDPAddr), c.RemoteAddr().(*net.UDPAddr)
	c.Close()
	ifs, err := net.Interfaces()
	if err != nil {
		return "", false, err
	}
	var byLocal, lo string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 && lo == "" {
			lo = ifi.Name
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ipn.IP.Equal(remote.IP) { // the server is this host
				return loName(lo, ifs), true, nil
			}
			if ipn.IP.Equal(local.IP) && byLocal == "" {
				byLocal = ifi.Name
			}
		}
	}
	if remote.IP.IsLoopback() {
		return loName(lo, ifs), true, nil
	}
	if byLocal == "" {
		return "", false, fmt.Errorf("no interface has the route's source address %s", local.IP)
	}
	return byLocal, false, nil
}

func loName(lo string, ifs []net.Interface) string {
	if lo != "" {
		return lo
	}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			return ifi.Name
		}
	}
	return "lo"
}

// sysClassNet and procNetDev are where Linux publishes interface counters.
var (
	sysClassNet = "/sys/class/net"
	procNetDev  = "/proc/net/dev"
)

// readCounters returns an interface's received and sent byte counters,
// from /proc/net/dev, which shows the network namespace of the process,
// or else /sys/class/net/<iface>/statistics, which shows the namespace
// that mounted sysfs.
func readCounters(iface string) (rx, tx int64, err error) {
	if strings.ContainsAny(iface, "/\x00") || iface == "" || iface == "." || iface == ".." {
		return 0, 0, fmt.Errorf("bad interface name %q", iface)
	}
	b, perr := os.ReadFile(procNetDev)
	if perr == nil {
		if rx, tx, perr = parseProcNetDev(b, iface); perr == nil {
			return rx, tx, nil
		}
	}
	dir := filepath.Join(sysClassNet, iface, "statistics")
	rx, rerr := readCounter(filepath.Join(dir, "rx_bytes"))
	tx, terr := readCounter(filepath.Join(dir, "tx_bytes"))
	if err := errors.Join(rerr, terr); err != nil {
		return 0, 0, fmt.Errorf("interface %s counters: %w", iface, errors.Join(perr, err))
	}
	return rx, tx, nil
}

func readCounter(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
}

// parseProcNetDev finds iface's received and sent bytes in the contents of
// /proc/net/dev: after "iface:", the 1st and 9th numbers.
func parseProcNetDev(b []byte, iface string) (rx, tx int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			return 0, 0, fmt.Errorf("%s: interface %s: %d fields; want 16", procNetDev, iface, len(f))
		}
		if rx, err = strconv.ParseInt(f[0], 10, 64); err == nil {
			tx, err = strconv.ParseInt(f[8], 10, 64)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: interface %s: %w", procNetDev, iface, err)
		}
		return rx, tx, nil
	}
	return 0, 0, fmt.Errorf("%s: no interface %s", procNetDev, iface)
}
