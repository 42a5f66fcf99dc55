package geo_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"fibremon/geo"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

func TestZonesPartition(t *testing.T) {
	c := MustLoad(t)
	zones := c.Zones()
	if len(zones) != len(c.Hamlets) {
		t.Fatalf("len(Zones()) = %d; want %d (one per hamlet)", len(zones), len(c.Hamlets))
	}
	total := orbgeo.Area(c.Boundary)
	sum := 0.0
	for i, z := range zones {
		h := c.Hamlets[i]
		if z.Hamlet != h.Name || !z.Derived {
			t.Errorf("zone %d: Hamlet, Derived = %q, %v; want %q, true", i, z.Hamlet, z.Derived, h.Name)
		}
		if len(z.Parts) == 0 || !orb.Equal(z.Polygon, z.Parts[0]) {
			t.Fatalf("zone %s: no parts, or Polygon is not Parts[0]", z.Hamlet)
		}
		a := orbgeo.Area(z.Parts)
		t.Logf("zone %s: %d parts, %d vertices, %.3f km²", z.Hamlet, len(z.Parts), len(z.Polygon[0]), a/1e6)
		sum += a
		if !planar.MultiPolygonContains(z.Parts, h.Point) {
			t.Errorf("zone %s does not contain its hamlet's centre %v", z.Hamlet, h.Point)
		}
		for j, p := range z.Parts {
			for k, r := range p {
				want := orb.CCW
				if k > 0 {
					want = orb.CW
				}
				if r.Orientation() != want || r[0] != r[len(r)-1] {
					t.Errorf("zone %s part %d ring %d: orientation %v (closed %v); want %v", z.Hamlet, j, k, r.Orientation(), r[0] == r[len(r)-1], want)
				}
			}
		}
	}
	if rel := math.Abs(sum-total) / total; rel > 0.005 {
		t.Errorf("zones' areas sum to %.4f km²; the comune's is %.4f km² (%.3f%% off; want <= 0.5%%)", sum/1e6, total/1e6, rel*100)
	}

	// Sample points: each point of the comune is in exactly one zone, the
	// zone of HamletAt, whose centre is the nearest.
	b := c.Boundary.Bound()
	rng := rand.New(rand.NewPCG(1, 2))
	inside := 0
	for range 5000 {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		h, ok := c.HamletAt(p)
		if ok != c.Contains(p) {
			t.Fatalf("HamletAt(%v) ok = %v; Contains = %v", p, ok, c.Contains(p))
		}
		var in []string
		for _, z := range zones {
			if planar.MultiPolygonContains(z.Parts, p) {
				in = append(in, z.Hamlet)
			}
		}
		if !ok {
			if len(in) > 0 {
				t.Errorf("point %v outside the comune lies in zones %v", p, in)
			}
			continue
		}
		inside++
		if len(in) != 1 || in[0] != h {
			t.Errorf("point %v: in zones %v; HamletAt = %q; want exactly that one", p, in, h)
		}
	}
	if inside < 1000 {
		t.Errorf("only %d sample points inside the comune", inside)
	}
}

// TestZonesNonConvex clips a U-shaped comune whose two arms lie in the same
// cell: the zone has two parts, not one ring with a zero-width bridge.
func TestZonesNonConvex(t *testing.T) {
	u := orb.Ring{{9.60, 45.30}, {9.70, 45.30}, {9.70, 45.36}, {9.68, 45.36}, {9.68, 45.32}, {9.62, 45.32}, {9.62, 45.36}, {9.60, 45.36}, {9.60, 45.30}}
	c := &geo.Comune{Name: "U", Boundary: orb.MultiPolygon{{u}}, Hamlets: []geo.Hamlet{
		{Name: "South", Point: orb.Point{9.65, 45.305}},
		{Name: "North", Point: orb.Point{9.65, 45.40}}, // outside, but it cuts both arms
	}}
	zones := c.Zones()
	if len(zones) != 2 {
		t.Fatalf("len(Zones()) = %d; want 2", len(zones))
	}
	if n := len(zones[1].Parts); n != 2 {
		t.Errorf("zone North: %d parts; want 2 (one per arm)", n)
	}
	if n := len(zones[0].Parts); n != 1 {
		t.Errorf("zone South: %d parts; want 1", n)
	}
	sum := orbgeo.Area(zones[0].Parts) + orbgeo.Area(zones[1].Parts)
	if total := orbgeo.Area(c.Boundary); math.Abs(sum-total)/total > 1e-9 {
		t.Errorf("zones sum to %g m²; want %g", sum, total)
	}
}

func TestZonesWithHole(t *testing.T) {
	outer := orb.Ring{{9.60, 45.30}, {9.70, 45.30}, {9.70, 45.36}, {9.60, 45.36}, {9.60, 45.30}}
	hole := orb.Ring{{9.64, 45.32}, {9.64, 45.34}, {9.66, 45.34}, {9.66, 45.32}, {9.64, 45.32}} // CW
	c := &geo.Comune{Name: "H", Boundary: orb.MultiPolygon{{outer, hole}}, Hamlets: []geo.Hamlet{
		{Name: "West", Point: orb.Point{9.61, 45.33}},
		{Name: "East", Point: orb.Point{9.69, 45.33}},
	}}
	zones := c.Zones()
	sum := 0.0
	for _, z := range zones {
		if len(z.Polygon) != 2 {
			t.Errorf("zone %s: %d rings; want 2 (the hole is cut in half)", z.Hamlet, len(z.Polygon))
		}
		sum += orbgeo.Area(z.Parts)
	}
	if total := orbgeo.Area(c.Boundary); math.Abs(sum-total)/total > 1e-9 {
		t.Errorf("zones sum to %g m²; want %g", sum, total)
	}
	if _, ok := c.HamletAt(orb.Point{9.65, 45.33}); ok {
		t.Error("HamletAt(a point in the hole) = ok; want outside")
	}
}

// manyHamlets returns a square comune of about 60 km × 60 km with n
// hamlets at random points inside it.
func manyHamlets(n int, seed uint64) *geo.Comune {
	rng := rand.New(rand.NewPCG(seed, 3))
	sq := orb.Ring{{9.0, 45.0}, {9.8, 45.0}, {9.8, 45.55}, {9.0, 45.55}, {9.0, 45.0}}
	c := &geo.Comune{Name: "Square", Boundary: orb.MultiPolygon{{sq}}}
	for i := range n {
		c.Hamlets = append(c.Hamlets, geo.Hamlet{Name: fmt.Sprint("h", i), Point: orb.Point{9.0 + 0.8*rng.Float64(), 45.0 + 0.55*rng.Float64()}})
	}
	return c
}

func BenchmarkZones(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		c := manyHamlets(n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if z := c.Zones(); len(z) != n {
					b.Fatal(len(z))
				}
			}
		})
	}
}
