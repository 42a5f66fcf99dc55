package ndt7

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// ServerOptions configures a [Handler].
type ServerOptions struct {
	// MaxDuration is how long the server sends (download) or accepts
	// (upload) data. Zero means DefaultDuration; values above MaxDuration
	// are lowered to it. The closing handshake may add up to two seconds.
	MaxDuration time.Duration

	// OnDone, if set, is called once per upgraded connection, before the
	// handler method returns, with the server's own account of the test.
	// It is called from the handler's goroutine and should not block.
	OnDone func(ServerStats)
}

// ServerStats is the server's account of one test.
type ServerStats struct {
	Test   string // TestDownload or TestUpload
	UUID   string // as sent in ConnectionInfo
	Client string // remote address
	// Bytes counts message payload bytes that the server wrote
	// successfully (download: binary and text) or the binary payload it
	// read (upload); WebSocket framing is excluded, as in AppInfo.NumBytes.
	Bytes int64
	// Elapsed runs from the upgrade to the last payload byte.
	Elapsed time.Duration
	// Err is nil when the test ended with a closing handshake or because
	// its duration elapsed; otherwise it says what went wrong.
	Err error
	// CongestionControl is the TCP congestion control of the server's
	// socket: "bbr" where the kernel has it; empty if unknown.
	CongestionControl string
	// LastClient is the last measurement the client sent, if any;
	// ClientMeasurements counts them.
	LastClient         *Measurement
	ClientMeasurements int
}

// Handler serves the ndt7 download and upload endpoints. Mount Download
// at [DownloadPath] and Upload at [UploadPath]. It is safe for concurrent
// use; every test runs in the goroutine of its HTTP request and nothing
// outlives the handler method.
type Handler struct {
	logger      *slog.Logger
	maxDuration time.Duration
	onDone      func(ServerStats)
	upgrader    websocket.Upgrader
	// messages[i] holds InitialMessageSize<<i random bytes, framed once and
	// shared by all connections.
	messages []*websocket.PreparedMessage
	prepErr  error
}

// NewHandler returns a Handler. A nil logger discards.
func NewHandler(logger *slog.Logger, opts ServerOptions) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{
		logger:      logger.With("component", "ndt7"),
		maxDuration: opts.MaxDuration,
		onDone:      opts.OnDone,
		upgrader: websocket.Upgrader{
			Subprotocols:   []string{SubProtocol},
			ReadBufferSize: 64 << 10,
			// The service has no cookies or credentials to protect, and
			// browser clients on other origins must be able to run tests
			// (as with M-Lab's servers).
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	if h.maxDuration <= 0 {
		h.maxDuration = DefaultDuration
	}
	h.maxDuration = min(h.maxDuration, MaxDuration)
	payload := randomPayload()
	for size := InitialMessageSize; size <= MaxMessageSize; size *= 2 {
		pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, payload[:size])
		if err != nil {
			h.prepErr = fmt.Errorf("ndt7: prepare %d-byte message: %w", size, err)
			break
		}
		h.messages = append(h.messages, pm)
	}
	return h
}

// Download runs a download test: it upgrades the request to WebSocket and
// sends random binary messages and periodic measurements for MaxDuration.
func (h *Handler) Download(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, TestDownload)
}

