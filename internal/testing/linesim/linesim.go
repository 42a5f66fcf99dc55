package linesim

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrReset is returned by Read and Write on a connection that lived through
// an outage, once the line is back. It matches syscall.ECONNRESET with
// errors.Is, like the error of a real connection reset by its peer.
var ErrReset = fmt.Errorf("linesim: connection reset after line outage: %w", syscall.ECONNRESET)

// Profile describes a line. Rates are in bytes per second; a rate that is not
// positive (or is +Inf) leaves that direction unpaced, though a non-zero RTT
// then still caps it at 256 KiB per RTT/2 (the queue bound).
type Profile struct {
	Name               string        // e.g. "FTTH 1000/300"
	DownBytesPerSecond float64       // towards the probe: what the probe reads
	UpBytesPerSecond   float64       // from the probe: what the probe writes
	RTT                time.Duration // round trip time added to every exchange
}

const (
	minQueue      = 256 << 10 // bytes in flight per connection and direction, at least
	maxQueue      = 32 << 20  // and at most
	rcvBuf        = 128 << 10 // SO_RCVBUF of the probe's socket (Linux doubles it)
	initialRTO    = time.Second
	maxSYNRetries = 6 // Linux net.ipv4.tcp_syn_retries
	lingerGrace   = time.Second
)

// Line is an emulated access line. Create it with [New]; the zero value is
// not usable. A Line is safe for concurrent use and owns no goroutines: each
// connection it returns owns two until it is closed or reset.
type Line struct {
	p        Profile
	upPacer  *pacer // nil: unlimited
	dnPacer  *pacer // nil: unlimited
	oneWay   time.Duration
	upLimit  int // queue bound per connection, bytes
	dnLimit  int
	upQuanta int // largest chunk, bytes
	dnQuanta int
	dialer   net.Dialer

	state atomic.Pointer[lineState]

	mu      sync.Mutex         // serialises SetDown and register
	conns   map[*conn]struct{} // established and not yet closed or reset
	zombies []net.Conn         // sockets closed by the probe during an outage, reset when it ends
}

// lineState is immutable; SetDown replaces it and closes changed.
type lineState struct {
	down    bool
	outages uint64        // outages begun so far
	changed chan struct{} // closed when this state is replaced
}

// New returns a line with profile p, up.
func New(p Profile) *Line {
	l := &Line{
		p:       p,
		upPacer: newPacer(p.UpBytesPerSecond),
		dnPacer: newPacer(p.DownBytesPerSecond),
		oneWay:  max(p.RTT/2, 0),
		upLimit: queueLimit(p.UpBytesPerSecond, p.RTT),
		dnLimit: queueLimit(p.DownBytesPerSecond, p.RTT),
		conns:   make(map[*conn]struct{}),
	}
	l.upQuanta, l.dnQuanta = maxQuantum, maxQuantum
	if l.upPacer != nil {
		l.upQuanta = l.upPacer.quantum
	}
	if l.dnPacer != nil {
		l.dnQuanta = l.dnPacer.quantum
	}
	l.state.Store(&lineState{changed: make(chan struct{})})
	return l
}

func queueLimit(rate float64, rtt time.Duration) int {
	bdp := rate * rtt.Seconds()
	if !(bdp > minQueue) { // also when rate is not positive
		return minQueue
	}
	return int(min(bdp, maxQueue))
}

// Profile returns the profile the line was made with.
func (l *Line) Profile() Profile { return l.p }

// Down reports whether the line is in an outage.
func (l *Line) Down() bool { return l.state.Load().down }

// SetDown starts (true) or ends (false) an outage. Setting the current state
// again does nothing. Ending an outage resets every connection that was
// established before it.
func (l *Line) SetDown(down bool) {
	l.mu.Lock()
	old := l.state.Load()
	if old.down == down {
		l.mu.Unlock()
		return
	}
	s := &lineState{down: down, outages: old.outages, changed: make(chan struct{})}
	if down {
		s.outages++
	}
	l.state.Store(s)
	close(old.changed)
	var dead []net.Conn
	if !down {
		for c := range l.conns {
			if c.gen != s.outages {
				dead = append(dead, c.nc)
				delete(l.conns, c)
			}
		}
		dead = append(dead, l.zombies...)
		l.zombies = nil
	}
	l.mu.Unlock()
	for _, nc := range dead {
		abort(nc)
	}
}

