package probes

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// icmpRound pings ip over a socket of its own that the kernel timestamps
// (see kernelICMPRound); if the kernel refuses the timestamp option it
// falls back to pro-bing.
func icmpRound(ctx context.Context, ip netip.Addr, privileged bool, count int, interval time.Duration, logger *slog.Logger) (round, error) {
	r, err := kernelICMPRound(ctx, ip, privileged, count, interval, nil)
	if errors.Is(err, errNoKernelTimestamps) {
		logger.Debug("no kernel receive timestamps, using pro-bing", "err", err)
		return proBingRound(ctx, ip, privileged, count, interval, logger)
	}
	return r, err
}

// errNoKernelTimestamps is returned by kernelICMPRound when the socket does
// not take SO_TIMESTAMPNS.
var errNoKernelTimestamps = errors.New("probes: no kernel receive timestamps")

// icmpPayloadLen is the echo payload: a random tag that marks this round's
// replies, the size pro-bing sends by default.
const icmpPayloadLen = 24

// kernelICMPRound sends count ICMP echo requests to ip, one every interval
// from the first, over a raw socket (privileged) or an unprivileged ICMP
// datagram socket, and matches the replies by identifier, sequence number,
// source and payload.
//
// The RTT of a packet runs from just before its sendto to the kernel's
// receive timestamp of its reply (SO_TIMESTAMPNS, taken when the reply
// reaches the socket layer, as iputils ping does), so time the process
// spends before it reads the reply — a scheduler delay, a stalled machine,
// a garbage collection — is not part of the RTT. The kernel stamps with
// CLOCK_REALTIME, so the send time is read from the same clock; an RTT
// measured entirely in user space on the monotonic clock bounds it from
// above (the kernel receives a reply before the process reads it), and
// replaces it if the wall clock was stepped during the round.
//
// A reply later than PacketTimeout, or after ctx is done, is a loss. The
// round ends when every sent packet has its reply, or PacketTimeout after
// the last send, or when ctx is done. A send failure other than ENOBUFS
// ends the round with lastErr. onReply, if not nil, is called with the
// sequence number of each reply read, before its RTT is computed; tests use
// it to stall the reader.
//
// Liveness: everything runs on the calling goroutine; a context.AfterFunc
// only moves the socket's read deadline to wake it when ctx is done.
func kernelICMPRound(ctx context.Context, ip netip.Addr, privileged bool, count int, interval time.Duration, onReply func(seq int)) (round, error) {
	family, proto, typ := unix.AF_INET, unix.IPPROTO_ICMP, unix.SOCK_DGRAM
	var echoRequest, echoReply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if ip.Is6() {
		family, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
		echoRequest, echoReply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	if privileged {
		typ = unix.SOCK_RAW
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return round{}, fmt.Errorf("latency: ICMP socket: %w", os.NewSyscallError("socket", err))
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		unix.Close(fd)
		return round{}, fmt.Errorf("%w: %w", errNoKernelTimestamps, os.NewSyscallError("setsockopt SO_TIMESTAMPNS", err))
	}
	f := os.NewFile(uintptr(fd), "icmp")
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return round{}, fmt.Errorf("latency: ICMP socket: %w", err)
	}

	var to unix.Sockaddr
	if ip.Is4() {
		to = &unix.SockaddrInet4{Addr: ip.As4()}
	} else {
		sa := &unix.SockaddrInet6{Addr: ip.As16()}
		if ip.Zone() != "" {
			// A zone that names no interface leaves ZoneId 0: a send to a
			// link-local address then fails and says so.
			if ifi, err := net.InterfaceByName(ip.Zone()); err == nil {
				sa.ZoneId = uint32(ifi.Index)
			}
		}
		to = sa
	}
	// The kernel rewrites the identifier of a datagram socket's echoes to
	// the socket's port and delivers it only replies with that port; a raw
	// socket sees every ICMP message, so its identifier is random and the
	// tag tells this round's replies from another pinger's.
	var tag [icmpPayloadLen]byte
	rand.Read(tag[:])
	id := int(binary.BigEndian.Uint16(tag[:2]))

	type slot struct {
		wall    int64     // CLOCK_REALTIME before sendto, in ns
		mono    time.Time // the same instant, with its monotonic reading
		replied bool
	}
	slots := make([]slot, count)
	r := round{}
	rtts := make([]time.Duration, count) // by sequence number
	received := 0

	wake := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer wake()

	buf := make([]byte, 1500)
	oob := make([]byte, unix.CmsgSpace(64))
	start := time.Now()
	var end time.Time // PacketTimeout after the last send, once it is known
	for {
		if r.sent < count && end.IsZero() {
			due := start.Add(time.Duration(r.sent) * interval)
			if !time.Now().Before(due) {
				if ctx.Err() != nil {
					break
				}
				msg := icmp.Message{Type: echoRequest, Body: &icmp.Echo{ID: id, Seq: r.sent, Data: tag[:]}}
				b, err := msg.Marshal(nil) // checksum: IPv4 here, IPv6 by the kernel
				if err != nil {
					return round{}, fmt.Errorf("latency: marshal echo: %w", err)
				}
				now := time.Now()
				err = sendto(rc, b, to)
				if errors.Is(err, unix.ENOBUFS) {
					// A full transmit queue: try again shortly, as pro-bing does.
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					r.lastErr = describe(os.NewSyscallError("sendto", err), 0)
					break
				}
				slots[r.sent] = slot{wall: now.UnixNano(), mono: now}
				r.sent++
				if r.sent == count {
					end = now.Add(PacketTimeout)
				}
				continue
			}
		}
		if received == count {
			break
		}
		deadline := end
		if deadline.IsZero() {
			deadline = start.Add(time.Duration(r.sent) * interval)
		}
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		f.SetReadDeadline(deadline)
		if ctx.Err() != nil {
			// Checked after setting the deadline, which the AfterFunc
			// may have moved to the past just before: a reply not read
			// by ctx's end is lost.
			break
		}
		n, stamp, from, err := recvmsg(rc, buf, oob)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if !end.IsZero() && !time.Now().Before(end) {
					break
				}
				continue
			}
			r.lastErr = describe(os.NewSyscallError("recvmsg", err), 0)
			continue
		}
		read := time.Now()
		b := buf[:n]
		if privileged && ip.Is4() {
			// A raw IPv4 socket delivers the IP header too.
			if n < ipv4.HeaderLen || int(b[0]&0x0f)*4 > n {
				continue
			}
			b = b[int(b[0]&0x0f)*4:]
		}
		if from != ip.WithZone("") {
			continue
		}
		m, err := icmp.ParseMessage(proto, b)
		if err != nil || m.Type != echoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || (privileged && echo.ID != id) || !slices.Equal(echo.Data, tag[:]) ||
			echo.Seq < 0 || echo.Seq >= r.sent || slots[echo.Seq].replied {
			continue // not ours, or a duplicate
		}
		if onReply != nil {
			onReply(echo.Seq)
			read = time.Now()
		}
		s := &slots[echo.Seq]
		user := read.Sub(s.mono)
		rtt := user
		if stamp != 0 {
			r.stamped++
			if k := time.Duration(stamp - s.wall); k >= 0 && k <= user {
				rtt = k
			}
		}
		if rtt > PacketTimeout {
			continue // late: lost
		}
		s.replied = true
		rtts[echo.Seq] = rtt
		r.userRTTs = append(r.userRTTs, user)
		received++
	}
	for i := range r.sent {
		if slots[i].replied {
			r.rtts = append(r.rtts, rtts[i])
		}
	}
	return r, nil
}

