package geo

import (
	"cmp"
	"math"
	"slices"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/planar"
	"github.com/paulmach/orb/quadtree"
)

// Zone is the part of a comune nearer to one hamlet's centre than to any
// other: the hamlet's Voronoi cell clipped to the comune's boundary.
//
// Zones are derived geometrically, not official: ISTAT publishes no
// boundaries for the frazioni, and a real hamlet ends where its houses end,
// not on a bisector. A zone inherits the uncertainty of its centre (for
// Zappello, an estimated point ±1.2 km).
type Zone struct {
	Hamlet string
	// Polygon is the zone's largest part, in lon/lat with RFC 7946
	// orientation (outer ring counter-clockwise, holes clockwise).
	Polygon orb.Polygon
	// Parts holds every part of the zone, largest first (Parts[0] is
	// Polygon). There is more than one part only where a non-convex
	// boundary cuts a cell in pieces.
	Parts orb.MultiPolygon
	// Derived is always true: the zone is computed, not an official boundary.
	Derived bool
}

// Zones returns the hamlet zones of c, one per hamlet in c.Hamlets order.
// They partition c.Boundary: every point of the comune lies in the zone of
// its nearest hamlet centre (HamletAt), and the zones' areas add up to the
// comune's. Load computes them once; the caller must not modify them.
func (c *Comune) Zones() []Zone {
	if c.zones == nil && len(c.Hamlets) > 0 && len(c.Boundary) > 0 {
		return computeZones(c.Boundary, c.Hamlets) // a Comune built by hand
	}
	return c.zones
}

// HamletAt returns the hamlet whose zone contains p (lon, lat): the hamlet
// with the nearest centre, for a point inside the boundary (on the edge
// between two zones, either). It returns false for a point outside the
// boundary or a comune without hamlets.
//
// For a comune read by Load the zones are found through an AreaIndex, so
// the cost does not grow with the number of hamlets; a Comune built by
// hand compares the distances to every hamlet.
func (c *Comune) HamletAt(p orb.Point) (string, bool) {
	if len(c.Hamlets) == 0 || !c.Contains(p) {
		return "", false
	}
	return c.hamletInside(p), true
}

// hamletInside is HamletAt for a point known to lie inside the boundary.
func (c *Comune) hamletInside(p orb.Point) string {
	if c.zoneIndex != nil {
		if i, ok := c.zoneIndex.Find(p); ok {
			return c.Hamlets[i].Name
		}
		// On a zone's edge, where rounding may leave a gap: by distance.
	}
	return c.nearestHamlet(p)
}

// newZoneIndex indexes the zones' parts; Find returns a zone's index.
func newZoneIndex(zones []Zone) *AreaIndex {
	polys := make([]orb.MultiPolygon, len(zones))
	for i, z := range zones {
		polys[i] = z.Parts
	}
	return NewAreaIndex(polys)
}

// nearestHamlet returns the name of the hamlet nearest to p, measured in the
// comune's local projection (the metric that the zones use), the first in
// c.Hamlets order on a tie.
func (c *Comune) nearestHamlet(p orb.Point) string {
	pr := newProjection(c.Boundary.Bound())
	q := pr.forward(p)
	best, bestD := "", math.Inf(1)
	for _, h := range c.Hamlets {
		if d := planar.DistanceSquared(q, pr.forward(h.Point)); d < bestD {
			best, bestD = h.Name, d
		}
	}
	return best
}

// projection is a local equirectangular projection to metres east and
// north of an origin: exact enough (below 0.1 %) over a comune's extent.
type projection struct {
	lon0, lat0 float64
	kx, ky     float64 // metres per degree of longitude, latitude
}

func newProjection(b orb.Bound) projection {
	c := b.Center()
	ky := orb.EarthRadius * math.Pi / 180
	return projection{lon0: c.Lon(), lat0: c.Lat(), kx: ky * math.Cos(c.Lat()*math.Pi/180), ky: ky}
}

func (pr projection) forward(p orb.Point) orb.Point {
	return orb.Point{(p.Lon() - pr.lon0) * pr.kx, (p.Lat() - pr.lat0) * pr.ky}
}

