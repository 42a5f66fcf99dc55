package ndt7

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// maxTailGap is how long before the end of a download test data may stop
// arriving before the test is void rather than a speed.
const maxTailGap = time.Second

// DefaultStallTimeout is the default [Client.StallTimeout].
const DefaultStallTimeout = 7 * time.Second

// defaultUserAgent identifies the client when Client.UserAgent is empty.
const defaultUserAgent = "fibremon-ndt7"

// Client runs ndt7 tests. The zero value is ready to use. A Client is safe
// for concurrent use as long as its fields are not modified; each test uses
// its own connection.
//
// A test needs about Duration plus the handshake plus up to two seconds for
// the closing handshake; give ctx a deadline with room for that. No call
// outlives ctx, and nothing started by a call outlives the call.
type Client struct {
	// Dial, if set, opens the TCP connection (e.g. through an emulated
	// line). TLS, for wss and https URLs, is layered on top by the client.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)

	// Duration is how long the client transfers. Zero means
	// DefaultDuration; values above MaxDuration are lowered to it. The
	// server may end the test earlier.
	Duration time.Duration

	// UserAgent is sent in the upgrade request; empty means
	// "fibremon-ndt7".
	UserAgent string

	// TLSConfig is used for wss and https URLs; nil means the defaults.
	TLSConfig *tls.Config

	// StallTimeout bounds the handshake and each read (download) or write
	// (upload): no progress for that long fails the test with ErrStalled.
	// Zero means DefaultStallTimeout.
	StallTimeout time.Duration

	// EarlyStop ends a test before Duration once the throughput has
	// settled: three consecutive one-second windows, the first starting
	// no earlier than the test, each within 5 % of the one before. The
	// download is judged by the bytes the client receives, the upload by
	// the server's measurements (no early stop if it sends none).
	EarlyStop bool
}

// Summary is the result of one test.
type Summary struct {
	Test string // TestDownload or TestUpload

	// BytesPerSecond is Bytes / Elapsed.
	BytesPerSecond float64
	// Bytes is the byte count behind BytesPerSecond: for a download, the
	// message payload bytes the client received; for an upload, the bytes
	// the server says it received (TCPInfo.BytesReceived, TCP level, when
	// the server reports TCP_INFO; AppInfo.NumBytes otherwise).
	Bytes int64
	// Elapsed is the time behind BytesPerSecond: for a download, from the
	// upgrade to the last message received; for an upload, the server's
	// ElapsedTime of the measurement Bytes comes from.
	Elapsed time.Duration

	// ClientBytes is the message payload the client itself received
	// (download, equal to Bytes) or sent (upload).
	ClientBytes int64

	// MinRTT is the kernel's minimum RTT of the connection, from the
	// sender's socket: the server's TCPInfo for a download, the client's own
	// socket for an upload (the server's TCPInfo if that is unavailable).
	// Zero if unknown.
	MinRTT time.Duration
	// RetransmissionRatio is BytesRetrans / BytesSent of the sender's
	// socket, as for MinRTT; -1 if unknown.
	RetransmissionRatio float64

	// ServerUUID is the UUID from the server's ConnectionInfo, if any.
	ServerUUID string
	// LastServer is the last measurement the server sent, if any.
	LastServer *Measurement
	// LastClient is the last measurement the client sent to the server.
	LastClient *Measurement

	// EarlyStopped is true when the test ended early because its
	// throughput had settled (Client.EarlyStop).
	EarlyStopped bool

	// Socket holds the client socket's kernel counters at the end of the
	// test; nil where TCP_INFO is unavailable (not Linux, or a connection
	// without a socket such as an emulated line).
	Socket *SocketStats
}

// SocketStats are a TCP socket's kernel counters and addresses.
type SocketStats struct {
	BytesSent     int64 // tcpi_bytes_sent: payload sent, retransmissions included
	BytesReceived int64 // tcpi_bytes_received
	SegsOut       int64 // tcpi_segs_out: segments sent, pure ACKs included
	SegsIn        int64 // tcpi_segs_in
	LocalAddr     net.Addr
	RemoteAddr    net.Addr
}

