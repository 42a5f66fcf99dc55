package linesim

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// conn is a TCP connection behind a line. The application side is the
// net.Conn methods; the network side is two goroutines:
//
//   - readLoop reads the socket into the in queue, stamping each chunk with
//     its arrival time plus RTT/2; Read takes due chunks, paced by the line's
//     down pacer.
//   - writeLoop writes the out queue to the socket as chunks fall due; Write
//     paces the bytes with the line's up pacer and queues them due RTT/2
//     later.
type conn struct {
	l   *Line
	nc  net.Conn
	gen uint64 // the line's outage count when the connection was made

	rmu sync.Mutex // serialises Read
	wmu sync.Mutex // serialises Write, so each Write is contiguous

	rd, wd deadline

	done    chan struct{} // closed by Close: Read and Write fail
	dead    chan struct{} // closed by Close after lingering: the goroutines exit
	flushed chan struct{} // closed by writeLoop when it returns
	wg      sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	in       queue     // from the network to the application
	inErr    error     // the socket's read error, io.EOF at the peer's FIN
	inErrDue time.Time // when inErr reaches the application
	out      queue     // from the application to the network
	outErr   error     // the socket's write error, returned by later Writes
	outLast  time.Time // when the last byte written is due at the far end
}

// queue is a FIFO of timestamped chunks, guarded by conn.mu.
type queue struct {
	chunks []chunk
	bytes  int
	limit  int
	wake   chan struct{} // closed and replaced when chunks are added or removed
}

type chunk struct {
	b   []byte    // bytes not yet taken
	buf []byte    // the whole buffer, returned to the pool once taken
	due time.Time // when the first byte reaches the far end of the line
}

func (q *queue) push(c chunk) {
	q.chunks = append(q.chunks, c)
	q.bytes += len(c.b)
	q.signal()
}

func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

// due returns how many bytes, up to max, are due at now.
func (q *queue) due(now time.Time, max int) int {
	n := 0
	for _, c := range q.chunks {
		if n >= max || c.due.After(now) {
			break
		}
		n += len(c.b)
	}
	return min(n, max)
}

// take copies len(p) bytes, which must be due, out of the queue.
func (q *queue) take(p []byte) {
	for len(p) > 0 {
		c := &q.chunks[0]
		n := copy(p, c.b)
		p, c.b = p[n:], c.b[n:]
		q.bytes -= n
		if len(c.b) == 0 {
			putBuf(c.buf)
			q.chunks[0] = chunk{}
			q.chunks = q.chunks[1:]
		}
	}
	q.signal()
}

// drop empties the queue.
func (q *queue) drop() {
	for i := range q.chunks {
		putBuf(q.chunks[i].buf)
	}
	q.chunks, q.bytes = nil, 0
	q.signal()
}

func newConn(l *Line, nc net.Conn, gen uint64) *conn {
	c := &conn{
		l:       l,
		nc:      nc,
		gen:     gen,
		done:    make(chan struct{}),
		dead:    make(chan struct{}),
		flushed: make(chan struct{}),
		in:      queue{limit: l.dnLimit, wake: make(chan struct{})},
		out:     queue{limit: l.upLimit, wake: make(chan struct{})},
	}
	c.rd.init()
	c.wd.init()
	c.wg.Add(2)
	go c.readLoop()
	go c.writeLoop()
	return c
}

// readLoop moves bytes from the socket to the in queue.
//
// Liveness: started by newConn, owned by the conn; it owns the socket's read
// side. It returns when the socket read fails (the peer's FIN or reset, or
// the socket closed by Close or by the reset after an outage) or when Close
// is called while it waits for room in the in queue. Close waits for it.
func (c *conn) readLoop() {
	defer c.wg.Done()
	buf := getBuf(poolSize)
	defer func() { putBuf(buf) }()
	for {
		n, err := c.nc.Read(buf)
		now := time.Now()
		if n > 0 {
			ch := chunk{due: now.Add(c.l.oneWay)}
			if n >= poolSize/4 {
				ch.buf, ch.b = buf, buf[:n]
				buf = nil
			} else { // do not pin a large buffer for a few bytes
				ch.b = append([]byte(nil), buf[:n]...)
			}
			c.mu.Lock()
			for c.in.bytes > 0 && c.in.bytes+n > c.in.limit {
				wake := c.in.wake
				c.mu.Unlock()
				select {
				case <-wake:
				case <-c.done:
					putBuf(ch.buf)
					return
				}
				c.mu.Lock()
			}
			c.in.push(ch)
			c.mu.Unlock()
			if buf == nil {
				buf = getBuf(poolSize)
			}
		}
		if err != nil {
			c.mu.Lock()
			c.inErr, c.inErrDue = err, now.Add(c.l.oneWay)
			c.in.signal()
			c.mu.Unlock()
			return
		}
	}
}

