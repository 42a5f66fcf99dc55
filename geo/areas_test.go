package geo_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"fibremon/geo"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// linearFind is what AreaIndex.Find must answer: the first area, in order,
// that contains p (planar.PolygonContains would panic on an empty polygon:
// it contains nothing).
func linearFind(polys []orb.MultiPolygon, p orb.Point) (int, bool) {
	for i, mp := range polys {
		for _, poly := range mp {
			if len(poly) > 0 && planar.PolygonContains(poly, p) {
				return i, true
			}
		}
	}
	return -1, false
}

// randomArea returns a star-shaped ring around c (simple, not convex),
// counter-clockwise, with n vertices, radius between r/2 and r.
func randomRing(rng *rand.Rand, c orb.Point, r float64, n int, cw bool) orb.Ring {
	ring := make(orb.Ring, 0, n+1)
	for k := range n {
		a := 2 * math.Pi * float64(k) / float64(n)
		if cw {
			a = -a
		}
		rr := r * (0.5 + 0.5*rng.Float64())
		ring = append(ring, orb.Point{c[0] + rr*math.Cos(a), c[1] + rr*math.Sin(a)})
	}
	return append(ring, ring[0])
}

// randomAreas returns n areas in the box [0,10]²: star-shaped polygons,
// some with a hole, some of two parts, overlapping each other here and
// there, plus some axis-aligned squares on a shared grid (shared edges).
func randomAreas(rng *rand.Rand, n int) []orb.MultiPolygon {
	var polys []orb.MultiPolygon
	for i := range n {
		switch i % 4 {
		case 0: // grid squares of side 0.5: neighbours share edges and corners
			x, y := float64(rng.IntN(20))*0.5, float64(rng.IntN(20))*0.5
			polys = append(polys, orb.MultiPolygon{{orb.Ring{{x, y}, {x + 0.5, y}, {x + 0.5, y + 0.5}, {x, y + 0.5}, {x, y}}}})
		case 1: // with a hole
			c := orb.Point{rng.Float64() * 10, rng.Float64() * 10}
			r := 0.2 + rng.Float64()*0.6
			polys = append(polys, orb.MultiPolygon{{randomRing(rng, c, r, 8+rng.IntN(20), false), randomRing(rng, c, r/4, 5, true)}})
		case 2: // two parts
			c1 := orb.Point{rng.Float64() * 10, rng.Float64() * 10}
			c2 := orb.Point{rng.Float64() * 10, rng.Float64() * 10}
			polys = append(polys, orb.MultiPolygon{{randomRing(rng, c1, 0.3, 6, false)}, {randomRing(rng, c2, 0.2, 9, false)}})
		default:
			c := orb.Point{rng.Float64() * 10, rng.Float64() * 10}
			polys = append(polys, orb.MultiPolygon{{randomRing(rng, c, 0.1+rng.Float64(), 3+rng.IntN(30), false)}})
		}
	}
	polys = append(polys, orb.MultiPolygon{}, orb.MultiPolygon{orb.Polygon{}}) // empty areas contain nothing
	return polys
}

// TestAreaIndexMatchesLinearScan compares Find with a linear scan on random
// points, on every vertex of every area (points on edges, shared by
// neighbours), on edge midpoints and on the hole centres.
func TestAreaIndexMatchesLinearScan(t *testing.T) {
	for _, n := range []int{0, 1, 7, 16, 17, 300, 1200} {
		rng := rand.New(rand.NewPCG(uint64(n), 11))
		polys := randomAreas(rng, n)
		ix := geo.NewAreaIndex(polys)
		if ix.Len() != len(polys) {
			t.Errorf("n=%d: Len() = %d; want %d", n, ix.Len(), len(polys))
		}
		var pts []orb.Point
		for range 3000 {
			pts = append(pts, orb.Point{-1 + rng.Float64()*12, -1 + rng.Float64()*12})
		}
		for a, mp := range polys {
			if a%max(1, n/150) != 0 { // the vertices of 150 areas at most
				continue
			}
			for _, p := range mp {
				for k, r := range p {
					for v := 0; v+1 < len(r); v++ {
						a, b := r[v], r[v+1]
						pts = append(pts, a, orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2})
					}
					if k > 0 { // a hole: its centre is in no part of this area
						pts = append(pts, r.Bound().Center())
					}
				}
			}
		}
		found, holes := 0, 0
		for _, p := range pts {
			gi, gok := ix.Find(p)
			wi, wok := linearFind(polys, p)
			if gi != wi || gok != wok {
				t.Fatalf("n=%d: Find(%v) = %d, %v; linear scan gives %d, %v", n, p, gi, gok, wi, wok)
			}
			if gok {
				found++
			}
		}
		for _, mp := range polys {
			if len(mp) > 0 && len(mp[0]) > 1 {
				holes++
				c := mp[0][1].Bound().Center()
				if i, ok := ix.Find(c); ok && planar.MultiPolygonContains(orb.MultiPolygon{mp[0]}, c) {
					t.Errorf("hole centre %v is in its own polygon (Find = %d)", c, i)
				}
			}
		}
		if n >= 300 && (found < len(pts)/4 || holes == 0) {
			t.Errorf("n=%d: only %d of %d points in an area, %d holes: the test does not test much", n, found, len(pts), holes)
		}
	}
}

// TestAreaIndexZones checks Find on the embedded comune's hamlet zones,
// which partition the comune and share every inner edge.
func TestAreaIndexZones(t *testing.T) {
	c := MustLoad(t)
	var polys []orb.MultiPolygon
	for _, z := range c.Zones() {
		polys = append(polys, z.Parts)
	}
	ix := geo.NewAreaIndex(polys)
	var pts []orb.Point
	for _, mp := range polys {
		for _, p := range mp {
			for _, r := range p {
				pts = append(pts, r...)
			}
		}
	}
	b := c.Boundary.Bound()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 3000 {
		pts = append(pts, orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])})
	}
	for _, p := range pts {
		gi, gok := ix.Find(p)
		wi, wok := linearFind(polys, p)
		if gi != wi || gok != wok {
			t.Fatalf("Find(%v) = %d, %v; linear scan gives %d, %v", p, gi, gok, wi, wok)
		}
	}
}

func TestAreaIndexOverlapLowestWins(t *testing.T) {
	sq := func(x0, y0, s float64) orb.MultiPolygon {
		return orb.MultiPolygon{{orb.Ring{{x0, y0}, {x0 + s, y0}, {x0 + s, y0 + s}, {x0, y0 + s}, {x0, y0}}}}
	}
	ix := geo.NewAreaIndex([]orb.MultiPolygon{sq(5, 5, 1), sq(0, 0, 10), sq(5, 5, 1)})
	tests := []struct {
		p    orb.Point
		want int
		ok   bool
	}{
		{orb.Point{5.5, 5.5}, 0, true},
		{orb.Point{1, 1}, 1, true},
		{orb.Point{10, 10}, 1, true}, // a corner is in
		{orb.Point{10.000001, 10}, -1, false},
		{orb.Point{math.NaN(), 1}, -1, false},
		{orb.Point{1, math.Inf(1)}, -1, false},
	}
	for _, tt := range tests {
		if i, ok := ix.Find(tt.p); i != tt.want || ok != tt.ok {
			t.Errorf("Find(%v) = %d, %v; want %d, %v", tt.p, i, ok, tt.want, tt.ok)
		}
	}
}
