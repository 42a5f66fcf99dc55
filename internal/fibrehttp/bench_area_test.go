package fibrehttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"

	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
)

// BenchmarkMapAnswers: what the map's requests cost over the 48 comuni of
// the embedded data set, through the real handler: time per answer and
// its size ("bytes/answer"). "one-file" is the addresses layer of the
// consortium as it was served before it came by area: every civic, built
// and marshalled. docs/SCALING.md quotes the figures of
//
//	go test -run '^$' -bench MapAnswers -benchtime 20x ./internal/fibrehttp
func BenchmarkMapAnswers(b *testing.B) {
	set := consortium(b)
	f := newFixture(b, func(d *fibrehttp.Deps, _ *auth.Tokens) {
		live := new(geo.Live)
		live.Store(set)
		d.Geo = live
	})
	h := f.srv.Config.Handler
	crema, err := set.Comune("crema")
	if err != nil {
		b.Fatal(err)
	}
	c := crema.Comune().Boundary.Bound().Center()
	centre := fmt.Sprintf("%f,%f,%f,%f", c.Lon()-0.006, c.Lat()-0.004, c.Lon()+0.006, c.Lat()+0.004)
	tile := maptile.At(c, 15)

	b.Run("one-file", func(b *testing.B) {
		n := 0
		for b.Loop() {
			fc := geojson.NewFeatureCollection()
			for _, ix := range set.Comuni() {
				l, err := geo.BuildLayer(ix.Comune(), geo.LayerQuery{Layer: geo.LayerAddresses}, nil, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				fc.Features = append(fc.Features, l.Features...)
			}
			raw, err := fc.MarshalJSON()
			if err != nil {
				b.Fatal(err)
			}
			n = len(raw)
		}
		b.ReportMetric(float64(n), "bytes/answer")
	})
	for _, tt := range []struct{ name, path string }{
		{"consortium-addresses", fibrehttp.PathCoverage + "?layer=addresses"},
		{"consortium-white-areas-z10", fibrehttp.PathCoverage + "?layer=white-areas&bbox=9.45,45.2,9.95,45.55&zoom=10"},
		{"consortium-boundaries", fibrehttp.PathCoverage + "?layer=comune"},
		{"crema-addresses-z13", fibrehttp.PathCoverage + "?layer=addresses&comune=crema&zoom=13"},
		{"crema-centre-addresses-z16", fibrehttp.PathCoverage + "?layer=addresses&comune=crema&bbox=" + centre + "&zoom=16"},
		{"ripalta-addresses-z14", fibrehttp.PathCoverage + "?layer=addresses&comune=ripalta-cremasca&zoom=14"},
		{"tile-z15-addresses", fmt.Sprintf("%s/addresses/%d/%d/%d.mvt", fibrehttp.PathTiles, tile.Z, tile.X, tile.Y)},
		{"tile-z11-all", fmt.Sprintf("%s/comune,white-areas,addresses,sites/%d/%d/%d.mvt", fibrehttp.PathTiles, tile.Z-4, tile.X>>4, tile.Y>>4)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
				if rec.Code != 200 {
					b.Fatalf("GET %s = %d %s", tt.path, rec.Code, rec.Body.Bytes())
				}
				n = rec.Body.Len()
			}
			b.ReportMetric(float64(n), "bytes/answer")
		})
	}
}