// sendto sends b to to on the socket behind rc, waiting while the socket
// is not writable.
func sendto(rc interface {
	Write(func(fd uintptr) bool) error
}, b []byte, to unix.Sockaddr) error {
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, to)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// recvmsg reads one datagram into buf and returns its length, its kernel
// receive timestamp in ns since the epoch (0 if it had none) and its
// source. It waits while nothing is queued, until the read deadline.
func recvmsg(rc interface {
	Read(func(fd uintptr) bool) error
}, buf, oob []byte) (n int, stamp int64, from netip.Addr, err error) {
	var (
		oobn int
		sa   unix.Sockaddr
		rerr error
	)
	err = rc.Read(func(fd uintptr) bool {
		n, oobn, _, sa, rerr = unix.Recvmsg(int(fd), buf, oob, 0)
		return rerr != unix.EAGAIN
	})
	if err != nil {
		return 0, 0, netip.Addr{}, err
	}
	if rerr != nil {
		return 0, 0, netip.Addr{}, rerr
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		from = netip.AddrFrom4(sa.Addr)
	case *unix.SockaddrInet6:
		from = netip.AddrFrom16(sa.Addr)
	}
	return n, kernelStamp(oob[:oobn]), from, nil
}

// kernelStamp returns the SCM_TIMESTAMPNS time in control messages oob, in
// ns since the epoch, or 0.
func kernelStamp(oob []byte) int64 {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_SOCKET || m.Header.Type != unix.SCM_TIMESTAMPNS {
			continue
		}
		var ts unix.Timespec
		if _, err := binary.Decode(m.Data, binary.NativeEndian, &ts); err != nil {
			return 0
		}
		return ts.Nano()
	}
	return 0
}
