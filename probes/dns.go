package probes

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"

	"fibremon"
)

// DNSOptions are the options of a dns check.
type DNSOptions struct {
	// Server is the resolver's host:port; none means the nameservers of
	// /etc/resolv.conf.
	Server string `yaml:"server"`
}

// DefaultDNSOptions are the defaults of a dns check: the system's resolver.
var DefaultDNSOptions = DNSOptions{}

// Validate checks the options.
func (o DNSOptions) Validate() error {
	if o.Server != "" {
		if err := checkHostPort(o.Server); err != nil {
			return optionError(fibremon.KindDNS, "server", "%v", err)
		}
	}
	return nil
}

func (o *DNSOptions) setDefaults()                  { *o = withDefaults(*o, DefaultDNSOptions) }
func (DNSOptions) defaultTimeout() time.Duration    { return defaultTimeout }
func (DNSOptions) checkTimeout(time.Duration) error { return nil }

func (DNSOptions) checkAddress(name string) (string, error) {
	if name == "" {
		return "", errors.New("missing")
	}
	return name, nil
}

// DNS resolves the name t.Address to its A and AAAA records with Go's own
// resolver, sending its queries through t.Dial to t.DNS.Server (default:
// the nameservers of /etc/resolv.conf) over UDP, or TCP when a reply is
// truncated. It is Up when at least one address came back, and reports
// fibremon.DNSAnswers, the number of addresses (0 for a name that does not
// exist).
//
// The resolver follows the system's configuration: /etc/hosts is consulted
// first, the search list applies to names with fewer dots than ndots (end
// a name with "." to avoid it), and it may resend a query within ctx's
// deadline, as DNS over UDP does. Go does not tell NXDOMAIN from a name
// without A or AAAA records; both are "no such host".
func DNS(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindDNS)
	if err != nil {
		return Measurement{}, err
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindDNS), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx, fibremon.KindDNS)
	defer cancel()

	dial := dialer(t)
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if t.DNS.Server != "" {
				addr = t.DNS.Server
			}
			return dial(ctx, network, addr)
		},
	}
	m := Measurement{Method: MethodDNSUDP}
	addrs, err := r.LookupNetIP(ctx, "ip", t.Address)
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(addrs) > 0:
		m.Up = true
		m.Values = map[string]float64{fibremon.DNSAnswers: float64(len(addrs))}
	case err == nil:
		m.Err = "no addresses"
		m.Values = map[string]float64{fibremon.DNSAnswers: 0}
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		m.Err = "no such host (NXDOMAIN, or no A or AAAA record)"
		m.Values = map[string]float64{fibremon.DNSAnswers: 0}
	default:
		if err := cancelled(ctx); err != nil {
			return Measurement{}, err
		}
		m.Err = describe(err, allowed)
		server := t.DNS.Server
		if errors.As(err, &dnsErr) {
			if !dnsErr.IsTimeout && !errors.Is(err, context.DeadlineExceeded) {
				m.Err = dnsErr.Err // the cause without "lookup <name> on <server>"
			}
			if server == "" {
				server = dnsErr.Server
			}
		}
		if server != "" {
			m.Err = truncate("server " + server + ": " + m.Err)
		}
	}
	logger.Debug("dns check", "up", m.Up, "answers", len(addrs))
	return m, nil
}
