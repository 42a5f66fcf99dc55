package probes

import (
	"context"
	"log/slog"
	"net"

	"fibremon"
)

// TCP connects to the host:port t.Address through t.Dial and closes the
// connection at once. It is Up when the connection is established. It
// reports no values: the time the call took is the Result's duration.
func TCP(ctx context.Context, t Target, logger *slog.Logger) (Measurement, error) {
	if err := checkKind(t, fibremon.KindTCP); err != nil {
		return Measurement{}, err
	}
	if host, port, err := net.SplitHostPort(t.Address); err != nil || host == "" || port == "" {
		return Measurement{}, badTargetf("tcp address %q: want host:port", t.Address)
	}
	logger = discardIfNil(logger).With("probe", string(fibremon.KindTCP), "target", t.Address)
	if err := cancelled(ctx); err != nil {
		return Measurement{}, err
	}
	ctx, cancel, allowed := withTimeout(ctx)
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
