package main

import (
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// histogram counts latencies in microseconds in log-linear buckets: exact
// below 64 µs, within 1/32 (about 3 %) above. Its size is fixed.
type histogram struct {
	counts [64 * 32]int64
	n      int64
	max    time.Duration
}

const subBits = 6 // 64 linear sub-buckets per power of two, half of them used above 64

func bucketOf(us uint64) int {
	if us < 1<<subBits {
		return int(us)
	}
	e := bits.Len64(us) - subBits // >= 1
	m := us >> e                  // in [32, 64)
	return e*32 + int(m)
}

// bucketMid is a value in the middle of bucket i.
func bucketMid(i int) time.Duration {
	if i < 1<<subBits {
		return time.Duration(i) * time.Microsecond
	}
	e := i/32 - 1
	m := uint64(i - e*32)
	lo := m << e
	return time.Duration(lo+(uint64(1)<<e)/2) * time.Microsecond
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := min(bucketOf(us), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the q-quantile (0 < q <= 1), at most the maximum.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(bucketMid(i), h.max)
		}
	}
	return h.max
}

// printReports prints one line per store, then the errors by kind; or
// the outcome of each big-batch run.
func printReports(w io.Writer, reps []*report) {
	if len(reps) > 0 && reps[0].big != nil {
		for _, r := range reps {
			printBigReport(w, r.big)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "store\tprobes\tbatch\tseconds\tresults/s\tbatches/s\tp50\tp99\tmax\terrors\tacknowledged\tstored\tverdict\t")
	for _, r := range reps {
		secs := r.elapsed.Seconds()
		verdict := "ok"
		if !r.ok() {
			verdict = "FAIL"
		}
		var errs int64
		for _, n := range r.errors {
			errs += n
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.0f\t%.0f\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t\n",
			r.store, r.probes, r.batch, secs, float64(r.results)/secs, float64(r.batches)/secs,
			ms(r.hist.quantile(0.5)), ms(r.hist.quantile(0.99)), ms(r.hist.max),
			errs, r.acked, r.stored, verdict)
	}
	tw.Flush()
	for _, r := range reps {
		fmt.Fprintf(w, "%s: %d results acknowledged in %d batches, %d batches sent again (all duplicates), %d results in doubt; read back in %.1f s\n",
			r.store, r.results, r.batches-r.resends, r.resends, r.inDoubt, r.verified.Seconds())
		if len(r.errors) == 0 {
			continue
		}
		kinds := make([]string, 0, len(r.errors))
		for k := range r.errors {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		var parts []string
		for _, k := range kinds {
			parts = append(parts, fmt.Sprintf("%s=%d", k, r.errors[k]))
		}
		fmt.Fprintf(w, "%s errors: %s\n", r.store, strings.Join(parts, " "))
		for _, k := range kinds {
			if s := r.samples[k]; s != "" {
				fmt.Fprintf(w, "%s %s, e.g.: %.300s\n", r.store, k, s)
			}
		}
		if r.verifyErr != "" {
			fmt.Fprintf(w, "%s read-back error: %s\n", r.store, r.verifyErr)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
