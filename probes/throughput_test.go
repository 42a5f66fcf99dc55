package probes

import (
	"net"
	"testing"
)

func TestNDT7URL(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "ndt.example.org", want: "wss://ndt.example.org"},
		{in: "ndt.example.org:4443", want: "wss://ndt.example.org:4443"},
		{in: "[2001:db8::1]:443", want: "wss://[2001:db8::1]:443"},
		{in: "http://127.0.0.1:8080", want: "http://127.0.0.1:8080"},
		{in: "ws://127.0.0.1:8080/base", want: "ws://127.0.0.1:8080/base"},
		// as the M-Lab locate API v2 hands them out
		{in: "wss://ndt-mlab1-mil04.example.org/ndt/v7/download?access_token=x", want: "wss://ndt-mlab1-mil04.example.org/ndt/v7/download?access_token=x"},
		{in: "", wantErr: "missing"},
		{in: "ftp://h/", wantErr: `"ftp://h/": want an http(s) or ws(s) URL or a host`},
		{in: "wss://:443", wantErr: `"wss://:443": no host`},
	}
	for _, tt := range tests {
		got, err := NDT7URL(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("NDT7URL(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NDT7URL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseProcNetDev(t *testing.T) {
	const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 1629524609  12345    0    0    0     0          0         0 1629524610  12345    0    0    0     0       0          0
  eth0:99 1 0 0 0 0 0 0 77 1 0 0 0 0 0 0
`
	for _, tt := range []struct {
		iface  string
		rx, tx int64
		ok     bool
	}{
		{"lo", 1629524609, 1629524610, true},
		{"eth0", 99, 77, true},
		{"eth1", 0, 0, false},
	} {
		rx, tx, err := parseProcNetDev([]byte(dev), tt.iface)
		if (err == nil) != tt.ok || rx != tt.rx || tx != tt.tx {
			t.Errorf("parseProcNetDev(%s) = %d, %d, %v; want %d, %d, ok %v", tt.iface, rx, tx, err, tt.rx, tt.tx, tt.ok)
		}
	}
	if _, _, err := readCounters("../etc"); err == nil {
		t.Error("readCounters accepted a path as an interface name")
	}
}

func TestRouteInterfaceLoopback(t *testing.T) {
	for _, u := range []string{"ws://127.0.0.1:1", "http://[::1]:8080"} {
		name, loopback, err := routeInterface(t.Context(), u)
		if err != nil {
			if u == "http://[::1]:8080" { // a host without IPv6
				t.Logf("routeInterface(%s): %v", u, err)
				continue
			}
			t.Fatal(err)
		}
		if !loopback || name == "" {
			t.Errorf("routeInterface(%s) = %q, %v; want the loopback interface", u, name, loopback)
		}
	}
}

// TestRouteInterfaceRemote: a documentation address (TEST-NET-1, no packet
// is sent) routes through the default route's interface, which auto mode
// then watches.
func TestRouteInterfaceRemote(t *testing.T) {
	const u = "wss://192.0.2.1"
	name, loopback, err := routeInterface(t.Context(), u)
	if err != nil {
		t.Fatalf("routeInterface(%s): %v (this test needs a default IPv4 route)", u, err)
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil || loopback || ifi.Flags&net.FlagLoopback != 0 {
		t.Fatalf("routeInterface(%s) = %q, loopback %v (%v); want a non-loopback interface", u, name, loopback, err)
	}
	w, err := startWatch(t.Context(), InterfaceAuto, u)
	if err != nil || w == nil || w.iface != name || w.loopback {
		t.Fatalf("startWatch(auto, %s) = %+v, %v; want a watch of %s", u, w, err, name)
	}
	t.Logf("%s routes through %s (rx %d, tx %d bytes so far)", u, name, w.rx, w.tx)
	// And the loopback server is not watched in auto mode.
	if w, err := startWatch(t.Context(), InterfaceAuto, "ws://127.0.0.1:8080"); w != nil || err != nil {
		t.Errorf("startWatch(auto, loopback) = %+v, %v; want nothing to watch", w, err)
	}
}