// Upload runs an upload test: it upgrades the request to WebSocket, reads
// the client's binary messages for MaxDuration and sends periodic
// measurements of what it received.
func (h *Handler) Upload(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, TestUpload)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, test string) {
	if !slices.Contains(websocket.Subprotocols(r), SubProtocol) {
		http.Error(w, "ndt7: the Sec-WebSocket-Protocol header must offer "+SubProtocol, http.StatusBadRequest)
		return
	}
	if len(r.URL.RawQuery) > maxQueryLength {
		http.Error(w, "ndt7: query string too long", http.StatusBadRequest)
		return
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		http.Error(w, "ndt7: malformed query string", http.StatusBadRequest)
		return
	}
	if h.prepErr != nil {
		h.logger.Error("cannot serve", "err", h.prepErr)
		http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		return
	}
	conn, err := h.upgrader.Upgrade(w, r, nil) // answers the client itself on failure
	if err != nil {
		h.logger.Debug("websocket upgrade failed", "test", test, "client", r.RemoteAddr, "err", err)
		return
	}
	s := &session{
		h:     h,
		conn:  conn,
		test:  test,
		uuid:  uuid.NewString(),
		start: time.Now(),
	}
	s.end = s.start.Add(h.maxDuration)
	s.hard = s.end.Add(closeGrace)
	s.logger = h.logger.With("test", test, "uuid", s.uuid, "client", conn.RemoteAddr().String())
	if err := setCongestionControl(conn.NetConn(), "bbr"); err != nil {
		s.logger.Debug("bbr not enabled", "err", err)
	}
	conn.SetReadLimit(readLimit)
	st := ServerStats{Test: test, UUID: s.uuid, Client: conn.RemoteAddr().String()}
	st.CongestionControl, _ = congestionControl(conn.NetConn())
	if test == TestDownload {
		st.Bytes, st.Elapsed, st.Err = s.download()
	} else {
		st.Bytes, st.Elapsed, st.Err = s.upload()
	}
	st.LastClient, st.ClientMeasurements = s.client.last()
	conn.Close()
	var bps float64
	if st.Elapsed > 0 {
		bps = float64(st.Bytes) / st.Elapsed.Seconds()
	}
	attrs := []any{"bytes", st.Bytes, "duration_seconds", st.Elapsed.Seconds(), "bytes_per_second", bps}
	if st.Err != nil {
		s.logger.Warn("ndt7 test failed", append(attrs, "err", st.Err)...)
	} else {
		s.logger.Info("ndt7 test done", attrs...)
	}
	if h.onDone != nil {
		h.onDone(st)
	}
}

// message returns the prepared binary message of the given size, a power
// of two between InitialMessageSize and MaxMessageSize.
func (h *Handler) message(size int) *websocket.PreparedMessage {
	i := 0
	for InitialMessageSize<<i < size {
		i++
	}
	return h.messages[i]
}

// session is one test on one upgraded connection.
type session struct {
	h      *Handler
	conn   *websocket.Conn
	test   string
	uuid   string
	logger *slog.Logger
	start  time.Time // the upgrade
	end    time.Time // the transfer stops
	hard   time.Time // every deadline falls before this

	sentConnInfo bool // owned by the goroutine that writes measurements
	client       clientMeasurements
}

// clientMeasurements keeps what the client reported. Safe for concurrent
// use.
type clientMeasurements struct {
	mu    sync.Mutex
	lastM *Measurement
	n     int
}

func (c *clientMeasurements) keep(m *Measurement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastM = m
	c.n++
}

func (c *clientMeasurements) last() (*Measurement, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastM, c.n
}

// readClientText reads a text message from the client and keeps it when
// it is a measurement; a malformed one is a protocol error.
func (s *session) readClientText(rd io.Reader) error {
	b, err := readText(rd)
	if err != nil {
		if errors.Is(err, ErrMessageTooBig) {
			msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "text message too big")
			s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
		}
		return err
	}
	m, err := parseMeasurement(b)
	if err != nil {
		msg := websocket.FormatCloseMessage(websocket.CloseInvalidFramePayloadData, "malformed measurement")
		s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
		return err
	}
	s.client.keep(m)
	return nil
}

