// Package probes measures a fibre line from a probe agent: one function per
// result kind (download and upload over ndt7, latency, http, tcp, dns),
// looked up in Registry.
//
// Every probe makes exactly one attempt and never retries. The deadline of
// its ctx is its timeout (DefaultTimeout of its kind when ctx has none). A
// probe returns an error only when the probe itself is broken: a malformed
// Target (a *TargetError, see Target.Check), a misconfiguration, or no
// permission and no fallback. A line or service
// that is down is a Measurement with Up false and Err saying why, and a nil
// error, so "line down" stays distinct from "probe broken". A probe whose
// ctx is cancelled (rather than timed out) was abandoned: it returns an
// error wrapping context.Canceled.
//
// Traffic goes through Target.Dial, so a caller can measure through an
// emulated access line; raw ICMP cannot, which is why Latency uses TCP
// connects when Dial is set and its Method is "auto".
//
// Each kind's options (LatencyOptions, TCPOptions, HTTPOptions, DNSOptions,
// ThroughputOptions) are defined in the kind's file with their defaults
// and limits, once: the probe and fibreprobe's configuration both use them.
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
	"reflect"
	"strings"
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
	// for dns: the name to resolve; for download and upload: the ndt7
	// server (see NDT7URL).
	Address string
	// Options holds the options of Kind; those of other kinds must be
	// zero.
	Options
	// Dial dials every connection the probe makes; nil means a net.Dialer.
	Dial DialFunc
}

// Options are the options of every kind of probe, one struct per kind,
// each defined beside its probe with its defaults (Default…Options) and
// its Validate. A zero field means the default. The yaml tags are the
// options' names in fibreprobe's configuration file.
type Options struct {
	Latency    LatencyOptions
	TCP        TCPOptions
	HTTP       HTTPOptions
	DNS        DNSOptions
	Throughput ThroughputOptions // download and upload
}

// kindOptions is implemented by a pointer to each kind's options.
type kindOptions interface {
	// Validate checks the options, zero fields taken as their defaults.
	Validate() error
	// setDefaults sets every zero field to its default.
	setDefaults()
	// checkAddress returns a Target.Address in canonical form.
	checkAddress(addr string) (string, error)
	// defaultTimeout is the time a probe of the kind gets when its ctx
	// has no deadline.
	defaultTimeout() time.Duration
	// checkTimeout says whether a probe with these (defaulted) options
	// can complete within d.
	checkTimeout(d time.Duration) error
}

// OptionsOf returns a pointer to the options of kind k within o, or nil
// for an unknown kind: what a configuration decoder fills for a probe of
// kind k.
func (o *Options) OptionsOf(k fibremon.Kind) any {
	if ko := o.of(k); ko != nil {
		return ko
	}
	return nil
}

func (o *Options) of(k fibremon.Kind) kindOptions {
	switch k {
	case fibremon.KindLatency:
		return &o.Latency
	case fibremon.KindTCP:
		return &o.TCP
	case fibremon.KindHTTP:
		return &o.HTTP
	case fibremon.KindDNS:
		return &o.DNS
	case fibremon.KindDownload, fibremon.KindUpload:
		return &o.Throughput
	}
	return nil
}

// Check returns t as its probe uses it: the Address in canonical form and
// the options of t.Kind with their defaults in the zero fields. The error
// is a *TargetError, the one the probe would return.
func (t Target) Check() (Target, error) {
	own := t.Options.of(t.Kind)
	if own == nil {
		return t, &TargetError{Kind: t.Kind, Field: "kind", Msg: fmt.Sprintf("%q: want one of %v", t.Kind, fibremon.Kinds)}
	}
	v := reflect.ValueOf(&t.Options).Elem()
	for i := range v.NumField() {
		if f := v.Field(i); f.Addr().Interface() != any(own) && !f.IsZero() {
			return t, &TargetError{Kind: t.Kind, Field: "options",
				Msg: fmt.Sprintf("%s options given to the %s probe", strings.ToLower(v.Type().Field(i).Name), t.Kind)}
		}
	}
	if err := own.Validate(); err != nil {
		return t, ofKind(err, t.Kind)
	}
	own.setDefaults()
	addr, err := own.checkAddress(t.Address)
	if err != nil {
		return t, &TargetError{Kind: t.Kind, Field: "address", Msg: err.Error()}
	}
	t.Address = addr
	return t, nil
}

