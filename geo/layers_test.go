package geo_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"fibremon"
	"fibremon/geo"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
)

// mustLayer builds one layer of the fixture and round-trips it through
// orb's GeoJSON decoder.
func mustLayer(tb testing.TB, c *geo.Comune, q geo.LayerQuery) *geojson.FeatureCollection {
	tb.Helper()
	fc, err := geo.BuildLayer(c, q, MustStatuses(tb), fixtureNow)
	if err != nil {
		tb.Fatalf("BuildLayer(%+v): %v", q, err)
	}
	got, _ := mustRoundTrip(tb, fc)
	if len(got.Features) != len(fc.Features) {
		tb.Fatalf("BuildLayer(%+v): %d features after the round trip; want %d", q, len(got.Features), len(fc.Features))
	}
	return got
}

// countLayers returns "layer:geometry" → number of features.
func countLayers(fc *geojson.FeatureCollection) map[string]int {
	m := map[string]int{}
	for _, f := range fc.Features {
		m[fmt.Sprint(f.Properties["layer"], ":", f.Geometry.GeoJSONType())]++
	}
	return m
}

func TestBuildLayerEveryLayer(t *testing.T) {
	c := MustLoadFixture(t)
	want := map[string]map[string]int{
		"":                  {"comune:MultiPolygon": 1, "hamlets:Point": 4, "sites:Point": 11},
		geo.LayerComune:     {"comune:MultiPolygon": 1},
		geo.LayerHamlets:    {"hamlet-zones:Polygon": 4, "hamlets:Point": 4},
		geo.LayerZones:      {"hamlet-zones:Polygon": 4},
		geo.LayerAddresses:  {"addresses:Point": 16},
		geo.LayerWhiteAreas: {"white-areas:MultiPoint": 4, "white-areas:Polygon": 2},
		geo.LayerSites:      {"sites:Point": 11},
	}
	for _, layer := range geo.Layers {
		t.Run("layer="+layer, func(t *testing.T) {
			fc := mustLayer(t, c, geo.LayerQuery{Layer: layer})
			if got := countLayers(fc); !reflect.DeepEqual(got, want[layer]) {
				t.Errorf("features = %v; want %v", got, want[layer])
			}
			for _, f := range fc.Features {
				if _, ok := f.Properties["layer"].(string); !ok {
					t.Errorf("feature %v: no layer", f.ID)
				}
				if _, ok := f.Properties["synthetic"].(bool); !ok {
					t.Errorf("feature %v: no synthetic", f.ID)
				}
				if _, ok := f.ID.(string); !ok {
					t.Errorf("feature %v: id is not a string", f.ID)
				}
				checkGeometry(t, f)
			}
		})
	}
}

// checkGeometry checks lon/lat order and ring orientation.
func checkGeometry(t *testing.T, f *geojson.Feature) {
	t.Helper()
	check := func(p orb.Point) {
		if p.Lon() < 9.6 || p.Lon() > 9.8 || p.Lat() < 45.2 || p.Lat() > 45.4 {
			t.Errorf("feature %v: position %v outside lon [9.6, 9.8], lat [45.2, 45.4]", f.ID, p)
		}
	}
	switch g := f.Geometry.(type) {
	case orb.Point:
		check(g)
	case orb.MultiPoint:
		for _, p := range g {
			check(p)
		}
	default:
		ps := polygons(g)
		if len(ps) == 0 {
			t.Errorf("feature %v: unexpected geometry %s", f.ID, g.GeoJSONType())
		}
		for _, p := range ps {
			for j, r := range p {
				for _, pt := range r {
					check(pt)
				}
				if a := signedArea(r); (j == 0) != (a > 0) {
					t.Errorf("feature %v ring %d: signed area %g; want outer rings counter-clockwise, holes clockwise", f.ID, j, a)
				}
				if r[0] != r[len(r)-1] {
					t.Errorf("feature %v ring %d: not closed", f.ID, j)
				}
			}
		}
	}
}

// TestBuildLayerDefaultIsBuild checks backward compatibility: the default
// layer is Build's map.
func TestBuildLayerDefaultIsBuild(t *testing.T) {
	c := MustLoadFixture(t)
	st := MustStatuses(t)
	fc, err := geo.BuildLayer(c, geo.LayerQuery{}, st, now)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fc)
	b, _ := json.Marshal(geo.Build(c, st, now))
	if string(a) != string(b) {
		t.Error("BuildLayer(LayerQuery{}) differs from Build")
	}
}

