//go:build !linux

package probes

import (
	"context"
	"log/slog"
	"net/netip"
	"time"
)

// icmpRound pings ip with pro-bing: kernel receive timestamps are read
// only on Linux.
func icmpRound(ctx context.Context, ip netip.Addr, privileged bool, count int, interval time.Duration, logger *slog.Logger) (round, error) {
	return proBingRound(ctx, ip, privileged, count, interval, logger)
}