// CheckTimeout says whether a probe of t, with the options of its kind,
// can complete within timeout: a latency round must send all its packets,
// an ndt7 test needs 2 s beyond its duration. The error is a
// *TargetError with Field "timeout".
func (t Target) CheckTimeout(timeout time.Duration) error {
	own := t.Options.of(t.Kind)
	if own == nil {
		return &TargetError{Kind: t.Kind, Field: "kind", Msg: fmt.Sprintf("%q: want one of %v", t.Kind, fibremon.Kinds)}
	}
	own.setDefaults()
	return ofKind(own.checkTimeout(timeout), t.Kind)
}

// DefaultTimeout is the time a probe of kind k gets when its ctx has no
// deadline, and fibreprobe's default timeout of a measurement: 30 s for
// download and upload, 20 s for latency, 10 s for the others.
func DefaultTimeout(k fibremon.Kind) time.Duration {
	if o := (&Options{}).of(k); o != nil {
		return o.defaultTimeout()
	}
	return defaultTimeout
}

// defaultTimeout bounds a probe of a kind without a longer need.
const defaultTimeout = 10 * time.Second

// TargetError is a Target its probe refuses. It wraps ErrBadTarget.
type TargetError struct {
	Kind fibremon.Kind
	// Field says what is wrong: "address", "timeout", "kind", "options"
	// (options of another kind), or an option by its name in the
	// configuration file ("count", "expect_status[1]").
	Field string
	Msg   string
}

func (e *TargetError) Error() string {
	if e.Kind == "" {
		return fmt.Sprintf("%v: %s: %s", ErrBadTarget, e.Field, e.Msg)
	}
	return fmt.Sprintf("%v: %s %s: %s", ErrBadTarget, e.Kind, e.Field, e.Msg)
}

func (e *TargetError) Unwrap() error { return ErrBadTarget }

// optionError is a *TargetError about an option of kind k.
func optionError(k fibremon.Kind, field, format string, args ...any) error {
	return &TargetError{Kind: k, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ofKind sets the Kind of a *TargetError that has none (the options of
// download and upload are one type).
func ofKind(err error, k fibremon.Kind) error {
	var te *TargetError
	if errors.As(err, &te) && te.Kind == "" {
		e := *te
		e.Kind = k
		return &e
	}
	return err
}

// withDefaults returns o with every zero field set to d's.
func withDefaults[T any](o, d T) T {
	v, dv := reflect.ValueOf(&o).Elem(), reflect.ValueOf(d)
	for i := range v.NumField() {
		if f := v.Field(i); f.IsZero() {
			f.Set(dv.Field(i))
		}
	}
	return o
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

// ErrBadTarget is wrapped by every error about a malformed Target.
var ErrBadTarget = errors.New("probes: bad target")

func badTargetf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadTarget}, args...)...)
}

// checkTarget returns t checked (see Target.Check) for the probe of kind
// want, refusing a Target meant for another probe.
func checkTarget(t Target, want fibremon.Kind) (Target, error) {
	if t.Kind != "" && t.Kind != want {
		return t, badTargetf("kind %q given to the %s probe", t.Kind, want)
	}
	t.Kind = want
	return t.Check()
}

// withTimeout returns ctx bounded by the kind's DefaultTimeout if it has no
// deadline, and the time left until the deadline, for "timeout after ..."
// messages.
func withTimeout(ctx context.Context, k fibremon.Kind) (context.Context, context.CancelFunc, time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout(k))
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
