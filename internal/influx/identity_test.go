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

func TestRecentPoints(t *testing.T) {
	var c recentPoints
	// each result a second after the one before: no two on one point
	// by chance
	start := time.Now().UnixNano()
	mk := func(n int) ([]fibremon.Result, []int64) {
		rs := make([]fibremon.Result, n)
		ts := make([]int64, n)
		for i := range rs {
			rs[i] = fibremon.Result{ID: uuid.NewString(), SiteID: "municipio", Probe: "probe-municipio", Kind: fibremon.KindHTTP}
			ts[i] = PointTime(start, rs[i].ID)
			start += int64(time.Second)
		}
		return rs, ts
	}
	a, at := mk(10)
	if d, col := c.add(a, at); d != 0 || len(col) != 0 {
		t.Fatalf("first add: %d duplicates, %v collisions; want none", d, col)
	}
	b, bt := mk(5)
	if d, col := c.add(append(b, a[3:]...), append(bt, at[3:]...)); d != 7 || len(col) != 0 {
		t.Fatalf("add of 5 new and 7 written: %d duplicates, %v collisions; want 7, none", d, col)
	}
	// A result on the point of another (forced here: the same timestamp),
	// in another batch or the same one.
	x, xt := mk(2)
	xt[0], xt[1] = at[0], bt[0]
	if d, col := c.add(x, xt); d != 0 || len(col) != 2 || col[0] != (collision{0, a[0].ID}) || col[1] != (collision{1, b[0].ID}) {
		t.Fatalf("add of 2 onto others' points: %d duplicates, %+v collisions; want 0, on %s and %s", d, col, a[0].ID, b[0].ID)
	}
	y, yt := mk(2)
	yt[1] = yt[0]
	if d, col := c.add(y, yt); d != 0 || len(col) != 1 || col[0] != (collision{1, y[0].ID}) {
		t.Fatalf("add of 2 on one point: %d duplicates, %+v collisions; want 0, 1 on %s", d, col, y[0].ID)
	}
	// Another series at the same time is another point.
	z := []fibremon.Result{a[1]}
	z[0].Kind = fibremon.KindTCP
	if d, col := c.add(z, at[1:2]); d != 0 || len(col) != 0 {
		t.Fatalf("same time, another series: %d duplicates, %v collisions; want none", d, col)
	}
	// After two generations of newer points, a is forgotten.
	for range 2 {
		c.add(mk(recentGeneration))
	}
	if d, col := c.add(a, at); d != 0 || len(col) != 0 {
		t.Fatalf("after 2 generations: %d duplicates, %v collisions; want none (forgotten)", d, col)
	}
	if _, ok := idKey("not-a-uuid"); ok {
		t.Error("idKey took a non-UUID")
	}
	if k, ok := idKey(a[0].ID); !ok || idString(k) != a[0].ID {
		t.Errorf("idString(idKey(%s)) = %s", a[0].ID, idString(k))
	}
}