func (pr projection) inverse(q orb.Point) orb.Point {
	return orb.Point{pr.lon0 + q[0]/pr.kx, pr.lat0 + q[1]/pr.ky}
}

// halfPlane is {x : (x - origin)·normal <= 0}.
type halfPlane struct {
	origin, normal orb.Point
}

func (h halfPlane) eval(p orb.Point) float64 {
	return (p[0]-h.origin[0])*h.normal[0] + (p[1]-h.origin[1])*h.normal[1]
}

// computeZones clips the boundary to each hamlet's Voronoi cell: the
// intersection of the half-planes bounded by the perpendicular bisectors
// between its centre and the other centres, in a local metric projection.
// Only the bisectors that bound the cell are used (voronoiNeighbours), so
// the work grows with the number of hamlets, not with its square.
func computeZones(boundary orb.MultiPolygon, hamlets []Hamlet) []Zone {
	pr := newProjection(boundary.Bound())
	centres := make([]orb.Point, len(hamlets))
	for i, h := range hamlets {
		centres[i] = pr.forward(h.Point)
	}
	var planes []orb.Polygon // the boundary, projected
	frame := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for _, p := range Rewind(boundary) {
		var q orb.Polygon
		for _, r := range p {
			pr := projectRing(pr, r)
			q = append(q, pr)
			frame = unionBound(frame, pr.Bound())
		}
		planes = append(planes, q)
	}
	if len(planes) == 0 {
		return make([]Zone, len(hamlets)) // no boundary, no zones
	}
	nb := newNeighbourFinder(centres, frame)
	zones := make([]Zone, len(hamlets))
	for i := range hamlets {
		var hs []halfPlane
		for _, j := range nb.voronoiNeighbours(i) {
			n := orb.Point{centres[j][0] - centres[i][0], centres[j][1] - centres[i][1]}
			m := orb.Point{(centres[i][0] + centres[j][0]) / 2, (centres[i][1] + centres[j][1]) / 2}
			hs = append(hs, halfPlane{origin: m, normal: n})
		}
		var parts orb.MultiPolygon
		for _, p := range planes {
			for _, q := range clipPolygon(p, hs) {
				parts = append(parts, unprojectPolygon(pr, q))
			}
		}
		slices.SortStableFunc(parts, func(a, b orb.Polygon) int {
			return cmp.Compare(orbgeo.Area(b), orbgeo.Area(a))
		})
		z := Zone{Hamlet: hamlets[i].Name, Parts: Rewind(parts), Derived: true}
		if len(z.Parts) > 0 {
			z.Polygon = z.Parts[0]
		}
		zones[i] = z
	}
	return zones
}

// neighbourFinder finds the centres whose bisectors bound a centre's
// Voronoi cell within a frame (planar coordinates).
type neighbourFinder struct {
	centres []orb.Point
	frame   orb.Ring // counter-clockwise
	tree    *quadtree.Quadtree
}

func newNeighbourFinder(centres []orb.Point, frame orb.Bound) *neighbourFinder {
	for _, c := range centres {
		frame = unionBound(frame, c.Bound())
	}
	frame = frame.Pad(1 + 1e-6*max(frame.Max[0]-frame.Min[0], frame.Max[1]-frame.Min[1]))
	nf := &neighbourFinder{centres: centres, frame: frame.ToRing(), tree: quadtree.New(frame)}
	for i, c := range centres {
		_ = nf.tree.Add(indexed{c, i}) // inside frame by construction
	}
	return nf
}