// measurement snapshots the test with numBytes payload bytes so far.
func (s *session) measurement(numBytes int64) Measurement {
	elapsed := time.Since(s.start).Microseconds()
	m := Measurement{
		AppInfo: &AppInfo{ElapsedTime: elapsed, NumBytes: numBytes},
		Origin:  OriginServer,
		Test:    s.test,
	}
	if !s.sentConnInfo { // the specification asks for exactly one
		s.sentConnInfo = true
		m.ConnectionInfo = &ConnectionInfo{
			Client: s.conn.RemoteAddr().String(),
			Server: s.conn.LocalAddr().String(),
			UUID:   s.uuid,
		}
	}
	if ti, err := readTCPInfo(s.conn.NetConn()); err == nil {
		ti.ElapsedTime = elapsed
		m.TCPInfo = ti
	}
	return m
}

// writeMeasurement sends a measurement and returns its payload size.
func (s *session) writeMeasurement(numBytes int64) (int64, error) {
	b, err := json.Marshal(s.measurement(numBytes))
	if err != nil {
		return 0, err
	}
	if err := s.conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return 0, err
	}
	return int64(len(b)), nil
}

// sendClose starts the closing handshake with a normal-closure frame.
func (s *session) sendClose() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	return s.conn.WriteControl(websocket.CloseMessage, msg, earliest(time.Now().Add(closeGrace), s.hard))
}

// download sends until s.end or until the client closes, then closes.
func (s *session) download() (sent int64, elapsed time.Duration, err error) {
	conn := s.conn
	conn.SetReadDeadline(s.hard)
	conn.SetWriteDeadline(s.hard)
	readerDone := make(chan error, 1)
	// Liveness: the reader returns when a read fails: the client's close
	// frame, a protocol violation, or at the latest the read deadline
	// s.hard (shortened once the transfer is over). download receives from
	// readerDone before returning. It reads conn only; no other goroutine
	// reads conn.
	go func() { readerDone <- s.drainDownloadClient() }()

	var binary int64
	var werr, rerr error
	readerExited := false
	size := InitialMessageSize
	nextMeasurement := s.start
	last := s.start
loop:
	for {
		now := time.Now()
		if !now.Before(s.end) {
			break
		}
		select {
		case rerr = <-readerDone:
			readerExited = true
			break loop
		default:
		}
		if !now.Before(nextMeasurement) {
			n, err := s.writeMeasurement(sent)
			if err != nil {
				werr = err
				break
			}
			sent += n
			nextMeasurement = now.Add(MeasurementInterval)
		}
		if err := conn.WritePreparedMessage(s.h.message(size)); err != nil {
			werr = err
			break
		}
		sent += int64(size)
		binary += int64(size)
		last = time.Now()
		size = nextMessageSize(size, binary)
	}
	ended := werr == nil && !readerExited
	if ended {
		// The duration elapsed: a last measurement, then close.
		n, err := s.writeMeasurement(sent)
		if err == nil {
			sent += n
			last = time.Now()
			err = s.sendClose()
		}
		werr = err
	}
	if !readerExited {
		conn.SetReadDeadline(earliest(time.Now().Add(closeGrace), s.hard))
		rerr = <-readerDone
	}
	return sent, last.Sub(s.start), serverOutcome(rerr, werr, ended)
}

// drainDownloadClient reads what the client sends during a download: its
// measurements (kept) and control frames. A binary message is a protocol
// violation.
func (s *session) drainDownloadClient() error {
	conn := s.conn
	for {
		typ, rd, err := conn.NextReader()
		if err != nil {
			return err
		}
		if typ == websocket.BinaryMessage {
			msg := websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "binary message during download")
			conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeGrace))
			return fmt.Errorf("%w: binary message from the client during a download", ErrProtocol)
		}
		if err := s.readClientText(rd); err != nil {
			return err
		}
	}
}

