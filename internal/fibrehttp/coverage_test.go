package fibrehttp_test

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/coverage"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestCoverageLookup(t *testing.T) {
	f := newFixture(t)
	q := func(params string) string { return f.srv.URL + fibrehttp.PathCoverageLookup + "?" + params }
	addr := func(s string) string { return "address=" + url.QueryEscape(s) }
	tests := []struct {
		name      string
		url       string
		wantCode  int
		wantMatch string
		wantLabel string
		wantField string
	}{
		{"town hall", q(addr("Via Roma 5")), 200, coverage.MatchExact, "Via Roma 5", ""},
		{"abbreviated", q(addr("v. roma, 5")), 200, coverage.MatchExact, "Via Roma 5", ""},
		{"upper case with comune", q(addr("VIA ROMA 5 Ripalta Cremasca")), 200, coverage.MatchExact, "Via Roma 5", ""},
		{"piazza abbreviation", q(addr("p.za Dante 2")), 200, coverage.MatchExact, "Piazza Dante 2", ""},
		{"street without number", q(addr("Via Roma")), 200, coverage.MatchAmbiguous, "", ""},
		{"no such street", q(addr("Via dei Quattro Cantoni Inesistenti 9")), 404, "", "", "address"},
		{"empty", q(addr("")), 400, "", "", "address"},
		{"absurd", q(addr("!!! 123 ???")), 400, "", "", "address"},
		{"too long", q(addr(strings.Repeat("via roma ", 40))), 400, "", "", "address"},
		{"point at the town hall", q("lat=45.3347282&lon=9.6944508"), 200, coverage.MatchNearest, "Via Roma 5", ""},
		{"point outside", q("lat=45.50&lon=9.69"), 200, coverage.MatchOutside, "", ""},
		{"latitude out of range", q("lat=95&lon=9.69"), 400, "", "", "lat"},
		{"longitude not a number", q("lat=45.33&lon=nove"), 400, "", "", "lon"},
		{"lat without lon", q("lat=45.33"), 400, "", "", "lon"},
		{"both address and point", q(addr("Via Roma 5") + "&lat=45.33&lon=9.69"), 400, "", "", "address"},
		{"nothing asked", q(""), 400, "", "", "address"},
		{"unknown parameter", q("street=Roma"), 400, "", "", "street"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := get(t, tc.url)
			if code != tc.wantCode {
				t.Fatalf("GET = %d %s; want %d", code, body, tc.wantCode)
			}
			if code != 200 {
				var er fibrehttp.ErrorResponse
				if err := json.Unmarshal(body, &er); err != nil || er.Error == "" || er.Field != tc.wantField {
					t.Fatalf("error body %s; want a JSON error on field %q", body, tc.wantField)
				}
				return
			}
			var ans coverage.Answer
			if err := json.Unmarshal(body, &ans); err != nil {
				t.Fatal(err)
			}
			if ans.Match != tc.wantMatch {
				t.Fatalf("match %q; want %q (%s)", ans.Match, tc.wantMatch, body)
			}
			switch ans.Match {
			case coverage.MatchExact, coverage.MatchNearest:
				if ans.Address == nil || ans.Address.Label != tc.wantLabel {
					t.Fatalf("address %+v; want %s", ans.Address, tc.wantLabel)
				}
				if ans.Technology == "" || ans.State == "" || ans.StateSince == "" || ans.Class == "" || !ans.Synthetic {
					t.Errorf("incomplete answer: %s", body)
				}
				if len(ans.NearestProbes) != coverage.NearestProbes {
					t.Errorf("%d nearest probes; want %d", len(ans.NearestProbes), coverage.NearestProbes)
				}
			case coverage.MatchAmbiguous:
				if len(ans.Candidates) < 2 {
					t.Errorf("ambiguous with %d candidates", len(ans.Candidates))
				}
			case coverage.MatchOutside:
				if ans.Message != coverage.OutsideMessage || ans.Address != nil {
					t.Errorf("outside answer %s", body)
				}
			}
		})
	}
}

// TestCoverageLookupAgreesWithRegister checks a sample of civics of the
// (synthetic) register: looked up by their own label, each answers with
// its own declared technology, speeds and state.
func TestCoverageLookupAgreesWithRegister(t *testing.T) {
	f := newFixture(t)
	addrs := mustGeo(t).Load().Comuni()[0].Comune().Addresses
	if len(addrs) < 100 {
		t.Fatalf("register has %d civics", len(addrs))
	}
	for i := 0; i < len(addrs); i += len(addrs) / 25 {
		a := addrs[i]
		code, body := get(t, f.srv.URL+fibrehttp.PathCoverageLookup+"?address="+url.QueryEscape(a.Label()))
		if code != 200 {
			t.Errorf("%s: %d %s", a.Label(), code, body)
			continue
		}
		var ans coverage.Answer
		json.Unmarshal(body, &ans)
		if ans.Match != coverage.MatchExact || ans.Address.ID != a.ID || ans.Technology != a.Technology ||
			ans.MaxDownloadMbps != a.MaxDownMbps || ans.State != a.State || ans.WhiteArea != (a.AreaClass == geo.White) {
			t.Errorf("%s: answer %s; register %+v", a.Label(), body, a)
		}
	}
}

