package probes

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"fibremon"
)

// DNS resolves the name t.Address to its A and AAAA records with Go's own
// resolver, sending its queries through t.Dial to t.Server (default: the
// nameservers of /etc/resolv.conf) over UDP, or TCP when a reply is
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
	if err := checkKind(t, fibremon.KindDNS); err != nil {
		return Measurement{}, err
	}
	if t.Address == "" {
		return Measurement{}, badTargetf("dns name is empty")
	}
	if t.Server != "" {
		if host, port, err := net.SplitHostPort(t.Server); err != nil || host == "" || port == "" {
			return Measurement{}, badTargetf("dns server %q: want host:port", t.Server)
		}
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindDNS), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx)
	defer cancel()

	dial := dialer(t)
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if t.Server != "" {
				addr = t.Server
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
		server := t.Server
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
