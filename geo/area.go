package geo

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"fibremon"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
)

// Maps at scale: the layers of many comuni served by area and zoom
// (docs/SCALING.md, "Maps at scale").
const (
	// MaxZoom is the finest zoom level a map may ask for.
	MaxZoom = 22
	// MaxAreaFeatures is the hard cap on what one layer of one area
	// holds: features, and the points of the white-area MultiPoints.
	// Civics beyond it are grouped into clusters; a layer of boundaries,
	// hamlets or sites beyond it is refused (narrow the area).
	MaxAreaFeatures = 2000
	// MinCivicZoom is the coarsest zoom at which civics are listed one by
	// one; below it they are always clustered (a civic is then a few
	// pixels from its neighbours).
	MinCivicZoom = 12
	// ClusterGridOffset sets the cluster grid: the cells of zoom z are the
	// tiles of zoom z+ClusterGridOffset, 64 pixels of a 256-pixel tile.
	ClusterGridOffset = 2
)

// ValidBBox reports whether b is a bounding box in lon/lat: finite,
// longitudes in [-180, 180], latitudes in [-90, 90], each minimum not
// above its maximum.
func ValidBBox(b orb.Bound) bool {
	for _, v := range []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return b.Min[0] >= -180 && b.Max[0] <= 180 && b.Min[1] >= -90 && b.Max[1] <= 90 &&
		b.Min[0] <= b.Max[0] && b.Min[1] <= b.Max[1]
}

// FitZoom returns the zoom level at which b fills 1024 pixels (four
// 256-pixel tiles) along its longer side, in [0, MaxZoom].
func FitZoom(b orb.Bound) int {
	f0, f1 := maptile.Fraction(b.Min, 0), maptile.Fraction(b.Max, 0)
	span := max(math.Abs(f1[0]-f0[0]), math.Abs(f1[1]-f0[1]))
	if !(span > 0) {
		return MaxZoom
	}
	return min(max(int(math.Floor(math.Log2(4/span))), 0), MaxZoom)
}

// AddressesIn returns the civics of the comune inside b (lon/lat, edges
// included), in register order.
func (ix *Index) AddressesIn(b orb.Bound) []*Address {
	if ix.addrs == nil {
		return nil
	}
	got := ix.addrs.InBound(nil, orb.Bound{Min: ix.pr.forward(b.Min), Max: ix.pr.forward(b.Max)})
	idx := make([]int, len(got))
	for j, g := range got {
		idx[j] = g.(indexed).i
	}
	slices.Sort(idx)
	out := make([]*Address, 0, len(idx))
	for _, i := range idx {
		if a := &ix.c.Addresses[i]; b.Contains(a.Point) { // the projection's rounding at the edges
			out = append(out, a)
		}
	}
	return out
}

// area is a LayerQuery's area resolved: its bounding box (nil: none) and
// zoom.
type area struct {
	bbox *orb.Bound
	zoom int
}

func (q LayerQuery) area(comuni []*Index) area {
	a := area{bbox: q.BBox}
	if q.Zoom != nil {
		a.zoom = *q.Zoom
		return a
	}
	if a.bbox != nil {
		a.zoom = FitZoom(*a.bbox)
		return a
	}
	var b orb.Bound
	for i, ix := range comuni {
		if i == 0 {
			b = ix.Comune().Boundary.Bound()
		} else {
			b = b.Union(ix.Comune().Boundary.Bound())
		}
	}
	a.zoom = FitZoom(b)
	return a
}

func (a area) meets(b orb.Bound) bool { return a.bbox == nil || a.bbox.Intersects(b) }

// civic is a civic of a comune of the set.
type civic struct {
	slug string
	a    *Address
}

// civics returns the civics of comuni in the area that pass keep, and
// their bounding box.
func (a area) civics(comuni []*Index, keep func(*Address) bool) ([]civic, orb.Bound) {
	var out []civic
	var b orb.Bound
	for _, ix := range comuni {
		c := ix.Comune()
		var as []*Address
		if a.bbox != nil {
			as = ix.AddressesIn(*a.bbox)
		} else {
			as = make([]*Address, len(c.Addresses))
			for i := range c.Addresses {
				as[i] = &c.Addresses[i]
			}
		}
		for _, ad := range as {
			if !keep(ad) {
				continue
			}
			if len(out) == 0 {
				b = orb.Bound{Min: ad.Point, Max: ad.Point}
			} else {
				b = b.Extend(ad.Point)
			}
			out = append(out, civic{c.Slug, ad})
		}
	}
	return out, b
}

