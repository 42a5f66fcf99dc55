package influx

import (
	"slices"
	"testing"
	"time"
)

func TestSpans(t *testing.T) {
	h := int64(time.Hour)
	for _, c := range []struct {
		name   string
		starts []int64
		want   [][2]int64
	}{
		{"one", []int64{5}, [][2]int64{{5, 5}}},
		{"close together, unsorted", []int64{h / 2, 1, h / 3}, [][2]int64{{1, h / 2}}},
		{"a gap of an hour splits", []int64{0, 10, 10 + h, 20 + h}, [][2]int64{{0, 10}, {10 + h, 20 + h}}},
		{"a gap under an hour does not", []int64{0, h - 1}, [][2]int64{{0, h - 1}}},
	} {
		if got := spans(c.starts); !slices.Equal(got, c.want) {
			t.Errorf("%s: spans(%v) = %v; want %v", c.name, c.starts, got, c.want)
		}
	}
	// Many gaps: at most maxSpans spans, split at the widest gaps.
	var starts []int64
	for i := range 100 {
		starts = append(starts, int64(i*i)*h)
	}
	got := spans(starts)
	if len(got) != maxSpans {
		t.Fatalf("%d spans; want %d", len(got), maxSpans)
	}
	covered := 0
	for _, sp := range got {
		for _, s := range starts {
			if s >= sp[0] && s <= sp[1] {
				covered++
			}
		}
	}
	if covered != len(starts) {
		t.Errorf("spans cover %d of %d starts", covered, len(starts))
	}
	// the widest gaps are the last ones (i*i grows): the first span is long
	if got[0][0] != 0 || got[0][1] != int64(84*84)*h {
		t.Errorf("first span %v; want [0, 84²h]", got[0])
	}
}