// Per-segment TCP/IP header bytes, with the timestamp option that Linux
// uses by default.
const (
	headerBytesIPv4 = 20 + 32
	headerBytesIPv6 = 40 + 32
)

// WireBytes estimates the bytes the connection put on the network in both
// directions at the IP layer: TCP payload plus a TCP/IP header per segment.
// Link-layer framing is not included.
func (s *SocketStats) WireBytes() int64 {
	hdr := int64(headerBytesIPv4)
	if ta, ok := s.LocalAddr.(*net.TCPAddr); ok && ta.IP.To4() == nil {
		hdr = headerBytesIPv6
	}
	return s.BytesSent + s.BytesReceived + hdr*(s.SegsOut+s.SegsIn)
}

func (c *Client) duration() time.Duration {
	if c.Duration <= 0 {
		return DefaultDuration
	}
	return min(c.Duration, MaxDuration)
}

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout <= 0 {
		return DefaultStallTimeout
	}
	return c.StallTimeout
}

// Download runs a download test against serviceURL, the server's base URL
// (ws, wss, http or https; DownloadPath is appended), or the URL of one of
// its endpoints (its path ends in DownloadPath or UploadPath; the query is
// kept).
func (c *Client) Download(ctx context.Context, serviceURL string) (Summary, error) {
	return c.run(ctx, serviceURL, TestDownload)
}

// Upload runs an upload test against serviceURL, the server's base URL
// (ws, wss, http or https; UploadPath is appended).
func (c *Client) Upload(ctx context.Context, serviceURL string) (Summary, error) {
	return c.run(ctx, serviceURL, TestUpload)
}

func (c *Client) run(ctx context.Context, serviceURL, test string) (Summary, error) {
	if err := ctx.Err(); err != nil {
		return Summary{}, fmt.Errorf("ndt7 %s: %w", test, err)
	}
	path, writeBuffer := DownloadPath, 0
	if test == TestUpload {
		// Room for a whole message, so that each one is a single frame
		// and a control frame can never split it.
		path, writeBuffer = UploadPath, MaxMessageSize
	}
	conn, err := c.dial(ctx, serviceURL, path, writeBuffer)
	if err != nil {
		return Summary{}, fmt.Errorf("ndt7 %s: %w", test, ctxErr(ctx, err))
	}
	defer conn.Close()
	stopWatching := closeOnDone(ctx, conn.NetConn())
	defer stopWatching()
	var sum Summary
	if test == TestDownload {
		sum, err = c.download(ctx, conn)
	} else {
		sum, err = c.upload(ctx, conn)
	}
	if err != nil {
		return Summary{}, fmt.Errorf("ndt7 %s: %w", test, ctxErr(ctx, err))
	}
	return sum, nil
}

// ctxErr returns ctx's error if ctx is done or past its deadline (a
// deadline expiry may be seen by I/O a moment before ctx), else err.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return err
}

// dial performs the WebSocket handshake and checks the subprotocol.
func (c *Client) dial(ctx context.Context, serviceURL, path string, writeBuffer int) (*websocket.Conn, error) {
	u, err := url.Parse(serviceURL)
	if err != nil {
		return nil, fmt.Errorf("service URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("service URL %q: scheme must be ws, wss, http or https", serviceURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("service URL %q: no host", serviceURL)
	}
	// A URL naming an endpoint (as M-Lab's locate API hands them out, with
	// an access token in the query) is used for that test's endpoint.
	base := strings.TrimSuffix(u.Path, "/")
	base = strings.TrimSuffix(strings.TrimSuffix(base, DownloadPath), UploadPath)
	u.Path = base + path
	u.RawPath = ""
	u.Fragment = ""
	d := websocket.Dialer{
		NetDialContext:   c.Dial,
		TLSClientConfig:  c.TLSConfig,
		Subprotocols:     []string{SubProtocol},
		HandshakeTimeout: c.stallTimeout(),
		ReadBufferSize:   64 << 10,
		WriteBufferSize:  writeBuffer,
	}
	ua := c.UserAgent
	if ua == "" {
		ua = defaultUserAgent
	}
	conn, resp, err := d.DialContext(ctx, u.String(), http.Header{"User-Agent": {ua}})
	if err != nil {
		if resp != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("%w: %s: HTTP %s", ErrHandshake, u.Redacted(), resp.Status)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrHandshake, u.Redacted(), err)
	}
	if got := conn.Subprotocol(); got != SubProtocol {
		conn.Close()
		return nil, fmt.Errorf("%w (got %q)", ErrSubprotocol, got)
	}
	conn.SetReadLimit(readLimit)
	return conn, nil
}

