package geo_test

import (
	"bytes"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

var (
	cremascoOnce sync.Once
	cremasco     *geo.Set
	cremascoErr  error
)

// mustCremasco returns the embedded data set of 48 comuni, loaded once.
func mustCremasco(tb testing.TB) *geo.Set {
	tb.Helper()
	cremascoOnce.Do(func() { cremasco, cremascoErr = geo.LoadSet(data.FS, ".", geo.LoadOptions{}) })
	if cremascoErr != nil {
		tb.Fatal(cremascoErr)
	}
	return cremasco
}

func mustComune(tb testing.TB, s *geo.Set, key string) *geo.Index {
	tb.Helper()
	ix, err := s.Comune(key)
	if err != nil {
		tb.Fatal(err)
	}
	return ix
}

func zoom(z int) *int { return &z }

func bbox(minLon, minLat, maxLon, maxLat float64) *orb.Bound {
	return &orb.Bound{Min: orb.Point{minLon, minLat}, Max: orb.Point{maxLon, maxLat}}
}

var areaNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func mustLayers(tb testing.TB, comuni []*geo.Index, q geo.LayerQuery) *geojson.FeatureCollection {
	tb.Helper()
	fc, err := geo.BuildLayers(comuni, q, nil, areaNow)
	if err != nil {
		tb.Fatalf("BuildLayers(%s): %v", describe(q), err)
	}
	return fc
}

func describe(q geo.LayerQuery) string {
	s := fmt.Sprintf("layer=%s", q.Layer)
	if q.BBox != nil {
		s += fmt.Sprintf(" bbox=%v", *q.BBox)
	}
	if q.Zoom != nil {
		s += fmt.Sprintf(" zoom=%d", *q.Zoom)
	}
	if q.Class != "" {
		s += " class=" + string(q.Class)
	}
	return s
}

// points counts the features of fc, a MultiPoint's points one each.
func points(fc *geojson.FeatureCollection) int {
	n := 0
	for _, f := range fc.Features {
		if mp, ok := f.Geometry.(orb.MultiPoint); ok {
			n += len(mp)
		} else {
			n++
		}
	}
	return n
}

// civicsIn counts the civics of comuni in b (nil: all) that pass keep, by
// brute force.
func civicsIn(comuni []*geo.Index, b *orb.Bound, keep func(*geo.Address) bool) map[string]int {
	out := map[string]int{}
	for _, ix := range comuni {
		c := ix.Comune()
		for i := range c.Addresses {
			a := &c.Addresses[i]
			if (b == nil || b.Contains(a.Point)) && keep(a) {
				out[c.Slug]++
			}
		}
	}
	return out
}

// clusterCounts sums the "addresses" of the cluster features per comune,
// and checks every feature is a cluster inside b.
func clusterCounts(t *testing.T, fc *geojson.FeatureCollection, b *orb.Bound) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, f := range fc.Features {
		p := f.Properties
		if p["cluster"] != true {
			continue
		}
		n, _ := p["addresses"].(int)
		if n <= 0 {
			t.Errorf("cluster %v has %v civics", f.ID, p["addresses"])
		}
		out[p.MustString("comune")] += n
		pt := f.Geometry.(orb.Point)
		if f.BBox == nil || !f.BBox.Bound().Contains(pt) {
			t.Errorf("cluster %v at %v: its position is outside its bbox %v", f.ID, pt, f.BBox)
		}
		if b != nil && !b.Intersects(f.BBox.Bound()) {
			t.Errorf("cluster %v (bbox %v) is outside the area %v", f.ID, f.BBox, *b)
		}
	}
	return out
}

func equalCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s has %d civics; want %d", what, k, got[k], w)
		}
	}
	for k, g := range got {
		if want[k] == 0 && g != 0 {
			t.Errorf("%s: %s has %d civics; want none", what, k, g)
		}
	}
}

