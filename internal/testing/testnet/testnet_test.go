package testnet

import (
	"net"
	"strconv"
	"testing"
)

func TestFreePortsBelowEphemeral(t *testing.T) {
	low, high := bounds()
	ports, err := FreePorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < low || p >= high {
			t.Errorf("port %d outside [%d, %d)", p, low, high)
		}
		if seen[p] {
			t.Errorf("port %d chosen twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		ln.Close()
	}
}

func TestFreePortsSkipsTakenPorts(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	if ports, err := freePortsIn(heldPort, heldPort+1, 1); err == nil {
		t.Fatalf("freePortsIn over a held port = %v, want an error", ports)
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()
	ports, err := freePortsIn(freePort, freePort+1, 1)
	if err != nil || len(ports) != 1 || ports[0] != freePort {
		t.Fatalf("freePortsIn(%d, %d, 1) = %v, %v; want [%d]", freePort, freePort+1, ports, err, freePort)
	}
}
