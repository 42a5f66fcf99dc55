//go:build linux

package faults

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon/internal/fibrehttp"
)

// spoolFS is the size of the tmpfs the probe spools to. Each result is a
// file of its own, one 4 KiB page on tmpfs; the disk is filled to leave
// freePages pages, and emptied again for the recovery.
const (
	spoolFS   = 2 << 20
	freePages = 16
)

// TestSpoolDiskFull puts the probe's spool on a small tmpfs, takes the
// service away and fills the disk until the spool's writes fail with
// ENOSPC. The probe keeps measuring, drops its oldest results to make room,
// counts and logs the drops, and writes every new result. When the disk
// has room again and the service is back, it uploads what remains and the
// spool drains: every result it made is stored once, except exactly those
// it counted as dropped — which are the oldest.
func TestSpoolDiskFull(t *testing.T) {
	long(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs for the spool needs root (CI runs the tests as root)")
	}
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	spoolDir := mountTmpfs(t, spoolFS)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	p := newProbe(t, svc, token, newTargets(t), probeOptions{spoolDir: spoolDir})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 10 })

	svc.kill()
	first := p.waitAccount("a failed upload", startTimeout, func(a account) bool { return a.failed >= 1 })
	cutoff := time.Now() // results made from here on are not uploaded before the recovery
	filler := fill(t, filepath.Join(spoolDir, "filler"), freePages)

	// The spool fills the pages left, then drops its oldest files to
	// write new ones: the probe keeps measuring and spooling.
	full := p.waitAccount("the spool to drop results", 2*time.Minute, func(a account) bool { return a.dropped >= 1 })
	oldest1 := metrics(t, p.metricsURL).sum("fibreprobe_spool_oldest_timestamp_seconds")
	later := p.waitAccount("more results made and dropped on the full disk", 2*time.Minute, func(a account) bool {
		return a.produced >= full.produced+40 && a.dropped >= full.dropped+30
	})
	m := metrics(t, p.metricsURL)
	oldest2 := m.sum("fibreprobe_spool_oldest_timestamp_seconds")
	switch {
	case later.writeErrors != 0:
		t.Fatalf("%d results were not spooled; the spool should have made room for each", later.writeErrors)
	case later.uploaded != first.uploaded:
		t.Fatalf("results acknowledged with the service down: %d then %d", first.uploaded, later.uploaded)
	case later.spooled > first.spooled+freePages+8:
		t.Fatalf("%d results spooled on a disk with room for about %d", later.spooled, first.spooled+freePages)
	case !(oldest2 > oldest1):
		t.Fatalf("the spool's oldest file went from %v to %v; dropping the oldest moves it forward", oldest1, oldest2)
	}
	if !strings.Contains(p.log(), `msg="spool full: oldest results dropped unsent"`) {
		t.Errorf("the probe's log does not mention the drops")
	}
	t.Logf("disk full: %d results made meanwhile, %d dropped, %d spooled", later.produced-first.produced, later.dropped, later.spooled)

	// Recovery: room on the disk again, and the service back.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	svc.start()
	p.waitAccount("the spool to drain after the recovery", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > later.uploaded
	})
	acct, stored := settle(t, p, svc, since, 0)
	checkOwn(t, stored)
	if acct.writeErrors != 0 {
		t.Errorf("%d results were not spooled", acct.writeErrors)
	}
	if acct.dropped != later.dropped {
		t.Errorf("%d results dropped by the end; %d on the full disk, and none should be once it had room", acct.dropped, later.dropped)
	}
	// The oldest were dropped: no result made after the uploads stopped
	// and spooled before the oldest file still queued at the end of the
	// full-disk phase is stored. (A result is spooled within its 2 s
	// timeout of its start.)
	gapEnd := time.Unix(0, int64(oldest2*1e9)).Add(-3 * time.Second)
	inGap := 0
	for _, r := range stored {
		if r.Start.After(cutoff) && r.Start.Before(gapEnd) {
			inGap++
		}
	}
	if inGap != 0 {
		t.Errorf("%d stored results started between %v and %v, when every spooled result was dropped", inGap,
			cutoff.Format(time.RFC3339Nano), gapEnd.Format(time.RFC3339Nano))
	}
	dups := int(metrics(t, svc.base+fibrehttp.PathMetrics).sum("fibremon_ingest_results_total", `outcome="duplicate"`))
	t.Logf("fault 5 (disk full on the spool): made %d, stored %d, dropped %d (oldest first, %v of results gone), "+
		"not spooled %d, duplicates %d", acct.produced, len(stored), acct.dropped, gapEnd.Sub(cutoff).Round(time.Second),
		acct.writeErrors, dups)
}

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts
// it when the test ends (after the probe's cleanup, registered later).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)+",mode=0700"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Busy only if a process still has it open; detach it so
			// that the temporary directory can go.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// fill writes path until the file system is full, then frees pages 4 KiB
// pages of it again. It returns path.
func fill(t *testing.T, path string, pages int) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(n - int64(pages)*4096); err != nil {
		t.Fatal(err)
	}
	return path
}
