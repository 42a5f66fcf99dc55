package geo

import (
	"math"
	"strconv"
	"time"

	"fibremon"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
)

// Layer names: the value of every feature's "layer" property.
const (
	LayerComune  = "comune"
	LayerHamlets = "hamlets"
	LayerSites   = "sites"
)

// Marker colours by site state, the value of the "marker_color" property.
var stateColors = map[fibremon.State]string{
	fibremon.StateUp:      "#2e7d32", // green
	fibremon.StateDown:    "#c62828", // red
	fibremon.StateSilent:  "#ef6c00", // orange
	fibremon.StateUnknown: "#9e9e9e", // grey
}

// MarkerColor returns the "marker_color" Build gives a site in state s; an
// unknown state gets the colour of fibremon.StateUnknown.
func MarkerColor(s fibremon.State) string {
	if c, ok := stateColors[s]; ok {
		return c
	}
	return stateColors[fibremon.StateUnknown]
}

// Build returns the map of comune c as an RFC 7946 FeatureCollection: one
// feature for the boundary (layer "comune"), one Point per hamlet (layer
// "hamlets") and one Point per site of c.Sites (layer "sites"), in that
// order. The properties are listed in GEOJSON.md.
//
// statuses give each site's state and latest results, matched on the site
// id: a site with no status is "unknown", a status whose site is not in
// c.Sites is ignored, and when a site id appears twice the first wins. The
// site's description (name, position, line) always comes from c.Sites.
// now is recorded as the collection's "generated_at" member.
//
// Build is a pure function: it reads its arguments, does not modify them,
// and returns a new collection. A nil c gives a collection without features.
func Build(c *Comune, statuses []fibremon.SiteStatus, now time.Time) *geojson.FeatureCollection {
	fc, _ := BuildLayer(c, LayerQuery{}, statuses, now) // the zero query is valid
	return fc
}

// comuneFeature returns the boundary of c (layer "comune").
func comuneFeature(c *Comune) *geojson.Feature {
	boundary := Rewind(c.Boundary)
	f := geojson.NewFeature(boundary)
	f.ID = c.ISTATCode
	f.Properties = geojson.Properties{
		"layer":       LayerComune,
		"name":        c.Name,
		"istat_code":  c.ISTATCode,
		"attribution": c.Attribution,
		"synthetic":   false,
	}
	setFinite(f.Properties, "area_km2", round(orbgeo.Area(boundary)/1e6, 3))
	return f
}

// hamletFeature returns the centre point of h (layer "hamlets").
func hamletFeature(h Hamlet) *geojson.Feature {
	f := geojson.NewFeature(h.Point)
	f.ID = "hamlet:" + h.Name
	f.Properties = geojson.Properties{
		"layer":        LayerHamlets,
		"name":         h.Name,
		"label":        hamletLabel(h),
		"seat":         h.Seat,
		"coord_status": string(h.CoordStatus),
		"synthetic":    false,
	}
	setFinite(f.Properties, "coord_uncertainty_m", round(h.UncertaintyMeters, 1))
	return f
}

// newCollection returns an empty collection with the members every layer
// carries.
func newCollection(c *Comune, now time.Time) *geojson.FeatureCollection {
	fc := geojson.NewFeatureCollection()
	fc.ExtraMembers = geojson.Properties{"generated_at": now.UTC().Format(time.RFC3339)}
	if c != nil {
		fc.ExtraMembers["attribution"] = c.Attribution
	}
	return fc
}

// hamletLabel names a hamlet for a map label, saying when its position is
// not sourced: "Zappello (estimated, ±1200 m)".
func hamletLabel(h Hamlet) string {
	if h.CoordStatus == fibremon.CoordSourced || h.CoordStatus == "" {
		return h.Name
	}
	return h.Name + " (" + string(h.CoordStatus) + ", ±" + formatMeters(h.UncertaintyMeters) + ")"
}