// TestBuildLayersAddressesByArea: the civics of the consortium are served
// by area and zoom, never more than MaxAreaFeatures at once: each civic of
// a small area at a fine zoom, clusters that count every civic otherwise.
func TestBuildLayersAddressesByArea(t *testing.T) {
	s := mustCremasco(t)
	all := func(*geo.Address) bool { return true }
	crema := mustComune(t, s, "crema")
	rip := mustComune(t, s, "ripalta-cremasca")
	cb := crema.Comune().Boundary.Bound()
	// The centre of Crema: a few hundred metres across.
	centre := bbox(cb.Center().Lon()-0.004, cb.Center().Lat()-0.003, cb.Center().Lon()+0.004, cb.Center().Lat()+0.003)

	for _, tt := range []struct {
		name      string
		comuni    []*geo.Index
		q         geo.LayerQuery
		clustered bool
	}{
		{"consortium, no area", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses}, true},
		{"consortium, its bbox at zoom 18", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: bbox(9.4, 45.2, 9.9, 45.6), Zoom: zoom(18)}, true},
		{"consortium, the world at zoom 0", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: bbox(-180, -90, 180, 90), Zoom: zoom(0)}, true},
		{"crema, no area", []*geo.Index{crema}, geo.LayerQuery{Layer: geo.LayerAddresses}, true},
		{"crema centre at zoom 17", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: centre, Zoom: zoom(17)}, false},
		{"crema centre at zoom 11", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: centre, Zoom: zoom(11)}, true},
		{"crema centre, vhcn only", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: centre, Zoom: zoom(16), Class: geo.VHCN}, false},
		// East of Spino d'Adda, whose rollout is still in works.
		{"consortium, below only", s.Comuni(), geo.LayerQuery{Layer: geo.LayerAddresses, BBox: bbox(9.55, 45.2, 9.9, 45.6), Zoom: zoom(14), Class: geo.Below}, false},
		{"ripalta, no area", []*geo.Index{rip}, geo.LayerQuery{Layer: geo.LayerAddresses}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fc := mustLayers(t, tt.comuni, tt.q)
			if n := points(fc); n > geo.MaxAreaFeatures || n == 0 {
				t.Fatalf("%d features; want 1..%d", n, geo.MaxAreaFeatures)
			}
			if got := fc.ExtraMembers["clustered"]; got != tt.clustered {
				t.Errorf("clustered = %v; want %v", got, tt.clustered)
			}
			keep := all
			if tt.q.Class != "" {
				keep = func(a *geo.Address) bool { return a.ClassAt(areaNow) == tt.q.Class }
			}
			want := civicsIn(tt.comuni, tt.q.BBox, keep)
			if tt.clustered {
				equalCounts(t, "clusters", clusterCounts(t, fc, tt.q.BBox), want)
				return
			}
			got := map[string]int{}
			for _, f := range fc.Features {
				p := f.Properties
				if p["cluster"] != false || p["layer"] != geo.LayerAddresses {
					t.Fatalf("feature %v: %v", f.ID, p)
				}
				if tt.q.BBox != nil && !tt.q.BBox.Contains(f.Geometry.(orb.Point)) {
					t.Errorf("civic %v at %v is outside the area", f.ID, f.Geometry)
				}
				got[p.MustString("comune")]++
			}
			equalCounts(t, "civics", got, want)
		})
	}
}

// TestBuildLayersClusters: a cluster's figures are its civics'; clusters
// never mix comuni; the answer is the same each time.
func TestBuildLayersClusters(t *testing.T) {
	s := mustCremasco(t)
	q := geo.LayerQuery{Layer: geo.LayerAddresses, BBox: bbox(9.55, 45.3, 9.75, 45.42), Zoom: zoom(12)}
	fc := mustLayers(t, s.Comuni(), q)
	if fc.ExtraMembers["clustered"] != true || fc.ExtraMembers["zoom"] != 12 {
		t.Fatalf("members %v; want clustered at zoom 12", fc.ExtraMembers)
	}
	// Re-count each cluster from the civics of its comune in its bbox and
	// cell: a brute-force check of counts, units and classes.
	byID := map[string]bool{}
	for _, f := range fc.Features {
		p := f.Properties
		id := f.ID.(string)
		if byID[id] {
			t.Errorf("duplicate cluster id %s", id)
		}
		byID[id] = true
		ix := mustComune(t, s, p.MustString("comune"))
		var n, units, served, white int
		classes := map[geo.Class]int{}
		for i := range ix.Comune().Addresses {
			a := &ix.Comune().Addresses[i]
			if !q.BBox.Contains(a.Point) || !f.BBox.Bound().Contains(a.Point) || !inCell(a.Point, p.MustString("cell")) {
				continue
			}
			n++
			units += a.Units
			if a.Served(areaNow) {
				served += a.Units
			}
			if a.AreaClass == geo.White {
				white++
			}
			classes[a.ClassAt(areaNow)]++
		}
		if n != p["addresses"] || units != p["units"] || served != p["served_units"] || white != p["white_area_addresses"] {
			t.Errorf("cluster %s: %v; counted %d civics, %d units, %d served, %d white", id, p, n, units, served, white)
		}
		dominant := p.MustString("class")
		for _, c := range geo.Classes {
			if p["civics_"+string(c)] != classes[c] {
				t.Errorf("cluster %s: civics_%s = %v; counted %d", id, c, p["civics_"+string(c)], classes[c])
			}
			if classes[c] > classes[geo.Class(dominant)] {
				t.Errorf("cluster %s: dominant class %s with %d civics, but %s has %d", id, dominant, classes[geo.Class(dominant)], c, classes[c])
			}
		}
		if p["fill_color"] != geo.ClassColor(geo.Class(dominant)) || p["synthetic"] != true {
			t.Errorf("cluster %s: fill_color %v, synthetic %v", id, p["fill_color"], p["synthetic"])
		}
	}
	b1, _ := fc.MarshalJSON()
	b2, _ := mustLayers(t, s.Comuni(), q).MarshalJSON()
	if !bytes.Equal(b1, b2) {
		t.Error("the same query gave two different answers")
	}
}

