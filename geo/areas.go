package geo

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// AreaIndex answers "which of these areas contains point p" without
// scanning them: a packed R-tree of the bounding boxes of the areas'
// polygons (packed in Hilbert-curve order of their centres, 16 entries a
// node) narrows the search to the few polygons whose box holds p, and an
// exact point-in-polygon test (planar.PolygonContains) decides among them.
// A query costs O(log n) box tests plus the exact tests on the candidates.
//
// The areas may be hamlet zones, comuni, or any polygons in one coordinate
// system (lon/lat for the package's own uses). They need not partition the
// plane: they may overlap or leave gaps. The answer is always the one a
// linear scan of planar.MultiPolygonContains over the areas, in order,
// would give for a finite point: points on an area's boundary are in it,
// points in a hole are not, and where areas overlap the lowest index wins.
//
// An AreaIndex is immutable once NewAreaIndex returns it and is safe for
// concurrent use. It keeps the polygons it was given, which must not be
// modified afterwards.
type AreaIndex struct {
	polys []orb.MultiPolygon
	parts []areaPart // the polygons, in tree order
	// levels[0] holds the bounds of parts; levels[k][i] bounds the nodes
	// levels[k-1][i*areaNodeSize : (i+1)*areaNodeSize]. The last level has
	// at most areaNodeSize bounds.
	levels [][]orb.Bound
}

// areaPart is one polygon of one area.
type areaPart struct {
	area, part int32
}

// areaNodeSize is the fan-out of the tree.
const areaNodeSize = 16

// NewAreaIndex indexes polys; Find returns indexes into polys. Polygons
// without an outer ring, or with a NaN or infinite vertex in it, are no
// area and are left out (Load and the importers refuse such rings).
func NewAreaIndex(polys []orb.MultiPolygon) *AreaIndex {
	ix := &AreaIndex{polys: polys}
	type entry struct {
		b    orb.Bound
		p    areaPart
		hilb uint64
	}
	var entries []entry
	total := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i, mp := range polys {
		for j, p := range mp {
			if len(p) == 0 || len(p[0]) == 0 {
				continue
			}
			b := p[0].Bound() // holes lie inside the outer ring
			if !finiteBound(b) {
				continue // a NaN or infinite vertex: RingContains is false everywhere
			}
			entries = append(entries, entry{b: b, p: areaPart{int32(i), int32(j)}})
			total = unionBound(total, b)
		}
	}
	if len(entries) == 0 {
		return ix
	}
	// Hilbert order of the boxes' centres on a 2^16 grid over the whole
	// extent: consecutive entries are near each other, so consecutive
	// runs make compact nodes at every level.
	const side = 1 << 16
	w, h := total.Max[0]-total.Min[0], total.Max[1]-total.Min[1]
	for k := range entries {
		c := entries[k].b.Center()
		x, y := uint32(0), uint32(0)
		if w > 0 {
			x = uint32(min(side-1, math.Floor((c[0]-total.Min[0])/w*side)))
		}
		if h > 0 {
			y = uint32(min(side-1, math.Floor((c[1]-total.Min[1])/h*side)))
		}
		entries[k].hilb = hilbert(side, x, y)
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.hilb, b.hilb) })
	ix.parts = make([]areaPart, len(entries))
	leaf := make([]orb.Bound, len(entries))
	for k, e := range entries {
		ix.parts[k], leaf[k] = e.p, e.b
	}
	ix.levels = append(ix.levels, leaf)
	for level := leaf; len(level) > areaNodeSize; {
		up := make([]orb.Bound, (len(level)+areaNodeSize-1)/areaNodeSize)
		for i := range up {
			b := level[i*areaNodeSize]
			for _, c := range level[i*areaNodeSize+1 : min(len(level), (i+1)*areaNodeSize)] {
				b = unionBound(b, c)
			}
			up[i] = b
		}
		ix.levels = append(ix.levels, up)
		level = up
	}
	return ix
}

// Len returns the number of areas the index was built from.
func (ix *AreaIndex) Len() int { return len(ix.polys) }

// Find returns the index of the area that contains p, the lowest one where
// several do; ok is false when none does, or when p is not finite.
func (ix *AreaIndex) Find(p orb.Point) (i int, ok bool) {
	best := -1
	if len(ix.levels) > 0 && finite(p[0]) && finite(p[1]) {
		top := len(ix.levels) - 1
		for n := range ix.levels[top] {
			best = ix.find(top, n, p, best)
		}
	}
	return best, best >= 0
}

// find searches node n of level for p and returns the lowest area index
// containing p, or best if that is lower.
func (ix *AreaIndex) find(level, n int, p orb.Point, best int) int {
	if !ix.levels[level][n].Contains(p) {
		return best
	}
	if level == 0 {
		ap := ix.parts[n]
		if a := int(ap.area); (best < 0 || a < best) && planar.PolygonContains(ix.polys[a][ap.part], p) {
			return a
		}
		return best
	}
	below := ix.levels[level-1]
	for c := n * areaNodeSize; c < min(len(below), (n+1)*areaNodeSize); c++ {
		best = ix.find(level-1, c, p, best)
	}
	return best
}

// unionBound is orb.Bound.Union without its special case for empty
// bounds (a degenerate box, a single point, is not empty here).
func unionBound(a, b orb.Bound) orb.Bound {
	return orb.Bound{
		Min: orb.Point{math.Min(a.Min[0], b.Min[0]), math.Min(a.Min[1], b.Min[1])},
		Max: orb.Point{math.Max(a.Max[0], b.Max[0]), math.Max(a.Max[1], b.Max[1])},
	}
}

func finiteBound(b orb.Bound) bool {
	return finite(b.Min[0]) && finite(b.Min[1]) && finite(b.Max[0]) && finite(b.Max[1])
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// hilbert returns the distance of cell (x, y) along the Hilbert curve that
// fills a side×side grid (side a power of two).
func hilbert(side, x, y uint32) uint64 {
	var d uint64
	for s := side / 2; s > 0; s /= 2 {
		var rx, ry uint32
		if x&s != 0 {
			rx = 1
		}
		if y&s != 0 {
			ry = 1
		}
		d += uint64(s) * uint64(s) * uint64((3*rx)^ry)
		if ry == 0 { // rotate the quadrant
			if rx == 1 {
				x, y = side-1-x, side-1-y
			}
			x, y = y, x
		}
	}
	return d
}
