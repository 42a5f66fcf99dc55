package geo

import "github.com/paulmach/orb"

// Rewind returns a copy of mp whose rings follow RFC 7946 §3.1.6: every
// outer ring counter-clockwise and every hole clockwise, as seen on a lon/lat
// plane. Rings without area are copied unchanged. mp itself is not modified.
func Rewind(mp orb.MultiPolygon) orb.MultiPolygon {
	out := mp.Clone()
	for _, p := range out {
		rewindPolygon(p)
	}
	return out
}

// rewindPolygon orients the rings of p in place.
func rewindPolygon(p orb.Polygon) {
	for i, r := range p {
		want := orb.CW
		if i == 0 {
			want = orb.CCW
		}
		if len(r) >= 3 && r.Orientation() == -want {
			r.Reverse()
		}
	}
}
