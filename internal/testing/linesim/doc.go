// Package linesim emulates an access line (FTTH, FWA, FTTC, ADSL, ...) in
// process, so that a probe agent in the demo or in a test can measure a
// realistic line over loopback: every byte is a real byte on a real TCP
// socket, shaped before it reaches the probe or leaves it.
//
// A [Line] is built from a [Profile] (rates in bytes per second and a round
// trip time). Its [Line.DialContext] is a drop-in for
// [net.Dialer.DialContext] and [net/http.Transport.DialContext]; everything a
// probe does (speed tests, HTTP and TCP checks, result uploads) should dial
// through it.
//
// # Model
//
//   - Capacity. Each direction of a line is one token bucket (GCRA pacer)
//     shared by all the line's connections, served first come, first served
//     in quanta of at most 64 KiB, so a speed test and a concurrent HTTP check
//     share the rate. The burst is max(5 ms of line time, 4 KiB). Upload is
//     paced in Write, before the bytes reach the kernel, so the far end sees
//     the shaped rate; download is paced in Read.
//   - Delay. Establishing a connection takes one extra RTT (the SYN/SYN-ACK
//     exchange; a refused dial also takes one RTT). Data is delayed by RTT/2
//     in each direction by a delay line: chunks are timestamped when they
//     enter and released when they are due, so the delay does not lower the
//     throughput. A request/response exchange therefore takes one RTT plus the
//     time to serialise the bytes at the line rate.
//   - Queues. Each connection holds at most max(rate×RTT, 256 KiB) bytes per
//     direction in flight; beyond that Write blocks and the socket is no
//     longer read, so TCP back-pressure still works and memory stays bounded.
//   - Outages. While a line is down ([Line.SetDown], [Line.RunOutages]) a new
//     dial is a black-holed SYN: it is retransmitted after 1 s, 2 s, 4 s, ...
//     like Linux does, succeeds at the first retransmission after the line
//     comes back, fails with the ctx error when ctx ends first, and with
//     ETIMEDOUT after 6 retransmissions (about 127 s). Established
//     connections stall: Read and Write deliver nothing and return only at
//     their deadline (an error satisfying os.ErrDeadlineExceeded and
//     net.Error.Timeout), on Close, or when the line comes back. A
//     connection that lived through an outage is dead, as it usually is
//     after a real line drop: when the line comes back it is reset (the far
//     end gets a TCP RST) and its Read and Write return [ErrReset], which
//     also matches syscall.ECONNRESET.
//   - Close lingers like close(2) on a socket: bytes already on the line are
//     still delivered (for at most RTT/2 plus 1 s), then the socket is
//     closed. A connection closed during an outage keeps its socket open,
//     unseen by the far end, until the outage ends and it is reset like the
//     others (a line that never comes back keeps those sockets). Every
//     goroutine of the connection has exited when Close returns.
//
// # Limits
//
// It is an emulation, not a link: there is no loss, no reordering, no jitter
// and no model of queueing delay beyond the bounded per-connection queue: a
// connection waits for at most one pacing quantum (at most 64 KiB, about
// 2.5 ms of line time) of each other busy connection of its line, as if the
// modem ran fair queueing without bufferbloat. Only TCP is supported. Only the probe's
// side is shaped: the far end's kernel buffers are not, so a server that
// counts the bytes it has written can be a few hundred KiB ahead of what the
// probe has read. A dial is a real loopback connect made at once, whose
// result is handed over one RTT later. Very high rates are limited by the
// CPU: each 64 KiB quantum costs a copy and a wake-up.
//
// # Concurrency
//
// A Line and the connections it returns are safe for concurrent use. As with
// net.TCPConn, each Write is contiguous on the wire; concurrent Reads are
// served one at a time.
package linesim
