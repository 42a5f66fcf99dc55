package ndt7

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// errNoSocket: the connection gives no access to a kernel socket (an
// emulated line, a pipe).
var errNoSocket = errors.New("ndt7: connection has no socket")

// rawConn returns the syscall.RawConn under c, looking through TLS.
func rawConn(c net.Conn) (syscall.RawConn, error) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errNoSocket
	}
	return sc.SyscallConn()
}
