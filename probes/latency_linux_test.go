package probes

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netNS is a network namespace of a test's own: loopback up, unprivileged
// ICMP open to every group, and the switch that makes its kernel ignore
// ICMPv4 echo requests.
type netNS struct {
	ignoreEcho *os.File // /proc/sys/net/ipv4/icmp_echo_ignore_all of the namespace
}

// setIgnoreEcho makes the namespace's kernel answer ICMPv4 echo requests
// (false) or drop them (true).
func (ns *netNS) setIgnoreEcho(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	_, err := ns.ignoreEcho.WriteAt([]byte(v), 0)
	return err
}

// inNetNS runs f on a goroutine locked to an OS thread that has moved to a
// new network namespace, so that sockets f opens live there and the
// sysctls it changes leave the machine's alone. The thread is never
// unlocked, so it exits with the goroutine and the namespace goes with
// it. f must not call t.Fatal (it runs on another goroutine). As root
// only.
func inNetNS(t *testing.T, f func(ns *netNS)) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own (unshare CLONE_NEWNET)")
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := newNetNS()
		if err != nil {
			errc <- err
			return
		}
		defer ns.ignoreEcho.Close()
		f(ns)
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// newNetNS moves the calling thread, which must be locked, to a new
// network namespace and sets it up.
func newNetNS() (*netNS, error) {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("unshare CLONE_NEWNET: %w", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return nil, err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return nil, fmt.Errorf("SIOCGIFFLAGS lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return nil, fmt.Errorf("SIOCSIFFLAGS lo up: %w", err)
	}
	// /proc/sys/net is the namespace of the thread that opens it.
	if err := os.WriteFile("/proc/sys/net/ipv4/ping_group_range", []byte("0 2147483647"), 0); err != nil {
		return nil, err
	}
	f, err := os.OpenFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return &netNS{ignoreEcho: f}, nil
}

// sockets names the two kinds of ICMP socket kernelICMPRound opens.
var sockets = []struct {
	name       string
	privileged bool
}{{"raw", true}, {"unprivileged", false}}

// TestKernelICMPRoundLoopback pings the loopback addresses over both kinds
// of socket and checks that every reply is timed by the kernel.
func TestKernelICMPRoundLoopback(t *testing.T) {
	t.Parallel()
	for _, sock := range sockets {
		for _, addr := range []string{"127.0.0.1", "::1"} {
			t.Run(sock.name+" "+addr, func(t *testing.T) {
				t.Parallel()
				ip := netip.MustParseAddr(addr)
				inNetNS(t, func(*netNS) {
					r, err := kernelICMPRound(withTimeoutCtx(t, 5*time.Second), ip, sock.privileged, 20, 5*time.Millisecond, nil)
					if err != nil {
						t.Errorf("kernelICMPRound(%s) error = %v", ip, err)
						return
					}
					checkLoopbackRound(t, r, 20)
				})
			})
		}
	}
}

// TestICMPRoundUsesKernelTimestamps checks that the round Latency runs on
// Linux is the kernel-timestamped one, with the socket this process may
// open in the machine's own namespace.
func TestICMPRoundUsesKernelTimestamps(t *testing.T) {
	t.Parallel()
	raw, dgram := icmpPermitted()
	if !raw && !dgram {
		t.Skip("ICMP not permitted to this process (TestKernelICMPRoundLoopback covers both sockets as root)")
	}
	r, err := icmpRound(withTimeoutCtx(t, 5*time.Second), netip.MustParseAddr("127.0.0.1"), raw, 10, 5*time.Millisecond, discard)
	if err != nil {
		t.Fatalf("icmpRound error = %v", err)
	}
	checkLoopbackRound(t, r, 10)
}

// checkLoopbackRound checks a lossless loopback round of count packets:
// all received, each RTT kernel-timestamped and positive, the best under
// 20 ms, and no later than the replies timed in user space. Only the best
// is bounded: an RTT runs from the clock read just before sendto, and a
// loaded machine may take the sender off the CPU in between (41 ms seen).
func checkLoopbackRound(t *testing.T, r round, count int) {
	t.Helper()
	s := Summarize(r.sent, r.rtts)
	u := Summarize(0, r.userRTTs)
	t.Logf("sent %d, received %d, kernel-stamped %d; kernel RTT min %v avg %v max %v; user-space RTT min %v avg %v max %v; err %q",
		s.Sent, s.Received, r.stamped, s.Min, s.Avg, s.Max, u.Min, u.Avg, u.Max, r.lastErr)
	if s.Sent != count || s.Received != count || r.stamped != count {
		t.Errorf("sent, received, kernel-stamped = %d, %d, %d; want %d each", s.Sent, s.Received, r.stamped, count)
	}
	if !(0 < s.Min && s.Min < 20*time.Millisecond) {
		t.Errorf("RTTs from %v to %v; want them positive and the best under 20ms on loopback", s.Min, s.Max)
	}
	if s.Avg > u.Avg || s.Min > u.Min {
		t.Errorf("kernel-timed RTT avg %v, min %v; want at most the user-space ones %v, %v", s.Avg, s.Min, u.Avg, u.Min)
	}
}

// TestKernelICMPRoundStalledReader stalls the reader for 50 ms before it
// handles each reply, as a descheduled or stopped process would be. The
// RTTs timed in user space take the stall; the kernel-timed ones must not.
func TestKernelICMPRoundStalledReader(t *testing.T) {
	t.Parallel()
	const stall = 50 * time.Millisecond
	for _, sock := range sockets {
		t.Run(sock.name, func(t *testing.T) {
			t.Parallel()
			inNetNS(t, func(*netNS) {
				var stalled []int
				onReply := func(seq int) {
					stalled = append(stalled, seq)
					time.Sleep(stall)
				}
				r, err := kernelICMPRound(withTimeoutCtx(t, 5*time.Second), netip.MustParseAddr("127.0.0.1"), sock.privileged, 5, 5*time.Millisecond, onReply)
				if err != nil {
					t.Errorf("kernelICMPRound error = %v", err)
					return
				}
				s := Summarize(r.sent, r.rtts)
				u := Summarize(0, r.userRTTs)
				t.Logf("stalled at %v; kernel RTT min %v avg %v max %v; user-space RTT min %v avg %v max %v",
					stalled, s.Min, s.Avg, s.Max, u.Min, u.Avg, u.Max)
				if !slices.Equal(stalled, []int{0, 1, 2, 3, 4}) {
					t.Errorf("reader stalled at replies %v; want 0 to 4", stalled)
				}
				if s.Sent != 5 || s.Received != 5 || r.stamped != 5 {
					t.Errorf("sent, received, kernel-stamped = %d, %d, %d; want 5 each", s.Sent, s.Received, r.stamped)
				}
				if u.Min < stall {
					t.Errorf("user-space RTT min %v; want at least the stall %v (the stall did not happen)", u.Min, stall)
				}
				// Each reply is read at least a stall after the kernel
				// stamped it, so the user-space RTTs exceed the kernel-
				// timed ones by a stall each. Both run from the same send
				// time, so a sender taken off the CPU by a loaded machine
				// lengthens both alike and leaves the difference.
				if d := u.Avg - s.Avg; d < stall-time.Millisecond {
					t.Errorf("kernel-timed RTT avg %v, user-space %v: %v apart; want at least the stall %v (it leaked into the kernel-timed RTTs)", s.Avg, u.Avg, d, stall)
				}
			})
		})
	}
}

// answerFirst makes the namespace's kernel answer the first n ICMPv4 echo
// requests and drop the rest: an iptables rule that lets a burst of n
// through and refills once an hour. It must run on the namespace's thread
// (iptables, started from it, inherits the namespace).
func (ns *netNS) answerFirst(n int) error {
	for _, rule := range [][]string{
		{"-m", "limit", "--limit", "1/hour", "--limit-burst", fmt.Sprint(n), "-j", "ACCEPT"},
		{"-j", "DROP"},
	} {
		args := append([]string{"-w", "-A", "INPUT", "-p", "icmp", "--icmp-type", "echo-request"}, rule...)
		if out, err := exec.Command("iptables", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("iptables %s: %v: %s (scripts/install-test-deps installs iptables)", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// TestKernelICMPRoundLoss has the kernel answer the first two of five echo
// requests and drop the rest: the last three packets are lost, and the
// round ends PacketTimeout after the last send. (The drop is the kernel's
// from the start, so how late a loaded machine runs the reader does not
// matter.)
func TestKernelICMPRoundLoss(t *testing.T) {
	t.Parallel()
	const interval = 100 * time.Millisecond
	for _, sock := range sockets {
		t.Run(sock.name, func(t *testing.T) {
			t.Parallel()
			inNetNS(t, func(ns *netNS) {
				if err := ns.answerFirst(2); err != nil {
					t.Error(err)
					return
				}
				start := time.Now()
				r, err := kernelICMPRound(withTimeoutCtx(t, 5*time.Second), netip.MustParseAddr("127.0.0.1"), sock.privileged, 5, interval, nil)
				elapsed := time.Since(start)
				if err != nil {
					t.Errorf("kernelICMPRound error = %v", err)
					return
				}
				s := Summarize(r.sent, r.rtts)
				t.Logf("in %v: sent %d, received %d, loss %v, RTTs %v", elapsed.Round(time.Millisecond), s.Sent, s.Received, s.Loss, r.rtts)
				if s.Sent != 5 || s.Received != 2 || s.Loss != 0.6 {
					t.Errorf("sent, received, loss = %d, %d, %v; want 5, 2, 0.6", s.Sent, s.Received, s.Loss)
				}
				// Not before PacketTimeout after the last send; the upper
				// bound leaves room for a loaded machine.
				if min := 4*interval + PacketTimeout; elapsed < min || elapsed > min+timeoutSlack {
					t.Errorf("round took %v; want about %v (the last send plus PacketTimeout)", elapsed, min)
				}
			})
		})
	}
}

// TestNetNSLeavesMachineAlone checks that inNetNS changed the sysctls of
// its own namespace only.
func TestNetNSLeavesMachineAlone(t *testing.T) {
	before, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	inNetNS(t, func(ns *netNS) {
		if err := ns.setIgnoreEcho(true); err != nil {
			t.Error(err)
		}
	})
	after, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile("/proc/sys/net/ipv4/icmp_echo_ignore_all")
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) || strings.TrimSpace(string(ignore)) != "0" {
		t.Errorf("machine's ping_group_range %q → %q, icmp_echo_ignore_all %q; want them untouched (and ignore 0)",
			before, after, ignore)
	}
}
