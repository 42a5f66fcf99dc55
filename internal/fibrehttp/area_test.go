package fibrehttp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"

	"fibremon/geo"
	"fibremon/internal/fibrehttp"
)

// maxAreaBytes bounds the body of any answer by area: MaxAreaFeatures
// civics of about 600 bytes each.
const maxAreaBytes = 1536 << 10

// TestCoverageByArea: the addresses and white-areas layers come by area
// and zoom, never as one file for the consortium: at most MaxAreaFeatures
// features and maxAreaBytes per answer, clusters beyond.
func TestCoverageByArea(t *testing.T) {
	f := newConsortiumFixture(t)
	set := consortium(t)
	u := f.srv.URL + fibrehttp.PathCoverage + "?"
	crema, err := set.Comune("crema")
	if err != nil {
		t.Fatal(err)
	}
	c := crema.Comune().Boundary.Bound().Center()
	centre := fmt.Sprintf("%f,%f,%f,%f", c.Lon()-0.004, c.Lat()-0.003, c.Lon()+0.004, c.Lat()+0.003)

	for _, tt := range []struct {
		query     string
		clustered bool
		civics    int // >0: the civics the answer must count, in clusters or one by one
	}{
		{"layer=addresses", true, 49311},
		{"layer=addresses&comune=crema", true, len(crema.Comune().Addresses)},
		{"layer=addresses&bbox=9.4,45.2,9.9,45.6&zoom=18", true, 49311},
		{"layer=addresses&bbox=" + centre + "&zoom=17", false, 0},
		{"layer=addresses&bbox=" + centre + "&zoom=10", true, 0},
		{"layer=addresses&comune=ripalta-cremasca", false, 1034},
		{"layer=white-areas", true, 0},
		{"layer=white-areas&bbox=" + centre + "&zoom=17", false, 0},
	} {
		t.Run(tt.query, func(t *testing.T) {
			code, body := get(t, u+tt.query)
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			if len(body) > maxAreaBytes {
				t.Errorf("%d bytes; want at most %d", len(body), maxAreaBytes)
			}
			fc, err := geojson.UnmarshalFeatureCollection(body)
			if err != nil {
				t.Fatal(err)
			}
			n, civics := 0, 0
			for _, f := range fc.Features {
				if mp, ok := f.Geometry.(orb.MultiPoint); ok {
					n += len(mp)
				} else {
					n++
				}
				if f.Properties["cluster"] == true {
					civics += int(f.Properties.MustFloat64("addresses"))
				} else if f.Properties["layer"] == geo.LayerAddresses {
					civics++
				}
				if _, ok := f.Properties["comune"].(string); !ok {
					t.Fatalf("feature %v without its comune", f.ID)
				}
			}
			if n == 0 || n > geo.MaxAreaFeatures {
				t.Errorf("%d features; want 1..%d", n, geo.MaxAreaFeatures)
			}
			if fc.ExtraMembers["clustered"] != tt.clustered {
				t.Errorf("clustered = %v; want %v", fc.ExtraMembers["clustered"], tt.clustered)
			}
			if tt.civics > 0 && civics != tt.civics {
				t.Errorf("the answer counts %d civics; want %d", civics, tt.civics)
			}
			t.Logf("%d features, %d bytes, zoom %v", n, len(body), fc.ExtraMembers["zoom"])
		})
	}
}

