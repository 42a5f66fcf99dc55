//go:build linux

package powerfs

import (
	"context"
	"maps"
	"slices"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is an inode as go-fuse sees it; the state is in FS.live.
type node struct {
	fs.Inode
	pfs *FS
	ino uint64
}

// handle is an open regular file.
type handle struct{}

// openFlags tell the kernel not to send FLUSH at close(2): close makes
// nothing durable here, and a close that waits for this process's own
// server would hang the process's exit (which closes its files after its
// threads stopped serving) if the test ends with a file open.
const openFlags = fuse.FOPEN_NOFLUSH

// Flags of renameat2(2).
const (
	renameNoreplace = 1
	renameExchange  = 2
)

var (
	_ fs.NodeLookuper  = (*node)(nil)
	_ fs.NodeGetattrer = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeReaddirer = (*node)(nil)
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeUnlinker  = (*node)(nil)
	_ fs.NodeRmdirer   = (*node)(nil)
	_ fs.NodeRenamer   = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeReader    = (*node)(nil)
	_ fs.NodeWriter    = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
	_ fs.NodeReleaser  = (*node)(nil)
	_ fs.NodeAllocater = (*node)(nil)
	_ fs.NodeStatfser  = (*node)(nil)
)

// get returns the node's live inode, with f.mu held: EIO after a cut,
// ENOENT if it no longer exists.
func (n *node) get() (*inode, syscall.Errno) {
	if n.pfs.off {
		n.pfs.stats.EIO++
		return nil, syscall.EIO
	}
	in := n.pfs.live[n.ino]
	if in == nil {
		return nil, syscall.ENOENT
	}
	return in, 0
}

// dir is get for an operation on a directory.
func (n *node) dir() (*inode, syscall.Errno) {
	in, errno := n.get()
	if errno == 0 && !in.isDir() {
		return nil, syscall.ENOTDIR
	}
	return in, errno
}

func (n *node) attr(in *inode, out *fuse.Attr) {
	out.Ino = n.ino
	out.Mode = in.mode
	out.Nlink = uint32(max(in.nlink, 1))
	if in.isDir() {
		out.Nlink = 2
		out.Size = pageSize
	} else {
		out.Size = uint64(len(in.data))
	}
	out.Blocks = (out.Size + 511) / 512
	out.Blksize = pageSize
	out.SetTimes(&in.mtime, &in.mtime, &in.mtime)
}

// child returns the go-fuse inode of the live inode ino. It is called
// without f.mu held: go-fuse takes locks of its own.
func (n *node) child(ctx context.Context, ino uint64, mode uint32) *fs.Inode {
	return n.NewInode(ctx, &node{pfs: n.pfs, ino: ino}, fs.StableAttr{Mode: mode & syscall.S_IFMT, Ino: ino})
}

// free forgets a live inode that has no name and is not open. Its durable
// state, if any, goes at the next directory fsync, if no durable name
// reaches it.
func (f *FS) free(ino uint64, in *inode) {
	if in.nlink <= 0 && in.opens <= 0 {
		delete(f.live, ino)
	}
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.pfs.mu.Lock()
	d, errno := n.dir()
	if errno != 0 {
		n.pfs.mu.Unlock()
		return nil, errno
	}
	ino, ok := d.entries[name]
	if !ok {
		n.pfs.mu.Unlock()
		return nil, syscall.ENOENT
	}
	c := n.pfs.live[ino]
	n.attr(c, &out.Attr)
	mode := c.mode
	n.pfs.mu.Unlock()
	return n.child(ctx, ino, mode), 0
}

func (n *node) Getattr(ctx context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return errno
	}
	n.attr(in, &out.Attr)
	return 0
}

func (n *node) Setattr(ctx context.Context, _ fs.FileHandle, set *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return errno
	}
	if size, ok := set.GetSize(); ok {
		if in.isDir() {
			return syscall.EISDIR
		}
		in.setSize(int64(size))
		in.mtime = time.Now()
	}
	if mode, ok := set.GetMode(); ok {
		in.mode = in.mode&syscall.S_IFMT | mode&0o7777
	}
	if mtime, ok := set.GetMTime(); ok {
		in.mtime = mtime
	}
	n.attr(in, &out.Attr)
	return 0
}

func (n *node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	d, errno := n.dir()
	if errno != 0 {
		return nil, errno
	}
	var list []fuse.DirEntry
	for _, name := range slices.Sorted(maps.Keys(d.entries)) {
		ino := d.entries[name]
		list = append(list, fuse.DirEntry{Name: name, Ino: ino, Mode: n.pfs.live[ino].mode & syscall.S_IFMT})
	}
	return fs.NewListDirStream(list), 0
}

