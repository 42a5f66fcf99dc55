package geo

import (
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// DistanceMeters returns the great-circle (haversine) distance in metres
// between two lon/lat points.
func DistanceMeters(a, b orb.Point) float64 {
	return orbgeo.Distance(a, b)
}
