package netlab

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNetns runs f on an OS thread that has entered the named network
// namespace, then returns the thread to its own namespace. Sockets and
// TUN devices that f creates belong to ns for their whole life; f must not
// start goroutines that create any.
func inNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	// Unlocked only once the thread is back in its own namespace: if that
	// fails, the thread dies with its goroutine rather than serve others
	// from the wrong namespace.
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own netns: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open netns %s: %w", ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := f()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns back from %s: %w", ns, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// DialContext dials from the namespace of role r, like
// net.Dialer.DialContext; addr must be a literal IP address and port. Use
// it as an http.Transport's DialContext to reach a server in the lab from
// this process.
func (l *Lab) DialContext(r Role) func(ctx context.Context, network, addr string) (net.Conn, error) {
	ns := l.NS(r)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		// With a single literal address the dialer creates and connects
		// the socket on the calling goroutine, so on the locked thread.
		err := inNetns(ns, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
