// Package coverage answers "is my address covered, and how well?": it turns
// an address query or a point into the civic it names, what the rollout
// declares for it (technology, speeds, state and since when, class,
// white-area flag) and what the nearest probes measure. The HTTP API and
// the CLI print the same Answer.
package coverage

import (
	"fmt"
	"math"
	"time"

	"github.com/paulmach/orb"

	"fibremon"
	"fibremon/geo"
)

// Match says how the query was answered.
const (
	MatchExact     = "exact"     // the address was found as written
	MatchNearest   = "nearest"   // the civic nearest the given point
	MatchAmbiguous = "ambiguous" // several civics fit: see Candidates
	MatchOutside   = "outside"   // the point lies outside the monitored comune
)

// OutsideMessage is the answer's message for a point outside the comune.
const OutsideMessage = "outside the monitored area"

// NearestProbes is how many probes an answer lists.
const NearestProbes = 3

// Answer is the body of GET /api/v1/coverage (wire format v1: only add).
type Answer struct {
	Match string `json:"match"`
	Query Query  `json:"query"`

	Address   *AddressInfo `json:"address,omitempty"`
	DistanceM *float64     `json:"distance_m,omitempty"` // from the queried point

	Technology      fibremon.Technology   `json:"technology,omitempty"`
	MaxDownloadMbps float64               `json:"max_download_mbps,omitempty"`
	MaxUploadMbps   float64               `json:"max_upload_mbps,omitempty"`
	State           fibremon.RolloutState `json:"state,omitempty"`
	StateSince      string                `json:"state_since,omitempty"` // YYYY-MM-DD
	Served          bool                  `json:"served"`
	Class           geo.Class             `json:"class,omitempty"`
	AreaClass       geo.AreaClass         `json:"area_class,omitempty"`
	WhiteArea       bool                  `json:"white_area"`
	Operator        string                `json:"operator,omitempty"`

	NearestProbes []Probe       `json:"nearest_probes"`
	Candidates    []AddressInfo `json:"candidates,omitempty"`
	// Synthetic is true when the civic (or its coverage) is invented data.
	Synthetic bool   `json:"synthetic"`
	Message   string `json:"message,omitempty"`
}

// Query echoes what was asked.
type Query struct {
	Address string   `json:"address,omitempty"`
	Lat     *float64 `json:"lat,omitempty"`
	Lon     *float64 `json:"lon,omitempty"`
}

// AddressInfo identifies a civic.
type AddressInfo struct {
	ID        string  `json:"id"`
	Label     string  `json:"label"`
	Street    string  `json:"street"`
	Number    string  `json:"number"`
	Hamlet    string  `json:"hamlet"`
	Lon       float64 `json:"lon"`
	Lat       float64 `json:"lat"`
	Units     int     `json:"units"`
	Synthetic bool    `json:"synthetic"`
}

// Probe is a monitored site near the address and what it measures.
type Probe struct {
	SiteID       string              `json:"site_id"`
	Name         string              `json:"name"`
	DistanceM    float64             `json:"distance_m"`
	State        fibremon.State      `json:"state"`
	Technology   fibremon.Technology `json:"technology"`
	DownloadMbps *float64            `json:"download_mbps,omitempty"`
	UploadMbps   *float64            `json:"upload_mbps,omitempty"`
	RTTMs        *float64            `json:"rtt_ms,omitempty"`
	MeasuredAt   *time.Time          `json:"measured_at,omitempty"`
	Synthetic    bool                `json:"synthetic"`
}

func info(a *geo.Address) AddressInfo {
	return AddressInfo{ID: a.ID, Label: a.Label(), Street: a.Street(), Number: a.Number, Hamlet: a.Hamlet,
		Lon: round(a.Point.Lon(), 6), Lat: round(a.Point.Lat(), 6), Units: a.Units, Synthetic: a.Synthetic}
}

// ByAddress answers a written address. Errors: Invalid (field "address")
// for an empty or absurd query, NotFound when nothing matches.
func ByAddress(ix *geo.Index, statuses []fibremon.SiteStatus, query string, now time.Time) (Answer, error) {
	matches, err := ix.Lookup(query)
	if err != nil {
		return Answer{}, err
	}
	if len(matches) == 0 {
		return Answer{}, &fibremon.Error{Kind: fibremon.NotFound, Field: "address",
			Msg: fmt.Sprintf("no address of %s matches %q", ix.Comune().Name, query)}
	}
	exact := 0
	for _, m := range matches {
		if m.Score >= 1 {
			exact++
		}
	}
	if exact != 1 {
		ans := Answer{Match: MatchAmbiguous, Query: Query{Address: query}, NearestProbes: []Probe{}}
		for _, m := range matches {
			ans.Candidates = append(ans.Candidates, info(m.Address))
			ans.Synthetic = ans.Synthetic || m.Address.Synthetic
		}
		return ans, nil
	}
	ans := describe(ix, statuses, matches[0].Address, now)
	ans.Match, ans.Query = MatchExact, Query{Address: query}
	return ans, nil
}

