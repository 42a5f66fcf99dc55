package geo

import (
	"cmp"
	"slices"

	"fibremon"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/quadtree"
)

// Index answers spatial and address questions about one Comune: nearest
// civics and sites, the civic at a point, and address lookup (Lookup).
//
// An Index is immutable once NewIndex returns it, and its methods are safe
// for concurrent use. orb's quadtree is not safe for concurrent writes, so
// the Index is never updated: build a new one on each (re)load and publish
// it with Live.
type Index struct {
	c       *Comune
	pr      projection
	addrs   *quadtree.Quadtree // of indexed, i into c.Addresses
	sites   *quadtree.Quadtree // of indexed, i into c.Sites
	streets []*street          // sorted by full
	byFull  map[string]*street
	white   whiteCache           // the unfiltered white-area features, built once
	byName  map[string][]*street // by name without type, in streets order
	// names and fulls index the streets' names and full names (by their
	// place in streets) for typo-tolerant lookup.
	names, fulls *typoIndex
	// irregular are the streets whose full name is not their type and
	// name joined ("V. Veneto" as a name): the typo lookup measures them
	// by name whatever the query's type.
	irregular []int32
	// places are the comune's name and then its hamlets' (normalised
	// tokens), and placeByFirst and placeByLast index them by their first
	// and last tokens (in order), for parseQuery.
	places                    [][]string
	placeByFirst, placeByLast map[string][]int32
}

// indexed is a quadtree entry: a point in the comune's local projection
// (metres) and the index of what it stands for.
type indexed struct {
	p orb.Point
	i int
}

func (x indexed) Point() orb.Point { return x.p }

// SiteDistance is a site and its distance from a point.
type SiteDistance struct {
	Site   *fibremon.Site
	Meters float64
}

// NewIndex builds the index of c's addresses and sites. It reads c and
// keeps pointers into c.Addresses and c.Sites, which must not change
// afterwards. A nil c gives an empty index.
func NewIndex(c *Comune) *Index {
	if c == nil {
		c = &Comune{}
	}
	ix := &Index{c: c, byFull: map[string]*street{}}
	b := c.Boundary.Bound()
	for _, a := range c.Addresses {
		b = b.Extend(a.Point)
	}
	for _, s := range c.Sites {
		b = b.Extend(orb.Point{s.Lon, s.Lat})
	}
	ix.pr = newProjection(b)
	pb := orb.Bound{Min: ix.pr.forward(b.Min), Max: ix.pr.forward(b.Max)}.Pad(1)
	if len(c.Addresses) > 0 {
		ix.addrs = quadtree.New(pb)
		for i := range c.Addresses {
			_ = ix.addrs.Add(indexed{ix.pr.forward(c.Addresses[i].Point), i}) // inside pb by construction
		}
	}
	if len(c.Sites) > 0 {
		ix.sites = quadtree.New(pb)
		for i, s := range c.Sites {
			_ = ix.sites.Add(indexed{ix.pr.forward(orb.Point{s.Lon, s.Lat}), i})
		}
	}
	ix.buildStreets()
	return ix
}

// Comune returns the comune the index was built from.
func (ix *Index) Comune() *Comune { return ix.c }

// Contains reports whether p (lon, lat) lies inside the comune.
func (ix *Index) Contains(p orb.Point) bool {
	return ix.c.Contains(p)
}

// nearest returns the indexes of the max entries of t nearest to p by
// great-circle distance, with their distances in metres. The quadtree ranks
// by planar distance in the local projection; a margin of extra candidates
// is re-ranked on the sphere, which absorbs the projection's error (under
// 0.1 % across a comune).
func (ix *Index) nearest(t *quadtree.Quadtree, n int, p orb.Point, max int, at func(int) orb.Point) ([]int, []float64) {
	if t == nil || max <= 0 {
		return nil, nil
	}
	k := n
	if max <= (n-8)/2 { // no overflow for a huge max
		k = 2*max + 8
	}
	got := t.KNearest(make([]orb.Pointer, 0, k), ix.pr.forward(p), k)
	type cand struct {
		i int
		d float64
	}
	cs := make([]cand, len(got))
	for j, g := range got {
		i := g.(indexed).i
		cs[j] = cand{i, DistanceMeters(p, at(i))}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.i, b.i))
	})
	cs = cs[:min(len(cs), max)]
	idx, ds := make([]int, len(cs)), make([]float64, len(cs))
	for j, c := range cs {
		idx[j], ds[j] = c.i, c.d
	}
	return idx, ds
}

// Nearest returns up to max addresses nearest to p (lon, lat), nearest
// first, by great-circle distance (DistanceMeters); ties in index order.
func (ix *Index) Nearest(p orb.Point, max int) []*Address {
	idx, _ := ix.nearest(ix.addrs, len(ix.c.Addresses), p, max, func(i int) orb.Point { return ix.c.Addresses[i].Point })
	out := make([]*Address, len(idx))
	for j, i := range idx {
		out[j] = &ix.c.Addresses[i]
	}
	return out
}

// NearestSites returns up to n monitored sites nearest to p, nearest first,
// with their distances in metres.
func (ix *Index) NearestSites(p orb.Point, n int) []SiteDistance {
	idx, ds := ix.nearest(ix.sites, len(ix.c.Sites), p, n, func(i int) orb.Point {
		return orb.Point{ix.c.Sites[i].Lon, ix.c.Sites[i].Lat}
	})
	out := make([]SiteDistance, len(idx))
	for j, i := range idx {
		out[j] = SiteDistance{Site: &ix.c.Sites[i], Meters: ds[j]}
	}
	return out
}

// AddressAt returns the address nearest to p if it lies within maxMeters,
// with its distance in metres.
func (ix *Index) AddressAt(p orb.Point, maxMeters float64) (*Address, float64, bool) {
	idx, ds := ix.nearest(ix.addrs, len(ix.c.Addresses), p, 1, func(i int) orb.Point { return ix.c.Addresses[i].Point })
	if len(idx) == 0 || !(ds[0] <= maxMeters) {
		return nil, 0, false
	}
	return &ix.c.Addresses[idx[0]], ds[0], true
}
