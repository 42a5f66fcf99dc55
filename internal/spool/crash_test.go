package spool

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"fibremon"
)

// crashDirEnv tells the test binary to act as the child of TestCrashSafety.
const crashDirEnv = "FIBREMON_SPOOL_CRASH_DIR"

// TestCrashHelperProcess is not a test: re-executed by TestCrashSafety with
// crashDirEnv set, it Puts batches into that spool until it is killed, and
// after each successful Put prints "ok id1,id2,...\n" in one write to stdout.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashSafety")
	}
	q, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		rs := makeResults(t, 1+rand.IntN(30), fmt.Sprintf("crash-%d", i))
		if err := q.Put(rs); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		ids := make([]string, len(rs))
		for j := range rs {
			ids[j] = rs[j].ID
		}
		// os.Stdout is unbuffered: one line, one write(2), well under
		// PIPE_BUF, so the parent never sees half a line.
		if _, err := os.Stdout.WriteString("ok " + strings.Join(ids, ",") + "\n"); err != nil {
			os.Exit(4)
		}
	}
}

// TestCrashSafety kills a child process with SIGKILL at a random moment while
// it Puts batches in a loop, then reopens the spool: every batch whose Put
// returned nil must be there, complete and decodable, and no temp file may
// survive Open. SIGKILL leaves the page cache intact, so this tests the
// atomicity of temp file + rename and Open's cleanup, not fsync (power loss).
func TestCrashSafety(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the helper process")
	}
	const runs = 6
	strayTmp := 0
	for run := range runs {
		t.Run(fmt.Sprint(run), func(t *testing.T) {
			dir := t.TempDir()
			// A random delay after the child's first Put, so the kill
			// lands anywhere in the write/fsync/rename/print cycle.
			delay := time.Duration(rand.IntN(200)) * time.Millisecond
			acked, hadTmp := crashChild(t, dir, delay)
			if hadTmp {
				strayTmp++
			}

			q := mustOpen(t, dir, Options{})
			if tmps := namesIn(t, dir, tmpSuffix); len(tmps) != 0 {
				t.Errorf("temp files after Open: %v", tmps)
			}
			b := mustPeek(t, q, int(^uint(0)>>1))
			if st := q.Len(); st.Dead != 0 || st.Dropped != 0 {
				t.Errorf("Len() after the crash = %+v; want nothing dead or dropped", st)
			}
			found := make(map[string]fibremon.Result, len(b.Results))
			for _, r := range b.Results {
				found[r.ID] = r
				if err := r.Validate(testNow); err != nil {
					t.Errorf("result %s came back invalid: %v", r.ID, err)
				}
			}
			missing := 0
			for _, batch := range acked {
				for _, id := range batch {
					if _, ok := found[id]; !ok {
						missing++
					}
				}
			}
			if missing > 0 {
				t.Errorf("%d results of successful Puts are missing after the crash", missing)
			}
			// At most one batch more than reported: Put returned, the
			// child died before printing.
			if extra := b.Files() - len(acked); extra < 0 || extra > 1 {
				t.Errorf("%d files after the crash for %d reported Puts; want %[2]d or one more", b.Files(), len(acked))
			}
			t.Logf("killed after %v: %d Puts reported, %d files found, temp file at kill: %v",
				delay, len(acked), b.Files(), hadTmp)
		})
	}
	t.Logf("%d of %d kills left a temp file behind for Open to remove", strayTmp, runs)
}

// crashChild runs the helper process on dir, kills it delay after its first
// successful Put and returns the result IDs of every Put it reported, and
// whether a temp file was left in dir.
func crashChild(t *testing.T, dir string, delay time.Duration) (acked [][]string, hadTmp bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() { // Liveness: ends at EOF, when the child is dead.
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	record := func(line string) {
		if ids, ok := strings.CutPrefix(line, "ok "); ok {
			acked = append(acked, strings.Split(ids, ","))
		}
	}
	select {
	case line, ok := <-lines:
		if !ok {
			cmd.Wait()
			t.Fatal("helper process exited before its first Put")
		}
		record(line)
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("helper process made no Put within 30s")
	}
	timer := time.After(delay)
	for killed := false; !killed; {
		select {
		case line := <-lines:
			record(line)
		case <-timer:
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Everything the child wrote before dying is still in the pipe, in
	// whole lines (see TestCrashHelperProcess).
	for line := range lines {
		record(line)
	}
	cmd.Wait()
	return acked, len(namesIn(t, dir, tmpSuffix)) > 0
}