// ByPoint answers a point: the civic nearest to it, or MatchOutside.
// Errors: Invalid (field "lat" or "lon") for coordinates out of range.
func ByPoint(ix *geo.Index, statuses []fibremon.SiteStatus, lat, lon float64, now time.Time) (Answer, error) {
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return Answer{}, fibremon.FieldErrorf("lat", "%v is not a latitude in [-90, 90]", lat)
	case math.IsNaN(lon) || lon < -180 || lon > 180:
		return Answer{}, fibremon.FieldErrorf("lon", "%v is not a longitude in [-180, 180]", lon)
	}
	q := Query{Lat: &lat, Lon: &lon}
	p := orb.Point{lon, lat}
	if !ix.Contains(p) {
		return Answer{Match: MatchOutside, Query: q, Message: OutsideMessage, NearestProbes: []Probe{}}, nil
	}
	near := ix.Nearest(p, 1)
	if len(near) == 0 {
		ans := Answer{Match: MatchNearest, Query: q, Message: "no civic register loaded for this comune",
			NearestProbes: nearestProbes(ix, statuses, p)}
		return ans, nil
	}
	ans := describe(ix, statuses, near[0], now)
	d := round(geo.DistanceMeters(p, near[0].Point), 1)
	ans.Match, ans.Query, ans.DistanceM = MatchNearest, q, &d
	return ans, nil
}

func describe(ix *geo.Index, statuses []fibremon.SiteStatus, a *geo.Address, now time.Time) Answer {
	ai := info(a)
	ans := Answer{
		Address:         &ai,
		Technology:      a.Technology,
		MaxDownloadMbps: a.MaxDownMbps,
		MaxUploadMbps:   a.MaxUpMbps,
		Served:          a.Served(now),
		Class:           a.ClassAt(now),
		AreaClass:       a.AreaClass,
		WhiteArea:       a.AreaClass == geo.White,
		Operator:        a.Operator,
		Synthetic:       a.Synthetic,
		NearestProbes:   nearestProbes(ix, statuses, a.Point),
	}
	if st, since, ok := a.StateAt(now); ok {
		ans.State = st
		ans.StateSince = since.Format(time.DateOnly)
	}
	return ans
}

func nearestProbes(ix *geo.Index, statuses []fibremon.SiteStatus, p orb.Point) []Probe {
	byID := make(map[string]*fibremon.SiteStatus, len(statuses))
	for i := range statuses {
		byID[statuses[i].ID] = &statuses[i]
	}
	out := []Probe{}
	for _, sd := range ix.NearestSites(p, NearestProbes) {
		pr := Probe{SiteID: sd.Site.ID, Name: sd.Site.Name, DistanceM: round(sd.Meters, 1),
			State: fibremon.StateUnknown, Technology: sd.Site.Technology, Synthetic: sd.Site.Synthetic}
		if st, ok := byID[sd.Site.ID]; ok {
			pr.State = st.State
			for _, r := range st.Latest {
				if !r.Up {
					continue
				}
				switch r.Kind {
				case fibremon.KindDownload:
					if v, ok := r.Values[fibremon.DownloadBytesPerSecond]; ok {
						pr.DownloadMbps = ptr(round(fibremon.ToMbitPerSecond(v), 1))
						at := r.Start
						pr.MeasuredAt = &at
					}
				case fibremon.KindUpload:
					if v, ok := r.Values[fibremon.UploadBytesPerSecond]; ok {
						pr.UploadMbps = ptr(round(fibremon.ToMbitPerSecond(v), 1))
					}
				case fibremon.KindLatency:
					v, ok := r.Values[fibremon.AvgRTTSeconds]
					if !ok {
						v, ok = r.Values[fibremon.MinRTTSeconds]
					}
					if ok {
						pr.RTTMs = ptr(round(v*1000, 2))
					}
				}
			}
		}
		out = append(out, pr)
	}
	return out
}

func ptr(v float64) *float64 { return &v }

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
