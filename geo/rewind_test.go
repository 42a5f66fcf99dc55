package geo_test

import (
	"testing"

	"fibremon/geo"

	"github.com/paulmach/orb"
)

func TestRewind(t *testing.T) {
	ccw := orb.Ring{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}
	cw := orb.Ring{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}}
	holeCW := orb.Ring{{0.2, 0.2}, {0.2, 0.8}, {0.8, 0.8}, {0.8, 0.2}, {0.2, 0.2}}
	holeCCW := orb.Ring{{0.2, 0.2}, {0.8, 0.2}, {0.8, 0.8}, {0.2, 0.8}, {0.2, 0.2}}
	flat := orb.Ring{{0, 0}, {1, 1}, {2, 2}, {0, 0}}

	tests := []struct {
		name string
		in   orb.MultiPolygon
		want orb.MultiPolygon
	}{
		{"already RFC 7946", orb.MultiPolygon{{ccw, holeCW}}, orb.MultiPolygon{{ccw, holeCW}}},
		{"clockwise outer", orb.MultiPolygon{{cw}}, orb.MultiPolygon{{ccw}}},
		{"counter-clockwise hole", orb.MultiPolygon{{ccw, holeCCW}}, orb.MultiPolygon{{ccw, holeCW}}},
		{"both wrong (gj2008)", orb.MultiPolygon{{cw, holeCCW}}, orb.MultiPolygon{{ccw, holeCW}}},
		{"several polygons", orb.MultiPolygon{{cw}, {ccw}}, orb.MultiPolygon{{ccw}, {ccw}}},
		{"degenerate ring unchanged", orb.MultiPolygon{{flat}}, orb.MultiPolygon{{flat}}},
		{"empty", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.Clone()
			got := geo.Rewind(tt.in)
			if !got.Equal(tt.want) {
				t.Errorf("Rewind(%v) = %v; want %v", tt.in, got, tt.want)
			}
			if !tt.in.Equal(before) {
				t.Errorf("Rewind modified its argument: %v; was %v", tt.in, before)
			}
		})
	}
}
