package probes

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"fibremon"
)

// TCPOptions are the options of a tcp check: none yet.
type TCPOptions struct{}

// DefaultTCPOptions are the defaults of a tcp check.
var DefaultTCPOptions = TCPOptions{}

// Validate checks the options.
func (o TCPOptions) Validate() error { return nil }

func (o *TCPOptions) setDefaults()                          {}
func (TCPOptions) defaultTimeout() time.Duration            { return defaultTimeout }
func (TCPOptions) checkTimeout(time.Duration) error         { return nil }
func (TCPOptions) checkAddress(addr string) (string, error) { return addr, checkHostPort(addr) }

// checkHostPort checks host:port with a numeric port in [1, 65535].
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q: want host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}

// TCP connects to the host:port t.Address through t.Dial and closes the
// connection at once. It is Up when the connection is established. It
// reports no values: the time the call took is the Result's duration.
func TCP(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	t, err := checkTarget(t, fibremon.KindTCP)
	if err != nil {
		return Measurement{}, err
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindTCP), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx, fibremon.KindTCP)
	defer cancel()

	m := Measurement{Method: MethodTCPConnect}
	c, err := dialer(t)(ctx, "tcp", t.Address)
	if err != nil {
		if err := cancelled(ctx); err != nil {
			return Measurement{}, err
		}
		m.Err = describe(err, allowed)
	} else {
		c.Close()
		m.Up = true
	}
	logger.Debug("tcp check", "up", m.Up)
	return m, nil
}
