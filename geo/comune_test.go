package geo_test

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"

	"github.com/paulmach/orb"
)

const dir = "ripalta-cremasca"

// MustLoad loads the embedded reference data of Ripalta Cremasca.
func MustLoad(tb testing.TB) *geo.Comune {
	tb.Helper()
	c, err := geo.Load(data.FS, dir)
	if err != nil {
		tb.Fatalf("Load(data.FS, %q): %v", dir, err)
	}
	return c
}

func TestLoadEmbedded(t *testing.T) {
	c := MustLoad(t)
	if c.Name != "Ripalta Cremasca" || c.ISTATCode != "019081" {
		t.Errorf("Load: Name, ISTATCode = %q, %q; want Ripalta Cremasca, 019081", c.Name, c.ISTATCode)
	}
	if want := "Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0"; c.Attribution != want {
		t.Errorf("Attribution = %q; want %q", c.Attribution, want)
	}
	for i, p := range c.Boundary {
		if got := p[0].Orientation(); got != orb.CCW {
			t.Errorf("Boundary[%d] outer ring orientation = %v; want CCW", i, got)
		}
	}

	hamlets := map[string]geo.Hamlet{}
	for _, h := range c.Hamlets {
		hamlets[h.Name] = h
		if !c.Contains(h.Point) {
			t.Errorf("hamlet %s at %v lies outside the boundary", h.Name, h.Point)
		}
	}
	for _, tt := range []struct {
		name        string
		seat        bool
		status      fibremon.CoordStatus
		uncertainty float64
	}{
		{"Ripalta Nuova", true, fibremon.CoordSourced, 200},
		{"Bolzone", false, fibremon.CoordSourced, 200},
		{"San Michele", false, fibremon.CoordSourced, 200},
		{"Zappello", false, fibremon.CoordEstimated, 1200},
	} {
		h, ok := hamlets[tt.name]
		if !ok {
			t.Errorf("hamlet %s missing", tt.name)
			continue
		}
		if h.Seat != tt.seat || h.CoordStatus != tt.status || h.UncertaintyMeters != tt.uncertainty {
			t.Errorf("hamlet %s: seat, status, uncertainty = %v, %s, %g; want %v, %s, %g",
				tt.name, h.Seat, h.CoordStatus, h.UncertaintyMeters, tt.seat, tt.status, tt.uncertainty)
		}
	}
	if len(c.Hamlets) != 4 {
		t.Errorf("len(Hamlets) = %d; want 4", len(c.Hamlets))
	}

	sites := map[string]fibremon.Site{}
	byHamlet := map[string]int{}
	for _, s := range c.Sites {
		sites[s.ID] = s
		byHamlet[s.Hamlet]++
		if err := s.Validate(); err != nil {
			t.Errorf("site %s: Validate() = %v", s.ID, err)
		}
		if !c.Contains(orb.Point{s.Lon, s.Lat}) {
			t.Errorf("site %s at (%g, %g) lies outside the boundary", s.ID, s.Lon, s.Lat)
		}
		if !s.LineSynthetic {
			t.Errorf("site %s: LineSynthetic = false; no source gives per-site lines", s.ID)
		}
		if s.Synthetic && !strings.Contains(s.Name, "(synthetic)") {
			t.Errorf("synthetic site %s: name %q does not say (synthetic)", s.ID, s.Name)
		}
		if s.CoordStatus == fibremon.CoordEstimated && s.CoordUncertaintyMeters < 100 {
			t.Errorf("estimated site %s: uncertainty %g m; want an honest one (>= 100 m)", s.ID, s.CoordUncertaintyMeters)
		}
	}
	for _, h := range []string{"Ripalta Nuova", "Bolzone", "San Michele", "Zappello"} {
		if byHamlet[h] == 0 {
			t.Errorf("hamlet %s has no site", h)
		}
	}

	for _, tt := range []struct {
		id        string
		kind      fibremon.SiteKind
		status    fibremon.CoordStatus
		synthetic bool
	}{
		{"municipio", fibremon.SiteTownHall, fibremon.CoordApproximate, false},
		{"scuola-primaria-pascoli", fibremon.SiteSchool, fibremon.CoordEstimated, false},
		{"scuola-secondaria-ripalta", fibremon.SiteSchool, fibremon.CoordEstimated, false},
		{"scuola-infanzia-ripalta-nuova", fibremon.SiteSchool, fibremon.CoordEstimated, false},
		{"scuola-infanzia-nido-bolzone", fibremon.SiteSchool, fibremon.CoordEstimated, false},
		{"fonderia-allanconi", fibremon.SiteBusiness, fibremon.CoordEstimated, false},
		{"valserio", fibremon.SiteBusiness, fibremon.CoordEstimated, false},
		{"agriturismo-la-torre", fibremon.SiteBusiness, fibremon.CoordEstimated, false},
		{"azienda-agricola-zappello", fibremon.SiteBusiness, fibremon.CoordEstimated, true},
		{"impresa-artigiana-san-michele", fibremon.SiteBusiness, fibremon.CoordEstimated, true},
	} {
		s, ok := sites[tt.id]
		if !ok {
			t.Errorf("site %s missing", tt.id)
			continue
		}
		if s.Kind != tt.kind || s.CoordStatus != tt.status || s.Synthetic != tt.synthetic {
			t.Errorf("site %s: kind, coord_status, synthetic = %s, %s, %v; want %s, %s, %v",
				tt.id, s.Kind, s.CoordStatus, s.Synthetic, tt.kind, tt.status, tt.synthetic)
		}
	}
	if s := sites["municipio"]; !strings.HasPrefix(s.Address, "Via Roma 5") || s.Name != "Municipio di Ripalta Cremasca" {
		t.Errorf("municipio: name, address = %q, %q; want Municipio di Ripalta Cremasca, Via Roma 5 ...", s.Name, s.Address)
	}
	if s := sites["valserio"]; !strings.Contains(strings.ToLower(s.Name), "unverified") {
		t.Errorf("valserio: name %q does not say it is unverified", s.Name)
	}

	// The line mix follows the 2022 facts: mostly FTTH, some FWA, copper left.
	techs := map[fibremon.Technology]int{}
	for _, s := range c.Sites {
		techs[s.Technology]++
	}
	if techs[fibremon.FTTH] <= len(c.Sites)/2 || techs[fibremon.FWA] == 0 || techs[fibremon.FTTC] == 0 || techs[fibremon.ADSL] == 0 {
		t.Errorf("technology mix = %v; want mostly FTTH, and some FWA, FTTC and ADSL", techs)
	}
	if got, want := sites["municipio"].ContractDownloadBytesPerSecond, fibremon.MbitPerSecond(1000); got != want {
		t.Errorf("municipio contract download = %g B/s; want %g (1000 Mbit/s)", got, want)
	}

	// Points without a known position are spread out, not stacked.
	seen := map[orb.Point]string{}
	for _, s := range c.Sites {
		p := orb.Point{s.Lon, s.Lat}
		if other, dup := seen[p]; dup {
			t.Errorf("sites %s and %s share the point %v", other, s.ID, p)
		}
		seen[p] = s.ID
	}
	for _, h := range c.Hamlets {
		if id, dup := seen[h.Point]; dup {
			t.Errorf("site %s sits exactly on hamlet point %s", id, h.Name)
		}
	}
}