// inCell reports whether p lies in the tile "z/x/y".
func inCell(p orb.Point, cell string) bool {
	var z, x, y uint32
	if _, err := fmt.Sscanf(cell, "%d/%d/%d", &z, &x, &y); err != nil {
		return false
	}
	n := math.Exp2(float64(z))
	tx := (p.Lon() + 180) / 360 * n
	lat := p.Lat() * math.Pi / 180
	ty := (1 - math.Log(math.Tan(lat)+1/math.Cos(lat))/math.Pi) / 2 * n
	return uint32(tx) == x && uint32(ty) == y
}

// TestBuildLayersWhiteAreasByArea: the white-area civics follow the same
// rule; the hulls stay while they fit.
func TestBuildLayersWhiteAreasByArea(t *testing.T) {
	s := mustCremasco(t)
	white := func(a *geo.Address) bool { return a.AreaClass == geo.White }

	fc := mustLayers(t, s.Comuni(), geo.LayerQuery{Layer: geo.LayerWhiteAreas})
	if fc.ExtraMembers["clustered"] != true || points(fc) > geo.MaxAreaFeatures {
		t.Fatalf("consortium white areas: clustered %v, %d features", fc.ExtraMembers["clustered"], points(fc))
	}
	hulls := 0
	for _, f := range fc.Features {
		switch f.Properties["shape"] {
		case "hull":
			hulls++
		case "cluster":
		default:
			t.Errorf("feature %v of shape %v in a clustered white-areas layer", f.ID, f.Properties["shape"])
		}
	}
	if hulls == 0 {
		t.Error("no hull in the consortium's white areas")
	}
	equalCounts(t, "white clusters", clusterCounts(t, fc, nil), civicsIn(s.Comuni(), nil, white))

	// A small area at a fine zoom: the white civics in it, one by one.
	crema := mustComune(t, s, "crema").Comune().Boundary.Bound()
	b := bbox(crema.Min.Lon(), crema.Min.Lat(), crema.Center().Lon(), crema.Center().Lat())
	fc = mustLayers(t, s.Comuni(), geo.LayerQuery{Layer: geo.LayerWhiteAreas, BBox: b, Zoom: zoom(16)})
	if fc.ExtraMembers["clustered"] != false {
		t.Fatalf("a quarter of Crema at zoom 16: clustered")
	}
	got := map[string]int{}
	for _, f := range fc.Features {
		if !b.Intersects(f.Geometry.Bound()) {
			t.Errorf("white-area feature %v (%v) outside the area", f.ID, f.Geometry.Bound())
		}
		if mp, ok := f.Geometry.(orb.MultiPoint); ok {
			for _, p := range mp {
				if !b.Contains(p) {
					t.Errorf("white civic at %v outside the area", p)
				}
			}
			got[f.Properties.MustString("comune")] += len(mp)
		}
	}
	equalCounts(t, "white civics", got, civicsIn(s.Comuni(), b, white))

	// Ripalta Cremasca alone, no area: as BuildLayer.
	rip := mustComune(t, s, "ripalta-cremasca")
	one, err := geo.BuildLayer(rip.Comune(), geo.LayerQuery{Layer: geo.LayerWhiteAreas}, nil, areaNow)
	if err != nil {
		t.Fatal(err)
	}
	fc = mustLayers(t, []*geo.Index{rip}, geo.LayerQuery{Layer: geo.LayerWhiteAreas})
	if len(fc.Features) != len(one.Features) || fc.ExtraMembers["clustered"] != false {
		t.Errorf("Ripalta Cremasca's white areas: %d features (clustered %v); BuildLayer gives %d", len(fc.Features), fc.ExtraMembers["clustered"], len(one.Features))
	}
}

