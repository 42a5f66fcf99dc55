//go:build linux

package powerfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// FS is one mount of a power-cut file system. Its methods are safe for
// concurrent use.
type FS struct {
	dir, backing string
	server       *fuse.Server

	mu      sync.Mutex // guards everything below; every operation holds it
	off     bool       // the power is cut: operations fail with EIO
	live    map[uint64]*inode
	durable manifest
	next    uint64 // the next inode number
	stats   Stats
}

// Mount mounts the file system whose durable state is in the directory
// backing (created empty if need be) on the directory dir.
func Mount(dir, backing string) (*FS, error) {
	f := &FS{dir: dir, backing: backing}
	if err := f.load(); err != nil {
		return nil, fmt.Errorf("powerfs: load %s: %w", backing, err)
	}
	// One kernel is the only client, so its caches never go stale.
	timeout := time.Second
	srv, err := fs.Mount(dir, &node{pfs: f, ino: rootIno}, &fs.Options{
		MountOptions: fuse.MountOptions{
			// mount(2) as root; no fusermount.
			DirectMountStrict: true,
			FsName:            "powerfs",
			Name:              "powerfs",
		},
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		RootStableAttr:  &fs.StableAttr{Ino: rootIno},
	})
	if err != nil {
		return nil, fmt.Errorf("powerfs: mount %s: %w", dir, err)
	}
	f.server = srv
	return f, nil
}

// Dir returns the mount point.
func (f *FS) Dir() string { return f.dir }

// Cut cuts the power: everything not durable is discarded, and from now on
// every operation fails with EIO. It returns what was lost. The programs
// using the file system should be killed next, then the file system
// unmounted; Mount on the same backing directory shows what survived.
func (f *FS) Cut() Loss {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.off {
		return Loss{}
	}
	f.off = true
	return f.cut()
}

// Stats returns the counts of this mount's operations.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Unmount unmounts the file system and waits for its server to stop.
// Unmounting without a cut is a clean shutdown that keeps only the durable
// state all the same: a disk keeps nothing else either.
//
// While a process has a file open on it the unmount fails (EBUSY); Unmount
// then detaches the mount (MNT_DETACH), so that it is gone from the tree
// all the same and the directory can be removed, and returns the error.
// The server goes on answering the open files until they are closed.
func (f *FS) Unmount() error {
	err := f.server.Unmount()
	if err == nil {
		f.server.Wait()
		return nil
	}
	if derr := syscall.Unmount(f.dir, syscall.MNT_DETACH); derr != nil {
		return fmt.Errorf("powerfs: unmount %s: %w; detach: %w", f.dir, err, derr)
	}
	return fmt.Errorf("powerfs: unmount %s: %w (files still open; detached)", f.dir, err)
}

// Available returns nil if a powerfs can be mounted here, or an error
// saying why not (not Linux, not root, no /dev/fuse, mount(2) refused). It
// mounts a scratch file system once to find out.
func Available() error {
	availableOnce.Do(func() { availableErr = probeMount() })
	return availableErr
}

var (
	availableOnce sync.Once
	availableErr  error
)

func probeMount() error {
	if os.Geteuid() != 0 {
		return errors.New("powerfs needs root: it mounts with mount(2)")
	}
	dev, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("powerfs needs /dev/fuse: %w", err)
	}
	dev.Close()
	tmp, err := os.MkdirTemp("", "powerfs-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	mnt := filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		return err
	}
	f, err := Mount(mnt, filepath.Join(tmp, "backing"))
	if err != nil {
		return fmt.Errorf("cannot mount a FUSE file system here: %w", err)
	}
	return f.Unmount()
}

// errnoOf is the errno of an error from the backing directory.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
