package geo

import (
	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
)

// DistanceMeters returns the great-circle (haversine) distance in metres
// between two lon/lat points, on orb's sphere (orb.EarthRadius). (orb/geo's
// Distance is an equirectangular approximation; DistanceHaversine is used.)
func DistanceMeters(a, b orb.Point) float64 {
	return orbgeo.DistanceHaversine(a, b)
}
