//go:build linux

package ndt7

import (
	"net"
	"strings"

	"golang.org/x/sys/unix"
)

// readTCPInfo returns the TCP_INFO counters of c's socket, with ElapsedTime
// left at zero for the caller to fill.
func readTCPInfo(c net.Conn) (*TCPInfo, error) {
	ti, err := kernelTCPInfo(c)
	if err != nil {
		return nil, err
	}
	return &TCPInfo{
		BusyTime:      int64(ti.Busy_time),
		BytesAcked:    int64(ti.Bytes_acked),
		BytesReceived: int64(ti.Bytes_received),
		BytesSent:     int64(ti.Bytes_sent),
		BytesRetrans:  int64(ti.Bytes_retrans),
		MinRTT:        int64(ti.Min_rtt),
		RTT:           int64(ti.Rtt),
		RTTVar:        int64(ti.Rttvar),
		RWndLimited:   int64(ti.Rwnd_limited),
		SndBufLimited: int64(ti.Sndbuf_limited),
	}, nil
}

// setCongestionControl selects the TCP congestion control algorithm (e.g.
// "bbr") of c's socket.
func setCongestionControl(c net.Conn, algo string) error {
	rc, err := rawConn(c)
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION, algo)
	}); err != nil {
		return err
	}
	return serr
}

// readSocketStats returns the byte and segment counters of c's socket.
func readSocketStats(c net.Conn) (*SocketStats, error) {
	ti, err := kernelTCPInfo(c)
	if err != nil {
		return nil, err
	}
	return &SocketStats{
		BytesSent:     int64(ti.Bytes_sent),
		BytesReceived: int64(ti.Bytes_received),
		SegsOut:       int64(ti.Segs_out),
		SegsIn:        int64(ti.Segs_in),
	}, nil
}

// congestionControl returns the TCP congestion control algorithm of c's
// socket.
func congestionControl(c net.Conn) (string, error) {
	rc, err := rawConn(c)
	if err != nil {
		return "", err
	}
	var algo string
	var serr error
	if err := rc.Control(func(fd uintptr) {
		algo, serr = unix.GetsockoptString(int(fd), unix.IPPROTO_TCP, unix.TCP_CONGESTION)
	}); err != nil {
		return "", err
	}
	return strings.TrimRight(algo, "\x00"), serr
}

// kernelTCPInfo reads the kernel's TCP_INFO of c's socket.
func kernelTCPInfo(c net.Conn) (*unix.TCPInfo, error) {
	rc, err := rawConn(c)
	if err != nil {
		return nil, err
	}
	var ti *unix.TCPInfo
	var serr error
	if err := rc.Control(func(fd uintptr) {
		ti, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return nil, err
	}
	return ti, serr
}