func TestCoverageGeoJSONLayers(t *testing.T) {
	f := newFixture(t)
	base := f.srv.URL + fibrehttp.PathCoverage
	for _, layer := range append([]string{""}, geo.Layers...) {
		t.Run("layer="+layer, func(t *testing.T) {
			code, body := get(t, base+"?layer="+layer)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			fc, err := geojson.UnmarshalFeatureCollection(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(fc.Features) == 0 {
				t.Fatal("no features")
			}
			for _, ft := range fc.Features {
				b := ft.Geometry.Bound()
				if b.Min.Lon() < 9.6 || b.Max.Lon() > 9.8 || b.Min.Lat() < 45.2 || b.Max.Lat() > 45.4 {
					t.Fatalf("feature %v outside the comune's lon/lat box: %v", ft.ID, b)
				}
				checkRings(t, ft.Geometry)
				if layer != "" && ft.Properties["layer"] == nil {
					t.Fatalf("feature %v has no layer property", ft.ID)
				}
			}
		})
	}
	for _, tc := range []struct{ params, field string }{
		{"layer=roads", "layer"}, {"layer=addresses&technology=5G", "technology"}, {"layer=addresses&class=gold", "class"},
		{"layer=addresses&state=finished", "state"}, {"layer=addresses&hamlet=Crema", "hamlet"}, {"colour=red", "colour"},
	} {
		code, body := get(t, base+"?"+tc.params)
		var er fibrehttp.ErrorResponse
		json.Unmarshal(body, &er)
		if code != 400 || er.Field != tc.field {
			t.Errorf("?%s = %d %s; want 400 on field %s", tc.params, code, body, tc.field)
		}
	}
	// filters narrow the addresses layer
	_, all := get(t, base+"?layer=addresses")
	_, fwa := get(t, base+"?layer=addresses&technology=FWA")
	fcAll, _ := geojson.UnmarshalFeatureCollection(all)
	fcFWA, _ := geojson.UnmarshalFeatureCollection(fwa)
	if len(fcFWA.Features) == 0 || len(fcFWA.Features) >= len(fcAll.Features) {
		t.Fatalf("technology=FWA: %d of %d civics", len(fcFWA.Features), len(fcAll.Features))
	}
	for _, ft := range fcFWA.Features {
		if ft.Properties["technology"] != "FWA" {
			t.Fatalf("FWA filter let through %v", ft.Properties)
		}
	}
}

// checkRings: RFC 7946 outer rings counter-clockwise, holes clockwise.
func checkRings(t *testing.T, g orb.Geometry) {
	t.Helper()
	var polys []orb.Polygon
	switch g := g.(type) {
	case orb.Polygon:
		polys = append(polys, g)
	case orb.MultiPolygon:
		polys = append(polys, g...)
	}
	for _, p := range polys {
		for i, r := range p {
			ccw := r.Orientation() == orb.CCW
			if (i == 0) != ccw {
				t.Fatalf("ring %d orientation %v (outer must be CCW, holes CW)", i, r.Orientation())
			}
		}
	}
}

func TestRolloutAndGaps(t *testing.T) {
	f := newFixture(t)
	code, body := get(t, f.srv.URL+fibrehttp.PathRollout)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var ro fibrehttp.RolloutResponse
	if err := json.Unmarshal(body, &ro); err != nil {
		t.Fatal(err)
	}
	if !ro.Synthetic || len(ro.Figures) != 5 || ro.Figures[0].Scope != geo.ScopeComune || len(ro.Timeline) < 12 {
		t.Fatalf("rollout: synthetic %v, %d figures, %d months", ro.Synthetic, len(ro.Figures), len(ro.Timeline))
	}
	if u := ro.Figures[0].Units; u < 1650 || u > 1750 {
		t.Errorf("comune units %d; the register should hold about 1,700", u)
	}
	last := ro.Timeline[len(ro.Timeline)-1]
	if last.ServedShare != 1 {
		t.Errorf("served share at the end of the timeline %v; the register says every civic is served", last.ServedShare)
	}
	code, body = get(t, f.srv.URL+fibrehttp.PathRollout+"?format=csv&hamlet=Bolzone")
	if code != 200 {
		t.Fatalf("csv: %d %s", code, body)
	}
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil || len(rows) < 2 || rows[0][0] != "month" || rows[1][2] != "Bolzone" {
		t.Fatalf("csv rows %v, %v", rows[:min(2, len(rows))], err)
	}
	for _, bad := range []string{"?hamlet=Crema", "?format=xml", "?x=1"} {
		if code, _ := get(t, f.srv.URL+fibrehttp.PathRollout+bad); code != 400 {
			t.Errorf("rollout%s = %d; want 400", bad, code)
		}
	}
	code, body = get(t, f.srv.URL+fibrehttp.PathGaps)
	var gaps fibrehttp.GapsResponse
	if code != 200 || json.Unmarshal(body, &gaps) != nil || gaps.Gaps == nil || len(gaps.Gaps) != 0 {
		t.Fatalf("gaps before any test: %d %s", code, body)
	}
	// The town hall's civic declares FTTH 1 Gbit/s; its probe measures 100 Mbit/s.
	var batch []fibremon.Result
	for i := range 5 {
		r := storetest.Result("municipio", fibremon.KindDownload, time.Now().Add(-time.Duration(i+1)*time.Minute), true)
		r.Probe = "p-municipio"
		batch = append(batch, r)
	}
	if _, err := (&wire.Client{BaseURL: f.srv.URL, Token: f.token}).PostResults(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	code, body = get(t, f.srv.URL+fibrehttp.PathGaps)
	gaps = fibrehttp.GapsResponse{}
	if code != 200 || json.Unmarshal(body, &gaps) != nil || len(gaps.Gaps) != 1 {
		t.Fatalf("gaps: %d %s", code, body)
	}
	g := gaps.Gaps[0]
	if g.SiteID != "municipio" || g.Address != "Via Roma 5" || g.Tests != 5 || g.MeasuredP5DownMbps != 100 ||
		g.DeclaredClass != geo.VHCN || g.Flag != geo.FlagBelowDeclaredClass {
		t.Fatalf("gap %+v; want municipio at Via Roma 5 flagged below its VHCN class", g)
	}
}
