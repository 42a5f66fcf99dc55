package geo_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fibremon"
	"fibremon/geo"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
)

var positionRE = regexp.MustCompile(`\[\s+(-?[0-9.eE+-]+),\s+(-?[0-9.eE+-]+)\s+\]`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the fixed present of the Build tests.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// MustStatuses reads testdata/statuses.json.
func MustStatuses(tb testing.TB) []fibremon.SiteStatus {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "statuses.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var st []fibremon.SiteStatus
	if err := json.Unmarshal(b, &st); err != nil {
		tb.Fatalf("testdata/statuses.json: %v", err)
	}
	return st
}

// mustRoundTrip marshals fc and unmarshals it with orb's geojson decoder.
func mustRoundTrip(tb testing.TB, fc *geojson.FeatureCollection) (*geojson.FeatureCollection, []byte) {
	tb.Helper()
	b, err := json.Marshal(fc)
	if err != nil {
		tb.Fatalf("json.Marshal(Build()): %v", err)
	}
	got, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		tb.Fatalf("geojson.UnmarshalFeatureCollection(Build()): %v", err)
	}
	return got, b
}

func geoJSONPolygon(r orb.Ring) ([]byte, error) {
	f := geojson.NewFeature(orb.Polygon{r})
	f.Properties = geojson.Properties{"name": "Ripalta Cremasca", "istat_code": "019081", "attribution": "test"}
	fc := geojson.NewFeatureCollection().Append(f)
	return json.Marshal(fc)
}

func TestBuildGolden(t *testing.T) {
	fc := buildTestdata(t)
	got, err := json.MarshalIndent(fc, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	// One line per position, so that a diff shows which point moved.
	got = append(positionRE.ReplaceAll(got, []byte("[$1, $2]")), '\n')
	golden := filepath.Join("testdata", "statuses_out.geojson")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Build() differs from %s; run go test ./geo -update and review the diff", golden)
	}
}

// buildTestdata builds the embedded comune with testdata/statuses.json at now.
func buildTestdata(tb testing.TB) *geojson.FeatureCollection {
	tb.Helper()
	return geo.Build(MustLoad(tb), MustStatuses(tb), now)
}

func TestBuildRoundTrip(t *testing.T) {
	fc := buildTestdata(t)
	got, b := mustRoundTrip(t, fc)
	if len(got.Features) != len(fc.Features) {
		t.Fatalf("round trip: %d features; want %d", len(got.Features), len(fc.Features))
	}
	for i, f := range fc.Features {
		g := got.Features[i]
		if !orb.Equal(f.Geometry, g.Geometry) {
			t.Errorf("feature %d (%v): geometry changed in the round trip", i, f.ID)
		}
		if g.ID != f.ID {
			t.Errorf("feature %d: id = %v; want %v", i, g.ID, f.ID)
		}
	}
	if got.ExtraMembers["attribution"] != "Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0" {
		t.Errorf("attribution member = %v", got.ExtraMembers["attribution"])
	}
	if got.ExtraMembers["generated_at"] != "2025-06-01T12:00:00Z" {
		t.Errorf("generated_at member = %v; want 2025-06-01T12:00:00Z", got.ExtraMembers["generated_at"])
	}
	// Re-encoding the decoded collection gives the same bytes.
	b2, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, b2) {
		t.Errorf("re-encoded collection differs from the first encoding")
	}
}

// signedArea is the shoelace area of a ring on the lon/lat plane: positive
// when the ring is counter-clockwise.
func signedArea(r orb.Ring) float64 {
	a := 0.0
	for i := 0; i+1 < len(r); i++ {
		a += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return a / 2
}

func polygons(g orb.Geometry) []orb.Polygon {
	switch g := g.(type) {
	case orb.Polygon:
		return []orb.Polygon{g}
	case orb.MultiPolygon:
		return g
	}
	return nil
}

func TestBuildRings(t *testing.T) {
	c := MustLoad(t)
	// A hand-made comune whose boundary is clockwise, with a clockwise
	// outer ring and a counter-clockwise hole: Build must rewind both
	// without touching its input.
	cw := slices.Clone(c.Boundary[0][0])
	cw.Reverse()
	hole := orb.Ring{{9.68, 45.325}, {9.685, 45.325}, {9.685, 45.328}, {9.68, 45.328}, {9.68, 45.325}} // CCW
	handMade := &geo.Comune{Name: c.Name, ISTATCode: c.ISTATCode, Attribution: c.Attribution,
		Boundary: orb.MultiPolygon{{cw, hole}}}
	before := handMade.Boundary.Clone()

	tests := []struct {
		name string
		c    *geo.Comune
	}{
		{"embedded", c},
		{"clockwise input", handMade},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc, _ := mustRoundTrip(t, geo.Build(tt.c, nil, now))
			n := 0
			for _, f := range fc.Features {
				for _, p := range polygons(f.Geometry) {
					for j, r := range p {
						n++
						a, oa := signedArea(r), orbgeo.SignedArea(r)
						if j == 0 && (a <= 0 || oa <= 0) {
							t.Errorf("outer ring: signed area %g (orb/geo: %g m²); want > 0 (counter-clockwise)", a, oa)
						}
						if j > 0 && (a >= 0 || oa >= 0) {
							t.Errorf("hole %d: signed area %g; want < 0 (clockwise)", j, a)
						}
					}
				}
			}
			if n == 0 {
				t.Error("no polygon ring in the output")
			}
		})
	}
	if !handMade.Boundary.Equal(before) {
		t.Error("Build modified its input's boundary")
	}
}

