package geo_test

import (
	"fmt"
	"strings"
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

// Classify a line by its declared technology and speeds, with the Italian
// and EU thresholds.
func ExampleClassify() {
	fmt.Println(geo.Classify(fibremon.FTTH, 1000, 300)) // VHCN by technology
	fmt.Println(geo.Classify(fibremon.FWA, 100, 50))    // NGA: at least 30 down
	fmt.Println(geo.Classify(fibremon.ADSL, 20, 1))     // adequate: the universal-service 20 down
	fmt.Println(geo.Classify(fibremon.ADSL, 7, 0.7))
	// Output:
	// vhcn
	// nga
	// adequate
	// below
}

// Answer "is my address covered?" for a civic register imported from CSV.
func ExampleIndex_Lookup() {
	c, err := geo.Load(data.FS, "ripalta-cremasca")
	if err != nil {
		fmt.Println(err)
		return
	}
	civics, _ := geo.ImportCivics(strings.NewReader(`istat_code,street_type,street_name,number,lon,lat,hamlet,units,synthetic,source
019081,Via,Roma,5,9.69445,45.33473,,1,true,example
019081,Piazza,Dante,3A,9.6925,45.332,,6,true,example
019081,Vicolo,Roma,5,9.693,45.333,,1,true,example
`))
	coverage, _ := geo.ImportCoverage(strings.NewReader(`istat_code,street_type,street_name,number,technology,max_down_mbps,max_up_mbps,area_class,state,planned,design,works,works_completed,acceptance,ready_for_sale,active,operator,synthetic,source
019081,Via,Roma,5,FTTH,1000,300,white,active,2019-03-01,,,,,2021-03-10,2021-04-02,Open Fiber,true,example
`))
	addrs, _ := geo.MergeCoverage(civics, coverage)
	if c, err = c.WithAddresses(addrs); err != nil {
		fmt.Println(err)
		return
	}
	ix := geo.NewIndex(c)
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []string{"v. roma, 5", "piazza dante 3/a", "roma 5"} {
		matches, _ := ix.Lookup(q)
		for _, m := range matches {
			a := m.Address
			fmt.Printf("%q: %s (%s) score %.2f, %s\n", q, a.Label(), a.Hamlet, m.Score, a.ClassAt(at))
		}
	}
	// Output:
	// "v. roma, 5": Via Roma 5 (Ripalta Nuova) score 1.00, vhcn
	// "piazza dante 3/a": Piazza Dante 3A (Ripalta Nuova) score 1.00, below
	// "roma 5": Via Roma 5 (Ripalta Nuova) score 0.90, vhcn
	// "roma 5": Vicolo Roma 5 (Ripalta Nuova) score 0.90, below
}

// An AreaIndex finds which of many areas holds a point, without scanning
// them: here two squares side by side and a point in each, and one in
// neither.
func ExampleAreaIndex() {
	square := func(x float64) orb.MultiPolygon {
		return orb.MultiPolygon{{orb.Ring{{x, 45}, {x + 1, 45}, {x + 1, 46}, {x, 46}, {x, 45}}}}
	}
	areas := geo.NewAreaIndex([]orb.MultiPolygon{square(9), square(10)})
	for _, p := range []orb.Point{{9.5, 45.5}, {10.5, 45.5}, {12, 45.5}} {
		i, ok := areas.Find(p)
		fmt.Println(p, i, ok)
	}
	// Output:
	// [9.5 45.5] 0 true
	// [10.5 45.5] 1 true
	// [12 45.5] -1 false
}
