package ndt7

import (
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSocketOptionsLinux(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ti, err := readTCPInfo(c)
	if err != nil {
		t.Fatalf("readTCPInfo: %v", err)
	}
	if ti.MinRTT <= 0 || ti.RTT <= 0 {
		t.Errorf("readTCPInfo = %+v; want MinRTT and RTT > 0 after the handshake", *ti)
	}

	// An emulated line (no SyscallConn) has no TCP_INFO.
	if _, err := readTCPInfo(struct{ net.Conn }{c}); err == nil {
		t.Error("readTCPInfo(wrapped conn) succeeded; want an error")
	}

	err = setCongestionControl(c, "bbr")
	if err != nil {
		t.Skipf("bbr unavailable here: %v", err)
	}
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got string
	var gerr error
	rc.Control(func(fd uintptr) {
		got, gerr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	})
	if gerr != nil || strings.TrimRight(got, "\x00") != "bbr" {
		t.Errorf("TCP_CONGESTION = %q, %v; want bbr", got, gerr)
	}
}
