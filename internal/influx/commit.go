package influx

import (
	"context"
	"sync"
	"sync/atomic"

	"fibremon"
)

// Group writes. Writing to InfluxDB costs it less per point in larger
// requests (on InfluxDB 1.8 with 500 points a request, some 16 to 22 µs of
// its CPU a point; with 2,000, 14). Probes post small batches, and many
// at once, so the store writes the batches that wait together: up to
// committers requests in flight, each carrying every batch queued when it
// starts, up to maxGroupPoints points. An idle store writes a batch at
// once, alone. Each WriteResults call still returns only after the
// request holding its batch was answered.

// Bounds of the group writes.
const (
	// committers is how many write requests a store has in flight at
	// most (InfluxDB handles concurrent writes on several cores).
	committers = 4
	// maxGroupPoints bounds the points of one request (InfluxDB's own
	// advice: 5,000 to 10,000).
	maxGroupPoints = 10000
	// maxGroupBytes bounds the bytes of one request.
	maxGroupBytes = 16 << 20
)

// States of a writeReq.
const (
	reqQueued    int32 = iota
	reqTaken           // in a request: the caller waits for its answer
	reqAbandoned       // the caller gave up before it was taken
)

// writeReq is one batch waiting for a committer.
type writeReq struct {
	lines []byte // the batch in line protocol
	n     int    // its points
	state atomic.Int32
	done  chan error // buffered: the committer never blocks on it
}

// group hands batches to the committers.
type group struct {
	reqs     chan *writeReq
	closing  chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// start starts the committers, which write with write.
func (g *group) start(write func(ctx context.Context, lines string) error) {
	g.reqs = make(chan *writeReq)
	g.closing = make(chan struct{})
	for range committers {
		g.wg.Go(func() { g.commitLoop(write) })
	}
}

// stop stops the committers after the requests in flight; a batch handed
// over later is answered with a Transient error. It may be called more
// than once.
func (g *group) stop() {
	g.stopOnce.Do(func() { close(g.closing) })
	g.wg.Wait()
}

// write hands lines (n points) to a committer and waits for the answer
// of the request that holds them. If ctx ends before a committer took
// them, nothing is written and a Transient error is returned; once
// taken, the call waits for the answer.
func (g *group) write(ctx context.Context, lines []byte, n int) error {
	req := &writeReq{lines: lines, n: n, done: make(chan error, 1)}
	select {
	case g.reqs <- req:
	case <-ctx.Done():
		return fibremon.Errorf(fibremon.Transient, "influx write: %w", ctx.Err())
	case <-g.closing:
		return fibremon.Errorf(fibremon.Transient, "influx write: store closed")
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fibremon.Errorf(fibremon.Transient, "influx write: %w", ctx.Err())
		}
	}
	return <-req.done
}

// commitLoop takes a batch, and every other batch waiting then (within
// the bounds), writes them in one request and answers each. A request
// InfluxDB refuses (4xx: a bad point, which a partial write names) is
// written again batch by batch, so that only the batch at fault gets the
// error.
//
// Liveness: started by group.start, it returns when stop is called,
// after the request it has in flight.
func (g *group) commitLoop(write func(ctx context.Context, lines string) error) {
	var taken []*writeReq
	var buf []byte
	for {
		taken, buf = taken[:0], buf[:0]
		select {
		case req := <-g.reqs:
			if req.state.CompareAndSwap(reqQueued, reqTaken) {
				taken = append(taken, req)
			}
		case <-g.closing:
			return
		}
		n, size := 0, 0
		if len(taken) > 0 {
			n, size = taken[0].n, len(taken[0].lines)
		}
	more:
		for n < maxGroupPoints && size < maxGroupBytes {
			select {
			case req := <-g.reqs:
				if req.state.CompareAndSwap(reqQueued, reqTaken) {
					taken = append(taken, req)
					n, size = n+req.n, size+len(req.lines)
				}
			default:
				break more
			}
		}
		if len(taken) == 0 {
			continue
		}
		for _, req := range taken {
			buf = append(buf, req.lines...)
		}
		// The request outlives any one caller: it has the store's timeout
		// (the client's), not a caller's context.
		err := write(context.Background(), string(buf))
		if err != nil && len(taken) > 1 && fibremon.KindOf(err) == fibremon.Internal {
			for _, req := range taken {
				req.done <- write(context.Background(), string(req.lines))
			}
			continue
		}
		for _, req := range taken {
			req.done <- err
		}
	}
}