// TestAreaBadInput: a bad bbox, zoom or tile coordinate is a 400 naming
// it; an unknown comune a 404 naming it.
func TestAreaBadInput(t *testing.T) {
	f := newConsortiumFixture(t)
	geo := f.srv.URL + fibrehttp.PathCoverage + "?layer=addresses&"
	tile := f.srv.URL + fibrehttp.PathTiles + "/"
	for _, tt := range []struct {
		url   string
		code  int
		field string
	}{
		{geo + "bbox=9.6,45.3,9.7", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,45.4,1", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,x", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,NaN", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,Inf", 400, "bbox"},
		{geo + "bbox=-181,45.3,9.7,45.4", 400, "bbox"},
		{geo + "bbox=9.6,45.3,181,45.4", 400, "bbox"},
		{geo + "bbox=9.6,-91,9.7,45.4", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,90.5", 400, "bbox"},
		{geo + "bbox=9.7,45.3,9.6,45.4", 400, "bbox"},
		{geo + "bbox=9.6,45.4,9.7,45.3", 400, "bbox"},
		{geo + "bbox=", 400, "bbox"},
		{geo + "bbox=9.6,45.3,9.7,45.4&bbox=9.6,45.3,9.7,45.4", 400, "bbox"},
		{geo + "zoom=23", 400, "zoom"},
		{geo + "zoom=-1", 400, "zoom"},
		{geo + "zoom=1.5", 400, "zoom"},
		{geo + "zoom=", 400, "zoom"},
		{geo + "zoom=99999999999999999999", 400, "zoom"},
		{geo + "comune=atlantide", 404, "comune"},
		{geo + "bbox=9.6,45.3,9.7,45.4&zoom=22", 200, ""},
		{geo + "bbox=-180,-90,180,90&zoom=0", 200, ""},

		{tile + "addresses/14/8629/5866.mvt", 200, ""},
		{tile + "addresses/23/0/0.mvt", 400, "z"},
		{tile + "addresses/-1/0/0.mvt", 400, "z"},
		{tile + "addresses/x/0/0.mvt", 400, "z"},
		{tile + "addresses/0/1/0.mvt", 400, "x"},
		{tile + "addresses/0/0/1.mvt", 400, "y"},
		{tile + "addresses/14/16384/0.mvt", 400, "x"},
		{tile + "addresses/14/0/16384.mvt", 400, "y"},
		{tile + "addresses/14/-1/0.mvt", 400, "x"},
		{tile + "addresses/22/4194304/0.mvt", 400, "x"},
		{tile + "addresses/14/0/0.png", 400, "y"},
		{tile + "addresses/14/0/0", 400, "y"},
		{tile + "roads/14/0/0.mvt", 400, "layers"},
		{tile + "addresses,addresses/14/0/0.mvt", 400, "layers"},
		{tile + "addresses,/14/0/0.mvt", 400, "layers"},
		{tile + "addresses/14/8629/5866.mvt?comune=atlantide", 404, "comune"},
		{tile + "addresses/14/8629/5866.mvt?bbox=1,2,3,4", 400, "bbox"},
		{tile + "addresses/14/8629/5866.mvt?class=purple", 400, "class"},
	} {
		code, body := get(t, tt.url)
		if code != tt.code {
			t.Errorf("GET %s = %d %s; want %d", tt.url, code, body, tt.code)
			continue
		}
		if tt.code < 400 {
			continue
		}
		var er fibrehttp.ErrorResponse
		if err := json.Unmarshal(body, &er); err != nil || er.Field != tt.field || er.Error == "" {
			t.Errorf("GET %s = %s; want an error on %q", tt.url, body, tt.field)
		}
		if tt.field == "comune" && !strings.Contains(er.Error, "atlantide") {
			t.Errorf("GET %s: %q does not name the comune", tt.url, er.Error)
		}
	}
}

// getTile fetches and decodes a vector tile.
func getTile(t *testing.T, url string, header ...string) mvt.Layers {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != fibrehttp.TileContentType {
		t.Fatalf("GET %s = %d %s %.200s", url, resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	if len(raw) > maxAreaBytes {
		t.Errorf("GET %s: %d bytes; want at most %d", url, len(raw), maxAreaBytes)
	}
	ls, err := mvt.Unmarshal(raw)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return ls
}

// stripGenerated drops the generated_at member of a collection.
func stripGenerated(body []byte) string {
	fc, err := geojson.UnmarshalFeatureCollection(body)
	if err != nil {
		return string(body)
	}
	delete(fc.ExtraMembers, "generated_at")
	b, _ := fc.MarshalJSON()
	return string(b)
}

func mustComuneCentre(t *testing.T, set *geo.Set, slug string) orb.Point {
	t.Helper()
	ix, err := set.Comune(slug)
	if err != nil {
		t.Fatal(err)
	}
	return ix.Comune().Boundary.Bound().Center()
}

// TestTiles: the layers as Mapbox Vector Tiles: a tile of Crema's centre
// holds its civics, one of the whole area clusters; several layers at
// once; the sites in the public view without a token.
func TestTiles(t *testing.T) {
	f := newConsortiumFixture(t)
	set := consortium(t)
	crema, err := set.Comune("crema")
	if err != nil {
		t.Fatal(err)
	}
	c := crema.Comune().Boundary.Bound().Center()
	base := f.srv.URL + fibrehttp.PathTiles + "/"

	// Zoom 16 at Crema's centre: civics, one by one, each in the tile (or
	// its margin).
	tl := maptile.At(c, 16)
	ls := getTile(t, fmt.Sprintf("%saddresses/%d/%d/%d.mvt", base, tl.Z, tl.X, tl.Y))
	if len(ls) != 1 || ls[0].Name != geo.LayerAddresses {
		t.Fatalf("layers %v", ls)
	}
	want := 0
	for _, a := range crema.Comune().Addresses {
		if tl.Bound().Contains(a.Point) {
			want++
		}
	}
	civics := 0
	for _, ft := range ls[0].Features {
		if ft.Properties["cluster"] != false || ft.Properties["comune"] != "crema" {
			t.Fatalf("feature %v in a zoom-16 tile", ft.Properties)
		}
		p := ft.Geometry.(orb.Point)
		if p[0] >= 0 && p[0] < mvt.DefaultExtent && p[1] >= 0 && p[1] < mvt.DefaultExtent {
			civics++
		}
	}
	if want == 0 || civics != want {
		t.Errorf("tile %v holds %d civics inside; the register has %d there", tl, civics, want)
	}

	// Zoom 9: the whole consortium in one or two tiles, clustered.
	tl = maptile.At(c, 9)
	ls = getTile(t, fmt.Sprintf("%scomune,addresses,sites/%d/%d/%d.mvt", base, tl.Z, tl.X, tl.Y))
	names := []string{}
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if strings.Join(names, ",") != "comune,addresses,sites" {
		t.Fatalf("layers %v", names)
	}
	for _, ft := range ls[1].Features {
		if ft.Properties["cluster"] != true {
			t.Fatalf("a civic in a zoom-9 tile: %v", ft.Properties)
		}
	}
	if n := len(ls[1].Features); n == 0 || n > geo.MaxAreaFeatures {
		t.Errorf("%d clusters", n)
	}
	if len(ls[0].Features) < 40 {
		t.Errorf("%d boundaries in the tile of the consortium", len(ls[0].Features))
	}
	for _, ft := range ls[2].Features {
		if _, ok := ft.Properties["contract_download_mbps"]; ok {
			t.Errorf("site %v: contract figures in the public view", ft.Properties["site_id"])
		}
	}
	ls = getTile(t, fmt.Sprintf("%ssites/%d/%d/%d.mvt", base, tl.Z, tl.X, tl.Y), "Authorization", "Bearer "+f.reader)
	full := false
	for _, ft := range ls[0].Features {
		_, ok := ft.Properties["contract_download_mbps"]
		full = full || ok
	}
	if !full {
		t.Error("no contract figures for a reader")
	}

	// Tiles of every layer leave the data set as it was: the GeoJSON of
	// each layer is the same after them.
	before := map[string]string{}
	layers := strings.Join(geo.Layers[1:], ",")
	for _, l := range geo.Layers[1:] {
		_, body := get(t, f.srv.URL+fibrehttp.PathCoverage+"?layer="+l+"&comune=ripalta-cremasca&zoom=14")
		before[l] = stripGenerated(body)
	}
	rip := maptile.At(mustComuneCentre(t, set, "ripalta-cremasca"), 14)
	for range 2 {
		for _, tl := range append(rip.Children(), rip, rip.Parent(), rip.Parent().Parent()) {
			getTile(t, fmt.Sprintf("%s%s/%d/%d/%d.mvt", base, layers, tl.Z, tl.X, tl.Y))
		}
	}
	for _, l := range geo.Layers[1:] {
		_, body := get(t, f.srv.URL+fibrehttp.PathCoverage+"?layer="+l+"&comune=ripalta-cremasca&zoom=14")
		if stripGenerated(body) != before[l] {
			t.Errorf("layer %s changed after its tiles were served", l)
		}
	}

	// An empty tile is a valid one.
	if ls := getTile(t, base+"addresses/10/0/0.mvt"); len(ls) != 1 || len(ls[0].Features) != 0 {
		t.Errorf("a tile of the Pacific: %v", ls)
	}
}