// mustRead returns the text of an embedded data file.
func mustRead(tb testing.TB, name string) string {
	tb.Helper()
	b, err := fs.ReadFile(data.FS, dir+"/"+name)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestLoadErrors(t *testing.T) {
	boundary := mustRead(t, geo.BoundaryFile)
	hamlets := mustRead(t, geo.HamletsFile)
	sites := mustRead(t, geo.SitesFile)
	replace := func(tb testing.TB, s, old, new string) string {
		tb.Helper()
		if !strings.Contains(s, old) {
			tb.Fatalf("test data does not contain %q", old)
		}
		return strings.Replace(s, old, new, 1)
	}

	tests := []struct {
		name string
		edit func(tb testing.TB, files map[string]string)
		want []string // substrings of the error
	}{
		{"site outside boundary", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "9.684,45.3265", "9.75,45.3265")
		}, []string{"sites.csv", "line 8", `"valserio"`, "outside the boundary"}},
		{"site with swapped lon/lat", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "9.6944508,45.3347282", "45.3347282,9.6944508")
		}, []string{"sites.csv", "line 2", `"municipio"`, "outside the boundary", "swapped?"}},
		{"unknown hamlet", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], ",Zappello,,9.67106", ",Zapello,,9.67106")
		}, []string{"sites.csv", "line 10", "hamlet", `"Zapello"`}},
		{"bad coord_status", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "approximate,400", "approx,400")
		}, []string{"sites.csv", "line 2", "coord_status", `"approx"`}},
		{"bad technology", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "FTTC,30,3", "VDSL,30,3")
		}, []string{"sites.csv", "line 12", "technology", `"VDSL"`}},
		{"bad kind", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "town_hall", "townhall")
		}, []string{"sites.csv", "line 2", "kind"}},
		{"bad id", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "\nmunicipio,", "\nMunicipio,")
		}, []string{"sites.csv", "line 2", "id"}},
		{"bad number", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "9.6944508", "9.69x")
		}, []string{"sites.csv", "line 2", "lon", "not a finite number"}},
		{"NaN contract", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "FTTC,30,3", "FTTC,NaN,3")
		}, []string{"sites.csv", "line 12", "contract_down_mbps"}},
		{"guarantee above the contract", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "FTTC,30,3,10,1,40", "FTTC,30,3,40,1,40")
		}, []string{"sites.csv", "line 12", "min_download_bytes_per_second", "above the contracted speed"}},
		{"bad max rtt", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "FTTC,30,3,10,1,40", "FTTC,30,3,10,1,-4")
		}, []string{"sites.csv", "line 12", "max_rtt_seconds"}},
		{"bad bool", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "1000,300,500,150,20,false,true", "1000,300,500,150,20,no,true")
		}, []string{"sites.csv", "line 2", "synthetic"}},
		{"synthetic site with sourced point", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], "estimated,1400,ADSL", "sourced,1400,ADSL")
		}, []string{"sites.csv", "line 10", "synthetic"}},
		{"duplicate id", func(tb testing.TB, f map[string]string) {
			first := strings.SplitN(f[geo.SitesFile], "\n", 3)[1]
			f[geo.SitesFile] += first + "\n"
		}, []string{"sites.csv", "line 13", `"municipio"`, "duplicate of line 2"}},
		{"missing column", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = "id,name,kind\nx,X,other\n"
		}, []string{"sites.csv", "line 1", "missing column"}},
		{"unknown column", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = replace(tb, f[geo.SitesFile], ",notes\n", ",note\n")
		}, []string{"sites.csv", "line 1", `unknown column "note"`}},
		{"short row", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] += "extra,Extra\n"
		}, []string{"sites.csv", "line 13", "wrong number of fields"}},
		{"empty sites file", func(tb testing.TB, f map[string]string) {
			f[geo.SitesFile] = ""
		}, []string{"sites.csv", "missing header"}},
		{"hamlet outside boundary", func(tb testing.TB, f map[string]string) {
			f[geo.HamletsFile] = replace(tb, f[geo.HamletsFile], "[9.6685, 45.3205]", "[9.6685, 45.3105]")
		}, []string{"hamlets.geojson", "features[3]", `"Zappello"`, "outside the boundary"}},
		{"hamlet bad status", func(tb testing.TB, f map[string]string) {
			f[geo.HamletsFile] = replace(tb, f[geo.HamletsFile], `"coord_status": "estimated"`, `"coord_status": "ESTIMATED"`)
		}, []string{"hamlets.geojson", "features[3]", "coord_status"}},
		{"hamlet missing uncertainty", func(tb testing.TB, f map[string]string) {
			f[geo.HamletsFile] = replace(tb, f[geo.HamletsFile], `"coord_uncertainty_m": 1200,`, ``)
		}, []string{"hamlets.geojson", "features[3]", "coord_uncertainty_m", "missing"}},
		{"two seats", func(tb testing.TB, f map[string]string) {
			f[geo.HamletsFile] = replace(tb, f[geo.HamletsFile], `"name": "Bolzone",
    "seat": false`, `"name": "Bolzone",
    "seat": true`)
		}, []string{"hamlets.geojson", "2 hamlets marked as seat"}},
		{"hamlet not a point", func(tb testing.TB, f map[string]string) {
			f[geo.HamletsFile] = replace(tb, f[geo.HamletsFile], `{"type": "Point", "coordinates": [9.6685, 45.3205]}`,
				`{"type": "LineString", "coordinates": [[9.6685, 45.3205], [9.67, 45.33]]}`)
		}, []string{"hamlets.geojson", "features[3]", "LineString", "want Point"}},
		{"boundary not a polygon", func(tb testing.TB, f map[string]string) {
			f[geo.BoundaryFile] = `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[9.68,45.33]}}]}`
		}, []string{"boundary.geojson", "features[0]", "want Polygon or MultiPolygon"}},
		{"boundary without attribution", func(tb testing.TB, f map[string]string) {
			f[geo.BoundaryFile] = replace(tb, f[geo.BoundaryFile], `"attribution"`, `"credit"`)
		}, []string{"boundary.geojson", "features[0]", "attribution", "missing"}},
		{"boundary ring not closed", func(tb testing.TB, f map[string]string) {
			f[geo.BoundaryFile] = `{"type":"FeatureCollection","features":[{"type":"Feature",
				"properties":{"name":"X","istat_code":"1","attribution":"a"},
				"geometry":{"type":"Polygon","coordinates":[[[9.6,45.3],[9.8,45.3],[9.8,45.4],[9.6,45.4]]]}}]}`
		}, []string{"boundary.geojson", "polygon 0 ring 0", "not closed"}},
		{"boundary empty", func(tb testing.TB, f map[string]string) {
			f[geo.BoundaryFile] = `{"type":"FeatureCollection","features":[]}`
		}, []string{"boundary.geojson", "no feature"}},
		{"boundary not GeoJSON", func(tb testing.TB, f map[string]string) {
			f[geo.BoundaryFile] = `{"type":"Feature"`
		}, []string{"boundary.geojson"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{geo.BoundaryFile: boundary, geo.HamletsFile: hamlets, geo.SitesFile: sites}
			tt.edit(t, files)
			fsys := fstest.MapFS{}
			for name, text := range files {
				fsys[dir+"/"+name] = &fstest.MapFile{Data: []byte(text)}
			}
			c, err := geo.Load(fsys, dir)
			if err == nil {
				t.Fatalf("Load() = %d sites, nil error; want an error containing %q", len(c.Sites), tt.want)
			}
			t.Logf("Load() error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load() error = %q; want it to contain %q", err, w)
				}
			}
			if k := fibremon.KindOf(err); k != fibremon.Invalid {
				t.Errorf("KindOf(Load() error) = %v; want %v", k, fibremon.Invalid)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	for _, name := range []string{geo.BoundaryFile, geo.HamletsFile, geo.SitesFile} {
		t.Run(name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, n := range []string{geo.BoundaryFile, geo.HamletsFile, geo.SitesFile} {
				if n != name {
					fsys[dir+"/"+n] = &fstest.MapFile{Data: []byte(mustRead(t, n))}
				}
			}
			_, err := geo.Load(fsys, dir)
			if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), name) {
				t.Errorf("Load() without %s = %v; want fs.ErrNotExist naming the file", name, err)
			}
		})
	}
}