// closeOnDone closes c when ctx is done, which aborts any blocked I/O. The
// returned function stops watching and waits for a close in progress.
//
// Liveness: context.AfterFunc starts a goroutine only when ctx ends before
// stop is called; it closes c and returns, and stop waits for it.
func closeOnDone(ctx context.Context, c io.Closer) (stop func()) {
	done := make(chan struct{})
	unregister := context.AfterFunc(ctx, func() {
		defer close(done)
		c.Close()
	})
	return func() {
		if !unregister() {
			<-done
		}
	}
}

// closeTimer sends a close frame once the test duration has elapsed, or
// earlier when fired.
type closeTimer struct {
	conn *websocket.Conn
	t    *time.Timer
	once sync.Once
	mu   sync.Mutex
	at   time.Time // when the close frame was due; zero before
	// early is true when fired before the duration elapsed.
	early bool
}

// startCloseTimer starts a closing handshake on conn after d.
//
// Liveness: the timer's goroutine runs once; its WriteControl is bounded
// by a closeGrace deadline. stop waits for it if it has started.
func startCloseTimer(conn *websocket.Conn, d time.Duration) *closeTimer {
	ct := &closeTimer{conn: conn}
	ct.t = time.AfterFunc(d, func() { ct.fire(false) })
	return ct
}

// fire sends the close frame now, once; early says the test stops before
// its duration.
func (ct *closeTimer) fire(early bool) {
	ct.once.Do(func() {
		ct.mu.Lock()
		ct.at, ct.early = time.Now(), early
		ct.mu.Unlock()
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		ct.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
	})
}

// firedAt returns when the close frame was sent (zero if it was not) and
// whether that was an early stop.
func (ct *closeTimer) firedAt() (time.Time, bool) {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.at, ct.early
}

// stop disarms the timer and waits for a close in progress.
func (ct *closeTimer) stop() {
	ct.t.Stop()
	ct.once.Do(func() {})
}

// clientMeasurement is what the client tells the server: its own
// application counters and, on Linux, its socket's TCP_INFO.
func clientMeasurement(conn *websocket.Conn, test string, start time.Time, numBytes int64) *Measurement {
	elapsed := time.Since(start).Microseconds()
	m := &Measurement{
		AppInfo: &AppInfo{ElapsedTime: elapsed, NumBytes: numBytes},
		Origin:  OriginClient,
		Test:    test,
	}
	if ti, err := readTCPInfo(conn.NetConn()); err == nil {
		ti.ElapsedTime = elapsed
		m.TCPInfo = ti
	}
	return m
}

// writeMeasurement sends m as a text message and returns its size.
func writeMeasurement(conn *websocket.Conn, m *Measurement) (int64, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return 0, err
	}
	return int64(len(b)), conn.WriteMessage(websocket.TextMessage, b)
}

