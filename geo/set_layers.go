package geo

import (
	"sync"
	"time"

	"fibremon"

	"github.com/paulmach/orb/geojson"
)

// BuildLayers is BuildLayer over several comuni, limited to q's area
// (BBox and Zoom): each comune's features in turn, each with a "comune"
// property (its slug). The collection's attribution is the first comune's
// (every boundary of a data set carries the same).
//
// No layer holds more than MaxAreaFeatures (the points of a MultiPoint
// count one each):
//
//   - addresses: each civic in the area while they number at most
//     MaxAreaFeatures and the zoom is MinCivicZoom or finer; otherwise
//     clusters, one per comune and cell of the grid of the zoom
//     (ClusterGridOffset), coarsened until they fit, each with its count,
//     units, served share and dominant class.
//   - white-areas: the hulls meeting the area and the white civics in it,
//     under the same rule, the civics clustered beyond it.
//   - the other layers: the features meeting the area; more than
//     MaxAreaFeatures is an Invalid error on "bbox".
//
// The addresses and white-areas collections say "zoom" (the zoom used)
// and "clustered". Without BBox the area is the whole of comuni; without
// Zoom, the zoom at which it fills 1024 pixels (FitZoom): for one comune of
// a few thousand civics, the layer is BuildLayer's plus the "comune"
// properties.
func BuildLayers(comuni []*Index, q LayerQuery, statuses []fibremon.SiteStatus, now time.Time) (*geojson.FeatureCollection, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	if len(comuni) > 1 && q.Hamlet != "" {
		// A hamlet names one comune's features only.
		var with []*Index
		for _, ix := range comuni {
			if ix.Comune().hasHamlet(q.Hamlet) {
				with = append(with, ix)
			}
		}
		if len(with) == 0 {
			return nil, fibremon.FieldErrorf("hamlet", "%.60q is not a hamlet of any comune", q.Hamlet)
		}
		comuni = with
	}
	if len(comuni) == 1 && q.Hamlet != "" {
		if _, err := BuildLayer(comuni[0].Comune(), LayerQuery{Layer: LayerComune, Hamlet: q.Hamlet}, nil, now); err != nil {
			return nil, err // not a hamlet of the comune
		}
	}
	a := q.area(comuni)
	var in []*Index
	for _, ix := range comuni {
		if a.meets(ix.Comune().Boundary.Bound()) {
			in = append(in, ix)
		}
	}
	switch q.Layer {
	case LayerAddresses:
		return buildAddresses(in, q, a, now), nil
	case LayerWhiteAreas:
		return buildWhiteAreas(in, q, a, now), nil
	}
	var out *geojson.FeatureCollection
	for _, ix := range in {
		c := ix.Comune()
		fc, err := BuildLayer(c, q, statuses, now)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = newCollection(c, now)
		}
		for _, f := range fc.Features {
			if f.Geometry == nil || !a.meets(f.Geometry.Bound()) {
				continue
			}
			f.Properties["comune"] = c.Slug
			out.Features = append(out.Features, f)
		}
		if len(out.Features) > MaxAreaFeatures {
			return nil, areaTooLarge(q.Layer, len(out.Features))
		}
	}
	if out == nil {
		var first *Comune
		if len(comuni) > 0 {
			first = comuni[0].Comune()
		}
		out = newCollection(first, now)
	}
	return out, nil
}

func (c *Comune) hasHamlet(name string) bool {
	for _, h := range c.Hamlets {
		if h.Name == name {
			return true
		}
	}
	return false
}

// ConsortiumName is the name of the union of a data set's comuni in
// figures and timelines.
const ConsortiumName = "Consorzio (all comuni)"

// unionOnce caches Union per Set.
type unionOnce struct {
	once sync.Once
	c    *Comune
}

// Union returns one Comune holding every comune's civics and sites (no
// boundary, no hamlets): its Figures and Timeline are the totals of the
// data set. It is built once per Set.
func (s *Set) Union() *Comune {
	s.union.once.Do(func() {
		u := &Comune{Name: ConsortiumName, Slug: "", Sites: s.Sites()}
		n := 0
		for _, ix := range s.Comuni() {
			n += len(ix.Comune().Addresses)
		}
		u.Addresses = make([]Address, 0, n)
		for _, ix := range s.Comuni() {
			u.Addresses = append(u.Addresses, ix.Comune().Addresses...)
			if u.Attribution == "" {
				u.Attribution = ix.Comune().Attribution
			}
		}
		s.union.c = u
	})
	return s.union.c
}
