package geo_test

import (
	"math"
	"testing"

	"fibremon/geo"

	"github.com/paulmach/orb"
)

func TestDistanceMeters(t *testing.T) {
	ripaltaNuova := orb.Point{9.693611, 45.331944}
	bolzone := orb.Point{9.663611, 45.336111}
	tests := []struct {
		name string
		a, b orb.Point
		want float64 // metres
		tol  float64 // relative
	}{
		{"same point", ripaltaNuova, ripaltaNuova, 0, 0},
		// 1° of latitude on orb's sphere (R = 6378137 m) is R·π/180.
		{"one degree of latitude", orb.Point{9.69, 45}, orb.Point{9.69, 46}, 6378137 * math.Pi / 180, 1e-9},
		// Haversine; the equirectangular estimate Δlon·cos(lat)·R, Δlat·R agrees: ~2.39 km.
		{"Ripalta Nuova to Bolzone", ripaltaNuova, bolzone, 2390, 0.01},
		{"symmetric", bolzone, ripaltaNuova, 2390, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := geo.DistanceMeters(tt.a, tt.b)
			if math.Abs(got-tt.want) > tt.tol*tt.want {
				t.Errorf("DistanceMeters(%v, %v) = %.1f m; want %.1f m ± %g%%", tt.a, tt.b, got, tt.want, tt.tol*100)
			}
		})
	}
}
