package geo

import (
	"sync"
	"time"

	"fibremon"

	"github.com/paulmach/orb/geojson"
)

// BuildLayers is BuildLayer over several comuni: each comune's features in
// turn (each with its "comune" property, the slug). The collection's
// attribution is the first comune's (every boundary of a data set carries
// the same). With one comune it is BuildLayer's collection.
func BuildLayers(comuni []*Index, q LayerQuery, statuses []fibremon.SiteStatus, now time.Time) (*geojson.FeatureCollection, error) {
	var out *geojson.FeatureCollection
	for _, ix := range comuni {
		c := ix.Comune()
		lq := q
		if len(comuni) > 1 && q.Hamlet != "" && !c.hasHamlet(q.Hamlet) {
			continue // a hamlet names one comune's features only
		}
		fc, err := BuildLayer(c, lq, statuses, now)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = fc
			continue
		}
		out.Features = append(out.Features, fc.Features...)
	}
	if out == nil {
		if len(comuni) > 1 && q.Hamlet != "" {
			return nil, fibremon.FieldErrorf("hamlet", "%.60q is not a hamlet of any comune", q.Hamlet)
		}
		return BuildLayer(nil, q, statuses, now)
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
