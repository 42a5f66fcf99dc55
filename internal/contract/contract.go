// Package contract checks each site's line against what its contract
// guarantees, the way AGCOM's MisuraInternet certifies a line: over the
// last Window valid tests, the 5th percentile of the download and upload
// speeds (the "banda minima", the speed exceeded in 95 % of tests) must not
// be below the guaranteed minimums, and the 95th percentile of the delay
// must not be above the guaranteed maximum.
//
// A valid test is a successful one that is not void (fibremon.Void: other
// traffic exceeded 10 % of its bytes). The delay of a test is the average
// RTT of a latency round (fibremon.AvgRTTSeconds). Percentiles use the
// nearest-rank method (fibremon.PercentileNearestRank).
//
// A breach is flagged only on at least MinTests valid tests; with fewer the
// measure is "insufficient". An evaluation on fewer than Window tests is
// not complete: a certificate needs the full set, monitoring does not.
package contract

import (
	"context"
	"fmt"
	"slices"
	"time"

	"fibremon"
)

// Window is the number of most recent valid tests a check is made on:
// MisuraInternet's 96 (one per 15-minute slot over 24 hours).
const Window = 96

// MinTests is the fewest valid tests on which a breach is flagged.
const MinTests = 20

// fetchLimit bounds how many results of one kind are read to find Window
// valid ones among failed and void tests.
const fetchLimit = 4 * Window

// Measure names.
const (
	Download = "download"
	Upload   = "upload"
	Latency  = "latency"
)

// Status of one measure.
const (
	StatusOK           = "ok"
	StatusBreach       = "breach"
	StatusInsufficient = "insufficient" // fewer than MinTests valid tests
	StatusNoGuarantee  = "no_guarantee" // the contract states nothing
)

// Test is one valid test of a measure.
type Test struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
	Value float64   `json:"value"`
}

// Measure is the check of one guarantee.
type Measure struct {
	Name string `json:"measure"`
	// Statistic is "p5" for speeds, "p95" for the delay.
	Statistic string `json:"statistic"`
	Unit      string `json:"unit"`
	// Guaranteed is the contract's minimum speed or maximum delay; absent
	// when the contract states none.
	Guaranteed *float64 `json:"guaranteed,omitempty"`
	// Value is the percentile over the tests; absent without tests.
	Value *float64 `json:"value,omitempty"`
	// Tests is the number of valid tests used (at most Window), from First
	// to Last.
	Tests  int       `json:"tests"`
	First  time.Time `json:"first,omitempty"`
	Last   time.Time `json:"last,omitempty"`
	Status string    `json:"status"`
	// Evidence lists, newest first, the tests that missed the guarantee:
	// below the minimum speed or above the maximum delay.
	Evidence []Test `json:"evidence"`
}

// Evaluation is the check of one site's contract.
type Evaluation struct {
	SiteID string `json:"site_id"`
	Window int    `json:"window"`
	// Complete is set when every guaranteed measure had Window tests.
	Complete bool `json:"complete"`
	// Breach is set when any measure is in breach.
	Breach    bool      `json:"breach"`
	Measures  []Measure `json:"measures"`
	Evaluated time.Time `json:"evaluated"`
	// LineSynthetic marks a contract whose figures are illustrative.
	LineSynthetic bool `json:"line_synthetic"`
}

// Measure returns the measure called name, or nil.
func (e *Evaluation) Measure(name string) *Measure {
	for i := range e.Measures {
		if e.Measures[i].Name == name {
			return &e.Measures[i]
		}
	}
	return nil
}

// Reader reads stored results, newest first (the stores' Results).
type Reader interface {
	Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error)
}

// Check reads the site's recent tests from store and evaluates them.
func Check(ctx context.Context, store Reader, site fibremon.Site, now time.Time) (Evaluation, error) {
	byKind := map[fibremon.Kind][]fibremon.Result{}
	for _, k := range []fibremon.Kind{fibremon.KindDownload, fibremon.KindUpload, fibremon.KindLatency} {
		rs, err := store.Results(ctx, fibremon.Query{SiteID: site.ID, Kind: k, Until: now.Add(time.Second), Limit: fetchLimit})
		if err != nil {
			return Evaluation{}, fmt.Errorf("contract: site %s: %w", site.ID, err)
		}
		byKind[k] = rs
	}
	return Evaluate(site, byKind[fibremon.KindDownload], byKind[fibremon.KindUpload], byKind[fibremon.KindLatency], now), nil
}

// Evaluate checks site's guarantees against its results of each kind (in
// any order; other kinds and other sites' results are ignored).
func Evaluate(site fibremon.Site, downloads, uploads, latencies []fibremon.Result, now time.Time) Evaluation {
	e := Evaluation{SiteID: site.ID, Window: Window, Complete: true, Evaluated: now.UTC(), LineSynthetic: site.LineSynthetic}
	for _, m := range []struct {
		name, stat, unit, value string
		kind                    fibremon.Kind
		rs                      []fibremon.Result
		guaranteed              float64
		upper                   bool // the guarantee is a maximum
	}{
		{Download, "p5", "bytes_per_second", fibremon.DownloadBytesPerSecond, fibremon.KindDownload, downloads, site.MinDownloadBytesPerSecond, false},
		{Upload, "p5", "bytes_per_second", fibremon.UploadBytesPerSecond, fibremon.KindUpload, uploads, site.MinUploadBytesPerSecond, false},
		{Latency, "p95", "seconds", fibremon.AvgRTTSeconds, fibremon.KindLatency, latencies, site.MaxRTTSeconds, true},
	} {
		tests := validTests(site.ID, m.kind, m.value, m.rs)
		meas := Measure{Name: m.name, Statistic: m.stat, Unit: m.unit, Tests: len(tests), Evidence: []Test{}}
		if len(tests) > 0 {
			vals := make([]float64, len(tests))
			for i, t := range tests {
				vals[i] = t.Value
			}
			p := 5.0
			if m.upper {
				p = 95
			}
			v := fibremon.PercentileNearestRank(vals, p)
			meas.Value = &v
			meas.Last, meas.First = tests[0].Start, tests[len(tests)-1].Start
		}
		switch {
		case m.guaranteed <= 0:
			meas.Status = StatusNoGuarantee
		default:
			g := m.guaranteed
			meas.Guaranteed = &g
			for _, t := range tests {
				if (m.upper && t.Value > g) || (!m.upper && t.Value < g) {
					meas.Evidence = append(meas.Evidence, t)
				}
			}
			switch {
			case len(tests) < MinTests:
				meas.Status = StatusInsufficient
			case (m.upper && *meas.Value > g) || (!m.upper && *meas.Value < g):
				meas.Status = StatusBreach
				e.Breach = true
			default:
				meas.Status = StatusOK
			}
			if len(tests) < Window {
				e.Complete = false
			}
		}
		e.Measures = append(e.Measures, meas)
	}
	return e
}

// validTests returns the newest Window valid tests of kind at site, newest
// first, each with its value called name.
func validTests(site string, kind fibremon.Kind, name string, rs []fibremon.Result) []Test {
	var out []Test
	for i := range rs {
		r := &rs[i]
		if r.SiteID != site || r.Kind != kind || !r.Up || r.IsVoid() {
			continue
		}
		v, ok := r.Value(name)
		if !ok {
			continue
		}
		out = append(out, Test{ID: r.ID, Start: r.Start, Value: v})
	}
	slices.SortStableFunc(out, func(a, b Test) int { return b.Start.Compare(a.Start) })
	if len(out) > Window {
		out = out[:Window]
	}
	return out
}