// writeLoop moves due bytes from the out queue to the socket.
//
// Liveness: started by newConn, owned by the conn; it owns the socket's write
// side. It returns when the socket write fails, when an outage breaks the
// connection (its queued bytes are lost), when Close is called and the queue
// is empty, or when Close stops lingering (dead). Close waits for it.
func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.flushed)
	var bufs, owned net.Buffers
	for {
		s := c.l.state.Load()
		c.mu.Lock()
		if s.outages != c.gen {
			c.out.drop()
			c.mu.Unlock()
			return
		}
		now := time.Now()
		if len(c.out.chunks) == 0 {
			wake := c.out.wake
			c.mu.Unlock()
			select {
			case <-wake:
			case <-s.changed:
			case <-c.done:
				c.mu.Lock()
				empty := len(c.out.chunks) == 0
				c.mu.Unlock()
				if empty {
					return
				}
			case <-c.dead:
				return
			}
			continue
		}
		if due := c.out.chunks[0].due; due.After(now) {
			c.mu.Unlock()
			// Later chunks are due later still: no need to watch the queue.
			if !waitUntil(due, s.changed, c.dead, nil, nil) {
				select {
				case <-c.dead:
					return
				default:
				}
			}
			continue
		}
		for len(c.out.chunks) > 0 && !c.out.chunks[0].due.After(now) {
			ch := c.out.chunks[0]
			bufs = append(bufs, ch.b)
			owned = append(owned, ch.buf)
			c.out.bytes -= len(ch.b)
			c.out.chunks[0] = chunk{}
			c.out.chunks = c.out.chunks[1:]
		}
		c.out.signal()
		c.mu.Unlock()
		_, err := bufs.WriteTo(c.nc) // consumes bufs; writev on a TCP socket
		for i, b := range owned {
			putBuf(b)
			owned[i] = nil
		}
		bufs, owned = bufs[:0], owned[:0]
		if err != nil {
			c.mu.Lock()
			c.outErr = err
			c.out.drop()
			c.mu.Unlock()
			return
		}
	}
}

// check returns the error an operation must fail with, if any, given line
// state s and the operation's deadline. A nil error with broken set means the
// line is down for this connection: the operation must stall.
func (c *conn) check(s *lineState, dl *deadline) (broken bool, err error) {
	select {
	case <-c.done:
		return false, net.ErrClosed
	default:
	}
	select {
	case <-dl.wait():
		return false, os.ErrDeadlineExceeded
	default:
	}
	if s.outages != c.gen {
		if !s.down {
			return false, ErrReset
		}
		return true, nil
	}
	return false, nil
}

// Read reads bytes that have crossed the line, paced at its down rate.
func (c *conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		s := c.l.state.Load()
		broken, err := c.check(s, &c.rd)
		if err != nil {
			return 0, c.opErr("read", err)
		}
		if len(b) == 0 {
			return 0, nil
		}
		if broken {
			waitUntil(time.Time{}, s.changed, c.rd.wait(), c.done, nil)
			continue
		}
		now := time.Now()
		c.mu.Lock()
		n := c.in.due(now, min(len(b), c.l.dnQuanta))
		if n == 0 {
			var until time.Time
			switch {
			case len(c.in.chunks) > 0:
				until = c.in.chunks[0].due
			case c.inErr != nil && !c.inErrDue.After(now):
				err := c.inErr
				c.mu.Unlock()
				return 0, err // io.EOF must not be wrapped
			case c.inErr != nil:
				until = c.inErrDue
			}
			wake := c.in.wake
			c.mu.Unlock()
			waitUntil(until, wake, s.changed, c.rd.wait(), c.done)
			continue
		}
		c.mu.Unlock()
		if p := c.l.dnPacer; p != nil {
			r := p.reserve(now, n)
			if !waitUntil(r.at, s.changed, c.rd.wait(), c.done, nil) {
				p.cancel(r)
				continue
			}
		}
		// Only Read takes from in, and we hold rmu: the n bytes are still there.
		c.mu.Lock()
		c.in.take(b[:n])
		c.mu.Unlock()
		return n, nil
	}
}

