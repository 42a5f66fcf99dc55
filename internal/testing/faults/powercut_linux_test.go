//go:build linux

package faults

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/spool"
	"fibremon/internal/sqlite"
	"fibremon/internal/testing/powerfs"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

// Shape of TestPowerCut. The run takes 30 to 50 s on a loaded two-core
// machine, most of it starting the service and checking the store after
// each cut; nothing asserts how long anything takes.
const (
	powerCuts       = 15
	powerPosters    = 4                      // goroutines posting batches to the service
	startupCutShare = 4                      // one cut in this many falls while the service starts
	maxStartupCut   = 600 * time.Millisecond // such a cut comes within this of the start
	maxLoadCut      = 1500 * time.Millisecond
	powerSeedEnv    = "FIBREMON_POWERCUT_SEED"
)

// TestPowerCut runs the real service with its SQLite file, and a spool
// writer process with its spool, on a powerfs file system, which keeps
// what is not fsynced in memory, and cuts the power at random moments
// under load: the service answering posts from several goroutines and the
// spool writer's uploads, while the writer puts batches into its spool.
// After each cut the file system is mounted again from what was durable
// and the test checks, against everything acknowledged since the start:
//
//   - every result the service acknowledged (a 2xx to a poster or to the
//     spool writer) is stored, equal to what was posted, the database
//     passes integrity_check, and each posted batch is stored whole or not
//     at all;
//   - every result whose spool Put returned nil is still in the spool or
//     stored, equal to what was put, every spool file decodes (none is set
//     aside as undecodable: that would be a loss) and no temporary file
//     survives the spool's Open.
//
// Then the service and the writer start again on what survived, and the
// next cut comes. The seed of the cut moments is logged; set
// FIBREMON_POWERCUT_SEED to repeat them (the processes' timing still
// varies).
func TestPowerCut(t *testing.T) {
	long(t)
	if err := powerfs.Available(); err != nil {
		t.Skipf("the power-cut test needs FUSE and root: %v", err)
	}
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(powerSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", powerSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (%s=%[1]d repeats the cut moments)", seed, powerSeedEnv)
	rng := rand.New(rand.NewPCG(seed, 0))

	disk := newPowerDisk(t)
	// The operator made the database's directory, durably; the spool
	// makes its own (and its parent) on the first start.
	dbDir := filepath.Join(disk.dir, "db")
	if err := os.Mkdir(dbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syncPath(disk.dir); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dbDir, "fibremon.db")
	spoolDir := filepath.Join(disk.dir, "probe", "spool")
	// No rate limit: the posters post as fast as the service answers.
	svc, token := newService(t, serviceOptions{dbPath: dbPath, args: []string{"--web.rate-limit", "0"}})
	client := &wire.Client{BaseURL: svc.base, Token: token, HTTPClient: &http.Client{Timeout: 5 * time.Second}}

	led := newLedger()
	posters := make([]*poster, powerPosters)
	for i := range posters {
		posters[i] = &poster{rng: rand.New(rand.NewPCG(seed, uint64(i+1))), client: client, led: led}
	}
	var (
		startupCuts int
		lost        powerfs.Loss
		stats       powerfs.Stats
		checked     checkCounts
	)
	start := time.Now()
	for cut := range powerCuts {
		svc.proc.start()
		w := startSpoolWriter(t, spoolDir, svc.base, token, rng.Uint64(), led)
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for _, p := range posters {
			wg.Go(func() { p.run(ctx) })
		}
		var when string
		if rng.IntN(startupCutShare) == 0 {
			d := time.Duration(rng.Int64N(int64(maxStartupCut)))
			time.Sleep(d)
			when = fmt.Sprintf("%v after the service's start", d.Round(time.Millisecond))
			startupCuts++
		} else {
			svc.waitHTTP(svc.base+fibrehttp.PathReadyz, http.StatusOK)
			d := time.Duration(rng.Int64N(int64(maxLoadCut)))
			time.Sleep(d)
			when = fmt.Sprintf("%v after the service was ready", d.Round(time.Millisecond))
		}
		l := disk.fs.Cut()
		lost.Files, lost.Bytes, lost.Dirs = lost.Files+l.Files, lost.Bytes+l.Bytes, lost.Dirs+l.Dirs
		// The machine is off: nothing runs on.
		stop()
		wg.Wait()
		if svc.running() {
			svc.kill()
		}
		w.kill()
		s := disk.fs.Stats()
		stats.Fsyncs, stats.DirFsyncs = stats.Fsyncs+s.Fsyncs, stats.DirFsyncs+s.DirFsyncs
		disk.remount()

		c := led.check(t, dbPath, spoolDir)
		checked = c
		t.Logf("cut %d, %s: discarded %d unsynced files (%d KiB) and %d directories' unsynced entries; "+
			"checked %d results acknowledged by the service and %d put into the spool since the start "+
			"against %d stored and %d spooled (%d of those stored too, %d put unreported)", cut+1, when,
			l.Files, l.Bytes>>10, l.Dirs, c.serviceAcked, c.putAcked, c.stored, c.spooled, c.spooledAndStored,
			c.spooledUnreported)
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("power cut: %d cuts (%d while the service started, %d under load) in %v; discarded %d unsynced files "+
		"(%d KiB) and %d directories' unsynced entries in all; %d file and %d directory fsyncs made it to the disk; "+
		"every one of %d results acknowledged by the service and %d put into the spool survived, none torn; "+
		"%d results were committed before a cut that took their answer (acknowledged on a retry as duplicates), "+
		"%d committed and never acknowledged",
		powerCuts, startupCuts, powerCuts-startupCuts, time.Since(start).Round(time.Second), lost.Files, lost.Bytes>>10,
		lost.Dirs, stats.Fsyncs, stats.DirFsyncs, checked.serviceAcked, checked.putAcked, led.duplicates,
		checked.storedUnacked)
}

// powerDisk is the powerfs the test's files live on.
type powerDisk struct {
	t            *testing.T
	dir, backing string
	fs           *powerfs.FS
}

// newPowerDisk mounts a new powerfs; it is cut and unmounted when the test
// ends, after the processes using it are killed (their cleanups are
// registered later, so they run first).
func newPowerDisk(t *testing.T) *powerDisk {
	t.Helper()
	tmp := t.TempDir()
	d := &powerDisk{t: t, dir: filepath.Join(tmp, "mnt"), backing: filepath.Join(tmp, "disk")}
	if err := os.Mkdir(d.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	d.mount()
	t.Cleanup(func() {
		if d.fs != nil {
			d.fs.Cut()
			if err := d.fs.Unmount(); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
	return d
}

func (d *powerDisk) mount() {
	d.t.Helper()
	f, err := powerfs.Mount(d.dir, d.backing)
	if err != nil {
		d.t.Fatal(err)
	}
	d.fs = f
}

// remount unmounts the cut file system and mounts what was durable.
func (d *powerDisk) remount() {
	d.t.Helper()
	err := d.fs.Unmount()
	d.fs = nil
	if err != nil {
		d.t.Fatal(err)
	}
	d.mount()
}

// syncPath fsyncs a file or directory.
func syncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ledger is what was acknowledged, by whom, since the test began.
type ledger struct {
	mu           sync.Mutex
	results      map[string]fibremon.Result // every result posted or put, by ID
	batches      [][]string                 // every batch posted, acknowledged or not
	serviceAcked map[string]bool            // a 2xx answered a POST holding it
	putAcked     map[string]bool            // a spool Put holding it returned nil
	refusals     []string                   // batches the service refused (4xx)
	duplicates   int                        // results acknowledged as stored before
}

func newLedger() *ledger {
	return &ledger{results: map[string]fibremon.Result{}, serviceAcked: map[string]bool{}, putAcked: map[string]bool{}}
}

// poster posts batches to the service like a probe: it records a batch as
// acknowledged only after a 2xx, and retries a batch until it gets one, in
// this power cycle or the next.
type poster struct {
	rng     *rand.Rand
	client  *wire.Client
	led     *ledger
	pending []fibremon.Result // the batch not yet acknowledged
}

func (p *poster) run(ctx context.Context) {
	for ctx.Err() == nil {
		if p.pending == nil {
			p.pending = make([]fibremon.Result, 1+p.rng.IntN(20))
			for i := range p.pending {
				kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindTCP, fibremon.KindLatency}[p.rng.IntN(3)]
				p.pending[i] = storetest.Result(siteID, kind, time.Now(), p.rng.IntN(5) != 0)
			}
			p.led.posted(p.pending)
		}
		resp, err := p.client.PostResults(ctx, p.pending)
		if wire.Permanent(err) {
			p.led.refused(err)
			p.pending = nil
			continue
		}
		if err != nil {
			select { // the service is starting, or the power is off
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		p.led.acked(p.pending, resp.Duplicates)
		p.pending = nil
	}
}

func (l *ledger) posted(rs []fibremon.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(rs))
	for i, r := range rs {
		l.results[r.ID] = r
		ids[i] = r.ID
	}
	l.batches = append(l.batches, ids)
}

// refused records a batch the service refused for good: the test's
// results are valid, so that is a failure.
func (l *ledger) refused(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refusals = append(l.refusals, err.Error())
}

// acked records a batch the service acknowledged; dups of its results
// were stored before, by an attempt whose answer was lost.
func (l *ledger) acked(rs []fibremon.Result, dups int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.duplicates += dups
	for _, r := range rs {
		l.serviceAcked[r.ID] = true
	}
}

// spoolWriter is TestSpoolWriterProcess running on the test's spool.
type spoolWriter struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan struct{} // closed when its output is read to the end
	log  string
}

// spoolWriterConfig is the spool writer's configuration, passed as JSON
// in spoolWriterEnv.
type spoolWriterConfig struct {
	Dir, URL, Token string
	Seed            uint64
}

// startSpoolWriter starts a spool writer and records what it reports in
// led as it comes.
func startSpoolWriter(t *testing.T, dir, url, token string, seed uint64, led *ledger) *spoolWriter {
	t.Helper()
	cfg, err := json.Marshal(spoolWriterConfig{Dir: dir, URL: url, Token: token, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	w := &spoolWriter{t: t, done: make(chan struct{}), log: filepath.Join(t.TempDir(), "spool-writer.log")}
	logf, err := os.Create(w.log)
	if err != nil {
		t.Fatal(err)
	}
	w.cmd = exec.Command(os.Args[0], "-test.run=^TestSpoolWriterProcess$", "-test.count=1")
	w.cmd.Env = append(os.Environ(), spoolWriterEnv+"="+string(cfg))
	w.cmd.Stderr = logf
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logf.Close()
	go func() { // Liveness: ends at EOF, when the writer is dead.
		defer close(w.done)
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // a last line without its newline was cut short: not reported
			}
			led.report(t, line)
		}
	}()
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			w.kill()
		}
	})
	return w
}

// kill kills the writer with SIGKILL and waits until its output is read.
func (w *spoolWriter) kill() {
	w.cmd.Process.Kill() //nolint:errcheck // it may have died already
	<-w.done
	w.cmd.Wait() //nolint:errcheck // killed: the status says so
	if w.t.Failed() {
		b, _ := os.ReadFile(w.log)
		w.t.Logf("log of the spool writer:\n%s", b)
	}
}

// report records one line of the spool writer's output: "put <results>"
// after a Put returned nil, "sent <ids>" after the service answered an
// upload with a 2xx.
func (l *ledger) report(t *testing.T, line string) {
	verb, arg, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
	l.mu.Lock()
	defer l.mu.Unlock()
	switch verb {
	case "put":
		var rs []fibremon.Result
		if err := json.Unmarshal([]byte(arg), &rs); err != nil {
			t.Errorf("spool writer: %q: %v", line, err)
			return
		}
		for _, r := range rs {
			l.results[r.ID] = r
			l.putAcked[r.ID] = true
		}
	case "sent":
		var ids []string
		if err := json.Unmarshal([]byte(arg), &ids); err != nil {
			t.Errorf("spool writer: %q: %v", line, err)
			return
		}
		for _, id := range ids {
			l.serviceAcked[id] = true
		}
	default:
		t.Errorf("spool writer: unexpected output %q", line)
	}
}

// TestSpoolWriterProcess is not a test: started by TestPowerCut with
// spoolWriterEnv set, it puts batches of one to five results into a spool
// as fast as it can, printing "put <results as JSON>\n" after each Put
// that returned nil, and uploads them to the service as the probe agent
// does (Peek, POST, Ack on a 2xx, Reject on a 4xx), printing "sent <IDs as JSON>\n" after
// each 2xx, until it is killed. Errors (after a power cut, every file
// operation fails) are retried, so that the kill is what ends it.
func TestSpoolWriterProcess(t *testing.T) {
	env := os.Getenv(spoolWriterEnv)
	if env == "" {
		t.Skip("helper process of TestPowerCut")
	}
	var cfg spoolWriterConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "spool writer:", err)
		os.Exit(2)
	}
	q, err := spool.Open(cfg.Dir, spool.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "spool writer:", err)
		os.Exit(2)
	}
	var outMu sync.Mutex
	say := func(verb string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		outMu.Lock()
		defer outMu.Unlock()
		// os.Stdout is unbuffered: one line, one write(2), so the test
		// reads whole lines or, if the kill cut one short, ignores it.
		os.Stdout.Write(append([]byte(verb+" "+string(b)), '\n')) //nolint:errcheck // the reader is the test
	}
	client := &wire.Client{BaseURL: cfg.URL, Token: cfg.Token, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	go func() { // Liveness: runs until the process is killed.
		for {
			b, err := q.Peek(50)
			if err != nil || len(b.Results) == 0 {
				if err != nil {
					fmt.Fprintln(os.Stderr, "spool writer: peek:", err)
				}
				time.Sleep(20 * time.Millisecond)
				continue
			}
			_, err = client.PostResults(context.Background(), b.Results)
			switch {
			case wire.Permanent(err): // as the agent does; the test fails on files in dead/
				fmt.Fprintln(os.Stderr, "spool writer: refused:", err)
				q.Reject(b, err.Error()) //nolint:errcheck // the test looks in dead/
				continue
			case err != nil:
				q.Release(b)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			ids := make([]string, len(b.Results))
			for i, r := range b.Results {
				ids[i] = r.ID
			}
			say("sent", ids)
			if err := q.Ack(b); err != nil {
				fmt.Fprintln(os.Stderr, "spool writer: ack:", err) // sent again, as duplicates
			}
		}
	}()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	for {
		rs := make([]fibremon.Result, 1+rng.IntN(5))
		for i := range rs {
			kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindTCP, fibremon.KindLatency}[rng.IntN(3)]
			rs[i] = storetest.Result(siteID, kind, time.Now(), rng.IntN(5) != 0)
		}
		if err := q.Put(rs); err != nil {
			fmt.Fprintln(os.Stderr, "spool writer: put:", err)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		say("put", rs)
		time.Sleep(2 * time.Millisecond)
	}
}

// checkCounts is what one check after a cut counted.
type checkCounts struct {
	serviceAcked, putAcked int // acknowledged since the start, all found
	stored, spooled        int
	spooledAndStored       int // acknowledged by the service, but the Ack did not survive
	spooledUnreported      int // put just before a kill that came before the writer said so
	storedUnacked          int // committed, but the cut took the 2xx (or the POST was given up)
}

// check opens the database and the spool on the remounted file system, as
// the service and the probe would, and checks them against everything
// acknowledged so far.
func (l *ledger) check(t *testing.T, dbPath, spoolDir string) checkCounts {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var c checkCounts
	if len(l.refusals) > 0 {
		t.Errorf("the service refused %d batches of valid results: %v", len(l.refusals), l.refusals)
	}

	rep := readStore(t, dbPath)
	if len(rep.Integrity) > 0 {
		t.Errorf("integrity_check of the database after the cut: %v", rep.Integrity)
	}
	if rep.Err != "" {
		t.Fatalf("the store after the cut: %s", rep.Err)
	}
	stored := make(map[string]fibremon.Result, len(rep.Results))
	for _, r := range rep.Results {
		stored[r.ID] = r
	}
	c.stored = len(stored)
	missing := 0
	for id := range l.serviceAcked {
		got, ok := stored[id]
		if !ok {
			missing++
			continue
		}
		if want, ok := l.results[id]; ok && !sameResult(got, want) {
			t.Errorf("stored result differs from the one posted:\n got %+v\nwant %+v", got, want)
		}
	}
	if missing > 0 {
		t.Errorf("%d of the %d results the service acknowledged are not stored after the cut", missing, len(l.serviceAcked))
	}
	c.serviceAcked = len(l.serviceAcked)
	for _, b := range l.batches {
		n := 0
		for _, id := range b {
			if _, ok := stored[id]; ok {
				n++
			}
		}
		if n != 0 && n != len(b) {
			t.Errorf("a posted batch is stored in part: %d of its %d results", n, len(b))
		}
	}
	for id, r := range stored {
		if !l.serviceAcked[id] {
			c.storedUnacked++
		}
		if want, ok := l.results[id]; !ok && !l.serviceAcked[id] {
			// Only the spool writer's unreported Puts are unknown, and
			// those are seen in the spool before they are uploaded (or
			// acknowledged by a "sent" line).
			t.Errorf("stored result %s was never posted nor put", id)
		} else if ok && !sameResult(r, want) {
			t.Errorf("stored result differs from the one posted:\n got %+v\nwant %+v", r, want)
		}
	}

	q, err := spool.Open(spoolDir, spool.Options{})
	if err != nil {
		t.Fatalf("the spool does not open after the cut: %v", err)
	}
	defer q.Close()
	b, err := q.Peek(1 << 30)
	if err != nil {
		t.Fatalf("spool peek after the cut: %v", err)
	}
	if st := q.Len(); st.Dead != 0 || st.Dropped != 0 {
		t.Errorf("spool after the cut: %+v; want no file undecodable (set aside in dead/) or dropped", st)
	}
	if dead, _ := os.ReadDir(filepath.Join(spoolDir, "dead")); len(dead) != 0 {
		t.Errorf("%d files in the spool's dead/ after the cut; want none", len(dead))
	}
	if tmps, _ := filepath.Glob(filepath.Join(spoolDir, "*.tmp")); len(tmps) != 0 {
		t.Errorf("temporary files in the spool after its Open: %v", tmps)
	}
	spooled := make(map[string]fibremon.Result, len(b.Results))
	for _, r := range b.Results {
		spooled[r.ID] = r
		want, ok := l.results[r.ID]
		switch {
		case !ok:
			// Put just before the kill, not reported: from now on it is
			// known, and must not be lost either.
			c.spooledUnreported++
			l.results[r.ID] = r
			l.putAcked[r.ID] = true
		case !sameResult(r, want):
			t.Errorf("spooled result differs from the one put:\n got %+v\nwant %+v", r, want)
		}
		if _, ok := stored[r.ID]; ok {
			c.spooledAndStored++
		}
	}
	c.spooled = len(spooled)
	lost := 0
	for id := range l.putAcked {
		_, inSpool := spooled[id]
		_, inStore := stored[id]
		if !inSpool && !inStore {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of the %d results put into the spool (Put returned nil) are neither spooled nor stored after the cut",
			lost, len(l.putAcked))
	}
	c.putAcked = len(l.putAcked)
	return c
}

// storeReport is what TestStoreCheckProcess found in the database.
type storeReport struct {
	Integrity []string          // integrity_check's complaints
	Results   []fibremon.Result // every stored result
	Err       string            // why the store did not open or read
}

// storeCheckConfig is TestStoreCheckProcess's configuration, passed as
// JSON in storeCheckEnv.
type storeCheckConfig struct{ DB, Out string }

// readStore runs TestStoreCheckProcess on the database at path and returns
// its report. The store is opened in a process of its own because SQLite
// maps its -shm file into memory: a page fault on it waits for the
// powerfs server, which in this process the Go runtime may have stopped
// for a garbage collection that waits for the faulting thread.
func readStore(t *testing.T, path string) storeReport {
	t.Helper()
	out := filepath.Join(t.TempDir(), "store.json")
	cfg, err := json.Marshal(storeCheckConfig{DB: path, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // reading takes a second or two
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestStoreCheckProcess$", "-test.count=1")
	// A test binary built with -race sleeps a second at exit unless told
	// not to.
	cmd.Env = append(os.Environ(), storeCheckEnv+"="+string(cfg), "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("store check process: %v\n%s", err, output)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep storeReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestStoreCheckProcess is not a test: started by readStore with
// storeCheckEnv set, it runs integrity_check on a database, opens it as
// the service does (sqlite.Open, which recovers the WAL), reads every
// result and writes a storeReport as JSON to a file.
func TestStoreCheckProcess(t *testing.T) {
	env := os.Getenv(storeCheckEnv)
	if env == "" {
		t.Skip("helper process of TestPowerCut")
	}
	var cfg storeCheckConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	rep := storeReport{Integrity: integrityCheck(ctx, cfg.DB)}
	store, err := sqlite.Open(ctx, cfg.DB)
	if err != nil {
		rep.Err = fmt.Sprintf("the store does not open: %v", err)
	} else {
		m, err := allResults(ctx, store)
		if cerr := store.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			rep.Err = fmt.Sprintf("reading the store: %v", err)
		}
		for _, r := range m {
			rep.Results = append(rep.Results, r)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.Out, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// integrityCheck runs PRAGMA integrity_check and returns its complaints.
func integrityCheck(ctx context.Context, path string) []string {
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return []string{err.Error()}
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return append(out, err.Error())
		}
		if s != "ok" {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		out = append(out, err.Error())
	}
	return out
}

// allResults reads every stored result of siteID, newest first, a page at
// a time.
func allResults(ctx context.Context, s *sqlite.Store) (map[string]fibremon.Result, error) {
	n, err := s.Count(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]fibremon.Result, n)
	until := time.Now().Add(time.Hour)
	for {
		page, err := s.Results(ctx, fibremon.Query{SiteID: siteID, Until: until, Limit: fibremon.DefaultQueryLimit})
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			out[r.ID] = r
		}
		if len(page) < fibremon.DefaultQueryLimit {
			break
		}
		// The next page starts with the oldest start seen, again: results
		// that share it may straddle the pages.
		next := page[len(page)-1].Start.Add(time.Nanosecond)
		if !next.Before(until) {
			return nil, errors.New("a whole page of results with one start time")
		}
		until = next
	}
	if len(out) != n {
		return nil, fmt.Errorf("read %d results; the store counts %d", len(out), n)
	}
	return out, nil
}

// sameResult reports whether a result read back equals the one sent.
func sameResult(got, want fibremon.Result) bool {
	if got.ID != want.ID || got.SiteID != want.SiteID || got.Probe != want.Probe || got.Kind != want.Kind ||
		got.Method != want.Method || got.Target != want.Target || !got.Start.Equal(want.Start) ||
		got.DurationSeconds != want.DurationSeconds || got.Up != want.Up || got.Error != want.Error ||
		len(got.Values) != len(want.Values) {
		return false
	}
	for k, v := range want.Values {
		if g, ok := got.Values[k]; !ok || g != v {
			return false
		}
	}
	return true
}