func TestBuildCoordinates(t *testing.T) {
	fc, _ := mustRoundTrip(t, buildTestdata(t))
	check := func(p orb.Point) {
		if p.Lon() < 9.6 || p.Lon() > 9.8 || p.Lat() < 45.2 || p.Lat() > 45.4 {
			t.Errorf("position %v outside lon [9.6, 9.8], lat [45.2, 45.4]: swapped or wrong", p)
		}
	}
	for _, f := range fc.Features {
		switch g := f.Geometry.(type) {
		case orb.Point:
			check(g)
		default:
			for _, p := range polygons(g) {
				for _, r := range p {
					for _, pt := range r {
						check(pt)
					}
				}
			}
		}
	}
}

func TestBuildAreaKm2(t *testing.T) {
	fc := buildTestdata(t)
	area, ok := fc.Features[0].Properties["area_km2"].(float64)
	if !ok {
		t.Fatalf("comune feature: area_km2 = %v; want a number", fc.Features[0].Properties["area_km2"])
	}
	// Reference: 11.78 (it.wikipedia), 11.99 (gi_comuni_cap), 12.00 (polygon).
	if math.Abs(area-12.0)/12.0 > 0.03 {
		t.Errorf("area_km2 = %g; want within 3%% of 12.0", area)
	}
}

// Property types as they come back from JSON.
const (
	tString = "string"
	tNumber = "number"
	tBool   = "bool"
)

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return tString
	case float64:
		return tNumber
	case bool:
		return tBool
	}
	return reflect.TypeOf(v).String()
}

var rfc3339 = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

func TestBuildProperties(t *testing.T) {
	fc, _ := mustRoundTrip(t, buildTestdata(t))
	type prop struct {
		name     string
		typ      string
		required bool
	}
	layers := map[string][]prop{
		geo.LayerComune: {
			{"name", tString, true}, {"istat_code", tString, true}, {"attribution", tString, true}, {"area_km2", tNumber, true},
		},
		geo.LayerHamlets: {
			{"name", tString, true}, {"label", tString, true}, {"seat", tBool, true},
			{"coord_status", tString, true}, {"coord_uncertainty_m", tNumber, true},
		},
		geo.LayerSites: {
			{"site_id", tString, true}, {"name", tString, true}, {"kind", tString, true},
			{"hamlet", tString, true}, {"address", tString, true}, {"technology", tString, true},
			{"contract_download_mbps", tNumber, false}, {"contract_upload_mbps", tNumber, false},
			{"coord_status", tString, true}, {"coord_uncertainty_m", tNumber, true},
			{"synthetic", tBool, true}, {"line_synthetic", tBool, true},
			{"state", tString, true}, {"marker_color", tString, true}, {"last_seen", tString, false},
			{"download_mbps", tNumber, false}, {"upload_mbps", tNumber, false}, {"rtt_ms", tNumber, false},
			{"loss_ratio", tNumber, false}, {"availability_24h", tNumber, false},
		},
	}
	geometry := map[string]string{geo.LayerComune: "MultiPolygon", geo.LayerHamlets: "Point", geo.LayerSites: "Point"}
	count := map[string]int{}
	for i, f := range fc.Features {
		layer, _ := f.Properties["layer"].(string)
		want, ok := layers[layer]
		if !ok {
			t.Errorf("feature %d: layer = %v; want one of comune, hamlets, sites", i, f.Properties["layer"])
			continue
		}
		count[layer]++
		if g := f.Geometry.GeoJSONType(); g != geometry[layer] {
			t.Errorf("feature %d (%s): geometry %s; want %s", i, layer, g, geometry[layer])
		}
		for _, p := range want {
			v, ok := f.Properties[p.name]
			if !ok {
				if p.required {
					t.Errorf("feature %v: property %s missing", f.ID, p.name)
				}
				continue
			}
			if got := jsonType(v); got != p.typ {
				t.Errorf("feature %v: property %s = %v (%s); want a %s", f.ID, p.name, v, got, p.typ)
			}
		}
		if s, ok := f.Properties["last_seen"].(string); ok && !rfc3339.MatchString(s) {
			t.Errorf("feature %v: last_seen = %q; want RFC 3339 in UTC", f.ID, s)
		}
	}
	if count[geo.LayerComune] != 1 || count[geo.LayerHamlets] != 4 || count[geo.LayerSites] != 11 {
		t.Errorf("features per layer = %v; want comune 1, hamlets 4, sites 11", count)
	}
}