// upload reads until the client closes or s.end passes and the closing
// handshake completes, while another goroutine sends measurements.
func (s *session) upload() (received int64, elapsed time.Duration, err error) {
	conn := s.conn
	conn.SetReadDeadline(s.hard)
	conn.SetWriteDeadline(s.hard)
	var counter atomic.Int64
	var closeSent atomic.Bool
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	// Liveness: the writer returns when stop is closed, when a write fails,
	// or after it sent the close frame at s.end. Its writes are bounded by
	// the write deadline s.hard, and upload closes conn before waiting for
	// it, which fails a blocked write at once. It writes conn only; upload
	// does not write while it runs.
	go func() { writerDone <- s.sendUploadMeasurements(&counter, &closeSent, stop) }()

	buf := make([]byte, 64<<10)
	last := s.start
	var rerr error
	for {
		typ, rd, err := conn.NextReader()
		if err != nil {
			rerr = err
			break
		}
		if typ == websocket.TextMessage {
			if err := s.readClientText(rd); err != nil {
				rerr = err
				break
			}
			continue
		}
		n, lastByte, err := discardTimed(rd, buf, &counter)
		if n > 0 {
			last = lastByte
		}
		if err != nil {
			rerr = err
			break
		}
	}
	close(stop)
	conn.Close()
	werr := <-writerDone
	return counter.Load(), last.Sub(s.start), serverOutcome(rerr, werr, closeSent.Load())
}

// sendUploadMeasurements sends a measurement at once, then every
// MeasurementInterval, and at s.end a last one followed by a close frame.
func (s *session) sendUploadMeasurements(received *atomic.Int64, closeSent *atomic.Bool, stop <-chan struct{}) error {
	if _, err := s.writeMeasurement(received.Load()); err != nil {
		return err
	}
	tick := time.NewTicker(MeasurementInterval)
	defer tick.Stop()
	end := time.NewTimer(time.Until(s.end))
	defer end.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
			if _, err := s.writeMeasurement(received.Load()); err != nil {
				return err
			}
		case <-end.C:
			if _, err := s.writeMeasurement(received.Load()); err != nil {
				return err
			}
			closeSent.Store(true)
			if err := s.sendClose(); err != nil {
				return err
			}
			// Wait for the client's close frame, but not for long.
			return s.conn.SetReadDeadline(earliest(time.Now().Add(closeGrace), s.hard))
		}
	}
}

// serverOutcome turns the reader's and writer's errors into the test's
// error: nil for a closing handshake, or for a client that did not answer
// our close frame (ended) in time.
func serverOutcome(rerr, werr error, ended bool) error {
	var ce *websocket.CloseError
	switch {
	case errors.As(rerr, &ce) && ce.Code != websocket.CloseAbnormalClosure: // 1006: no close frame
		if normalClose(ce.Code) {
			return nil
		}
		return fmt.Errorf("%w: client closed with code %d %q", ErrProtocol, ce.Code, ce.Text)
	case errors.Is(rerr, websocket.ErrReadLimit):
		return fmt.Errorf("%w: over %d bytes", ErrMessageTooBig, readLimit)
	case werr != nil && !errors.Is(werr, websocket.ErrCloseSent):
		return werr
	case ended && (isTimeout(rerr) || errors.Is(rerr, net.ErrClosed)):
		return nil
	}
	return rerr
}

// normalClose reports whether a close code ends a test normally.
func normalClose(code int) bool {
	return code == websocket.CloseNormalClosure || code == websocket.CloseGoingAway ||
		code == websocket.CloseNoStatusReceived
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// discardTimed reads r to the end through buf and returns the bytes read
// and when the last byte arrived (zero when none did), so that a read cut
// by a deadline does not count the time spent waiting in vain as transfer
// time. Each read is also added to progress as it happens.
func discardTimed(r io.Reader, buf []byte, progress *atomic.Int64) (int64, time.Time, error) {
	var total int64
	var last time.Time
	for {
		n, err := r.Read(buf)
		if n > 0 {
			total += int64(n)
			last = time.Now()
			progress.Add(int64(n))
		}
		if err == io.EOF {
			return total, last, nil
		}
		if err != nil {
			return total, last, err
		}
	}
}

// earliest returns the earlier of two times.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
