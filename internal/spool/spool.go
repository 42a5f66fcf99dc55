package spool

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"fibremon"
)

// Errors returned by the queue; compare with errors.Is.
var (
	// ErrLocked: another Queue (usually another agent process) has the
	// directory open.
	ErrLocked = errors.New("spool: directory locked by another queue")
	// ErrTooLarge: a batch encodes to more than Options.MaxBytes or
	// MaxFileSize bytes, or a file is larger than MaxFileSize.
	ErrTooLarge = errors.New("spool: batch too large")
	// ErrFull: the disk stayed full even after dropping the oldest files.
	// The error also wraps the system error (syscall.ENOSPC or EDQUOT).
	ErrFull = errors.New("spool: disk full")
	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("spool: closed")
)

// Defaults for the zero Options.
const (
	DefaultMaxBytes = 256 << 20
	DefaultMaxAge   = 30 * 24 * time.Hour
)

// deadDirName is the subdirectory of rejected and undecodable files.
const deadDirName = "dead"

// maxReason bounds the text written to a .reason.txt file.
const maxReason = 64 << 10

// Options configure a Queue. The zero value is usable.
type Options struct {
	// MaxBytes bounds the total size of the queued files; the oldest files
	// are dropped beyond it. Zero or less means DefaultMaxBytes.
	MaxBytes int64
	// MaxAge bounds the age of the queued files, by the time in their
	// name; older files are dropped. Zero or less means DefaultMaxAge.
	MaxAge time.Duration
	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Stats describe the queue at one moment.
type Stats struct {
	Files   int       // files queued
	Results int       // results in them
	Bytes   int64     // their total size
	Oldest  time.Time // time of the oldest queued file (UTC); zero when empty
	Dropped uint64    // results deleted unsent since Open: bounds, full disk, files deleted behind the queue's back
	Dead    uint64    // files moved to dead/ since Open: rejected or undecodable
}

// Batch is what Peek returns: the results of one or more whole files, oldest
// first. Pass it back to Ack or Reject unchanged.
type Batch struct {
	Results []fibremon.Result
	files   []string // base names, oldest first
}

// Files returns the number of spool files b covers.
func (b Batch) Files() int { return len(b.files) }

// entry is a queued file, as remembered in memory.
type entry struct {
	name  string
	t     time.Time // from the name
	size  int64
	count int // results, from the header
}

// Queue is a durable FIFO of result batches in one directory; see the package
// doc for the format and the guarantees. It is safe for concurrent use by
// multiple goroutines of one process and starts none.
type Queue struct {
	dir     string
	deadDir string
	opts    Options
	maxFile int64
	// write writes data to f and fsyncs it. Tests replace it to inject
	// failures.
	write func(f *os.File, data []byte) error

	mu      sync.Mutex // guards everything below, and the directory
	lock    *os.File   // holds the flock; nil once closed
	entries []entry    // queued files, oldest (smallest name) first
	bytes   int64
	results int
	last    time.Time // time in the newest name handed out; names strictly increase
	dropped uint64
	dead    uint64
	// inflight holds the files of the batch last peeked and not yet acked,
	// rejected or released: being uploaded, they are never dropped to make
	// room, so that a result is never both stored by the service and
	// counted as dropped. The bounds may be exceeded by that one batch
	// while its upload lasts.
	inflight map[string]bool
}

// Open opens the spool in dir, creating dir (mode 0700) and dir/dead if need
// be, durably (the parent of each directory created is fsynced). It takes an exclusive lock on dir/lock and returns an error wrapping
// ErrLocked if another Queue holds it. It then deletes the *.tmp files a crash
// left behind, reads the header of every queued file to rebuild its counts
// (moving files with a bad header to dead/), and enforces the bounds.
// Call Close to release the lock.
func Open(dir string, opts Options) (*Queue, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	q := &Queue{
		dir:     dir,
		deadDir: filepath.Join(dir, deadDirName),
		opts:    opts,
		maxFile: min(opts.MaxBytes, MaxFileSize),
		write:   writeSync,
	}
	if err := mkdirAll(q.deadDir, 0o700); err != nil {
		return nil, fmt.Errorf("spool open: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("spool open %s: %w", dir, err)
	}
	q.lock = lock
	if err := q.load(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool open %s: %w", dir, err)
	}
	return q, nil
}

// load rebuilds the in-memory state from the directory. Only Open calls it,
// with the lock held, so no Put of this or another process is in progress and
// every *.tmp file is stale.
func (q *Queue) load() error {
	des, err := os.ReadDir(q.dir) // sorted by name, so oldest first
	if err != nil {
		return err
	}
	changed := false
	for _, de := range des {
		name := de.Name()
		if !de.Type().IsRegular() {
			continue
		}
		if final, ok := strings.CutSuffix(name, tmpSuffix); ok {
			if _, ok := parseName(final); !ok {
				continue // not ours
			}
			if err := os.Remove(filepath.Join(q.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale %s: %w", name, err)
			}
			changed = true
			continue
		}
		t, ok := parseName(name)
		if !ok {
			continue
		}
		size, head, err := readHead(filepath.Join(q.dir, name))
		if err != nil {
			return err
		}
		h, err := decodeHeader(head)
		if err == nil && size > MaxFileSize {
			err = fmt.Errorf("spool decode: %d bytes: %w", size, ErrTooLarge)
		}
		if err != nil {
			if moved, err := q.deadLetter(name, fmt.Sprintf("undecodable at open: %v", err)); !moved {
				return err
			}
			q.dead++
			changed = true
			continue
		}
		q.entries = append(q.entries, entry{name: name, t: t, size: size, count: h.Count})
		q.bytes += size
		q.results += h.Count
	}
	if n := len(q.entries); n > 0 {
		q.last = q.entries[n-1].t
	}
	if changed {
		if err := q.syncDirs(); err != nil {
			return err
		}
	}
	q.enforceBounds(q.opts.Now())
	return nil
}

// mkdirAll is os.MkdirAll made durable: it fsyncs the parent of each
// directory it creates. A new directory's name is durable only once its
// parent is fsynced; without that, a power loss after the first Puts could
// take the new spool directory away with every file in it, although Put
// fsynced them and the spool directory.
func mkdirAll(dir string, perm fs.FileMode) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent, perm); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, perm); err != nil {
		if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
			return err
		}
		// Made meanwhile by another process, which may not have
		// fsynced the parent yet.
	}
	if err := syncDir(parent); err != nil {
		return fmt.Errorf("fsync %s: %w", parent, err)
	}
	return nil
}