// abort closes a socket at the end of an outage, with a RST to the far end,
// as a real connection is reset after a line drop.
func abort(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = nc.Close()
}

// Outage is one step of an outage script: the line stays up for After (from
// the start of the script, or from the end of the previous outage), then goes
// down For.
type Outage struct {
	After time.Duration
	For   time.Duration
}

// RunOutages plays script on the line, over and over if repeat is set, and
// returns when ctx is done. If ctx ends during an outage of the script, the
// line is brought back up before RunOutages returns. Steps are timed from the
// script's start, so they do not drift. A repeated script whose steps add up
// to zero is played once. An outage whose For is zero is a blip that still
// resets every connection.
//
// RunOutages blocks: run it on a goroutine owned by the caller, which ends
// when ctx is done. It shares the line's state with SetDown; the most recent
// call wins.
func (l *Line) RunOutages(ctx context.Context, script []Outage, repeat bool) {
	var total time.Duration
	for _, o := range script {
		total += max(o.After, 0) + max(o.For, 0)
	}
	t := time.Now()
	for {
		for _, o := range script {
			t = t.Add(max(o.After, 0))
			if sleepUntil(ctx, t) != nil {
				return
			}
			l.SetDown(true)
			t = t.Add(max(o.For, 0))
			err := sleepUntil(ctx, t)
			l.SetDown(false)
			if err != nil {
				return
			}
		}
		if !repeat || total <= 0 {
			<-ctx.Done()
			return
		}
	}
}

// DialContext connects to addr on network ("tcp", "tcp4" or "tcp6") through
// the line. It has the signature of [net.Dialer.DialContext]. The connection
// is handed over one RTT after the real connect; during an outage the dial
// blocks as described in the package documentation. When ctx ends first the
// error is a *net.OpError wrapping ctx.Err() (a timeout for a deadline).
func (l *Line) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr},
			Err: fmt.Errorf("linesim: network %q not supported", network)}
	}
	attempt, rto := time.Now(), initialRTO
	for retries := 0; ; retries++ {
		if s := l.state.Load(); !s.down {
			c, err := l.handshake(ctx, network, addr, s.outages)
			if c != nil || err != nil {
				return c, err
			}
			// The SYN or SYN-ACK was lost to an outage: retransmit.
		}
		if retries == maxSYNRetries {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr},
				Err: os.NewSyscallError("connect", syscall.ETIMEDOUT)}
		}
		attempt = attempt.Add(rto)
		rto *= 2
		if err := sleepUntil(ctx, attempt); err != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr}, Err: err}
		}
	}
}

// handshake makes one connection attempt with the line up at outage count
// gen. It returns (nil, nil) if an outage began before the handshake ended.
func (l *Line) handshake(ctx context.Context, network, addr string, gen uint64) (*conn, error) {
	nc, err := l.dialer.DialContext(ctx, network, addr)
	if ctx.Err() != nil && err != nil {
		return nil, err
	}
	// The SYN-ACK, or the RST of a refused connect, comes back one RTT later.
	if werr := sleepUntil(ctx, time.Now().Add(l.p.RTT)); werr != nil {
		if nc != nil {
			_ = nc.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: network, Addr: dialAddr{network, addr}, Err: werr}
	}
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(rcvBuf) // keep the far end's lead small; best effort
	}
	c := l.register(nc, gen)
	if c == nil {
		_ = nc.Close()
		return nil, nil
	}
	return c, nil
}

// register wraps nc and starts its goroutines, unless the line went down
// since gen: the check and the registration are atomic with SetDown, so no
// connection can miss the reset at the end of an outage.
func (l *Line) register(nc net.Conn, gen uint64) *conn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.state.Load(); s.down || s.outages != gen {
		return nil
	}
	c := newConn(l, nc, gen)
	l.conns[c] = struct{}{}
	return c
}

// release removes a closed connection from the line. If it was closed during
// an outage it lived through, it reports true and keeps the socket, to be
// reset when the outage ends: the far end cannot see a FIN while the line is
// down.
func (l *Line) release(c *conn) (keep bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
	if s := l.state.Load(); s.down && s.outages != c.gen {
		l.zombies = append(l.zombies, c.nc)
		return true
	}
	return false
}

// dialAddr names the dialled address in errors without resolving it.
type dialAddr struct{ network, addr string }

func (a dialAddr) Network() string { return a.network }
func (a dialAddr) String() string  { return a.addr }

// sleepUntil waits until t or until ctx is done, and then returns ctx.Err().
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