func TestBuildLayerFilters(t *testing.T) {
	c := MustLoadFixture(t)
	tests := []struct {
		q    geo.LayerQuery
		want []string // feature ids
	}{
		{geo.LayerQuery{Layer: geo.LayerAddresses, Class: geo.Adequate}, []string{"civic:019081-piazza-dante-3"}},
		{geo.LayerQuery{Layer: geo.LayerAddresses, Hamlet: "Zappello", Class: geo.VHCN}, []string{"civic:019081-strada-zappello-9"}},
		{geo.LayerQuery{Layer: geo.LayerAddresses, Technology: fibremon.FWA, State: fibremon.RolloutActive},
			[]string{"civic:019081-via-santa-maria-1", "civic:019081-strada-zappello-4"}},
		{geo.LayerQuery{Layer: geo.LayerAddresses, State: fibremon.RolloutWorks}, []string{"civic:019081-via-roma-12"}},
		{geo.LayerQuery{Layer: geo.LayerHamlets, Hamlet: "Bolzone"}, []string{"zone:Bolzone", "hamlet:Bolzone"}},
		// The agriturismo has no hamlet: its point lies in Zappello's zone.
		{geo.LayerQuery{Layer: geo.LayerSites, Hamlet: "Zappello"}, []string{"site:agriturismo-la-torre", "site:azienda-agricola-zappello", "site:utenza-fwa-zappello"}},
		{geo.LayerQuery{Layer: geo.LayerSites, Technology: fibremon.FWA}, []string{"site:agriturismo-la-torre", "site:utenza-fwa-zappello"}},
		{geo.LayerQuery{Layer: geo.LayerWhiteAreas, Hamlet: "Zappello"}, []string{"white:Zappello:civics", "white:Zappello:hull"}},
		{geo.LayerQuery{Layer: geo.LayerWhiteAreas, Hamlet: "Zappello", Class: geo.NGA}, []string{"white:Zappello:civics"}},
		{geo.LayerQuery{Layer: geo.LayerComune, Technology: fibremon.FTTH}, []string{"019081"}}, // not a filter of this layer
	}
	for _, tt := range tests {
		fc := mustLayer(t, c, tt.q)
		var ids []string
		for _, f := range fc.Features {
			ids = append(ids, fmt.Sprint(f.ID))
		}
		if strings.Join(ids, ",") != strings.Join(tt.want, ",") {
			t.Errorf("BuildLayer(%+v) ids = %q; want %q", tt.q, ids, tt.want)
		}
	}
}

func TestBuildLayerAddresses(t *testing.T) {
	fc := mustLayer(t, MustLoadFixture(t), geo.LayerQuery{Layer: geo.LayerAddresses})
	props := map[string]geojson.Properties{}
	for _, f := range fc.Features {
		props[f.Properties.MustString("label")] = f.Properties
	}
	tests := []struct {
		label string
		want  map[string]any // nil value: absent
	}{
		{"Via Roma 5", map[string]any{"address_id": "019081-via-roma-5", "street": "Via Roma", "number": "5", "hamlet": "Ripalta Nuova",
			"units": 1.0, "technology": "FTTH", "max_down_mbps": 1000.0, "max_up_mbps": 300.0, "class": "vhcn", "served": true,
			"state": "active", "state_since": "2021-04-02", "area_class": "white", "white_area": true, "operator": "Open Fiber",
			"synthetic": true, "fill_color": "#2e7d32"}},
		{"Via Roma 12", map[string]any{"technology": "FTTH", "class": "below", "served": false, "state": "works", "state_since": "2024-11-05", "fill_color": "#c62828"}},
		{"Vicolo Roma 5", map[string]any{"class": "nga", "fill_color": "#1565c0", "area_class": "grey", "white_area": false}},
		{"Piazza Dante 3", map[string]any{"class": "adequate", "fill_color": "#f9a825", "technology": "ADSL"}},
		{"Cascina Bassa 1", map[string]any{"technology": "unknown", "class": "below", "state": "none", "state_since": nil,
			"max_down_mbps": nil, "area_class": nil, "operator": nil, "white_area": false}},
	}
	for _, tt := range tests {
		p, ok := props[tt.label]
		if !ok {
			t.Errorf("no feature for %s", tt.label)
			continue
		}
		for k, want := range tt.want {
			if got, ok := p[k]; want == nil && ok || want != nil && got != want {
				t.Errorf("%s: %s = %v; want %v", tt.label, k, got, want)
			}
		}
	}
}