// TestLoadRewinds checks that a boundary in the pre-RFC 7946 orientation
// (clockwise outer ring, as openpolis ships it) is rewound on load.
func TestLoadRewinds(t *testing.T) {
	c := MustLoad(t)
	cw := slices.Clone(c.Boundary[0][0])
	cw.Reverse()
	if cw.Orientation() != orb.CW {
		t.Fatal("reversed ring is not clockwise")
	}
	b, err := geoJSONPolygon(cw)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		dir + "/" + geo.BoundaryFile: &fstest.MapFile{Data: b},
		dir + "/" + geo.HamletsFile:  &fstest.MapFile{Data: []byte(mustRead(t, geo.HamletsFile))},
		dir + "/" + geo.SitesFile:    &fstest.MapFile{Data: []byte(mustRead(t, geo.SitesFile))},
	}
	got, err := geo.Load(fsys, dir)
	if err != nil {
		t.Fatalf("Load(clockwise boundary): %v", err)
	}
	if o := got.Boundary[0][0].Orientation(); o != orb.CCW {
		t.Errorf("Load(clockwise boundary): outer ring orientation = %v; want CCW", o)
	}
	if len(got.Sites) != len(c.Sites) {
		t.Errorf("Load(clockwise boundary): %d sites; want %d", len(got.Sites), len(c.Sites))
	}
}