// download reads until the server closes, or until the duration elapsed
// (or the throughput settled) and the closing handshake completed.
func (c *Client) download(ctx context.Context, conn *websocket.Conn) (Summary, error) {
	stall := c.stallTimeout()
	start := time.Now()
	hard := start.Add(c.duration() + closeGrace)
	if dl, ok := ctx.Deadline(); ok {
		hard = earliest(hard, dl)
	}
	ct := startCloseTimer(conn, c.duration())
	defer ct.stop()

	var received atomic.Int64 // all payload bytes, counted as they arrive
	var lastClient atomic.Pointer[Measurement]
	stopSender := make(chan struct{})
	senderDone := make(chan struct{})
	// Liveness: the sender returns when stopSender is closed or a write
	// fails (after our close frame, writes fail at once); each write is
	// bounded by a stall-timeout deadline. download closes stopSender and
	// waits for senderDone before returning. It only writes conn; the
	// close timer's WriteControl may run concurrently, which gorilla
	// allows.
	go func() {
		defer close(senderDone)
		c.sendDownloadMeasurements(conn, start, &received, &lastClient, ct, stopSender, stall)
	}()
	defer func() {
		close(stopSender)
		<-senderDone
	}()

	var binary int64 // binary payload bytes only
	var lastM *Measurement
	var serverUUID string
	last := start
	buf := make([]byte, 64<<10)
	var rerr error
	for rerr == nil {
		conn.SetReadDeadline(earliest(time.Now().Add(stall), hard))
		var typ int
		var rd io.Reader
		typ, rd, rerr = conn.NextReader()
		if rerr != nil {
			break
		}
		var n int64
		var lastByte time.Time
		switch typ {
		case websocket.BinaryMessage:
			n, lastByte, rerr = discardTimed(rd, buf, &received)
			binary += n
		case websocket.TextMessage:
			var b []byte
			b, rerr = readText(rd)
			n = int64(len(b))
			received.Add(n)
			if errors.Is(rerr, ErrMessageTooBig) {
				closeWith(conn, websocket.CloseMessageTooBig, "text message too big")
			}
			if rerr == nil {
				m, err := parseMeasurement(b)
				if err != nil {
					closeWith(conn, websocket.CloseInvalidFramePayloadData, "malformed measurement")
					return Summary{}, err
				}
				lastM = m
				if serverUUID == "" && m.ConnectionInfo != nil {
					serverUUID = m.ConnectionInfo.UUID
				}
			}
			lastByte = time.Now()
		}
		if n > 0 {
			last = lastByte
		}
	}
	firedAt, early := ct.firedAt()
	due := !firedAt.IsZero()
	// A line that stopped delivering well before the test's end (an outage,
	// a stall shorter than the stall timeout) gives no speed: the bytes of
	// the first moments say nothing about the line over the test.
	if due && isTimeout(rerr) {
		end := start.Add(c.duration())
		if early {
			end = firedAt
		}
		if gap := end.Sub(last); gap > maxTailGap {
			return Summary{}, fmt.Errorf("%w: no data for the last %s of the test, after %d bytes", ErrStalled, gap.Round(time.Millisecond), binary)
		}
	}
	// Measurements alone are no data: the load is the binary messages.
	if err := endError(rerr, due, binary, "read", stall); err != nil {
		return Summary{}, err
	}
	awaitServerClose(conn, rerr, hard)
	elapsed := last.Sub(start)
	if elapsed <= 0 {
		return Summary{}, fmt.Errorf("%w: no measurable elapsed time", ErrNoData)
	}
	total := received.Load()
	sum := Summary{
		Test:                TestDownload,
		BytesPerSecond:      float64(total) / elapsed.Seconds(),
		Bytes:               total,
		Elapsed:             elapsed,
		ClientBytes:         total,
		RetransmissionRatio: -1,
		ServerUUID:          serverUUID,
		LastServer:          lastM,
		LastClient:          lastClient.Load(),
		EarlyStopped:        early,
		Socket:              socketStats(conn),
	}
	if lastM != nil && lastM.TCPInfo != nil {
		sum.MinRTT, sum.RetransmissionRatio = senderStats(lastM.TCPInfo)
	}
	return sum, nil
}

