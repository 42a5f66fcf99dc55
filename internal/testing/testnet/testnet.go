// Package testnet chooses loopback ports for processes that tests start.
//
// A port taken from the kernel with Listen(":0") and closed again lies in
// the ephemeral range, where the kernel also picks the source ports of
// outgoing connections: between closing it and the child process binding
// it, any connection of any test running in parallel may take it. The
// ports chosen here lie below the ephemeral range, where only another
// explicit bind can collide.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// Default bounds of the ports chosen, [Low, High), used when the kernel's
// ephemeral range cannot be read.
const (
	Low  = 20000
	High = 32768
)

// FreePort returns a loopback TCP port below the ephemeral range that was
// free a moment ago.
func FreePort() (int, error) {
	ports, err := FreePorts(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts returns n distinct such ports.
func FreePorts(n int) ([]int, error) {
	low, high := bounds()
	return freePortsIn(low, high, n)
}

// freePortsIn returns n distinct ports of [low, high) free a moment ago.
func freePortsIn(low, high, n int) ([]int, error) {
	var ports []int
	seen := map[int]bool{}
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 || len(seen) == high-low {
			return nil, fmt.Errorf("testnet: only %d of %d free loopback ports found in [%d, %d)", len(ports), n, low, high)
		}
		p := low + rand.IntN(high-low)
		if seen[p] {
			continue
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		ports = append(ports, p)
	}
	return ports, nil
}

// FreeAddr returns "127.0.0.1:port" with a port from FreePort, failing t
// if none is found.
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// bounds returns [Low, High) cut below the kernel's ephemeral range.
func bounds() (low, high int) {
	low, high = Low, High
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return low, high
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return low, high
	}
	if eph, err := strconv.Atoi(f[0]); err == nil && eph < high {
		high = eph
		if low >= high-1000 {
			low = 1024
		}
	}
	return low, high
}
