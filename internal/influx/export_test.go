package influx

import (
	"context"
	"time"

	"fibremon"
)

// WriteDirect writes rs with the client in one blocking write, as
// WriteResults does, without counting duplicates: the baseline of the
// write benchmarks.
func (s *Store) WriteDirect(ctx context.Context, rs []fibremon.Result) error {
	var lines []byte
	for i := range rs {
		lines = appendPoint(lines, &rs[i], PointTime(rs[i].Start.UnixNano(), rs[i].ID))
	}
	return s.writer.WriteRecord(ctx, string(lines))
}

// SetLatestTimes shortens how far back Latest reads on most calls and how
// often it reads the whole history.
func (s *Store) SetLatestTimes(window, rescan time.Duration) {
	s.latest.mu.Lock()
	defer s.latest.mu.Unlock()
	s.latest.window, s.latest.rescan = window, rescan
}

// UsesInfluxQL reports whether Latest reads through InfluxQL.
func (s *Store) UsesInfluxQL() bool { return s.useQL }

// UseFlux makes Latest read through Flux, as against a server where
// /query does not answer.
func (s *Store) UseFlux() { s.useQL = false }