// newInode adds a live inode named name in d.
func (n *node) newInode(d *inode, name string, mode uint32) (uint64, *inode) {
	ino := n.pfs.next
	n.pfs.next++
	in := &inode{mode: mode, nlink: 1, synced: -1, mtime: time.Now()}
	if in.isDir() {
		in.entries = map[string]uint64{}
	} else {
		in.dirty = map[int64]bool{}
	}
	n.pfs.live[ino] = in
	d.entries[name] = ino
	d.mtime = in.mtime
	return ino, in
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	n.pfs.mu.Lock()
	d, errno := n.dir()
	if errno != 0 {
		n.pfs.mu.Unlock()
		return nil, nil, 0, errno
	}
	ino, exists := d.entries[name]
	var in *inode
	switch {
	case exists && flags&syscall.O_EXCL != 0:
		n.pfs.mu.Unlock()
		return nil, nil, 0, syscall.EEXIST
	case exists:
		in = n.pfs.live[ino]
		if in.isDir() {
			n.pfs.mu.Unlock()
			return nil, nil, 0, syscall.EISDIR
		}
		if flags&syscall.O_TRUNC != 0 {
			in.setSize(0)
		}
	default:
		ino, in = n.newInode(d, name, syscall.S_IFREG|mode&0o7777)
	}
	in.opens++
	n.attr(in, &out.Attr)
	mode = in.mode
	n.pfs.mu.Unlock()
	return n.child(ctx, ino, mode), &handle{}, openFlags, 0
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.pfs.mu.Lock()
	d, errno := n.dir()
	if errno != 0 {
		n.pfs.mu.Unlock()
		return nil, errno
	}
	if _, exists := d.entries[name]; exists {
		n.pfs.mu.Unlock()
		return nil, syscall.EEXIST
	}
	ino, in := n.newInode(d, name, syscall.S_IFDIR|mode&0o7777)
	n.attr(in, &out.Attr)
	mode = in.mode
	n.pfs.mu.Unlock()
	return n.child(ctx, ino, mode), 0
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	d, errno := n.dir()
	if errno != 0 {
		return errno
	}
	ino, ok := d.entries[name]
	if !ok {
		return syscall.ENOENT
	}
	in := n.pfs.live[ino]
	if in.isDir() {
		return syscall.EISDIR
	}
	delete(d.entries, name)
	d.mtime = time.Now()
	in.nlink--
	n.pfs.free(ino, in)
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	d, errno := n.dir()
	if errno != 0 {
		return errno
	}
	ino, ok := d.entries[name]
	if !ok {
		return syscall.ENOENT
	}
	in := n.pfs.live[ino]
	switch {
	case !in.isDir():
		return syscall.ENOTDIR
	case len(in.entries) > 0:
		return syscall.ENOTEMPTY
	}
	delete(d.entries, name)
	d.mtime = time.Now()
	in.nlink--
	n.pfs.free(ino, in)
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	if flags&^renameNoreplace != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT: not modelled
	}
	src, errno := n.dir()
	if errno != 0 {
		return errno
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	dst, errno := np.dir()
	if errno != 0 {
		return errno
	}
	ino, ok := src.entries[name]
	if !ok {
		return syscall.ENOENT
	}
	in := n.pfs.live[ino]
	if in.isDir() && np.ino != n.ino {
		return syscall.EXDEV // see the package doc
	}
	if old, exists := dst.entries[newName]; exists {
		if flags&renameNoreplace != 0 {
			return syscall.EEXIST
		}
		if old == ino {
			return 0
		}
		target := n.pfs.live[old]
		switch {
		case in.isDir() && !target.isDir():
			return syscall.ENOTDIR
		case !in.isDir() && target.isDir():
			return syscall.EISDIR
		case target.isDir() && len(target.entries) > 0:
			return syscall.ENOTEMPTY
		}
		target.nlink--
		n.pfs.free(old, target)
	}
	delete(src.entries, name)
	dst.entries[newName] = ino
	src.mtime, dst.mtime = time.Now(), time.Now()
	return 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return nil, 0, errno
	}
	if in.isDir() {
		return nil, 0, syscall.EISDIR
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		in.setSize(0)
		in.mtime = time.Now()
	}
	in.opens++
	return &handle{}, openFlags, 0
}

func (n *node) Read(ctx context.Context, _ fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return nil, errno
	}
	if off >= int64(len(in.data)) {
		return fuse.ReadResultData(nil), 0
	}
	k := copy(dest, in.data[off:])
	return fuse.ReadResultData(dest[:k]), 0
}

func (n *node) Write(ctx context.Context, _ fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return 0, errno
	}
	end := off + int64(len(data))
	if end > int64(len(in.data)) {
		in.setSize(end)
	}
	copy(in.data[off:], data)
	in.markDirty(off, end)
	in.mtime = time.Now()
	n.pfs.stats.Writes++
	return uint32(len(data)), 0
}

func (n *node) Fsync(ctx context.Context, _ fs.FileHandle, flags uint32) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return errno
	}
	var err error
	if in.isDir() {
		err = n.pfs.syncDir(n.ino, in)
	} else {
		err = n.pfs.syncFile(n.ino, in)
	}
	if err != nil {
		return errnoOf(err)
	}
	return 0
}

func (n *node) Release(ctx context.Context, _ fs.FileHandle) syscall.Errno {
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	if n.pfs.off {
		return 0 // nothing left to release
	}
	if in := n.pfs.live[n.ino]; in != nil {
		in.opens--
		n.pfs.free(n.ino, in)
	}
	return 0
}

// Allocate extends the file (mode 0) or does nothing (KEEP_SIZE): blocks
// are not modelled, so there is no space to reserve.
func (n *node) Allocate(ctx context.Context, _ fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	const keepSize = 1 // FALLOC_FL_KEEP_SIZE
	n.pfs.mu.Lock()
	defer n.pfs.mu.Unlock()
	in, errno := n.get()
	if errno != 0 {
		return errno
	}
	switch mode {
	case 0:
		if end := int64(off + size); end > int64(len(in.data)) {
			in.setSize(end)
			in.mtime = time.Now()
		}
		return 0
	case keepSize:
		return 0
	}
	return syscall.EOPNOTSUPP
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.pfs.backing, &st); err != nil {
		return errnoOf(err)
	}
	out.FromStatfsT(&st)
	return 0
}