// TestBuildLayersArea: the other layers keep the features meeting the
// area; a layer beyond the cap is refused.
func TestBuildLayersArea(t *testing.T) {
	s := mustCremasco(t)
	crema := mustComune(t, s, "crema").Comune().Boundary.Bound()
	b := bbox(crema.Center().Lon()-0.001, crema.Center().Lat()-0.001, crema.Center().Lon()+0.001, crema.Center().Lat()+0.001)
	fc := mustLayers(t, s.Comuni(), geo.LayerQuery{Layer: geo.LayerComune, BBox: b})
	if len(fc.Features) != 1 || fc.Features[0].Properties["comune"] != "crema" {
		t.Errorf("comune layer around Crema's centre: %d features", len(fc.Features))
	}
	if n := len(mustLayers(t, s.Comuni(), geo.LayerQuery{Layer: geo.LayerComune}).Features); n != 48 {
		t.Errorf("comune layer, no area: %d features; want 48", n)
	}
	if fc := mustLayers(t, s.Comuni(), geo.LayerQuery{Layer: geo.LayerSites, BBox: bbox(0, 0, 1, 1), Zoom: zoom(5)}); len(fc.Features) != 0 {
		t.Errorf("sites in the Gulf of Guinea: %d", len(fc.Features))
	}

	// More boundaries in the area than the cap: refused, naming bbox.
	var many []*geo.Comune
	for i := range geo.MaxAreaFeatures + 1 {
		lon, lat := 9+float64(i%50)*0.01, 45+float64(i/50)*0.01
		many = append(many, &geo.Comune{Name: fmt.Sprintf("C%d", i), Slug: fmt.Sprintf("c%d", i), ISTATCode: fmt.Sprintf("%06d", i),
			Boundary: orb.MultiPolygon{{{{lon, lat}, {lon + 0.01, lat}, {lon + 0.01, lat + 0.01}, {lon, lat + 0.01}, {lon, lat}}}}})
	}
	big := geo.MustSetOf(many...)
	if _, err := geo.BuildLayers(big.Comuni(), geo.LayerQuery{Layer: geo.LayerComune}, nil, areaNow); fibremon.FieldOf(err) != "bbox" {
		t.Errorf("%d boundaries in one answer: err %v; want an error on bbox", len(many), err)
	}
	if fc := mustLayers(t, big.Comuni(), geo.LayerQuery{Layer: geo.LayerComune, BBox: bbox(9, 45, 9.1, 45.1)}); len(fc.Features) == 0 || len(fc.Features) > 200 {
		t.Errorf("boundaries in a small area: %d", len(fc.Features))
	}

	for _, tt := range []struct {
		q     geo.LayerQuery
		field string
	}{
		{geo.LayerQuery{BBox: bbox(9, 45, 10, 46)}, ""},
		{geo.LayerQuery{BBox: bbox(10, 45, 9, 46)}, "bbox"},
		{geo.LayerQuery{BBox: bbox(9, 46, 10, 45)}, "bbox"},
		{geo.LayerQuery{BBox: bbox(-181, 45, 10, 46)}, "bbox"},
		{geo.LayerQuery{BBox: bbox(9, -91, 10, 46)}, "bbox"},
		{geo.LayerQuery{BBox: bbox(math.NaN(), 45, 10, 46)}, "bbox"},
		{geo.LayerQuery{BBox: bbox(9, 45, math.Inf(1), 46)}, "bbox"},
		{geo.LayerQuery{Zoom: zoom(-1)}, "zoom"},
		{geo.LayerQuery{Zoom: zoom(geo.MaxZoom + 1)}, "zoom"},
		{geo.LayerQuery{Zoom: zoom(geo.MaxZoom)}, ""},
	} {
		err := tt.q.Validate()
		if tt.field == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v", describe(tt.q), err)
			}
			continue
		}
		if fibremon.KindOf(err) != fibremon.Invalid || fibremon.FieldOf(err) != tt.field {
			t.Errorf("Validate(%s) = %v (field %q); want Invalid on %q", describe(tt.q), err, fibremon.FieldOf(err), tt.field)
		}
		if _, err := geo.BuildLayers(s.Comuni(), tt.q, nil, areaNow); fibremon.FieldOf(err) != tt.field {
			t.Errorf("BuildLayers(%s) = %v; want an error on %q", describe(tt.q), err, tt.field)
		}
	}
}

// TestFitZoom: a comune of a few km fills 1024 pixels around zoom 14, the
// world at zoom 2.
func TestFitZoom(t *testing.T) {
	s := mustCremasco(t)
	for _, tt := range []struct {
		b    orb.Bound
		want int
	}{
		{mustComune(t, s, "ripalta-cremasca").Comune().Boundary.Bound(), 14},
		{*bbox(-180, -85, 180, 85), 2},
		{*bbox(9.6, 45.3, 9.6, 45.3), geo.MaxZoom},
	} {
		if got := geo.FitZoom(tt.b); got != tt.want {
			t.Errorf("FitZoom(%v) = %d; want %d", tt.b, got, tt.want)
		}
	}
}
