package influx

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
)

// TestPointTime: a point's timestamp is a function of the result alone,
// in the second the result started, and spread over it by the ID.
func TestPointTime(t *testing.T) {
	start := time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC).UnixNano()
	sec := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC).UnixNano()
	id := "0190a6f2-7c3e-7b1a-9c4d-5e6f708192a3"
	got := PointTime(start, id)
	if got != PointTime(start, id) {
		t.Fatal("PointTime is not deterministic")
	}
	if got < sec || got >= sec+int64(time.Second) {
		t.Fatalf("PointTime = %d; want within [%d, %d)", got, sec, sec+int64(time.Second))
	}
	// A known value, so that a change of the scheme (which would put every
	// retried result on a new point) cannot pass unnoticed.
	if want := sec + 154335972; got != want {
		t.Errorf("PointTime(%d, %s) = %d; want %d", start, id, got, want)
	}
	// Any start within the second gives the same point.
	if PointTime(sec, id) != got || PointTime(sec+int64(time.Second)-1, id) != got {
		t.Error("PointTime depends on more than the start's second")
	}
	// Before 1970 the second is rounded towards the past.
	if p := PointTime(-1, id); p < -int64(time.Second) || p >= 0 {
		t.Errorf("PointTime(-1) = %d; want within [-1 s, 0)", p)
	}
	// 10,000 version-7 IDs minted in a burst (one millisecond shares
	// their first 48 bits) spread over the second: every tenth of the
	// second holds about a tenth of them, and they take 10,000 distinct
	// nanoseconds but for a rare pair (10,000 values drawn from 10⁹ have
	// 0.05 equal pairs on average; 5 would happen once in some 10¹¹
	// runs).
	seen := make(map[int64]bool)
	same := 0
	var tenths [10]int
	for range 10000 {
		u, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		p := PointTime(sec, u.String()) - sec
		if seen[p] {
			same++
		}
		seen[p] = true
		tenths[p/int64(100*time.Millisecond)]++
	}
	if same >= 5 {
		t.Errorf("%d pairs of 10,000 IDs on one nanosecond; want about 0.05", same)
	}
	for i, n := range tenths {
		if n < 850 || n > 1150 {
			t.Errorf("tenth %d of the second holds %d of 10000 points; want about 1000 (%v)", i, n, tenths)
		}
	}
}

func TestFloorCeilSecond(t *testing.T) {
	s := int64(time.Second)
	for _, c := range []struct{ ns, floor, ceil int64 }{
		{0, 0, 0}, {1, 0, s}, {s, s, s}, {s + 1, s, 2 * s}, {-1, -s, 0}, {-s, -s, -s}, {-s - 1, -2 * s, -s},
	} {
		if f, cl := floorSecond(c.ns), ceilSecond(c.ns); f != c.floor || cl != c.ceil {
			t.Errorf("floor, ceil of %d = %d, %d; want %d, %d", c.ns, f, cl, c.floor, c.ceil)
		}
	}
}

func TestRecentIDs(t *testing.T) {
	var c recentIDs
	mk := func(n int) []fibremon.Result {
		rs := make([]fibremon.Result, n)
		for i := range rs {
			rs[i].ID = uuid.NewString()
		}
		return rs
	}
	a := mk(10)
	if d := c.add(a); d != 0 {
		t.Fatalf("first add: %d duplicates; want 0", d)
	}
	if d := c.add(append(mk(5), a[3:]...)); d != 7 {
		t.Fatalf("add of 5 new and 7 written: %d duplicates; want 7", d)
	}
	// After two generations of newer results, a is forgotten.
	for range 2 {
		c.add(mk(recentGeneration))
	}
	if d := c.add(a); d != 0 {
		t.Fatalf("after 2 generations: %d duplicates; want 0 (forgotten)", d)
	}
	if _, ok := idKey("not-a-uuid"); ok {
		t.Error("idKey took a non-UUID")
	}
	if d := c.add([]fibremon.Result{{ID: "x"}, {ID: "x"}}); d != 0 {
		t.Errorf("IDs that are not UUIDs: %d duplicates; want 0 (not remembered)", d)
	}
}