// voronoiNeighbours returns the centres j, nearest first, whose bisector
// with centre i cuts i's cell in the frame. The cell is the frame clipped
// by the bisectors of the centres taken nearest first; once a centre is
// farther than twice the distance from i to the cell's farthest vertex,
// neither its bisector nor any later one can cut the cell. A bisector
// that does not cut the cell clipped so far cannot cut the final cell
// either, so it is left out. Centres equal to i's are skipped: such
// hamlets share a zone.
func (nf *neighbourFinder) voronoiNeighbours(i int) []int {
	ci := nf.centres[i]
	cell := nf.frame
	var out []int
	used := map[int]bool{}
	for k := 16; ; k *= 4 {
		near := nf.tree.KNearest(nil, ci, min(k, len(nf.centres)))
		done := len(near) == len(nf.centres)
		for _, x := range near {
			j := x.(indexed).i
			cj := nf.centres[j]
			if j == i || cj == ci || used[j] {
				continue
			}
			r2 := 0.0
			for _, v := range cell {
				r2 = max(r2, planar.DistanceSquared(ci, v))
			}
			if planar.DistanceSquared(ci, cj) > 4*r2 {
				return out
			}
			h := halfPlane{
				origin: orb.Point{(ci[0] + cj[0]) / 2, (ci[1] + cj[1]) / 2},
				normal: orb.Point{cj[0] - ci[0], cj[1] - ci[1]},
			}
			used[j] = true
			cuts := false
			for _, v := range cell {
				if h.eval(v) > 0 {
					cuts = true
					break
				}
			}
			if !cuts {
				continue
			}
			out = append(out, j)
			if cell = sutherlandHodgman(cell, h); len(cell) == 0 {
				return out
			}
			cell = append(cell, cell[0])
		}
		if done {
			return out
		}
	}
}

func projectRing(pr projection, r orb.Ring) orb.Ring {
	out := make(orb.Ring, len(r))
	for i, p := range r {
		out[i] = pr.forward(p)
	}
	return out
}

func unprojectPolygon(pr projection, p orb.Polygon) orb.Polygon {
	out := make(orb.Polygon, len(p))
	for i, r := range p {
		o := make(orb.Ring, len(r))
		for j, q := range r {
			o[j] = pr.inverse(q)
		}
		out[i] = o
	}
	return out
}

// clipPolygon intersects a polygon (outer ring counter-clockwise, holes
// clockwise, planar coordinates) with a convex region given as half-planes.
// Since (outer \ holes) ∩ H = (outer ∩ H) \ (holes ∩ H), the outer ring and
// the holes are clipped separately and each clipped hole is given to the
// clipped outer part that contains it.
func clipPolygon(p orb.Polygon, hs []halfPlane) []orb.Polygon {
	if len(p) == 0 {
		return nil
	}
	outers := clipRings([]orb.Ring{p[0]}, hs)
	var holes []orb.Ring
	if len(p) > 1 {
		holes = clipRings(p[1:], hs)
	}
	out := make([]orb.Polygon, len(outers))
	for i, r := range outers {
		out[i] = orb.Polygon{r}
	}
	for _, h := range holes {
		// The hole lies inside one outer part; its clipped vertices may
		// sit on that part's edge, so the part containing most wins. When
		// rounding puts every vertex just outside (a hole cut to a sliver
		// along the clip line), the part nearest to the hole takes it.
		best, votes := -1, 0
		for i := range out {
			n := 0
			for _, q := range h {
				if planar.RingContains(out[i][0], q) {
					n++
				}
			}
			if n > votes {
				best, votes = i, n
			}
		}
		if best < 0 {
			nearest := math.Inf(1)
			for i := range out {
				if d := planar.DistanceFrom(orb.LineString(out[i][0]), h[0]); d < nearest {
					best, nearest = i, d
				}
			}
		}
		if best >= 0 {
			out[best] = append(out[best], h)
		}
	}
	return out
}

// clipRings clips each ring by each half-plane in turn; a ring may split
// into several.
func clipRings(rings []orb.Ring, hs []halfPlane) []orb.Ring {
	for _, h := range hs {
		var next []orb.Ring
		for _, r := range rings {
			next = append(next, splitRing(r, h)...)
		}
		rings = next
	}
	return rings
}

// minRingArea is the area, in m², below which a clipped ring is dropped as
// a sliver of rounding.
const minRingArea = 1e-3