// sendDownloadMeasurements sends a client measurement every
// MeasurementInterval during a download and, with EarlyStop, fires the
// close timer once the received bytes show a settled throughput.
func (c *Client) sendDownloadMeasurements(conn *websocket.Conn, start time.Time, received *atomic.Int64,
	lastClient *atomic.Pointer[Measurement], ct *closeTimer, stop <-chan struct{}, stall time.Duration) {
	tick := time.NewTicker(MeasurementInterval)
	defer tick.Stop()
	st := newSettler()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			n := received.Load()
			if c.EarlyStop && st.add(now.Sub(start), n) {
				ct.fire(true)
				return
			}
			m := clientMeasurement(conn, TestDownload, start, n)
			conn.SetWriteDeadline(time.Now().Add(stall))
			if _, err := writeMeasurement(conn, m); err != nil {
				return
			}
			lastClient.Store(m)
		}
	}
}

// endError classifies how a test's I/O ended; nil means a usable result.
// due says whether the test duration had elapsed (and our close frame was
// sent); op is the operation that waits for progress ("read" or "write").
// Errors for a test that transferred nothing also wrap ErrNoData.
func endError(err error, due bool, transferred int64, op string, stall time.Duration) error {
	var ce *websocket.CloseError
	var cause error
	switch {
	case err == nil:
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure: // 1006: no close frame, handled below
		if !normalClose(ce.Code) {
			return fmt.Errorf("%w: server closed with code %d %q after %d bytes", ErrProtocol, ce.Code, ce.Text, transferred)
		}
		cause = err
	case errors.Is(err, websocket.ErrReadLimit):
		return fmt.Errorf("%w: server sent a message over %d bytes", ErrMessageTooBig, readLimit)
	case errors.Is(err, ErrProtocol), errors.Is(err, ErrMalformedMeasurement), errors.Is(err, ErrMessageTooBig):
		return err
	case due:
		// The duration elapsed and we sent our close frame: a server that
		// does not complete the closing handshake is tolerated.
		cause = err
	case isTimeout(err):
		cause = fmt.Errorf("%w: no progress for %s (%s)", ErrStalled, stall, op)
		if transferred > 0 {
			return fmt.Errorf("%w after %d bytes", cause, transferred)
		}
	default:
		cause = fmt.Errorf("%w: %w", ErrAborted, err)
		if transferred > 0 {
			return fmt.Errorf("%w after %d bytes", cause, transferred)
		}
	}
	if transferred == 0 {
		if cause == nil {
			return ErrNoData
		}
		return fmt.Errorf("%w: %w", ErrNoData, cause)
	}
	return nil
}

// awaitServerClose waits briefly, after a completed closing handshake
// (err is a normal CloseError), for the server to close the TCP
// connection first, as the specification asks, so that TIME_WAIT stays on
// the client.
func awaitServerClose(conn *websocket.Conn, err error, hard time.Time) {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || !normalClose(ce.Code) {
		return
	}
	nc := conn.NetConn()
	if nc.SetReadDeadline(earliest(time.Now().Add(closeGrace/2), hard)) != nil {
		return
	}
	io.Copy(io.Discard, nc)
}

// closeWith starts a closing handshake with code and reason, best effort.
func closeWith(conn *websocket.Conn, code int, reason string) {
	msg := websocket.FormatCloseMessage(code, reason)
	conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
}

// senderStats derives MinRTT and the retransmission ratio from the
// sender's TCP_INFO.
func senderStats(ti *TCPInfo) (minRTT time.Duration, retrans float64) {
	minRTT = time.Duration(ti.MinRTT) * time.Microsecond
	retrans = -1
	if ti.BytesSent > 0 {
		retrans = float64(ti.BytesRetrans) / float64(ti.BytesSent)
	}
	return minRTT, retrans
}

