package main

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/paulmach/orb"
)

// Floating-point note: products are wrapped in float64(...) conversions
// where they meet an addition, so that no platform fuses them into FMA
// instructions (the Go spec allows fusion otherwise); with the constants of
// model.go and no trigonometry, the output is the same on every platform.

// toXY returns p (lon, lat) in metres east and north of origin.
func toXY(p orb.Point) xy {
	return xy{float64((p.Lon() - origin.Lon()) * mPerDegLon), float64((p.Lat() - origin.Lat()) * mPerDegLat)}
}

// toLonLat returns the lon/lat of q, rounded to 6 decimals (~0.1 m), the
// precision written to the files.
func toLonLat(q xy) orb.Point {
	return orb.Point{round6(origin.Lon() + q.X/mPerDegLon), round6(origin.Lat() + q.Y/mPerDegLat)}
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func add(a, b xy) xy { return xy{a.X + b.X, a.Y + b.Y} }
func sub(a, b xy) xy { return xy{a.X - b.X, a.Y - b.Y} }

func scale(a xy, f float64) xy { return xy{float64(a.X * f), float64(a.Y * f)} }

func dot(a, b xy) float64   { return float64(a.X*b.X) + float64(a.Y*b.Y) }
func cross(a, b xy) float64 { return float64(a.X*b.Y) - float64(a.Y*b.X) }
func norm(a xy) float64     { return math.Sqrt(dot(a, a)) }
func dist(a, b xy) float64  { return norm(sub(a, b)) }

// length returns the length of a polyline.
func length(pts []xy) float64 {
	l := 0.0
	for i := 1; i < len(pts); i++ {
		l += dist(pts[i-1], pts[i])
	}
	return l
}

// along returns the point at distance d along the polyline pts and the unit
// normal pointing to its left there; ok is false past its end.
func along(pts []xy, d float64) (p, left xy, ok bool) {
	for i := 1; i < len(pts); i++ {
		seg := sub(pts[i], pts[i-1])
		l := norm(seg)
		if d <= l {
			u := scale(seg, 1/l)
			return add(pts[i-1], scale(u, d)), xy{-u.Y, u.X}, true
		}
		d -= l
	}
	return xy{}, xy{}, false
}

// project returns the distance from q to the polyline pts, the distance
// along pts of the nearest point, and which side q lies on (+1 left, -1
// right).
func project(pts []xy, q xy) (off, t float64, side int) {
	off = math.Inf(1)
	base := 0.0
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		seg := sub(b, a)
		l := norm(seg)
		f := dot(sub(q, a), seg) / (l * l)
		f = max(0, min(1, f))
		p := add(a, scale(seg, f))
		if d := dist(p, q); d < off {
			off, t = d, base+float64(f*l)
			side = 1
			if cross(seg, sub(q, a)) < 0 {
				side = -1
			}
		}
		base += l
	}
	return off, t, side
}

// rng draws from a PCG stream with its own derivations, so that the output
// depends on the PCG algorithm only, not on how math/rand/v2 turns its bits
// into numbers.
type rng struct{ src *rand.PCG }

func newRNG(stream uint64) *rng { return &rng{rand.NewPCG(seed, stream)} }

// intn returns a uniform int in [0, n), n > 0.
func (r *rng) intn(n int) int {
	un := uint64(n)
	thresh := -un % un // 2^64 mod n: reject the values below to stay uniform
	for {
		if v := r.src.Uint64(); v >= thresh {
			return int(v % un)
		}
	}
}

// between returns a uniform int in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// uniform returns a uniform float64 in [lo, hi).
func (r *rng) uniform(lo, hi float64) float64 { return lo + float64((hi-lo)*r.float()) }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func addDays(t time.Time, n int) time.Time { return t.AddDate(0, 0, n) }

func itoa(n int) string { return strconv.Itoa(n) }