// siteProps returns the properties of each site feature, by site id.
func siteProps(tb testing.TB, fc *geojson.FeatureCollection) map[string]geojson.Properties {
	tb.Helper()
	m := map[string]geojson.Properties{}
	for _, f := range fc.Features {
		if f.Properties["layer"] == geo.LayerSites {
			m[f.Properties["site_id"].(string)] = f.Properties
		}
	}
	return m
}

func TestBuildStates(t *testing.T) {
	fc, _ := mustRoundTrip(t, buildTestdata(t))
	sites := siteProps(t, fc)
	if _, ok := sites["ghost-site"]; ok {
		t.Error("a status for a site not in the comune produced a feature")
	}
	tests := []struct {
		site  string
		state string
		color string
		// Expected optional properties; a nil value means absent.
		props map[string]any
	}{
		{"municipio", "up", "#2e7d32", map[string]any{
			"last_seen":        "2025-06-01T11:58:00Z", // the first status for a site wins
			"availability_24h": 0.9965,
			"download_mbps":    900.0, // the newest download, not the older 400
			"upload_mbps":      280.0,
			"rtt_ms":           4.3, // average RTT preferred to minimum
			"loss_ratio":       0.0,
		}},
		{"scuola-primaria-pascoli", "down", "#c62828", map[string]any{
			"last_seen":        "2025-06-01T11:59:00Z",
			"availability_24h": 0.5,
			"download_mbps":    850.0,
			"upload_mbps":      nil, // the latest upload failed
			"rtt_ms":           nil, // the latest latency round failed...
			"loss_ratio":       1.0, // ...but its loss is reported
		}},
		{"fonderia-allanconi", "silent", "#ef6c00", map[string]any{
			"last_seen":        "2025-05-30T06:00:00Z", // converted to UTC
			"availability_24h": nil,
			"download_mbps":    265.0,
			"rtt_ms":           nil,
		}},
		{"azienda-agricola-zappello", "up", "#2e7d32", map[string]any{
			"availability_24h": 1.0,
			"download_mbps":    6.1,
			"upload_mbps":      0.55,
			"rtt_ms":           31.2, // minimum RTT when there is no average
			"loss_ratio":       0.02,
		}},
		{"valserio", "unknown", "#9e9e9e", map[string]any{"last_seen": nil}},                                         // status with no state
		{"impresa-artigiana-san-michele", "unknown", "#9e9e9e", map[string]any{"last_seen": "2025-06-01T11:00:00Z"}}, // state Build does not know
		{"agriturismo-la-torre", "unknown", "#9e9e9e", map[string]any{ // no status at all
			"last_seen": nil, "download_mbps": nil, "upload_mbps": nil, "rtt_ms": nil, "loss_ratio": nil, "availability_24h": nil,
			"contract_download_mbps": 100.0, "contract_upload_mbps": 20.0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			p, ok := sites[tt.site]
			if !ok {
				t.Fatalf("no feature for site %s", tt.site)
			}
			if p["state"] != tt.state || p["marker_color"] != tt.color {
				t.Errorf("state, marker_color = %v, %v; want %s, %s", p["state"], p["marker_color"], tt.state, tt.color)
			}
			for k, want := range tt.props {
				got, ok := p[k]
				switch {
				case want == nil && ok:
					t.Errorf("%s = %v; want absent", k, got)
				case want != nil && !ok:
					t.Errorf("%s absent; want %v", k, want)
				case want != nil && got != want:
					t.Errorf("%s = %v; want %v", k, got, want)
				}
			}
		})
	}
}