// upload sends for the duration, or until the server closes or the
// throughput settled, while a reader goroutine keeps the server's
// measurements.
func (c *Client) upload(ctx context.Context, conn *websocket.Conn) (Summary, error) {
	stall := c.stallTimeout()
	start := time.Now()
	end := start.Add(c.duration())
	hard := end.Add(closeGrace)
	if dl, ok := ctx.Deadline(); ok {
		hard = earliest(hard, dl)
	}
	conn.SetReadDeadline(hard)

	var mu sync.Mutex
	var lastM *Measurement
	var serverUUID string
	var settled atomic.Bool
	st := newSettler()
	readerDone := make(chan error, 1)
	// Liveness: the reader returns when a read fails: the server's close
	// frame, a protocol violation, the read deadline (hard at the latest),
	// or conn being closed by closeOnDone. upload receives from readerDone
	// before returning. It reads conn only; upload does not read.
	go func() {
		readerDone <- readUploadMeasurements(conn, func(m *Measurement) {
			mu.Lock()
			defer mu.Unlock()
			lastM = m
			if serverUUID == "" && m.ConnectionInfo != nil {
				serverUUID = m.ConnectionInfo.UUID
			}
			if c.EarlyStop {
				if e, n, ok := serverProgress(m); ok && st.add(e, n) {
					settled.Store(true)
				}
			}
		})
	}()

	payload := randomPayload()
	size := InitialMessageSize
	var sent, textSent int64
	var lastClient *Measurement
	nextMeasurement := start
	var werr, rerr error
	readerExited := false
loop:
	for time.Now().Before(end) && !settled.Load() {
		select {
		case rerr = <-readerDone:
			readerExited = true
			break loop
		default:
		}
		conn.SetWriteDeadline(earliest(time.Now().Add(stall), hard))
		if now := time.Now(); !now.Before(nextMeasurement) {
			m := clientMeasurement(conn, TestUpload, start, sent)
			n, err := writeMeasurement(conn, m)
			if err != nil {
				werr = err
				break
			}
			textSent += n
			lastClient = m
			nextMeasurement = now.Add(MeasurementInterval)
		}
		if err := conn.WriteMessage(websocket.BinaryMessage, payload[:size]); err != nil {
			werr = err
			break
		}
		sent += int64(size)
		size = nextMessageSize(size, sent)
	}
	due := werr == nil && !readerExited
	if due {
		closeWith(conn, websocket.CloseNormalClosure, "")
	}
	if !readerExited {
		conn.SetReadDeadline(earliest(time.Now().Add(closeGrace), hard))
		rerr = <-readerDone
	}
	own, _ := readTCPInfo(conn.NetConn())

	// The reader's error says more than the writer's: the writer fails
	// with ErrCloseSent or a reset once the server has closed.
	var ce *websocket.CloseError
	endErr := rerr
	if werr != nil && !errors.As(rerr, &ce) && !errors.Is(rerr, ErrProtocol) &&
		!errors.Is(rerr, ErrMalformedMeasurement) && !errors.Is(rerr, websocket.ErrReadLimit) &&
		!errors.Is(rerr, ErrMessageTooBig) {
		endErr = werr
	}
	if err := endError(endErr, due, sent, "write", stall); err != nil {
		return Summary{}, err
	}
	awaitServerClose(conn, rerr, hard)

	mu.Lock()
	m, id := lastM, serverUUID
	mu.Unlock()
	sum := Summary{
		Test:                TestUpload,
		ClientBytes:         sent,
		RetransmissionRatio: -1,
		ServerUUID:          id,
		LastServer:          m,
		LastClient:          lastClient,
		EarlyStopped:        due && settled.Load(),
		Socket:              socketStats(conn),
	}
	// A server may count the client's measurements as received bytes.
	if err := sum.fromServer(m, sent+textSent, time.Since(start)); err != nil {
		return Summary{}, err
	}
	switch {
	case own != nil:
		sum.MinRTT, sum.RetransmissionRatio = senderStats(own)
	case m.TCPInfo != nil:
		sum.MinRTT = time.Duration(m.TCPInfo.MinRTT) * time.Microsecond
	}
	return sum, nil
}

