package ndt7

import (
	"math"
	"time"
)

// Early stop: a test may end once its throughput has settled, which the
// specification allows ("some other criteria suggests that the measured
// speed would not change significantly").
const (
	// settleWindow is the length of each window whose throughput is
	// compared.
	settleWindow = time.Second
	// settleWindows consecutive windows must agree; the earliest stop is
	// thus settleWindows × settleWindow into the test.
	settleWindows = 3
	// settleTolerance is how far the throughput of a window may differ
	// from the window before it, relative to the larger of the two.
	settleTolerance = 0.05
)

type progress struct {
	at    time.Duration
	bytes int64
}

// settler decides, from a series of (elapsed time, bytes transferred)
// samples, whether throughput has settled. It is used by one goroutine.
type settler struct {
	samples []progress // ascending in time, starting at (0, 0)
}

func newSettler() *settler { return &settler{samples: []progress{{}}} }

// add records a sample and reports whether the throughput has settled:
// settleWindows consecutive windows ending now, each within
// settleTolerance of the one before it.
func (s *settler) add(at time.Duration, bytes int64) bool {
	if last := s.samples[len(s.samples)-1]; at <= last.at || bytes < last.bytes {
		return false // out of order or a counter reset: ignore
	}
	s.samples = append(s.samples, progress{at, bytes})
	span := settleWindows * settleWindow
	if at < span {
		return false
	}
	// Keep what the windows need and one sample before them.
	for len(s.samples) > 2 && s.samples[1].at <= at-span {
		s.samples = s.samples[1:]
	}
	prev := -1.0
	for i := settleWindows; i > 0; i-- {
		from, to := at-time.Duration(i)*settleWindow, at-time.Duration(i-1)*settleWindow
		rate := s.bytesAt(to) - s.bytesAt(from)
		if rate <= 0 {
			return false
		}
		if prev > 0 && math.Abs(rate-prev) > settleTolerance*math.Max(rate, prev) {
			return false
		}
		prev = rate
	}
	return true
}

// bytesAt interpolates the byte count at time t linearly between samples.
func (s *settler) bytesAt(t time.Duration) float64 {
	ps := s.samples
	if t <= ps[0].at {
		return float64(ps[0].bytes)
	}
	for i := 1; i < len(ps); i++ {
		if t <= ps[i].at {
			a, b := ps[i-1], ps[i]
			f := float64(t-a.at) / float64(b.at-a.at)
			return float64(a.bytes) + f*float64(b.bytes-a.bytes)
		}
	}
	return float64(ps[len(ps)-1].bytes)
}