// Write paces b at the line's up rate and queues it to reach the far end
// RTT/2 later. It returns once all of b is queued, like a socket write
// returns once the kernel holds the bytes.
func (c *conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for {
		s := c.l.state.Load()
		broken, err := c.check(s, &c.wd)
		if err == nil {
			c.mu.Lock()
			err = c.outErr
			c.mu.Unlock()
		}
		if err != nil {
			return written, c.opErr("write", err)
		}
		if written == len(b) {
			return written, nil
		}
		if broken {
			waitUntil(time.Time{}, s.changed, c.wd.wait(), c.done, nil)
			continue
		}
		n := min(len(b)-written, c.l.upQuanta)
		c.mu.Lock()
		if c.out.bytes > 0 && c.out.bytes+n > c.out.limit {
			wake := c.out.wake
			c.mu.Unlock()
			waitUntil(time.Time{}, wake, s.changed, c.wd.wait(), c.done)
			continue
		}
		c.mu.Unlock()
		now := time.Now()
		leave := now
		if p := c.l.upPacer; p != nil {
			r := p.reserve(now, n)
			if !waitUntil(r.at, s.changed, c.wd.wait(), c.done, nil) {
				p.cancel(r)
				continue
			}
			// Time the bytes from when they were due to leave, so a late
			// wake-up does not add to the delay.
			leave = maxTime(now, r.at)
		}
		buf := getBuf(n)
		copy(buf, b[written:written+n])
		c.mu.Lock()
		c.outLast = leave.Add(c.l.oneWay)
		c.out.push(chunk{b: buf, buf: buf, due: c.outLast})
		c.mu.Unlock()
		written += n
	}
}

// Close closes the connection. Bytes already written are delivered first, as
// after close(2) on a socket; Close waits for them at most RTT/2 plus 1 s (a
// far end that does not read; the second is wide so that a loaded machine,
// which runs the goroutine writing them late, still delivers them all).
// Closed during an outage, the socket is kept open (the far end sees
// nothing) and reset when the outage ends. All of the connection's
// goroutines have exited when Close returns.
func (c *conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	close(c.done)
	// Not the queue's last chunk: writeLoop may hold bytes it has taken
	// from the queue and not yet written.
	last := c.outLast
	c.mu.Unlock()
	defer c.rd.set(time.Time{})
	defer c.wd.set(time.Time{})
	if c.l.release(c) {
		// Closed during an outage: the line owns the socket now. Unblock
		// the goroutines without closing it.
		close(c.dead)
		_ = c.nc.SetDeadline(time.Unix(1, 0))
		c.wg.Wait()
		return nil
	}
	if !last.IsZero() {
		waitUntil(last.Add(lingerGrace), c.flushed, nil, nil, nil)
	}
	close(c.dead)
	err := c.nc.Close()
	c.wg.Wait()
	if errors.Is(err, net.ErrClosed) { // already reset after an outage
		err = nil
	}
	return err
}

func (c *conn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }
func (c *conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

func (c *conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *conn) SetReadDeadline(t time.Time) error {
	c.rd.set(t)
	return nil
}

func (c *conn) SetWriteDeadline(t time.Time) error {
	c.wd.set(t)
	return nil
}

func (c *conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: err}
}

// waitUntil blocks until t (never, if t is zero) or until one of the channels
// (nil ones are ignored) is ready. It reports whether t was reached.
func waitUntil(t time.Time, a, b, c, d <-chan struct{}) bool {
	var timeout <-chan time.Time
	if !t.IsZero() {
		dur := time.Until(t)
		if dur <= 0 {
			return true
		}
		tm := time.NewTimer(dur)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-timeout:
		return true
	case <-a:
	case <-b:
	case <-c:
	case <-d:
	}
	return false
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// deadline is a settable deadline whose channel is closed when it passes, as
// in net.Pipe. Its timer's callback runs on a short-lived runtime goroutine
// that only closes the channel.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel chan struct{} // closed when the deadline has passed
}

func (d *deadline) init() { d.cancel = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.cancel // the callback is running: wait for it to close cancel
	}
	d.timer = nil
	closed := isClosed(d.cancel)
	if t.IsZero() {
		if closed {
			d.cancel = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.cancel = make(chan struct{})
		}
		cancel := d.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(d.cancel)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cancel
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

const poolSize = maxQuantum

var pool = sync.Pool{New: func() any { b := make([]byte, poolSize); return &b }}

// getBuf returns a buffer of n <= poolSize bytes; large ones come from pool.
func getBuf(n int) []byte {
	if n < poolSize/4 {
		return make([]byte, n)
	}
	return (*pool.Get().(*[]byte))[:n]
}

// putBuf returns b to the pool if it came from there.
func putBuf(b []byte) {
	if cap(b) == poolSize {
		b = b[:poolSize]
		pool.Put(&b)
	}
}
