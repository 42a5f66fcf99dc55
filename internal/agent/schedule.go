package agent

import (
	"math/rand/v2"
	"time"

	"fibremon"
)

// Schedule modes (ScheduleConfig.Mode).
const (
	// ModeInterval runs a measurement every interval ±10 %, after a random
	// first delay within one interval.
	ModeInterval = "interval"
	// ModeSlots runs a measurement once per slot (15 minutes by default,
	// 96 a day, as MisuraInternet's Ne.Me.Sys does), at a random offset
	// inside the slot. Slots are aligned to multiples of the slot length
	// since the Unix epoch (UTC quarter hours for 15 m).
	ModeSlots = "slots"
	// ModeRandom runs a measurement after waits drawn from an exponential
	// distribution and clamped to [min, max], as the ndt7 specification
	// asks of unattended clients (mean 6 h, min 36 min, max 15 h).
	ModeRandom = "random"
)

// Defaults of the slots and random schedule modes.
const (
	DefaultSlot       = 15 * time.Minute
	DefaultRandomMean = 6 * time.Hour
	DefaultRandomMin  = 36 * time.Minute
	DefaultRandomMax  = 15 * time.Hour
)

// defaultInterval is the interval of a measurement of kind k in mode
// ModeInterval: an hour for download and upload, which load the line, a
// minute for the others.
func defaultInterval(k fibremon.Kind) time.Duration {
	if throughputKind(k) {
		return time.Hour
	}
	return time.Minute
}

// planner decides when a measurement runs. It is used by one goroutine.
type planner interface {
	// first returns the first run time, given the present.
	first(now time.Time) time.Time
	// next returns the run time after a run that has just finished at now.
	next(now time.Time) time.Time
}

// newPlanner builds m's planner; splay, when positive, bounds the random
// delay of the first run of the interval and random modes.
func newPlanner(m MeasurementConfig, splay time.Duration, rng *rand.Rand) planner {
	s := m.Schedule
	switch s.Mode {
	case ModeSlots:
		return &slotPlanner{slot: s.Slot, window: slotWindow(s.Slot, m.Timeout), rng: rng}
	case ModeRandom:
		first := s.Min
		if splay > 0 && splay < first {
			first = splay
		}
		return &randomPlanner{mean: s.Mean, min: s.Min, max: s.Max, splay: first, rng: rng}
	}
	first := m.Interval
	if splay > 0 && splay < first {
		first = splay
	}
	return &intervalPlanner{interval: m.Interval, splay: first, rng: rng}
}

// slotWindow is the part of a slot in which a test may start so that it
// ends inside the slot: the slot minus the measurement's timeout, and at
// least half the slot.
func slotWindow(slot, timeout time.Duration) time.Duration {
	return max(slot-timeout, slot/2)
}

// uniform returns a duration drawn uniformly from [0, d).
func uniform(rng *rand.Rand, d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rng.Int64N(int64(d)))
}

type intervalPlanner struct {
	interval, splay time.Duration
	rng             *rand.Rand
}

func (p *intervalPlanner) first(now time.Time) time.Time { return now.Add(uniform(p.rng, p.splay)) }

func (p *intervalPlanner) next(now time.Time) time.Time {
	return now.Add(time.Duration(float64(p.interval) * (0.9 + 0.2*p.rng.Float64())))
}

// slotPlanner gives each slot exactly one run, at an offset drawn
// uniformly from the slot's window. A run that overruns into the next slot
// delays that slot's run to its end, if still inside the window; a slot
// whose window has passed (a long run, a suspended machine) is skipped.
type slotPlanner struct {
	slot, window time.Duration
	rng          *rand.Rand
	last         time.Time // start of the slot of the last planned run
}

func (p *slotPlanner) first(now time.Time) time.Time {
	s := now.Truncate(p.slot)
	for {
		at := s.Add(uniform(p.rng, p.window))
		// At start-up a slot whose drawn offset has passed is not used:
		// running late in it would bias the offsets.
		if !at.Before(now) {
			p.last = s
			return at
		}
		s = s.Add(p.slot)
	}
}

func (p *slotPlanner) next(now time.Time) time.Time {
	s := now.Truncate(p.slot)
	if next := p.last.Add(p.slot); next.After(s) {
		s = next
	}
	for {
		at := s.Add(uniform(p.rng, p.window))
		switch {
		case !at.Before(now):
			p.last = s
			return at
		case now.Before(s.Add(p.window)):
			p.last = s
			return now
		}
		s = s.Add(p.slot)
	}
}

// randomPlanner draws exponential waits clamped to [min, max]. Its first
// run comes after a uniform delay within splay (min by default), so that a
// fleet restarted together does not test together.
type randomPlanner struct {
	mean, min, max, splay time.Duration
	rng                   *rand.Rand
}

func (p *randomPlanner) first(now time.Time) time.Time { return now.Add(uniform(p.rng, p.splay)) }

func (p *randomPlanner) next(now time.Time) time.Time { return now.Add(p.wait()) }

// wait draws one wait, as in the ndt7 specification's "Requirements for
// non-interactive clients".
func (p *randomPlanner) wait() time.Duration {
	d := time.Duration(p.rng.ExpFloat64() * float64(p.mean))
	return min(max(d, p.min), p.max)
}