// splitRing returns the parts of the simple ring r (closed, planar) that lie
// in the half-plane h. Sutherland–Hodgman alone would return one ring with
// zero-width bridges along the clip line where a non-convex ring leaves and
// re-enters the half-plane; instead the crossings are paired along the line
// and each part is traced as its own ring (the classic split of a simple
// polygon by a line). When the pairing is inconsistent (a degenerate input,
// such as a self-intersecting ring) it falls back to Sutherland–Hodgman,
// which still gives the right area.
func splitRing(r orb.Ring, h halfPlane) []orb.Ring {
	n := len(r) - 1 // r is closed: r[n] == r[0]
	if n < 3 {
		return nil
	}
	type node struct {
		p     orb.Point
		cross int // 0 vertex, +1 entry (outside → inside), -1 exit
	}
	var nodes []node
	in, out := 0, 0
	for i := range n {
		a, b := r[i], r[i+1]
		fa, fb := h.eval(a), h.eval(b)
		if fa <= 0 {
			nodes = append(nodes, node{p: a})
			in++
		} else {
			out++
		}
		if (fa <= 0) != (fb <= 0) {
			t := fa / (fa - fb)
			x := orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
			cross := 1
			if fa <= 0 {
				cross = -1
			}
			nodes = append(nodes, node{p: x, cross: cross})
		}
	}
	switch {
	case out == 0:
		return []orb.Ring{r}
	case in == 0:
		return nil
	}

	// Order the crossings along the clip line; consecutive pairs bound the
	// segments of the line that lie inside the ring.
	dir := orb.Point{-h.normal[1], h.normal[0]}
	var crossings []int
	for i, nd := range nodes {
		if nd.cross != 0 {
			crossings = append(crossings, i)
		}
	}
	along := func(i int) float64 { return nodes[i].p[0]*dir[0] + nodes[i].p[1]*dir[1] }
	slices.SortStableFunc(crossings, func(a, b int) int { return cmp.Compare(along(a), along(b)) })
	partner := make(map[int]int, len(crossings))
	ok := len(crossings)%2 == 0
	for k := 0; ok && k+1 < len(crossings); k += 2 {
		a, b := crossings[k], crossings[k+1]
		if nodes[a].cross == nodes[b].cross {
			ok = false
			break
		}
		partner[a], partner[b] = b, a
	}
	if !ok {
		return cleanRings([]orb.Ring{sutherlandHodgman(r, h)})
	}

	// Trace: follow the ring from an entry to the next exit, jump along
	// the line to the exit's partner (an entry), and so on until the ring
	// closes.
	visited := make([]bool, len(nodes))
	var rings []orb.Ring
	for _, start := range crossings {
		if nodes[start].cross != 1 || visited[start] {
			continue
		}
		var ring orb.Ring
		i := start
		for steps := 0; steps <= 2*len(nodes); steps++ {
			if visited[i] {
				break
			}
			visited[i] = true
			ring = append(ring, nodes[i].p)
			if nodes[i].cross == -1 {
				i = partner[i]
				continue
			}
			i = (i + 1) % len(nodes)
		}
		rings = append(rings, ring)
	}
	return cleanRings(rings)
}

// sutherlandHodgman clips ring r by one half-plane.
func sutherlandHodgman(r orb.Ring, h halfPlane) orb.Ring {
	var out orb.Ring
	for i := 0; i+1 < len(r); i++ {
		a, b := r[i], r[i+1]
		fa, fb := h.eval(a), h.eval(b)
		if fa <= 0 {
			out = append(out, a)
		}
		if (fa <= 0) != (fb <= 0) {
			t := fa / (fa - fb)
			out = append(out, orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])})
		}
	}
	return out
}

// cleanRings drops repeated positions, closes each ring and drops rings
// without area.
func cleanRings(rings []orb.Ring) []orb.Ring {
	var out []orb.Ring
	for _, r := range rings {
		var c orb.Ring
		for _, p := range r {
			if len(c) == 0 || c[len(c)-1] != p {
				c = append(c, p)
			}
		}
		for len(c) > 1 && c[len(c)-1] == c[0] {
			c = c[:len(c)-1]
		}
		if len(c) < 3 {
			continue
		}
		c = append(c, c[0])
		if math.Abs(planar.Area(c)) < minRingArea {
			continue
		}
		out = append(out, c)
	}
	return out
}