func formatMeters(m float64) string {
	return strconv.FormatFloat(round(m, 0), 'f', -1, 64) + " m"
}

func siteFeature(s *fibremon.Site, st *fibremon.SiteStatus) *geojson.Feature {
	f := geojson.NewFeature(orb.Point{s.Lon, s.Lat})
	f.ID = "site:" + s.ID
	p := geojson.Properties{
		"layer":          LayerSites,
		"site_id":        s.ID,
		"name":           s.Name,
		"kind":           string(s.Kind),
		"hamlet":         s.Hamlet,
		"address":        s.Address,
		"technology":     string(s.Technology),
		"coord_status":   string(s.CoordStatus),
		"synthetic":      s.Synthetic,
		"line_synthetic": s.LineSynthetic,
		"line_emulated":  s.LineEmulated,
	}
	setFinite(p, "coord_uncertainty_m", round(s.CoordUncertaintyMeters, 1))
	setMbps(p, "contract_download_mbps", s.ContractDownloadBytesPerSecond)
	setMbps(p, "contract_upload_mbps", s.ContractUploadBytesPerSecond)

	state := fibremon.StateUnknown
	if st != nil {
		switch st.State {
		case fibremon.StateUp, fibremon.StateDown, fibremon.StateSilent:
			state = st.State
		}
		if !st.LastSeen.IsZero() {
			p["last_seen"] = st.LastSeen.UTC().Format(time.RFC3339)
		}
		if st.Availability24h != nil {
			setFinite(p, "availability_24h", round(*st.Availability24h, 4))
		}
		latest := newestByKind(st.Latest)
		if r := latest[fibremon.KindDownload]; r != nil && r.Up {
			if v, ok := r.Value(fibremon.DownloadBytesPerSecond); ok {
				setMbps(p, "download_mbps", v)
			}
		}
		if r := latest[fibremon.KindUpload]; r != nil && r.Up {
			if v, ok := r.Value(fibremon.UploadBytesPerSecond); ok {
				setMbps(p, "upload_mbps", v)
			}
		}
		if r := latest[fibremon.KindLatency]; r != nil {
			if r.Up {
				if v, ok := r.Value(fibremon.AvgRTTSeconds); ok {
					setFinite(p, "rtt_ms", round(v*1e3, 3))
				} else if v, ok := r.Value(fibremon.MinRTTSeconds); ok {
					setFinite(p, "rtt_ms", round(v*1e3, 3))
				}
			}
			if v, ok := r.Value(fibremon.LossRatio); ok {
				setFinite(p, "loss_ratio", round(v, 4))
			}
		}
	}
	p["state"] = string(state)
	p["marker_color"] = MarkerColor(state)
	f.Properties = p
	return f
}

// newestByKind returns the result with the latest Start of each kind.
func newestByKind(rs []fibremon.Result) map[fibremon.Kind]*fibremon.Result {
	m := make(map[fibremon.Kind]*fibremon.Result, len(rs))
	for i := range rs {
		r := &rs[i]
		if prev, ok := m[r.Kind]; !ok || r.Start.After(prev.Start) {
			m[r.Kind] = r
		}
	}
	return m
}

// setMbps sets key to bytesPerSecond in Mbit/s, unless it is 0 (unknown) or
// not a finite number.
func setMbps(p geojson.Properties, key string, bytesPerSecond float64) {
	if bytesPerSecond > 0 {
		setFinite(p, key, round(fibremon.ToMbitPerSecond(bytesPerSecond), 3))
	}
}

// setFinite sets key to v unless v is NaN or infinite, which JSON cannot carry.
func setFinite(p geojson.Properties, key string, v float64) {
	if !math.IsNaN(v) && !math.IsInf(v, 0) {
		p[key] = v
	}
}

// round rounds x to the given number of decimal places.
func round(x float64, places int) float64 {
	pow := math.Pow10(places)
	return math.Round(x*pow) / pow
}
