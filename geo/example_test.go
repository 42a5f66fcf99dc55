package geo_test

import (
	"fmt"
	"time"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"

	"github.com/paulmach/orb"
)

// Build the map of Ripalta Cremasca from the embedded reference data, with
// the town hall up, and count the features of each layer.
func ExampleBuild() {
	c, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	statuses := []fibremon.SiteStatus{{
		Site:     fibremon.Site{ID: "municipio"},
		State:    fibremon.StateUp,
		LastSeen: now.Add(-time.Minute),
	}}
	fc := geo.Build(c, statuses, now)

	perLayer := map[string]int{}
	for _, f := range fc.Features {
		perLayer[f.Properties.MustString("layer")]++
	}
	for _, layer := range []string{geo.LayerComune, geo.LayerHamlets, geo.LayerSites} {
		fmt.Println(layer, perLayer[layer])
	}
	town := fc.Features[1+len(c.Hamlets)].Properties
	fmt.Println(town["site_id"], town["state"], town["marker_color"], town["last_seen"])
	// Output:
	// comune 1
	// hamlets 4
	// sites 11
	// municipio up #2e7d32 2025-06-01T11:59:00Z
}

func ExampleDistanceMeters() {
	ripaltaNuova := orb.Point{9.693611, 45.331944} // lon, lat
	bolzone := orb.Point{9.663611, 45.336111}
	fmt.Printf("%.1f km\n", geo.DistanceMeters(ripaltaNuova, bolzone)/1000)
	// Output: 2.4 km
}