// readHead returns the size of the file at path and its first line (without
// the newline), or as much of the start of the file as the header may take
// if there is no newline in it.
func readHead(path string) (int64, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	buf := make([]byte, maxHeaderLine+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return 0, nil, err
	}
	buf = buf[:n]
	line, _, ok := bytes.Cut(buf, []byte{'\n'})
	if !ok {
		// No header line within the limit: hand decodeHeader something
		// it refuses with a useful message.
		return fi.Size(), buf, nil
	}
	return fi.Size(), line, nil
}

// Close releases the lock. Further calls on q return ErrClosed; Close itself
// may be called more than once.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return nil
	}
	err := q.lock.Close()
	q.lock = nil
	if err != nil {
		return fmt.Errorf("spool close: %w", err)
	}
	return nil
}

// Put appends rs to the queue as one file and returns once the file is
// durable (see the package doc). An empty rs is a no-op.
//
// A nil error means the batch is queued; a non-nil error means it is not. If
// the batch alone encodes to more than Options.MaxBytes (or MaxFileSize) bytes
// the error wraps ErrTooLarge. If the disk is full, Put drops the oldest files
// to make room and tries once more; if that fails too the error wraps ErrFull
// and the system error. After the batch is queued, Put drops the oldest files
// while the queue exceeds MaxBytes or holds files older than MaxAge; drops are
// counted in Stats.Dropped and are not errors.
func (q *Queue) Put(rs []fibremon.Result) error {
	if len(rs) == 0 {
		return nil
	}
	data, err := encodeFile(rs)
	if err != nil {
		return fmt.Errorf("spool put: encode: %w", err)
	}
	if int64(len(data)) > q.maxFile {
		return fmt.Errorf("spool put: %d results encode to %d bytes, limit %d: %w", len(rs), len(data), q.maxFile, ErrTooLarge)
	}
	id, err := uuid.NewRandom()
	if err != nil {
		return fmt.Errorf("spool put: %w", err)
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return ErrClosed
	}
	return q.put(data, len(rs), id)
}

// put queues data, the encoding of count results, under a new name. q.mu
// must be held.
func (q *Queue) put(data []byte, count int, id uuid.UUID) error {
	now := q.opts.Now()
	t := now.UTC().Round(0)
	if !t.After(q.last) {
		t = q.last.Add(time.Nanosecond)
	}
	name := fileName(t, id)

	err := q.writeFile(name, data)
	if err != nil && isFull(err) && q.dropForSpace(int64(len(data))) {
		err = q.writeFile(name, data)
	}
	if err != nil {
		if isFull(err) {
			return fmt.Errorf("spool put %s: %w: %w", name, ErrFull, err)
		}
		return fmt.Errorf("spool put %s: %w", name, err)
	}
	q.last = t
	q.entries = append(q.entries, entry{name: name, t: t, size: int64(len(data)), count: count})
	q.bytes += int64(len(data))
	q.results += count
	q.enforceBounds(now)
	return nil
}

