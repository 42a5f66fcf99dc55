//go:build linux

package powerfs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// The durable state in the backing directory:
//
//	manifest.json   the durable names: every directory's entries, and the
//	                mode of every inode a durable directory names
//	data/<ino>      the durable content of regular file <ino>
//
// Inode numbers are the FUSE inode numbers; the root is 1. Inodes and data
// files that no durable name reaches are deleted at the next directory
// fsync or mount, once no program has them open either: like an orphan
// inode after a crash, they cannot come back.
const (
	manifestName = "manifest.json"
	dataDirName  = "data"
	rootIno      = 1
	pageSize     = 4096
)

// manifest is the durable namespace.
type manifest struct {
	Inodes map[uint64]uint32            `json:"inodes"` // ino -> mode (type and permission bits)
	Dirs   map[uint64]map[string]uint64 `json:"dirs"`   // directory ino -> name -> ino
}

// inode is a file or directory as programs see it now.
type inode struct {
	mode    uint32            // syscall.S_IFREG or S_IFDIR, and permission bits
	data    []byte            // regular file: its content
	dirty   map[int64]bool    // regular file: pages of data changed since the last fsync
	synced  int64             // regular file: size of its data file, -1 if it has none
	entries map[string]uint64 // directory: name -> ino
	nlink   int               // names of the inode (directory entries naming it)
	opens   int               // open handles (regular files)
	mtime   time.Time
}

func (in *inode) isDir() bool { return in.mode&syscall.S_IFMT == syscall.S_IFDIR }

// setSize changes a file's size, zero-filling growth. Pages that the change
// exposes or cuts are dirty: grown ranges must reach the disk as zeros, and
// the page a shrink cuts must be rewritten should the file grow again.
func (in *inode) setSize(size int64) {
	old := int64(len(in.data))
	switch {
	case size > old:
		in.data = append(in.data, make([]byte, size-old)...)
		in.markDirty(old, size)
	case size < old:
		clear(in.data[size:])
		in.data = in.data[:size]
		in.markDirty(size, size+1)
	}
}

// markDirty marks the pages holding bytes [from, to) dirty.
func (in *inode) markDirty(from, to int64) {
	for p := from / pageSize; p*pageSize < to; p++ {
		in.dirty[p] = true
	}
}

// Loss is what one power cut discarded.
type Loss struct {
	// Files is the number of files with data, size or mode not fsynced;
	// Bytes the size of their dirty pages.
	Files int
	Bytes int64
	// Dirs is the number of directories whose entries differed from their
	// durable entries (directories not durable at all included).
	Dirs int
}

// Stats count the operations of one mount.
type Stats struct {
	Writes     int // write(2) calls
	Fsyncs     int // fsyncs of regular files
	DirFsyncs  int // fsyncs of directories
	EIO        int // operations refused after the cut
	SyncedData int64
}

// load reads the durable state from the backing directory (creating an
// empty file system if there is none), deletes what no durable name
// reaches, and makes it the live state.
func (f *FS) load() error {
	if err := os.MkdirAll(filepath.Join(f.backing, dataDirName), 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(f.backing, manifestName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		f.durable = manifest{
			Inodes: map[uint64]uint32{rootIno: syscall.S_IFDIR | 0o755},
			Dirs:   map[uint64]map[string]uint64{rootIno: {}},
		}
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &f.durable); err != nil {
			return fmt.Errorf("%s: %w", manifestName, err)
		}
	}
	f.live = map[uint64]*inode{}
	if err := f.collect(); err != nil {
		return err
	}
	for ino, mode := range f.durable.Inodes {
		in := &inode{mode: mode, synced: -1}
		if mode&syscall.S_IFMT == syscall.S_IFDIR {
			in.entries = maps.Clone(f.durable.Dirs[ino])
			if in.entries == nil {
				in.entries = map[string]uint64{}
			}
			in.mtime = time.Now()
		} else {
			path := f.dataPath(ino)
			data, err := os.ReadFile(path)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			in.data, in.dirty = data, map[int64]bool{}
			in.mtime = time.Now()
			if fi, err := os.Stat(path); err == nil {
				in.synced, in.mtime = fi.Size(), fi.ModTime()
			}
		}
		f.live[ino] = in
		f.next = max(f.next, ino+1)
	}
	for _, in := range f.live {
		for name, c := range in.entries {
			if f.live[c] == nil { // cannot happen: collect keeps what names reach
				delete(in.entries, name)
				continue
			}
			f.live[c].nlink++
		}
	}
	f.live[rootIno].nlink = 1
	return nil
}

