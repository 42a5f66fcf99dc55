package geo

import (
	"math"

	"fibremon"

	"github.com/paulmach/orb"
)

// FlagBelowDeclaredClass is the Gap.Flag of a site whose measured 5th
// percentile download is below the floor of its declared class.
const FlagBelowDeclaredClass = "below_declared_class"

// SiteJoinMeters is how near a civic must be to a site's point for
// DeclaredVsMeasured to take the civic's declared coverage as the site's.
const SiteJoinMeters = 100

// ClassFloorMbps returns the download, in Mbit/s, below which a measured 5th
// percentile contradicts a declared class. Below has no floor.
//
//   - NGA 30 and Adequate 20 are the classes' own definitions (see Class).
//   - VHCN is 300, not 1000. FTTH and FTTB are VHCN by technology, and the
//     1 Gbit/s of a white-area FTTH offer is an "up to" speed: a single
//     ndt7 TCP stream through a home router rarely shows it, and lines are
//     also sold at 300 Mbit/s on the same fibre. 300 Mbit/s is the slowest
//     FTTH tier in the project's data and three times the best FWA offer of
//     the white-area plan (100 Mbit/s): a VHCN line whose p5 is below it
//     delivers what a lesser technology could, which is the contradiction
//     worth a flag. It is a policy choice, not a regulatory threshold; the
//     regulatory test (AGCOM "banda minima") compares the p5 with the
//     contract's guaranteed minimum, which the service does not know.
func ClassFloorMbps(c Class) float64 { return classFloorMbps[c] }

var classFloorMbps = map[Class]float64{VHCN: 300, NGA: NGADownMbps, Adequate: AdequateDownMbps}

// Gap compares what is declared for a monitored site's line with what its
// probe measures.
type Gap struct {
	SiteID string `json:"site_id"`
	// Address is the label of the civic the site was joined to, or the
	// site's own address when it was not joined to one.
	Address   string `json:"address"`
	AddressID string `json:"address_id,omitempty"` // "" when not joined to a civic
	// Joined is "address" (the declared coverage of the civic within
	// SiteJoinMeters) or "site" (the site's own technology and contract).
	Joined             string  `json:"joined"`
	DeclaredClass      Class   `json:"declared_class"`
	DeclaredDownMbps   float64 `json:"declared_download_mbps"`
	ThresholdMbps      float64 `json:"threshold_mbps"`            // ClassFloorMbps of DeclaredClass; 0 for Below
	MeasuredP5DownMbps float64 `json:"measured_p5_download_mbps"` // nearest-rank 5th percentile of the tests
	Tests              int     `json:"tests"`
	Flag               string  `json:"flag,omitempty"` // FlagBelowDeclaredClass, or "" when none
}

// DeclaredVsMeasured compares each site's declared class with its recent
// download tests (downloads: site id → Mbit/s; values that are negative or
// not finite are ignored). A site is joined to the civic nearest its point
// when one lies within SiteJoinMeters and is served (ready_for_sale or
// active); otherwise its class is that of its own technology and
// contracted speeds. The measure is the nearest-rank 5th percentile of the
// tests, the "banda minima" of AGCOM's MisuraInternet (the minimum for
// fewer than 20 tests). The site is flagged FlagBelowDeclaredClass when the
// p5 is below ClassFloorMbps of the declared class.
//
// One Gap is returned per site with at least one test, in sites order.
// Sites placed by estimate (fibremon.CoordEstimated) may be joined to a
// neighbour's civic rather than their own: the Joined and AddressID fields
// say which civic was used.
func DeclaredVsMeasured(ix *Index, sites []fibremon.Site, downloads map[string][]float64) []Gap {
	if ix == nil {
		ix = NewIndex(nil)
	}
	var out []Gap
	for i := range sites {
		s := &sites[i]
		var tests []float64
		for _, v := range downloads[s.ID] {
			if v >= 0 && !math.IsInf(v, 0) {
				tests = append(tests, v)
			}
		}
		if len(tests) == 0 {
			continue
		}
		g := Gap{SiteID: s.ID, Tests: len(tests), MeasuredP5DownMbps: fibremon.PercentileNearestRank(tests, 5)}
		if a, _, ok := ix.AddressAt(orb.Point{s.Lon, s.Lat}, SiteJoinMeters); ok && servedState(a.State) {
			g.Address, g.AddressID, g.Joined = a.Label(), a.ID, "address"
			g.DeclaredClass, g.DeclaredDownMbps = a.Class(), a.MaxDownMbps
		} else {
			down := fibremon.ToMbitPerSecond(s.ContractDownloadBytesPerSecond)
			up := fibremon.ToMbitPerSecond(s.ContractUploadBytesPerSecond)
			g.Address, g.Joined = s.Address, "site"
			g.DeclaredClass, g.DeclaredDownMbps = Classify(s.Technology, down, up), down
		}
		g.ThresholdMbps = ClassFloorMbps(g.DeclaredClass)
		if g.MeasuredP5DownMbps < g.ThresholdMbps {
			g.Flag = FlagBelowDeclaredClass
		}
		out = append(out, g)
	}
	return out
}

// UnprobedZones returns the hamlets, in c.Hamlets order, whose zone holds
// no monitored site: places where no probe checks the declared coverage.
// A site is placed by its point (HamletAt), not by its Hamlet field.
func UnprobedZones(c *Comune) []string {
	probed := map[string]bool{}
	for _, s := range c.Sites {
		if h, ok := c.HamletAt(orb.Point{s.Lon, s.Lat}); ok {
			probed[h] = true
		}
	}
	var out []string
	for _, h := range c.Hamlets {
		if !probed[h.Name] {
			out = append(out, h.Name)
		}
	}
	return out
}
