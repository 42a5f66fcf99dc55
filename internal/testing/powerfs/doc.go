// Package powerfs is a FUSE file system for tests that can lose power: it
// keeps everything a program has not fsynced in memory and drops it on a
// "power cut", as a disk with a volatile write cache and a file system that
// promises no more than POSIX would. Tests put a program's files on it, cut
// the power at a moment of their choosing, mount it again and look at what
// survived. Only tests import it.
//
// # What it models
//
// A backing directory stands for the disk: it holds the durable state, and
// only that is seen after a cut. Everything else is volatile:
//
//   - File data. A write changes the file as programs see it at once, but
//     reaches the disk only when the file is fsynced (fsync or fdatasync,
//     which are the same here). So do truncate, fallocate (which extends
//     the size, or with FALLOC_FL_KEEP_SIZE does nothing) and a change of
//     mode. close, flush and release make nothing durable.
//   - Names. create, mkdir, unlink, rmdir and rename change a directory as
//     programs see it at once, but a directory's entries reach the disk only
//     when that directory is fsynced, and then all of them at once, exactly
//     as they are at that moment. A file created and fsynced in a directory
//     that is never fsynced is gone after a cut, data and all; a rename
//     whose directory is not fsynced is undone. A rename between two
//     directories takes both fsyncs: if only the target directory is
//     fsynced the file has both names after a cut, if only the source it
//     has neither. An entry made durable before its file's data is durable
//     comes back as an empty file; a directory made durable before its own
//     entries comes back empty.
//
// This is stricter than ext4 in its default data=ordered mode, where a
// journal commit (which any fsync forces) also makes every earlier
// namespace change durable and writes the data of newly allocated blocks
// first, so that a missing directory fsync rarely loses anything there; it
// is what POSIX, and file systems such as XFS and btrfs, promise. A program
// whose acknowledged data survives powerfs makes every fsync those file
// systems need.
//
// A power cut (FS.Cut) is atomic with respect to the file system's
// operations: every operation that returned before it is complete on disk
// if it was an fsync, and every operation after it fails with EIO, so that
// no program can believe a later write reached the disk. The volatile state
// is discarded at the cut; the caller then kills the programs, as the power
// cut would have, unmounts (FS.Unmount) and mounts the backing directory
// again (Mount), which exposes only the durable state.
//
// What it does not model: a torn write within an fsynced file (the disk
// here writes fsynced pages whole and in order); a cut that keeps part of
// what was not fsynced (a real disk may have written any subset of it
// before the cut; here all of it is lost, so programs that depend on the
// order of unsynced writes are not caught); metadata other than
// names, sizes and permission bits (owners and times are not kept; a file
// shows the time of its last write, or after a mount that of its last
// fsync), hard links, symbolic links, special files, extended attributes,
// renaming a directory into another directory (EXDEV) and RENAME_EXCHANGE
// (EINVAL). Locks (flock, fcntl) are kept by the kernel, per mount.
// The backing directory itself is written with ordinary writes and
// renames, not fsynced: the machine running the test does not lose power.
//
// The kernel's page cache sits above the file system as on any FUSE mount;
// without the writeback cache (not enabled here) every write(2) reaches
// powerfs before it returns, so the page cache holds nothing powerfs has
// not seen. Shared writable mappings (SQLite's -shm file) are written back
// by the kernel later, which matters only for what they hold at a cut:
// nothing that needs to survive one.
//
// The file system is served by the process that mounts it. That process
// must not map files of the mount into memory (SQLite maps its -shm file):
// a page fault on such a mapping blocks its thread in the kernel, waiting
// for the server, and when the Go runtime stops the world for a garbage
// collection, the server's goroutines stop while the runtime waits for
// that thread: neither ever goes on. Run such programs in processes of
// their own. Files the server process leaves open at its exit do not hang
// the exit: the file system asks the kernel not to send FLUSH at close.
//
// Mounting needs Linux, /dev/fuse and root (the mount is made with
// mount(2) directly, so no fusermount is needed); Available says why a
// mount is not possible.
package powerfs