// collect deletes the durable state that can never be seen again: inodes
// that neither a durable name reaches (from the root, through durable
// directory entries) nor a live inode holds, and the data files of inodes
// without a record. It saves the manifest if it changed.
func (f *FS) collect() error {
	keep := map[uint64]bool{}
	var mark func(ino uint64)
	mark = func(ino uint64) {
		if keep[ino] {
			return
		}
		keep[ino] = true
		for _, c := range f.durable.Dirs[ino] {
			mark(c)
		}
	}
	mark(rootIno)
	for ino := range f.live {
		mark(ino)
	}
	changed := false
	for ino := range f.durable.Inodes {
		if !keep[ino] {
			delete(f.durable.Inodes, ino)
			changed = true
		}
	}
	for ino := range f.durable.Dirs {
		if !keep[ino] {
			delete(f.durable.Dirs, ino)
			changed = true
		}
	}
	des, err := os.ReadDir(filepath.Join(f.backing, dataDirName))
	if err != nil {
		return err
	}
	for _, de := range des {
		ino, err := strconv.ParseUint(de.Name(), 10, 64)
		if err != nil {
			continue
		}
		if _, ok := f.durable.Inodes[ino]; ok || f.live[ino] != nil {
			continue
		}
		if err := os.Remove(filepath.Join(f.backing, dataDirName, de.Name())); err != nil {
			return err
		}
	}
	if changed {
		return f.saveManifest()
	}
	return nil
}

func (f *FS) dataPath(ino uint64) string {
	return filepath.Join(f.backing, dataDirName, strconv.FormatUint(ino, 10))
}

// saveManifest replaces the manifest atomically (with respect to the test
// process dying, not the host losing power: see the package doc).
func (f *FS) saveManifest() error {
	b, err := json.Marshal(f.durable)
	if err != nil {
		return err
	}
	tmp := filepath.Join(f.backing, manifestName+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(f.backing, manifestName))
}

// syncFile makes a regular file's data, size and mode durable.
func (f *FS) syncFile(ino uint64, in *inode) error {
	df, err := os.OpenFile(f.dataPath(ino), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	size := int64(len(in.data))
	for _, p := range slices.Sorted(maps.Keys(in.dirty)) {
		start := p * pageSize
		if start >= size {
			continue
		}
		end := min(start+pageSize, size)
		if _, err := df.WriteAt(in.data[start:end], start); err != nil {
			df.Close()
			return err
		}
		f.stats.SyncedData += end - start
	}
	err = df.Truncate(size)
	if cerr := df.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	clear(in.dirty)
	in.synced = size
	f.stats.Fsyncs++
	if mode, ok := f.durable.Inodes[ino]; ok && mode != in.mode {
		f.durable.Inodes[ino] = in.mode
		return f.saveManifest()
	}
	return nil
}

// syncDir makes a directory's entries durable, all of them, as they are
// now. An inode it names for the first time becomes durable with its mode:
// a file with its fsynced data or else empty, a directory with its durable
// entries or else none.
func (f *FS) syncDir(ino uint64, in *inode) error {
	f.durable.Inodes[ino] = in.mode
	f.durable.Dirs[ino] = maps.Clone(in.entries)
	for _, c := range in.entries {
		if _, ok := f.durable.Inodes[c]; ok {
			continue
		}
		child := f.live[c]
		f.durable.Inodes[c] = child.mode
		if child.isDir() {
			if f.durable.Dirs[c] == nil {
				f.durable.Dirs[c] = map[string]uint64{}
			}
			continue
		}
		if child.synced < 0 {
			df, err := os.OpenFile(f.dataPath(c), os.O_WRONLY|os.O_CREATE, 0o600)
			if err != nil {
				return err
			}
			if err := df.Close(); err != nil {
				return err
			}
			child.synced = 0
			// Everything the file holds is now unsynced against the
			// empty durable file.
			child.markDirty(0, int64(len(child.data)))
		}
	}
	f.stats.DirFsyncs++
	if err := f.saveManifest(); err != nil {
		return err
	}
	return f.collect()
}

// cut discards the live state and returns what it held that was not
// durable.
func (f *FS) cut() Loss {
	var l Loss
	for ino, in := range f.live {
		if in.isDir() {
			if d, ok := f.durable.Dirs[ino]; !ok || !maps.Equal(d, in.entries) {
				l.Dirs++
			}
			continue
		}
		mode, durable := f.durable.Inodes[ino]
		if len(in.dirty) > 0 || in.synced != int64(len(in.data)) || (durable && mode != in.mode) {
			l.Files++
			l.Bytes += int64(len(in.dirty)) * pageSize
		}
	}
	f.live = nil
	return l
}
