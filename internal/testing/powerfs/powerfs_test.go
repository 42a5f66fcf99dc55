//go:build linux

package powerfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// disk is a powerfs mounted for a test, that can lose power and come back.
type disk struct {
	t                *testing.T
	dir, backing     string
	fs               *FS
	mounted, cutDone bool
}

func newDisk(t *testing.T) *disk {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("power-cut tests need FUSE as root: %v", err)
	}
	tmp := t.TempDir()
	d := &disk{t: t, dir: filepath.Join(tmp, "mnt"), backing: filepath.Join(tmp, "backing")}
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d.mount()
	t.Cleanup(func() {
		if d.mounted {
			d.fs.Cut()
			if err := d.fs.Unmount(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return d
}

func (d *disk) mount() {
	d.t.Helper()
	f, err := Mount(d.dir, d.backing)
	if err != nil {
		d.t.Fatal(err)
	}
	d.fs, d.mounted = f, true
}

// powerCut cuts the power, unmounts and mounts again, returning what the
// cut lost.
func (d *disk) powerCut() Loss {
	d.t.Helper()
	l := d.fs.Cut()
	if err := d.fs.Unmount(); err != nil {
		d.t.Fatal(err)
	}
	d.mounted = false
	d.mount()
	return l
}

func (d *disk) path(name string) string { return filepath.Join(d.dir, name) }

// write creates (or truncates) name with data, fsyncing the file if
// syncFile.
func (d *disk) write(name string, data string, syncFile bool) {
	d.t.Helper()
	f, err := os.OpenFile(d.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		d.t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			d.t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		d.t.Fatal(err)
	}
}

func (d *disk) syncDir(name string) {
	d.t.Helper()
	f, err := os.Open(d.path(name))
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		d.t.Fatal(err)
	}
}

// durable writes name with data and fsyncs it and its directory.
func (d *disk) durable(name, data string) {
	d.t.Helper()
	d.write(name, data, true)
	d.syncDir(filepath.Dir(name))
}

// want checks that name holds data, or does not exist if data is nil.
func (d *disk) want(name string, data *string) {
	d.t.Helper()
	got, err := os.ReadFile(d.path(name))
	switch {
	case data == nil && errors.Is(err, os.ErrNotExist):
	case data == nil:
		d.t.Errorf("%s: %q, %v; want it gone", name, got, err)
	case err != nil:
		d.t.Errorf("%s: %v; want %q", name, err, *data)
	case string(got) != *data:
		d.t.Errorf("%s = %q; want %q", name, got, *data)
	}
}

func (d *disk) names(dir string) []string {
	d.t.Helper()
	des, err := os.ReadDir(d.path(dir))
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

func ptr(s string) *string { return &s }

func TestSyncedDataSurvives(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "hello")
	if err := os.Mkdir(d.path("sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.syncDir(".")
	d.durable("sub/b", "world")
	l := d.powerCut()
	d.want("a", ptr("hello"))
	d.want("sub/b", ptr("world"))
	if l != (Loss{}) {
		t.Errorf("cut lost %+v; everything was synced", l)
	}
	// And again: a mount of the durable state is itself durable.
	d.powerCut()
	d.want("sub/b", ptr("world"))
}

func TestUnsyncedWriteLost(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "old content")
	f, err := os.OpenFile(d.path("a"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("NEW"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(" and more"), 11); err != nil {
		t.Fatal(err)
	}
	f.Close() // close makes nothing durable
	d.want("a", ptr("NEW content and more"))
	l := d.powerCut()
	d.want("a", ptr("old content"))
	if l.Files != 1 || l.Bytes != pageSize || l.Dirs != 0 {
		t.Errorf("cut lost %+v; want one file with one dirty page", l)
	}
}

func TestCreateWithoutDirFsyncLost(t *testing.T) {
	d := newDisk(t)
	d.durable("kept", "k")
	d.write("new", "data synced, name not", true)
	d.powerCut()
	d.want("new", nil)
	d.want("kept", ptr("k"))
}

func TestEntryWithoutDataComesBackEmpty(t *testing.T) {
	d := newDisk(t)
	d.write("a", "never synced", false)
	d.syncDir(".")
	d.powerCut()
	d.want("a", ptr(""))
}

func TestRenameWithoutDirFsyncUndone(t *testing.T) {
	d := newDisk(t)
	d.durable("a.tmp", "payload")
	if err := os.Rename(d.path("a.tmp"), d.path("a")); err != nil {
		t.Fatal(err)
	}
	l := d.powerCut()
	d.want("a.tmp", ptr("payload"))
	d.want("a", nil)
	if l.Dirs != 1 {
		t.Errorf("cut lost %+v; want one directory's changes", l)
	}

	if err := os.Rename(d.path("a.tmp"), d.path("a")); err != nil {
		t.Fatal(err)
	}
	d.syncDir(".")
	d.powerCut()
	d.want("a.tmp", nil)
	d.want("a", ptr("payload"))
}

func TestUnlinkWithoutDirFsyncUndone(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "x")
	d.durable("b", "y")
	for _, n := range []string{"a", "b"} {
		if err := os.Remove(d.path(n)); err != nil {
			t.Fatal(err)
		}
	}
	d.powerCut()
	if got := d.names("."); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after the cut: %v; want a and b back", got)
	}
	os.Remove(d.path("a"))
	d.syncDir(".")
	d.powerCut()
	if got := d.names("."); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after a synced unlink: %v; want b only", got)
	}
	d.want("b", ptr("y"))
}

func TestRenameAcrossDirectories(t *testing.T) {
	d := newDisk(t)
	if err := os.Mkdir(d.path("dead"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.syncDir(".")
	d.durable("f", "letter")

	// Only the target directory synced: both names.
	if err := os.Rename(d.path("f"), d.path("dead/f")); err != nil {
		t.Fatal(err)
	}
	d.syncDir("dead")
	d.powerCut()
	d.want("f", ptr("letter"))
	d.want("dead/f", ptr("letter"))

	// Only the source directory synced: neither.
	os.Remove(d.path("dead/f"))
	d.syncDir("dead")
	if err := os.Rename(d.path("f"), d.path("dead/f")); err != nil {
		t.Fatal(err)
	}
	d.syncDir(".")
	d.powerCut()
	d.want("f", nil)
	d.want("dead/f", nil)
}

func TestMkdirNeedsParentFsync(t *testing.T) {
	d := newDisk(t)
	if err := os.MkdirAll(d.path("a/b"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.durable("a/b/f", "deep")
	d.syncDir("a")
	// The root was never synced: a, and all below it, are gone.
	d.powerCut()
	d.want("a/b/f", nil)
	if got := d.names("."); len(got) != 0 {
		t.Fatalf("after the cut: %v; want an empty root", got)
	}

	if err := os.MkdirAll(d.path("a/b"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.durable("a/b/f", "deep")
	d.syncDir("a")
	d.syncDir(".")
	d.powerCut()
	d.want("a/b/f", ptr("deep"))
}

func TestTruncateVolatile(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "0123456789")
	if err := os.Truncate(d.path("a"), 3); err != nil {
		t.Fatal(err)
	}
	d.powerCut()
	d.want("a", ptr("0123456789"))

	f, err := os.OpenFile(d.path("a"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.powerCut()
	d.want("a", ptr("012"))
}

// A shrink, a write and a growth synced together leave zeros where the old
// content was: growth is written, not assumed.
func TestShrinkThenGrow(t *testing.T) {
	d := newDisk(t)
	d.durable("a", string(bytes.Repeat([]byte("x"), 3*pageSize)))
	f, err := os.OpenFile(d.path("a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("ab"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(3 * pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d.powerCut()
	want := make([]byte, 3*pageSize)
	copy(want, "ab")
	d.want("a", ptr(string(want)))
}

func TestFallocateVolatile(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "abc")
	f, err := os.OpenFile(d.path("a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, 2*pageSize); err != nil {
		t.Fatal(err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 2*pageSize {
		t.Fatalf("after fallocate: %v, %v; want %d bytes", fi, err, 2*pageSize)
	}
	f.Close()
	d.powerCut()
	d.want("a", ptr("abc"))
}

// After the cut every operation fails, so no program can believe that
// something written then reached the disk.
func TestEIOAfterCut(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "abc")
	f, err := os.OpenFile(d.path("a"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	d.fs.Cut()
	if _, err := f.WriteAt([]byte("x"), 0); !errors.Is(err, syscall.EIO) {
		t.Errorf("write after the cut: %v; want EIO", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Errorf("fsync after the cut: %v; want EIO", err)
	}
	if _, err := os.Create(d.path("new")); !errors.Is(err, syscall.EIO) {
		t.Errorf("create after the cut: %v; want EIO", err)
	}
	f.Close()
	if d.fs.Stats().EIO < 3 {
		t.Errorf("stats %+v; want at least 3 operations refused", d.fs.Stats())
	}
	d.powerCut()
	d.want("a", ptr("abc"))
}

// An unmount without a cut is a clean shutdown of the programs, not of the
// disk: what was not synced is not there after the next mount either.
func TestUnmountKeepsOnlyDurable(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "synced")
	d.write("b", "never", true)
	if err := d.fs.Unmount(); err != nil {
		t.Fatal(err)
	}
	d.mounted = false
	d.mount()
	d.want("a", ptr("synced"))
	d.want("b", nil)
}

// Durable state that no name reaches is deleted from the backing directory.
func TestOrphansCollected(t *testing.T) {
	d := newDisk(t)
	for _, n := range []string{"a", "b", "c"} {
		d.durable(n, n)
	}
	os.Remove(d.path("a"))
	os.Remove(d.path("b"))
	d.syncDir(".")
	d.write("orphan", "synced data, no name", true)
	d.powerCut()
	des, err := os.ReadDir(filepath.Join(d.backing, dataDirName))
	if err != nil {
		t.Fatal(err)
	}
	if len(des) != 1 {
		t.Errorf("%d data files in the backing directory; want 1 (c's)", len(des))
	}
	d.want("c", ptr("c"))
}

// A test that fails with a file open on the mount must still end: Unmount
// detaches the busy mount.
func TestUnmountBusyDetaches(t *testing.T) {
	d := newDisk(t)
	d.durable("a", "abc")
	f, err := os.Open(d.path("a"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := d.fs.Unmount(); err == nil {
		t.Fatal("Unmount with a file open = nil; want EBUSY")
	}
	d.mounted = false
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(mounts, []byte(" "+d.dir+" ")) {
		t.Errorf("%s still mounted after Unmount", d.dir)
	}
	// The open file is still served.
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "abc" {
		t.Errorf("read after the detach: %q, %v", buf, err)
	}
}

// exitEnv makes the test binary TestExitHelperProcess.
const exitEnv = "POWERFS_EXIT_DIR"

// TestExitHelperProcess is not a test: started by TestExitWithFileOpen, it
// mounts a powerfs, opens a file on it and exits without closing it.
func TestExitHelperProcess(t *testing.T) {
	dir := os.Getenv(exitEnv)
	if dir == "" {
		t.Skip("helper process of TestExitWithFileOpen")
	}
	mnt := filepath.Join(dir, "mnt")
	if _, err := Mount(mnt, filepath.Join(dir, "backing")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(mnt, "open"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("unsynced")
	os.Exit(0) // with f open, and the file system mounted by this process
}

// A process that exits (or panics, or is killed by the test timeout) with a
// file open on its own powerfs exits: closing its files at exit must not
// wait for the server it no longer runs.
func TestExitWithFileOpen(t *testing.T) {
	if err := Available(); err != nil {
		t.Skipf("power-cut tests need FUSE as root: %v", err)
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExitHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), exitEnv+"="+dir)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	// Generous: the exit takes milliseconds; a hang takes forever.
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the helper did not exit within a minute with a file open on its own mount\n%s", out)
	}
}
