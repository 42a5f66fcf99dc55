package geo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
)

// TestZonesManyHamlets checks the zones that clipping by the Voronoi
// neighbours only gives: on a square, on a U shape with a hole, with
// clustered and duplicate centres and centres outside the boundary, every
// sampled point of the comune lies in exactly one zone, that of the
// nearest centre (nearestHamlet, which compares every distance), and the
// zones' areas add up to the comune's.
func TestZonesManyHamlets(t *testing.T) {
	t.Parallel()
	square := orb.MultiPolygon{{orb.Ring{{9.0, 45.0}, {9.3, 45.0}, {9.3, 45.2}, {9.0, 45.2}, {9.0, 45.0}}}}
	u := orb.MultiPolygon{{
		orb.Ring{{9.60, 45.30}, {9.70, 45.30}, {9.70, 45.36}, {9.68, 45.36}, {9.68, 45.32}, {9.62, 45.32}, {9.62, 45.36}, {9.60, 45.36}, {9.60, 45.30}},
		orb.Ring{{9.64, 45.305}, {9.64, 45.315}, {9.66, 45.315}, {9.66, 45.305}, {9.64, 45.305}},
	}}
	for _, tc := range []struct {
		name     string
		boundary orb.MultiPolygon
		n        int
		cluster  bool
	}{
		{"square", square, 200, false},
		{"square clustered", square, 200, true},
		{"u with hole", u, 120, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.n), 9))
			b := tc.boundary.Bound().Pad(0.01) // some centres outside
			var hamlets []Hamlet
			dup := map[int]bool{}
			for i := range tc.n {
				p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
				if tc.cluster && i%3 > 0 {
					p = orb.Point{b.Min[0] + 0.01*rng.Float64(), b.Min[1] + 0.01*rng.Float64()}
				}
				if i%50 == 49 {
					p, dup[i] = hamlets[i-1].Point, true // shares the zone of the one before
				}
				hamlets = append(hamlets, Hamlet{Name: fmt.Sprint("h", i), Point: p})
			}
			zones := computeZones(tc.boundary, hamlets)
			c := &Comune{Boundary: tc.boundary, Hamlets: hamlets}
			sum := 0.0
			for i, z := range zones {
				if !dup[i] {
					sum += orbgeo.Area(z.Parts)
				}
			}
			if total := orbgeo.Area(tc.boundary); math.Abs(sum-total)/total > 1e-6 {
				t.Errorf("zones' areas sum to %.1f m²; the comune's is %.1f m²", sum, total)
			}
			bb := tc.boundary.Bound()
			inside := 0
			for range 4000 {
				p := orb.Point{bb.Min[0] + rng.Float64()*(bb.Max[0]-bb.Min[0]), bb.Min[1] + rng.Float64()*(bb.Max[1]-bb.Min[1])}
				var in []string
				for i, z := range zones {
					if !dup[i] && planar.MultiPolygonContains(z.Parts, p) {
						in = append(in, z.Hamlet)
					}
				}
				if !c.Contains(p) { // outside, or in the hole
					if len(in) > 0 {
						t.Fatalf("point %v outside the comune lies in zones %v", p, in)
					}
					continue
				}
				inside++
				want := c.nearestHamlet(p)
				if len(in) != 1 || in[0] != want {
					t.Fatalf("point %v: in zones %v; want exactly %s, the nearest centre's", p, in, want)
				}
			}
			if inside < 1000 {
				t.Errorf("only %d sample points inside", inside)
			}
		})
	}
}