// cluster is a group of civics of one comune in one cell of the grid.
type cluster struct {
	slug           string
	cell           maptile.Tile
	n, units       int
	served         int // units
	white          int // civics
	classes        [4]int
	synthetic      bool
	sumLon, sumLat float64
	bound          orb.Bound
}

// clusterCivics groups cs per comune and cell of the grid of zoom (the
// tiles of zoom+ClusterGridOffset), coarsening the grid until there are at
// most limit groups. It returns them in the order of their first civic.
func clusterCivics(cs []civic, b orb.Bound, zoom, limit int, now time.Time) []*cluster {
	gz := zoom + ClusterGridOffset
	// Start from the finest grid whose cells over b could number at most
	// limit; the comuni split cells, so coarsen further if need be.
	for gz > 0 {
		f0, f1 := maptile.Fraction(b.Min, maptile.Zoom(gz)), maptile.Fraction(b.Max, maptile.Zoom(gz))
		if (math.Floor(f1[0])-math.Floor(f0[0])+1)*(math.Floor(f0[1])-math.Floor(f1[1])+1) <= float64(limit) {
			break
		}
		gz--
	}
	cells := make([]maptile.Tile, len(cs))
	for i, c := range cs {
		cells[i] = maptile.At(c.a.Point, maptile.Zoom(gz))
	}
	type key struct {
		slug string
		x, y uint32
	}
	for shift := 0; ; shift++ {
		groups := map[key]*cluster{}
		var out []*cluster
		for i, c := range cs {
			t := cells[i]
			k := key{c.slug, t.X >> shift, t.Y >> shift}
			g := groups[k]
			if g == nil {
				g = &cluster{slug: c.slug, cell: maptile.New(k.x, k.y, maptile.Zoom(gz-shift)),
					bound: orb.Bound{Min: c.a.Point, Max: c.a.Point}}
				groups[k] = g
				out = append(out, g)
			}
			g.add(c.a, now)
		}
		if len(out) <= limit || gz-shift == 0 {
			return out
		}
	}
}

func (g *cluster) add(a *Address, now time.Time) {
	g.n++
	g.units += a.Units
	if a.Served(now) {
		g.served += a.Units
	}
	if a.AreaClass == White {
		g.white++
	}
	g.classes[max(slices.Index(Classes, a.ClassAt(now)), 0)]++
	g.synthetic = g.synthetic || a.Synthetic
	g.sumLon += a.Point.Lon()
	g.sumLat += a.Point.Lat()
	g.bound = g.bound.Extend(a.Point)
}

// feature returns the cluster as a Point at its civics' mean position,
// with their bounding box.
func (g *cluster) feature(layer string) *geojson.Feature {
	f := geojson.NewFeature(orb.Point{round(g.sumLon/float64(g.n), 6), round(g.sumLat/float64(g.n), 6)})
	f.BBox = geojson.NewBBox(g.bound)
	cell := fmt.Sprintf("%d/%d/%d", g.cell.Z, g.cell.X, g.cell.Y)
	p := geojson.Properties{
		"layer":     layer,
		"cluster":   true,
		"comune":    g.slug,
		"cell":      cell,
		"addresses": g.n,
		"units":     g.units,
		"synthetic": g.synthetic,
	}
	switch layer {
	case LayerAddresses:
		f.ID = "cluster:" + g.slug + ":" + cell
		dominant := 0
		for i, n := range g.classes {
			p["civics_"+string(Classes[i])] = n
			if n > g.classes[dominant] {
				dominant = i
			}
		}
		p["class"] = string(Classes[dominant])
		p["fill_color"] = ClassColor(Classes[dominant])
		p["served_units"] = g.served
		p["white_area_addresses"] = g.white
		if g.units > 0 {
			setFinite(p, "served_share", round(float64(g.served)/float64(g.units), 4))
		}
	case LayerWhiteAreas:
		f.ID = "white:" + g.slug + ":cluster:" + cell
		p["shape"] = "cluster"
		p["area_class"] = string(White)
		p["derived"] = true
		p["method"] = "per-civic"
	}
	f.Properties = p
	return f
}

// areaCollection returns the collection of layer for the area, with its
// foreign members: "zoom" and "clustered".
func areaCollection(comuni []*Index, a area, now time.Time, clustered bool) *geojson.FeatureCollection {
	var first *Comune
	if len(comuni) > 0 {
		first = comuni[0].Comune()
	}
	fc := newCollection(first, now)
	fc.ExtraMembers["zoom"] = a.zoom
	fc.ExtraMembers["clustered"] = clustered
	return fc
}

