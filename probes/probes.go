// Package probes measures a fibre line from a probe agent: one function per
// result kind (download and upload over ndt7, latency, http, tcp, dns),
// looked up in Registry.
//
// Every probe makes exactly one attempt and never retries. The deadline of
// its ctx is its timeout (DefaultTimeout when ctx has none). A probe returns
// an error only when the probe itself is broken: a malformed Target, a
// misconfiguration, or no permission and no fallback. A line or service
// that is down is a Measurement with Up false and Err saying why, and a nil
// error, so "line down" stays distinct from "probe broken". A probe whose
// ctx is cancelled (rather than timed out) was abandoned: it returns an
// error wrapping context.Canceled.
//
// Traffic goes through Target.Dial, so a caller can measure through an
// emulated access line; raw ICMP cannot, which is why Latency uses TCP
// connects when Dial is set and Method is "auto".
//
// Every Measurement's Values use the value names of package fibremon and
// pass fibremon.Result.Validate. All functions are safe for concurrent use;
// Registry must not be modified.
package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"time"
	"unicode/utf8"

	"fibremon"
)

// DialFunc dials like net.Dialer.DialContext. The demo passes an emulated
// access line's dialer here.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Target says what to measure and how.
type Target struct {
	// Kind selects the probe in Registry; a probe called directly accepts
	// its own kind or "".
	Kind fibremon.Kind
	// Address is, for latency: a host, or host:port where port is the
	// TCP-connect port (default 443); for http: a URL; for tcp: host:port;
	// for dns: the name to resolve.
	Address string
	// Server is, for dns: the resolver's host:port (default: the system
	// resolver from /etc/resolv.conf).
	Server string
	// Method is, for latency: "icmp", "tcp" or "auto" (the default): ICMP,
	// falling back to TCP connect when ICMP is not permitted or Dial is set.
	Method string
	// Count is, for latency: packets per round (default 10, at most
	// MaxCount).
	Count int
	// Interval is, for latency: the time between sending packets (default
	// 200 ms).
	Interval time.Duration
	// ExpectStatus is, for http: the accepted status codes (default
	// 200–399).
	ExpectStatus []int
	// Duration is, for download and upload: how long the ndt7 test
	// transfers (default 10 s, at most 15 s).
	Duration time.Duration
	// Dial dials every connection the probe makes; nil means a net.Dialer.
	Dial DialFunc
}

// Measurement is the outcome of one probe attempt.
type Measurement struct {
	// Up is true when the check passed: for latency, at least one packet
	// came back.
	Up bool
	// Method says how it was measured: MethodICMP, MethodTCPConnect,
	// MethodHTTPGet or MethodDNSUDP.
	Method string
	// Values are keyed by the value names of package fibremon
	// (fibremon.MinRTTSeconds, fibremon.LossRatio ...); may be nil.
	Values map[string]float64
	// Err says why the line or check failed when !Up, e.g.
	// "connect: connection refused" or "timeout after 5s". At most
	// fibremon.MaxTextLength bytes.
	Err string
}

// Func is a probe. ctx's deadline is its timeout. The error is for a broken
// probe; a down line is a Measurement with Up false and a nil error.
type Func func(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error)

// Registry maps each result kind to its probe.
var Registry = map[fibremon.Kind]Func{
	fibremon.KindDownload: Download,
	fibremon.KindUpload:   Upload,
	fibremon.KindLatency:  Latency,
	fibremon.KindHTTP:     HTTP,
	fibremon.KindTCP:      TCP,
	fibremon.KindDNS:      DNS,
}

// Measurement methods, copied to fibremon.Result.Method.
const (
	MethodICMP       = "icmp"
	MethodTCPConnect = "tcp-connect"
	MethodHTTPGet    = "http-get"
	MethodDNSUDP     = "dns-udp"
	MethodNDT7       = "ndt7"
)

// DefaultTimeout bounds a probe whose ctx has no deadline.
const DefaultTimeout = 10 * time.Second

// ErrBadTarget is wrapped by every error about a malformed Target.
var ErrBadTarget = errors.New("probes: bad target")

func badTargetf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadTarget}, args...)...)
}

// checkKind rejects a Target meant for another probe.
func checkKind(t Target, want fibremon.Kind) error {
	if t.Kind != "" && t.Kind != want {
		return badTargetf("kind %q given to the %s probe", t.Kind, want)
	}
	return nil
}

// withTimeout returns ctx bounded by DefaultTimeout if it has no deadline,
// and the time left until the deadline, for "timeout after ..." messages.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	return ctx, cancel, time.Until(deadline)
}

// cancelled reports whether ctx was cancelled by its owner (not timed
// out): the attempt was abandoned, so there is no measurement to report.
func cancelled(ctx context.Context) error {
	if err := ctx.Err(); errors.Is(err, context.Canceled) {
		return fmt.Errorf("probe abandoned: %w", err)
	}
	return nil
}

func dialer(t Target) DialFunc {
	if t.Dial != nil {
		return t.Dial
	}
	var d net.Dialer
	return d.DialContext
}

func discardIfNil(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return logger
}

// describe turns a failed attempt's error into a Measurement.Err: a timeout
// names the time allowed, network errors lose the "dial tcp addr:" prefix
// (the Result's Target says where).
func describe(err error, allowed time.Duration) string {
	var (
		ne     net.Error
		opErr  *net.OpError
		urlErr *url.Error
		msg    string
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		msg = "timeout after " + allowed.Round(time.Millisecond).String()
	case errors.As(err, &opErr) && opErr.Err != nil:
		msg = opErr.Err.Error()
	case errors.As(err, &urlErr) && urlErr.Err != nil:
		msg = urlErr.Err.Error()
	default:
		msg = err.Error()
	}
	return truncate(msg)
}

// truncate cuts s to at most fibremon.MaxTextLength bytes, on a rune
// boundary.
func truncate(s string) string {
	if len(s) <= fibremon.MaxTextLength {
		return s
	}
	n := fibremon.MaxTextLength
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