// writeFile writes data durably under name: temp file (O_EXCL), fsync,
// rename, directory fsync. On error nothing is left under either name (short
// of a crash during the cleanup).
func (q *Queue) writeFile(name string, data []byte) error {
	final := filepath.Join(q.dir, name)
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	err = q.write(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if err := syncDir(q.dir); err != nil {
		// The rename may not be durable; withdraw the file so that the
		// error means "not queued". Should it reappear after a crash, it
		// is complete and is sent like any other.
		os.Remove(final)
		return fmt.Errorf("fsync %s: %w", q.dir, err)
	}
	return nil
}

func writeSync(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// dropForSpace drops the oldest files not in flight until at least need
// bytes (rounded up to whole 4 KiB blocks, plus one block) are freed or none
// is left. It reports whether it dropped anything.
func (q *Queue) dropForSpace(need int64) bool {
	const block = 4096
	need = (need+block-1)/block*block + block
	var freed int64
	for freed < need {
		size, ok := q.dropOldest()
		if !ok {
			break
		}
		freed += (size + block - 1) / block * block
	}
	return freed > 0
}

// enforceBounds drops the oldest files not in flight while the queue
// exceeds MaxBytes or the oldest of them is older than MaxAge at now.
func (q *Queue) enforceBounds(now time.Time) {
	dropped := false
	for {
		i, ok := q.oldestIdle()
		if !ok || (q.bytes-q.inflightBytes() <= q.opts.MaxBytes && now.Sub(q.entries[i].t) <= q.opts.MaxAge) {
			break
		}
		if _, ok := q.dropOldest(); !ok {
			break // retried after the next Put
		}
		dropped = true
	}
	if dropped {
		// Best effort: a dropped file that reappears after a crash is
		// merely sent.
		syncDir(q.dir)
	}
}

// inflightBytes is the size of the files in flight, which the byte bound
// does not count while their upload lasts.
func (q *Queue) inflightBytes() int64 {
	var n int64
	for _, e := range q.entries {
		if q.inflight[e.name] {
			n += e.size
		}
	}
	return n
}

// oldestIdle returns the index of the oldest entry not in flight.
func (q *Queue) oldestIdle() (int, bool) {
	for i, e := range q.entries {
		if !q.inflight[e.name] {
			return i, true
		}
	}
	return 0, false
}

// dropOldest deletes the oldest file not in flight, counts its results as
// dropped and returns its size. It returns false, keeping the entry, if
// there is none or the file could not be deleted.
func (q *Queue) dropOldest() (int64, bool) {
	i, ok := q.oldestIdle()
	if !ok {
		return 0, false
	}
	e := q.entries[i]
	if err := os.Remove(filepath.Join(q.dir, e.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, false
	}
	q.removeAt(i)
	q.dropped += uint64(e.count)
	return e.size, true
}

// removeAt forgets entries[i].
func (q *Queue) removeAt(i int) {
	e := q.entries[i]
	q.bytes -= e.size
	q.results -= e.count
	q.entries = slices.Delete(q.entries, i, i+1)
}

// find returns the index of the entry named name.
func (q *Queue) find(name string) (int, bool) {
	return slices.BinarySearchFunc(q.entries, name, func(e entry, name string) int {
		return strings.Compare(e.name, name)
	})
}

// Peek returns the oldest queued results without removing them: whole files,
// oldest first, as many as fit in maxResults results, but always at least one
// file even if it holds more (so maxResults <= 0 means one file). It returns
// an empty Batch (no Results) when nothing is queued. Peeking again without an
// Ack returns the same files again.
//
// A file that cannot be decoded is moved to dead/ with a reason, counted in
// Stats.Dead and skipped. A file deleted behind the queue's back is counted in
// Stats.Dropped and skipped. Other read errors are returned, unless some
// files were read already: then Peek returns those and the error comes back
// at the next Peek.
func (q *Queue) Peek(maxResults int) (b Batch, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return Batch{}, ErrClosed
	}
	defer func() {
		// A Peek that fails hands nothing over for upload: the caller
		// will not ack, reject or release what it returned.
		q.inflight = make(map[string]bool, len(b.files))
		if err != nil {
			return
		}
		for _, name := range b.files {
			q.inflight[name] = true
		}
	}()
	deadLettered := false
	for i := 0; i < len(q.entries); {
		e := q.entries[i]
		if len(b.files) > 0 && len(b.Results)+e.count > maxResults {
			break
		}
		data, err := q.readFile(e)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			q.removeAt(i)
			q.dropped += uint64(e.count)
			continue
		case err != nil && len(b.files) > 0:
			return b, q.syncIf(deadLettered)
		case err != nil:
			q.syncIf(deadLettered)
			return Batch{}, fmt.Errorf("spool peek %s: %w", e.name, err)
		}
		rs, err := DecodeFile(data)
		if err != nil {
			// The reason file is a courtesy: a file moved without one
			// still leaves the queue.
			if moved, err := q.deadLetter(e.name, fmt.Sprintf("undecodable: %v", err)); !moved {
				q.syncIf(deadLettered)
				return b, fmt.Errorf("spool peek: %w", err)
			}
			q.removeAt(i)
			q.dead++
			deadLettered = true
			continue
		}
		b.Results = append(b.Results, rs...)
		b.files = append(b.files, e.name)
		i++
	}
	return b, q.syncIf(deadLettered)
}

// syncIf fsyncs both directories if files were moved to dead/.
func (q *Queue) syncIf(moved bool) error {
	if !moved {
		return nil
	}
	if err := q.syncDirs(); err != nil {
		return fmt.Errorf("spool peek: %w", err)
	}
	return nil
}

// readFile reads a queued file, refusing to read more than MaxFileSize
// bytes (DecodeFile then refuses the file).
func (q *Queue) readFile(e entry) ([]byte, error) {
	f, err := os.Open(filepath.Join(q.dir, e.name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

// Ack deletes the files of b, which the service has acknowledged, and fsyncs
// the directory. Files already gone (acked, rejected or dropped before) are
// skipped, so acking twice is harmless. Files that could not be deleted stay
// queued and are sent again; the error says which.
func (q *Queue) Ack(b Batch) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return ErrClosed
	}
	if len(b.files) == 0 {
		return nil
	}
	var errs []error
	for _, name := range b.files {
		delete(q.inflight, name)
		i, ok := q.find(name)
		if !ok {
			continue
		}
		if err := os.Remove(filepath.Join(q.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		q.removeAt(i)
	}
	if err := syncDir(q.dir); err != nil {
		errs = append(errs, fmt.Errorf("fsync %s: %w", q.dir, err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool ack: %w", err)
	}
	return nil
}

// Release ends b's flight without deleting it: the upload failed and the
// batch waits in the queue for the next try, where it may again be dropped
// to make room. Call it after every Peek that is neither acked nor rejected.
func (q *Queue) Release(b Batch) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, name := range b.files {
		delete(q.inflight, name)
	}
}

// Reject moves the files of b to dead/, each with a .reason.txt file beside
// it holding the time and reason, and counts them in Stats.Dead. Use it for
// batches the service refused permanently (4xx). Files already gone are
// skipped. A file whose reason could not be written is moved all the same
// (so that it cannot block the queue) and the error says so.
func (q *Queue) Reject(b Batch, reason string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return ErrClosed
	}
	if len(b.files) == 0 {
		return nil
	}
	var errs []error
	for _, name := range b.files {
		delete(q.inflight, name)
		i, ok := q.find(name)
		if !ok {
			continue
		}
		moved, err := q.deadLetter(name, reason)
		if err != nil {
			errs = append(errs, err)
		}
		if !moved {
			continue
		}
		q.removeAt(i)
		q.dead++
	}
	if err := q.syncDirs(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spool reject: %w", err)
	}
	return nil
}

// deadLetter writes dead/name.reason.txt, fsyncs it and moves name to dead/.
// It reports whether name left the spool directory (moved, or gone already);
// an error with moved true concerns the reason file only. It does not touch
// q.entries and does not fsync the directories (see syncDirs).
func (q *Queue) deadLetter(name, reason string) (moved bool, err error) {
	if len(reason) > maxReason {
		reason = reason[:maxReason] + "…"
	}
	text := q.opts.Now().UTC().Format(time.RFC3339Nano) + " " + reason + "\n"
	reasonErr := writeFileSync(filepath.Join(q.deadDir, name+reasonSuffix), []byte(text))
	if err := os.Rename(filepath.Join(q.dir, name), filepath.Join(q.deadDir, name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil // gone already; nothing to keep
		}
		return false, fmt.Errorf("move %s to %s: %w", name, deadDirName, err)
	}
	if reasonErr != nil {
		return true, fmt.Errorf("moved %s to %s without its reason: %w", name, deadDirName, reasonErr)
	}
	return true, nil
}

// syncDirs fsyncs dead/ and the spool directory, in that order, so that a
// moved file is never lost from both.
func (q *Queue) syncDirs() error {
	if err := syncDir(q.deadDir); err != nil {
		return fmt.Errorf("fsync %s: %w", q.deadDir, err)
	}
	if err := syncDir(q.dir); err != nil {
		return fmt.Errorf("fsync %s: %w", q.dir, err)
	}
	return nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = writeSync(f, data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Len returns the queue's statistics. It does no I/O.
func (q *Queue) Len() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		Files:   len(q.entries),
		Results: q.results,
		Bytes:   q.bytes,
		Dropped: q.dropped,
		Dead:    q.dead,
	}
	if len(q.entries) > 0 {
		s.Oldest = q.entries[0].t
	}
	return s
}

// DeadLetter is a file set aside in dead/.
type DeadLetter struct {
	Name    string
	Results int    // results it holds; 0 when it cannot be decoded
	Reason  string // the text of its .reason.txt file (time and reason)
	Err     error  // why it cannot be decoded, or nil
}

// DeadLetters lists the files in dead/, oldest first, decoding each.
func (q *Queue) DeadLetters() ([]DeadLetter, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return nil, ErrClosed
	}
	return q.deadLetters()
}

func (q *Queue) deadLetters() ([]DeadLetter, error) {
	des, err := os.ReadDir(q.deadDir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []DeadLetter
	for _, de := range des {
		if _, ok := parseName(de.Name()); ok && de.Type().IsRegular() { // not a reason file, ours
			d, _ := q.readDead(de.Name())
			out = append(out, d)
		}
	}
	return out, nil
}

// readDead reads and decodes dead/name; on success it also returns the
// file's contents.
func (q *Queue) readDead(name string) (DeadLetter, []byte) {
	d := DeadLetter{Name: name}
	if reason, err := os.ReadFile(filepath.Join(q.deadDir, name+reasonSuffix)); err == nil {
		d.Reason = strings.TrimSpace(string(reason))
	}
	data, err := readLimited(filepath.Join(q.deadDir, name))
	if err == nil {
		var rs []fibremon.Result
		if rs, err = DecodeFile(data); err == nil {
			d.Results = len(rs)
			return d, data
		}
	}
	d.Err = err
	return d, nil
}

// Requeue queues the results of every decodable file in dead/ again, each
// file as a new one at the back of the queue (named with the current time,
// so that the age bound counts from now), then deletes the dead letter and
// its reason. Undecodable files stay in dead/. It returns the files and
// results requeued; on an error, those requeued before it stay requeued.
//
// A crash between a file's Put and the deletion of its dead letter leaves
// its results both queued and in dead/; a later Requeue queues them again
// and the service counts them as duplicates (Result.ID is the idempotency
// key), so nothing is lost or stored twice.
func (q *Queue) Requeue() (files, results int, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.lock == nil {
		return 0, 0, ErrClosed
	}
	des, err := os.ReadDir(q.deadDir)
	if err != nil {
		return 0, 0, fmt.Errorf("spool requeue: %w", err)
	}
	for _, de := range des {
		if _, ok := parseName(de.Name()); !ok || !de.Type().IsRegular() {
			continue
		}
		d, data := q.readDead(de.Name())
		if d.Err != nil {
			continue
		}
		path := filepath.Join(q.deadDir, d.Name)
		id, err := uuid.NewRandom()
		if err != nil {
			return files, results, fmt.Errorf("spool requeue: %w", err)
		}
		if err := q.put(data, d.Results, id); err != nil {
			return files, results, fmt.Errorf("spool requeue %s: %w", d.Name, err)
		}
		if err := os.Remove(path); err != nil {
			return files, results, fmt.Errorf("spool requeue: remove %s: %w", path, err)
		}
		os.Remove(path + reasonSuffix) // a dead letter may lack its reason
		files++
		results += d.Results
	}
	if files > 0 {
		if err := syncDir(q.deadDir); err != nil {
			return files, results, fmt.Errorf("spool requeue: fsync %s: %w", q.deadDir, err)
		}
	}
	return files, results, nil
}

// readLimited reads a file of at most MaxFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%d bytes or more: %w", len(data), ErrTooLarge)
	}
	return data, nil
}