func TestParseSites(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		wantIDs []string
		wantErr string
	}{
		{"header only", "id,name,kind,hamlet,lon,lat,coord_status,coord_uncertainty_m,technology,contract_down_mbps,contract_up_mbps,synthetic,line_synthetic\n", nil, ""},
		{"columns in any order, optional ones absent, BOM",
			"\ufeffname,id,kind,hamlet,lat,lon,coord_status,coord_uncertainty_m,technology,contract_down_mbps,contract_up_mbps,synthetic,line_synthetic\n" +
				"X,x-1,other,,45.33,9.68,estimated,500,none,0,0,true,true\n", []string{"x-1"}, ""},
		{"duplicate column", "id,id\n", nil, `duplicate column "id"`},
		{"negative uncertainty",
			"id,name,kind,hamlet,lon,lat,coord_status,coord_uncertainty_m,technology,contract_down_mbps,contract_up_mbps,synthetic,line_synthetic\n" +
				"x,X,other,,9.68,45.33,estimated,-1,none,0,0,true,true\n", nil, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sites, err := geo.ParseSites(strings.NewReader(tt.csv))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSites() error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSites() error = %v", err)
			}
			var ids []string
			for _, s := range sites {
				ids = append(ids, s.ID)
			}
			if !slices.Equal(ids, tt.wantIDs) {
				t.Errorf("ParseSites() ids = %q; want %q", ids, tt.wantIDs)
			}
		})
	}
}

func FuzzParseSites(f *testing.F) {
	b, err := fs.ReadFile(data.FS, dir+"/"+geo.SitesFile)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	f.Add("id,name\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		sites, err := geo.ParseSites(strings.NewReader(text))
		if err != nil {
			if fibremon.KindOf(err) != fibremon.Invalid {
				t.Errorf("ParseSites error %v has kind %v; want Invalid", err, fibremon.KindOf(err))
			}
			return
		}
		for i := range sites {
			if err := sites[i].Validate(); err != nil {
				t.Errorf("ParseSites returned an invalid site: %v", err)
			}
		}
	})
}
