package linesim

import (
	"math"
	"sync"
	"time"
)

// pacer is one direction of a line: a token bucket of rate bytes per second,
// implemented as the generic cell rate algorithm (GCRA). It keeps only the
// "theoretical arrival time" tat: the instant at which everything reserved so
// far has been serialised onto the line. A reservation of n bytes moves tat on
// by n/rate and may go ahead at tat-burst, so an idle line lets burst bytes
// through at once and a busy one paces them at the rate. Reservations are
// served first come, first served, which is how connections share a line.
//
// A pacer is safe for concurrent use; it owns no goroutines.
type pacer struct {
	rate    float64       // bytes per second, > 0
	burst   time.Duration // burst bytes expressed as line time
	quantum int           // largest reservation, in bytes

	mu  sync.Mutex
	tat time.Time
}

const (
	burstTime  = 5 * time.Millisecond // how much line time one burst may hold
	minBurst   = 4 << 10              // bytes; slow lines still get a few packets of burst
	maxQuantum = 64 << 10             // bytes
	minQuantum = 1 << 10              // bytes
)

// newPacer returns a pacer for rate bytes per second, or nil when rate is not
// positive or is +Inf (an unlimited direction).
func newPacer(rate float64) *pacer {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return nil
	}
	burstBytes := max(rate*burstTime.Seconds(), minBurst)
	q := min(max(int(burstBytes/2), minQuantum), maxQuantum)
	return &pacer{
		rate:    rate,
		burst:   bytesToDuration(burstBytes, rate),
		quantum: q,
	}
}

func bytesToDuration(n, rate float64) time.Duration {
	return time.Duration(n / rate * float64(time.Second))
}

// reservation is a claim on line time, returned by reserve.
type reservation struct {
	at   time.Time     // when the bytes may go
	end  time.Time     // tat after this reservation
	cost time.Duration // line time of the bytes
}

// reserve claims line time for n bytes, now. The caller must wait until
// r.at before passing the bytes on, or give the time back with cancel.
func (p *pacer) reserve(now time.Time, n int) reservation {
	cost := bytesToDuration(float64(n), p.rate)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tat.Before(now) {
		p.tat = now
	}
	p.tat = p.tat.Add(cost)
	return reservation{at: p.tat.Add(-p.burst), end: p.tat, cost: cost}
}

// cancel gives back the line time of r if no reservation was made after it;
// otherwise the time is lost, as it would be on a real line.
func (p *pacer) cancel(r reservation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tat.Equal(r.end) {
		p.tat = p.tat.Add(-r.cost)
	}
}
