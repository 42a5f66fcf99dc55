package faults

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

// TestServiceKilledDuringUploads posts batches from many goroutines at
// once, kills the service with SIGKILL in the middle and starts it again
// on the same database. Each uploader behaves like a probe: it records a
// batch as acknowledged only after a 2xx and retries a batch until it gets
// one. Every result acknowledged before the kill is stored after the
// restart, and in the end the store holds exactly the results posted, each
// once.
func TestServiceKilledDuringUploads(t *testing.T) {
	long(t)
	t.Parallel()
	const (
		uploaders  = 8
		batchSize  = 25
		beforeKill = 1500 // results acknowledged before the kill
		afterStart = 1000 // and after the restart
	)
	since := time.Now().Add(-time.Minute)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	client := &wire.Client{BaseURL: svc.base, Token: token, HTTPClient: &http.Client{Timeout: 10 * time.Second}}

	var (
		mu       sync.Mutex
		posted   = map[string]bool{}
		acked    = map[string]bool{}
		failures int // POSTs that got no 2xx
	)
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(acked), failures
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range uploaders {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				batch := make([]fibremon.Result, batchSize)
				for i := range batch {
					kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindTCP, fibremon.KindLatency}[i%3]
					batch[i] = storetest.Result(siteID, kind, time.Now(), i%5 != 0)
				}
				mu.Lock()
				for _, r := range batch {
					posted[r.ID] = true
				}
				mu.Unlock()
				for { // until acknowledged: a batch is never given up
					_, err := client.PostResults(ctx, batch)
					if err == nil {
						break
					}
					if wire.Permanent(err) {
						t.Errorf("batch refused: %v", err)
						return
					}
					mu.Lock()
					failures++
					mu.Unlock()
					if ctx.Err() != nil {
						return
					}
					time.Sleep(time.Duration(50+rand.IntN(100)) * time.Millisecond)
				}
				mu.Lock()
				for _, r := range batch {
					acked[r.ID] = true
				}
				mu.Unlock()
			}
		})
	}
	defer func() { // on a failure below, stop the uploaders before returning
		select {
		case <-stop:
		default:
			close(stop)
			cancel()
			wg.Wait()
		}
	}()

	waitFor(t, "acknowledged results before the kill", func() bool { n, _ := count(); return n >= beforeKill })
	svc.kill()
	mu.Lock()
	ackedBeforeKill := make(map[string]bool, len(acked))
	for id := range acked {
		ackedBeforeKill[id] = true
	}
	failedBefore := failures
	mu.Unlock()
	// Every uploader is now failing; start the service again.
	waitFor(t, "the uploaders to fail against the killed service", func() bool {
		_, f := count()
		return f >= failedBefore+uploaders
	})
	svc.start()
	waitFor(t, "acknowledged results after the restart", func() bool {
		n, _ := count()
		return n >= len(ackedBeforeKill)+afterStart
	})
	close(stop)
	wg.Wait()

	stored := ids(svc.results(since))
	lost := 0
	for id := range ackedBeforeKill {
		if !stored[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of the %d results acknowledged before the kill are not stored after the restart", lost, len(ackedBeforeKill))
	}
	// Every batch was retried until acknowledged, so posted = acked = stored.
	if len(acked) != len(posted) {
		t.Fatalf("%d results posted, %d acknowledged; every batch should have been retried to a 2xx", len(posted), len(acked))
	}
	for id := range stored {
		if !posted[id] {
			t.Errorf("stored result %s was never posted", id)
		}
	}
	if len(stored) != len(acked) {
		t.Errorf("%d results stored; want the %d acknowledged", len(stored), len(acked))
	}
	m := metrics(t, svc.base+fibrehttp.PathMetrics)
	dups := int(m.sum("fibremon_ingest_results_total", `outcome="duplicate"`))
	t.Logf("fault 2 (SIGKILL during %d concurrent uploaders): %d acknowledged before the kill, %d in all, "+
		"%d stored, %d failed POSTs, %d results committed before the kill but acknowledged only on retry (duplicates)",
		uploaders, len(ackedBeforeKill), len(acked), len(stored), failures, dups)
}

// waitFor polls cond every 50 ms, failing the test after startTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s", startTimeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