func TestMarkerColor(t *testing.T) {
	tests := []struct {
		state fibremon.State
		want  string
	}{
		{fibremon.StateUp, "#2e7d32"},
		{fibremon.StateDown, "#c62828"},
		{fibremon.StateSilent, "#ef6c00"},
		{fibremon.StateUnknown, "#9e9e9e"},
		{"", "#9e9e9e"},
		{"bogus", "#9e9e9e"},
	}
	for _, tt := range tests {
		if got := geo.MarkerColor(tt.state); got != tt.want {
			t.Errorf("MarkerColor(%q) = %q; want %q", tt.state, got, tt.want)
		}
	}
}

func TestBuildPure(t *testing.T) {
	c := MustLoad(t)
	st := MustStatuses(t)
	cBefore, stBefore := MustLoad(t), MustStatuses(t)
	a, _ := json.Marshal(geo.Build(c, st, now))
	b, _ := json.Marshal(geo.Build(c, st, now))
	if !bytes.Equal(a, b) {
		t.Error("two Builds of the same input differ")
	}
	if !reflect.DeepEqual(c, cBefore) {
		t.Error("Build modified the comune")
	}
	if !reflect.DeepEqual(st, stBefore) {
		t.Error("Build modified the statuses")
	}
}

func TestBuildNil(t *testing.T) {
	fc, _ := mustRoundTrip(t, geo.Build(nil, nil, now))
	if len(fc.Features) != 0 {
		t.Errorf("Build(nil) has %d features; want 0", len(fc.Features))
	}
}

func TestBuildNonFinite(t *testing.T) {
	c := MustLoad(t)
	nan := math.NaN()
	st := []fibremon.SiteStatus{{
		Site:            fibremon.Site{ID: "municipio"},
		State:           fibremon.StateUp,
		Availability24h: &nan,
		Latest: []fibremon.Result{{Kind: fibremon.KindDownload, Up: true,
			Values: map[string]float64{fibremon.DownloadBytesPerSecond: math.Inf(1)}}},
	}}
	fc, _ := mustRoundTrip(t, geo.Build(c, st, now)) // fails if JSON cannot encode it
	p := siteProps(t, fc)["municipio"]
	for _, k := range []string{"availability_24h", "download_mbps"} {
		if v, ok := p[k]; ok {
			t.Errorf("%s = %v; want absent for a non-finite value", k, v)
		}
	}
}

// TestGeoJSONDoc checks GEOJSON.md against Build and BuildLayer: every
// property and collection member they emit is documented, and every
// documented one is emitted by Build with the test statuses or by some
// layer of the coverage fixture (which exercise every optional property).
func TestGeoJSONDoc(t *testing.T) {
	doc, err := os.ReadFile("GEOJSON.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_]+)` \\|").FindAllSubmatch(doc, -1) {
		documented[string(m[1])] = true
	}
	emitted := map[string]bool{}
	fc := buildTestdata(t)
	for k := range fc.ExtraMembers {
		emitted[k] = true
	}
	fcs := []*geojson.FeatureCollection{fc}
	fixture := MustLoadFixture(t)
	for _, layer := range geo.Layers {
		lfc, err := geo.BuildLayer(fixture, geo.LayerQuery{Layer: layer}, MustStatuses(t), fixtureNow)
		if err != nil {
			t.Fatal(err)
		}
		fcs = append(fcs, lfc)
	}
	// BuildLayers adds "comune", the clusters and the area's members.
	for _, layer := range geo.Layers {
		for _, z := range []int{geo.MinCivicZoom - 2, geo.MinCivicZoom} {
			lfc, err := geo.BuildLayers([]*geo.Index{geo.NewIndex(fixture)}, geo.LayerQuery{Layer: layer, Zoom: &z}, MustStatuses(t), fixtureNow)
			if err != nil {
				t.Fatal(err)
			}
			fcs = append(fcs, lfc)
		}
	}
	for _, fc := range fcs {
		for k := range fc.ExtraMembers {
			emitted[k] = true
		}
		for _, f := range fc.Features {
			for k := range f.Properties {
				emitted[k] = true
			}
		}
	}
	for k := range emitted {
		if !documented[k] {
			t.Errorf("Build or BuildLayer emits %q, which GEOJSON.md does not document", k)
		}
	}
	for k := range documented {
		if !emitted[k] {
			t.Errorf("GEOJSON.md documents %q, which no layer emitted for the test data", k)
		}
	}
	for _, c := range []string{"#2e7d32", "#c62828", "#ef6c00", "#9e9e9e", geo.ClassColor(geo.VHCN), geo.ClassColor(geo.NGA), geo.ClassColor(geo.Adequate), geo.ClassColor(geo.Below)} {
		if !strings.Contains(string(doc), c) {
			t.Errorf("GEOJSON.md does not give the colour %s", c)
		}
	}
}