// buildAddresses is the addresses layer of comuni for the area: each civic
// while they number at most MaxAreaFeatures and the zoom is MinCivicZoom
// or finer, clusters otherwise.
func buildAddresses(comuni []*Index, q LayerQuery, a area, now time.Time) *geojson.FeatureCollection {
	cs, b := a.civics(comuni, func(ad *Address) bool { return q.addressOK(ad, now) })
	if a.zoom >= MinCivicZoom && len(cs) <= MaxAreaFeatures {
		fc := areaCollection(comuni, a, now, false)
		for _, c := range cs {
			f := addressFeature(c.a, now)
			f.Properties["comune"] = c.slug
			fc.Append(f)
		}
		return fc
	}
	fc := areaCollection(comuni, a, now, true)
	for _, g := range clusterCivics(cs, b, a.zoom, MaxAreaFeatures, now) {
		fc.Append(g.feature(LayerAddresses))
	}
	return fc
}

// buildWhiteAreas is the white-areas layer of comuni for the area: the
// hulls meeting it and, while they and the white civics in the area number
// at most MaxAreaFeatures and the zoom is MinCivicZoom or finer, the
// civics (each hamlet's MultiPoint holding those in the area); otherwise
// the civics in clusters, and the hulls only while they take at most half
// the cap.
func buildWhiteAreas(comuni []*Index, q LayerQuery, a area, now time.Time) *geojson.FeatureCollection {
	ok := func(ad *Address) bool { return q.addressOK(ad, now) }
	var groups, hulls []*geojson.Feature
	points := 0
	for _, ix := range comuni {
		c := ix.Comune()
		for _, f := range ix.whiteAreas(q, now) {
			f.Properties["comune"] = c.Slug
			if f.Properties["shape"] == "hull" {
				if a.meets(f.Geometry.Bound()) {
					hulls = append(hulls, f)
					groups = append(groups, f)
				}
				continue
			}
			mp := f.Geometry.(orb.MultiPoint)
			if a.bbox != nil {
				in := orb.MultiPoint{}
				for _, p := range mp {
					if a.bbox.Contains(p) {
						in = append(in, p)
					}
				}
				if len(in) == 0 {
					continue
				}
				mp = in
				f.Geometry = mp
				f.BBox = nil
			}
			points += len(mp)
			groups = append(groups, f)
		}
	}
	if a.zoom >= MinCivicZoom && len(hulls)+points <= MaxAreaFeatures {
		fc := areaCollection(comuni, a, now, false)
		for _, f := range groups {
			fc.Append(f)
		}
		return fc
	}
	fc := areaCollection(comuni, a, now, true)
	limit := MaxAreaFeatures
	if len(hulls) <= MaxAreaFeatures/2 {
		for _, f := range hulls {
			fc.Append(f)
		}
		limit -= len(hulls)
	}
	cs, b := a.civics(comuni, func(ad *Address) bool { return ad.AreaClass == White && ok(ad) })
	for _, g := range clusterCivics(cs, b, a.zoom, limit, now) {
		fc.Append(g.feature(LayerWhiteAreas))
	}
	return fc
}

// whiteCache holds an Index's white-area features without filters: they
// depend on the register alone, and their hulls are costly (a hull is
// tested against every civic of the comune).
type whiteCache struct {
	once  sync.Once
	feats []*geojson.Feature
}

// whiteAreas returns whiteAreaFeatures of the comune for q's filters at
// now, as new Features the caller may change (their geometries are
// shared: replace them, do not modify them).
func (ix *Index) whiteAreas(q LayerQuery, now time.Time) []*geojson.Feature {
	if q.Hamlet != "" || q.Technology != "" || q.Class != "" || q.State != "" {
		return whiteAreaFeatures(ix.c, func(a *Address) bool { return q.addressOK(a, now) })
	}
	ix.white.once.Do(func() {
		ix.white.feats = whiteAreaFeatures(ix.c, func(*Address) bool { return true })
	})
	out := make([]*geojson.Feature, len(ix.white.feats))
	for i, f := range ix.white.feats {
		g := *f
		g.Properties = maps.Clone(f.Properties)
		out[i] = &g
	}
	return out
}

// areaTooLarge is the error for a layer with more than MaxAreaFeatures
// features in the area.
func areaTooLarge(layer string, n int) error {
	return fibremon.FieldErrorf("bbox", "the area holds %d features of layer %q, more than %d: narrow it (or use the vector tiles)", n, layer, MaxAreaFeatures)
}