// serverProgress returns the elapsed time and received bytes of a server
// measurement during an upload, preferring the kernel's counters.
func serverProgress(m *Measurement) (time.Duration, int64, bool) {
	switch {
	case m.TCPInfo != nil && m.TCPInfo.ElapsedTime > 0:
		return time.Duration(m.TCPInfo.ElapsedTime) * time.Microsecond, m.TCPInfo.BytesReceived, true
	case m.AppInfo != nil && m.AppInfo.ElapsedTime > 0:
		return time.Duration(m.AppInfo.ElapsedTime) * time.Microsecond, m.AppInfo.NumBytes, true
	}
	return 0, 0, false
}

// fromServer sets the upload speed from the server's last measurement m,
// after checking it against the sent payload bytes and the client's own
// elapsed time.
func (s *Summary) fromServer(m *Measurement, sent int64, clientElapsed time.Duration) error {
	if m == nil {
		return ErrNoMeasurement
	}
	if a := m.AppInfo; a != nil && a.NumBytes > sent {
		return fmt.Errorf("%w: server received %d payload bytes, client sent %d", ErrImplausible, a.NumBytes, sent)
	}
	var bytes, micros int64
	switch {
	case m.TCPInfo != nil && m.TCPInfo.BytesReceived > 0 && m.TCPInfo.ElapsedTime > 0:
		bytes, micros = m.TCPInfo.BytesReceived, m.TCPInfo.ElapsedTime
		// TCP-level bytes include framing (a few bytes per message)
		// and the upgrade request; allow generously for both.
		if limit := sent + sent/16 + 64<<10; bytes > limit {
			return fmt.Errorf("%w: server received %d TCP bytes, client sent %d payload bytes", ErrImplausible, bytes, sent)
		}
	case m.AppInfo != nil && m.AppInfo.NumBytes > 0 && m.AppInfo.ElapsedTime > 0:
		bytes, micros = m.AppInfo.NumBytes, m.AppInfo.ElapsedTime
	default:
		return fmt.Errorf("%w: last measurement has no byte count and elapsed time", ErrNoMeasurement)
	}
	elapsed := time.Duration(micros) * time.Microsecond
	// The server's clock starts before ours by the handshake's last leg.
	if elapsed > clientElapsed+time.Second {
		return fmt.Errorf("%w: server elapsed time %s exceeds the test's %s", ErrImplausible, elapsed, clientElapsed)
	}
	s.Bytes, s.Elapsed = bytes, elapsed
	s.BytesPerSecond = float64(bytes) / elapsed.Seconds()
	return nil
}

// readText reads a text message, at most maxTextSize bytes.
func readText(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxTextSize+1))
	if err != nil {
		return b, err
	}
	if len(b) > maxTextSize {
		return b[:maxTextSize], fmt.Errorf("%w: text message over %d bytes", ErrMessageTooBig, maxTextSize)
	}
	return b, nil
}

// socketStats returns the kernel counters of conn's socket, or nil.
func socketStats(conn *websocket.Conn) *SocketStats {
	s, err := readSocketStats(conn.NetConn())
	if err != nil {
		return nil
	}
	s.LocalAddr, s.RemoteAddr = conn.LocalAddr(), conn.RemoteAddr()
	return s
}

// readUploadMeasurements reads the server's messages during an upload and
// passes each measurement to keep. A binary message is a protocol
// violation.
func readUploadMeasurements(conn *websocket.Conn, keep func(*Measurement)) error {
	for {
		typ, rd, err := conn.NextReader()
		if err != nil {
			return err
		}
		if typ == websocket.BinaryMessage {
			closeWith(conn, websocket.ClosePolicyViolation, "binary message during upload")
			return fmt.Errorf("%w: binary message from the server during an upload", ErrProtocol)
		}
		b, err := readText(rd)
		if err != nil {
			if errors.Is(err, ErrMessageTooBig) {
				closeWith(conn, websocket.CloseMessageTooBig, "text message too big")
			}
			return err
		}
		m, err := parseMeasurement(b)
		if err != nil {
			closeWith(conn, websocket.CloseInvalidFramePayloadData, "malformed measurement")
			return err
		}
		keep(m)
	}
}