func TestBuildLayerZonesAndWhiteAreas(t *testing.T) {
	c := MustLoadFixture(t)
	fc := mustLayer(t, c, geo.LayerQuery{Layer: geo.LayerZones})
	sum := 0.0
	for _, f := range fc.Features {
		p := f.Properties
		if p["derived"] != true || p["method"] != "voronoi" {
			t.Errorf("zone %v: derived, method = %v, %v", f.ID, p["derived"], p["method"])
		}
		sum += p["area_km2"].(float64)
	}
	if area := orbgeo.Area(c.Boundary) / 1e6; math.Abs(sum-area) > 0.005 {
		t.Errorf("zones' area_km2 sum to %g; want the comune's %g", sum, area)
	}
	z := fc.Features[3].Properties // Zappello
	if z["name"] != "Zappello" || z["coord_status"] != "estimated" || !strings.Contains(z["label"].(string), "estimated") ||
		z["addresses"] != 4.0 || z["units"] != 7.0 || z["served_share"] != math.Round(5.0/7*1e4)/1e4 || z["synthetic_addresses"] != true {
		t.Errorf("Zappello zone properties = %v", z)
	}

	fc = mustLayer(t, c, geo.LayerQuery{Layer: geo.LayerWhiteAreas})
	byID := map[string]*geojson.Feature{}
	for _, f := range fc.Features {
		byID[fmt.Sprint(f.ID)] = f
		if f.Properties["area_class"] != "white" || f.Properties["derived"] != true {
			t.Errorf("%v: area_class, derived = %v, %v", f.ID, f.Properties["area_class"], f.Properties["derived"])
		}
	}
	for id, want := range map[string][3]float64{ // addresses, units, units_share
		"white:Ripalta Nuova:civics": {4, 9, math.Round(9.0/19*1e4) / 1e4},
		"white:Bolzone:civics":       {2, 4, math.Round(4.0/5*1e4) / 1e4},
		"white:San Michele:civics":   {1, 2, math.Round(2.0/3*1e4) / 1e4},
		"white:Zappello:civics":      {3, 6, math.Round(6.0/7*1e4) / 1e4},
		"white:Zappello:hull":        {3, 6, math.Round(6.0/7*1e4) / 1e4},
	} {
		f, ok := byID[id]
		if !ok {
			t.Errorf("no feature %s", id)
			continue
		}
		p := f.Properties
		if got := [3]float64{p["addresses"].(float64), p["units"].(float64), p["units_share"].(float64)}; got != want {
			t.Errorf("%s: addresses, units, units_share = %v; want %v", id, got, want)
		}
	}
	if got := byID["white:Zappello:hull"].Properties["other_civics_inside"]; got != 1.0 {
		t.Errorf("Zappello hull: other_civics_inside = %v; want 1 (Cascina Bassa 1)", got)
	}
	if got := byID["white:Ripalta Nuova:hull"].Properties["other_civics_inside"]; got != 0.0 {
		t.Errorf("Ripalta Nuova hull: other_civics_inside = %v; want 0", got)
	}
	if _, ok := byID["white:Bolzone:hull"]; ok {
		t.Error("Bolzone has two white civics: no hull expected")
	}
}

func TestLayerQueryValidate(t *testing.T) {
	c := MustLoadFixture(t)
	tests := []struct {
		q     geo.LayerQuery
		field string
	}{
		{geo.LayerQuery{}, ""},
		{geo.LayerQuery{Layer: geo.LayerAddresses, Hamlet: "Bolzone", Technology: fibremon.FTTH, Class: geo.NGA, State: fibremon.RolloutActive}, ""},
		{geo.LayerQuery{Layer: "civics"}, "layer"},
		{geo.LayerQuery{Layer: "Addresses"}, "layer"},
		{geo.LayerQuery{Hamlet: "Crema"}, "hamlet"}, // BuildLayer only
		{geo.LayerQuery{Hamlet: "a\x00b"}, "hamlet"},
		{geo.LayerQuery{Technology: "ftth"}, "technology"},
		{geo.LayerQuery{Class: "VHCN"}, "class"},
		{geo.LayerQuery{State: "done"}, "state"},
	}
	for _, tt := range tests {
		_, err := geo.BuildLayer(c, tt.q, nil, fixtureNow)
		if tt.field == "" {
			if err != nil || tt.q.Validate() != nil {
				t.Errorf("BuildLayer(%+v) = %v; want no error", tt.q, err)
			}
			continue
		}
		if fibremon.KindOf(err) != fibremon.Invalid || fibremon.FieldOf(err) != tt.field {
			t.Errorf("BuildLayer(%+v) = %v (field %q); want Invalid on %q", tt.q, err, fibremon.FieldOf(err), tt.field)
		}
	}
	if fc, err := geo.BuildLayer(nil, geo.LayerQuery{Layer: geo.LayerAddresses}, nil, fixtureNow); err != nil || len(fc.Features) != 0 {
		t.Errorf("BuildLayer(nil comune) = %v, %v; want an empty collection", fc, err)
	}
}
