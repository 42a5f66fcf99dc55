// Package spool is the probe agent's durable store-and-forward queue: results
// that could not be uploaded yet wait on disk, oldest first, and are deleted
// only after the service acknowledged them.
//
// The agent's upload loop is
//
//	b, err := q.Peek(500)     // oldest files first, whole files
//	err = client.PostResults(ctx, b.Results)
//	switch {
//	case err == nil:             q.Ack(b)            // delete exactly b's files
//	case judged invalid (400):   q.Reject(b, reason) // move them to dead/
//	default:                     q.Release(b); back off, Peek again later
//	}
//
// Requeue puts the dead letters back at the end of the queue once the cause
// is fixed (`fibreprobe spool requeue`).
//
// Delivery is at least once: a crash between the service's 2xx and Ack, or
// between Ack's unlink and its directory fsync, sends a batch again.
// Result.ID is the idempotency key that makes this harmless.
//
// # On-disk format (version 1)
//
// The spool directory holds one file per Put, named
//
//	20060102T150405.000000000Z-<uuid>.json
//
// that is, the UTC time of the Put with nanoseconds, zero-padded to a fixed
// width so that names sort chronologically, a dash, a random lower-case UUID
// and ".json". Within one spool names strictly increase: when the clock does
// not move forward (two Puts in the same nanosecond, or the clock was stepped
// back) the time is bumped to one nanosecond after the newest file.
//
// Each file is JSON Lines: a header line, then one fibremon.Result per line
// in its v1 wire form, every line ending in '\n':
//
//	{"version":1,"count":2}
//	{"id":"…","site_id":"…","probe":"…","kind":"latency",…}
//	{"id":"…","site_id":"…","probe":"…","kind":"download",…}
//
// The header carries the format version (readers refuse others) and the
// number of results, so that Open learns the size of the queue from the first
// line of each file without decoding the rest, and so that a truncated file is
// always detected, even when it is cut at a line boundary. Decoding is strict:
// unknown fields, a missing final newline, trailing data or a count mismatch
// are errors; files above MaxFileSize are refused unread (see DecodeFile).
//
// Other entries of the directory:
//
//	lock                    flock(LOCK_EX|LOCK_NB)ed while a Queue is open; never removed
//	<name>.tmp              a Put in progress (<name> as above); left only by a crash, removed by Open
//	dead/<name>             a file the service rejected (Reject) or that could not be decoded (Peek, Open)
//	dead/<name>.reason.txt  why, after an RFC 3339 time; only Requeue deletes files in dead/, after queueing their results again
//
// Anything else (other names, subdirectories) is left alone.
//
// # Durability
//
// Put writes the batch to a new temporary file created with O_EXCL, fsyncs
// it, closes it, renames it to its final name and fsyncs the directory. Only
// then does it return nil. The argument:
//
//   - Until the rename, the final name does not exist, so a crash leaves at
//     most a <name>.tmp file, which Open deletes; a reader never sees a partial
//     file under a final name.
//   - The file fsync before the rename orders the data before the name: after
//     a power loss the renamed file cannot appear with missing contents.
//   - rename(2) within one directory is atomic: the final name refers either to
//     nothing or to the complete file.
//   - The rename is a change to the directory, which is only durable once the
//     directory itself is fsynced; without that a power loss can lose a file
//     whose Put already returned nil.
//   - So is the spool directory's own name, in its parent: Open fsyncs the
//     parent of every directory it creates, or a power loss after the first
//     Puts of a new spool could take the directory and all in it.
//
// So a nil error from Put means the batch survives a crash or a power loss of
// the whole machine (given a file system and disk that honour fsync). An error
// from Put means the batch is not in the queue; at worst (a failed directory
// fsync after the rename) a complete copy may reappear after a crash and be
// sent, which the result IDs make harmless. Ack and Reject fsync the
// directory too, so that acknowledged files stay deleted and rejected ones
// stay in dead/.
//
// # Bounds
//
// The queue holds at most Options.MaxBytes bytes of files, none older than
// Options.MaxAge (by the time in its name). Bounds are enforced at Open and
// after each Put by deleting the oldest files first. When the disk is full
// (ENOSPC or EDQUOT) Put deletes the oldest files to make room for the batch
// and tries once more. Every result deleted unsent is counted in
// Stats.Dropped, so the agent can export it as fibreprobe_spool_dropped_total;
// Put does not fail because of a drop. dead/ is not bounded by this package.
//
// # Concurrency
//
// A Queue is safe for concurrent use by multiple goroutines of one process;
// its methods serialise on one mutex, file I/O included, and start no
// goroutines. Only one Queue (one process) may use a directory at a time: Open
// takes an exclusive flock on dir/lock and fails with ErrLocked while another
// Queue holds it. Peek does not hide a batch from another Peek, so there
// should be exactly one uploader.
//
// The package works on Unix systems only (flock, directory fsync); on other
// systems Open returns an error wrapping errors.ErrUnsupported.
package spool
