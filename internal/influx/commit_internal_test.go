package influx

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
)

// TestGroupWrites: batches waiting while the committers are busy go out
// together, each caller gets the answer of the request that held its
// batch, and a request refused as such (a bad point) is written again
// batch by batch so that only the bad batch gets the error.
func TestGroupWrites(t *testing.T) {
	var mu sync.Mutex
	var requests []string
	var gate chan struct{}
	var g group
	g.start(func(_ context.Context, lines string) error {
		mu.Lock()
		wait := gate
		mu.Unlock()
		<-wait
		mu.Lock()
		requests = append(requests, lines)
		mu.Unlock()
		if strings.Contains(lines, "bad") {
			return fibremon.Errorf(fibremon.Internal, "partial write: bad point")
		}
		return nil
	})
	defer g.stop()
	const batches = 40
	// run posts the batches at once, the committers held until all wait,
	// and returns each call's error and every request's lines.
	run := func(bad int) ([]error, []string) {
		mu.Lock()
		gate, requests = make(chan struct{}), nil
		mu.Unlock()
		errs := make([]error, batches)
		var wg sync.WaitGroup
		for i := range batches {
			line := fmt.Sprintf("m,b=%d v=1 %d\n", i, i)
			if i == bad {
				line = "bad\n"
			}
			wg.Go(func() { errs[i] = g.write(context.Background(), []byte(line), 1) })
		}
		time.Sleep(100 * time.Millisecond) // let them queue behind the gate
		mu.Lock()
		close(gate)
		mu.Unlock()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return errs, requests
	}

	errs, reqs := run(-1)
	for i, err := range errs {
		if err != nil {
			t.Errorf("batch %d: %v", i, err)
		}
	}
	written := map[string]int{}
	for _, r := range reqs {
		for _, line := range strings.SplitAfter(r, "\n") {
			if line != "" {
				written[line]++
			}
		}
	}
	for i := range batches {
		if n := written[fmt.Sprintf("m,b=%d v=1 %d\n", i, i)]; n != 1 {
			t.Errorf("batch %d written %d times; want once", i, n)
		}
	}
	if len(reqs) > batches/2 {
		t.Errorf("%d requests for %d waiting batches; want them grouped", len(reqs), batches)
	}
	t.Logf("%d batches in %d requests", batches, len(reqs))

	errs, _ = run(17)
	for i, err := range errs {
		if (err != nil) != (i == 17) {
			t.Errorf("with a bad batch: batch %d: %v; want an error for batch 17 only", i, err)
		}
	}

	// After stop, nothing is taken.
	g.stop()
	if err := g.write(context.Background(), []byte("late\n"), 1); fibremon.KindOf(err) != fibremon.Transient {
		t.Errorf("write after stop: %v; want Transient", err)
	}
}
