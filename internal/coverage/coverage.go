// Package coverage answers "is my address covered, and how well?": it turns
// an address query or a point into the civic it names, what the rollout
// declares for it (technology, speeds, state and since when, class,
// white-area flag) and what the nearest probes measure. The HTTP API and
// the CLI print the same Answer.
package coverage

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
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

// OutsideMessage is the answer's message for a point outside every comune.
const OutsideMessage = "outside the monitored area"

// NearestProbes is how many probes an answer lists.
const NearestProbes = 3

// Answer is the body of GET /api/v1/coverage (wire format v1: only add).
type Answer struct {
	Match string `json:"match"`
	Query Query  `json:"query"`
	// Comune is the comune of the answer (absent for a point outside every
	// comune and for candidates from several comuni).
	Comune *ComuneInfo `json:"comune,omitempty"`

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
	ID     string `json:"id"`
	Label  string `json:"label"`
	Street string `json:"street"`
	Number string `json:"number"`
	Hamlet string `json:"hamlet"`
	Comune string `json:"comune"` // slug
	// ComuneName is the comune's name, for display.
	ComuneName string  `json:"comune_name"`
	Lon        float64 `json:"lon"`
	Lat        float64 `json:"lat"`
	Units      int     `json:"units"`
	Synthetic  bool    `json:"synthetic"`
}

// Probe is a monitored site near the address and what it measures.
type Probe struct {
	SiteID       string              `json:"site_id"`
	Name         string              `json:"name"`
	Comune       string              `json:"comune"` // slug
	DistanceM    float64             `json:"distance_m"`
	State        fibremon.State      `json:"state"`
	Technology   fibremon.Technology `json:"technology"`
	DownloadMbps *float64            `json:"download_mbps,omitempty"`
	UploadMbps   *float64            `json:"upload_mbps,omitempty"`
	RTTMs        *float64            `json:"rtt_ms,omitempty"`
	MeasuredAt   *time.Time          `json:"measured_at,omitempty"`
	Synthetic    bool                `json:"synthetic"`
	// Emulated is true when the site's line is emulated (the demo): its
	// figures describe a line simulator, not a real line.
	Emulated bool `json:"emulated"`
}

func info(a *geo.Address) AddressInfo {
	return AddressInfo{ID: a.ID, Label: a.Label(), Street: a.Street(), Number: a.Number, Hamlet: a.Hamlet,
		Lon: round(a.Point.Lon(), 6), Lat: round(a.Point.Lat(), 6), Units: a.Units, Synthetic: a.Synthetic}
}

// ComuneInfo names the comune of an answer.
type ComuneInfo struct {
	Slug      string `json:"slug"`
	Name      string `json:"name"`
	ISTATCode string `json:"istat_code"`
}

func comuneInfo(ix *geo.Index) *ComuneInfo {
	c := ix.Comune()
	return &ComuneInfo{Slug: c.Slug, Name: c.Name, ISTATCode: c.ISTATCode}
}

// NoMatchError is the NotFound error of an address that matches nothing in
// the comune it names: it carries the streets of that comune closest to
// the query, never a guess from another comune.
type NoMatchError struct {
	Err     *fibremon.Error
	Streets []string
}

func (e *NoMatchError) Error() string { return e.Err.Error() }

// Suggestions returns the streets to suggest.
func (e *NoMatchError) Suggestions() []string { return e.Streets }

// Unwrap lets errors.As and fibremon.KindOf see the fibremon.Error.
func (e *NoMatchError) Unwrap() error { return e.Err }

// maxCandidatesPerComune is how many candidates of each comune an
// ambiguous answer over several comuni lists at most.
const maxCandidatesPerComune = 5

// ByAddress answers a written address in the comune named by comune (a
// slug, an ISTAT code or a name), or, when comune is "", in the comune the
// address names after its last comma ("Via Roma 5, Crema"), or else in
// every comune of the set: one exact match anywhere is the answer; several
// (or none exact) give candidates from each comune that has some.
//
// Errors: Invalid (field "address") for an empty or absurd query,
// NotFound (field "comune") for an unknown comune, and a *NoMatchError
// (NotFound, field "address") when nothing matches.
func ByAddress(set *geo.Set, comune string, statuses []fibremon.SiteStatus, query string, now time.Time) (Answer, error) {
	var scope []*geo.Index
	named := comune != ""
	if named {
		ix, err := set.Comune(comune)
		if err != nil {
			return Answer{}, err
		}
		scope = []*geo.Index{ix}
	} else if i := strings.LastIndexByte(query, ','); i >= 0 {
		if ix, err := set.Comune(strings.TrimSpace(query[i+1:])); err == nil && strings.TrimSpace(query[:i]) != "" {
			scope, named = []*geo.Index{ix}, true
			query = strings.TrimSpace(query[:i])
		}
	}
	if scope == nil {
		scope = set.Comuni()
	}
	type found struct {
		ix *geo.Index
		m  geo.Match
	}
	var all []found
	exact := 0
	for _, ix := range scope {
		matches, err := ix.Lookup(query)
		if err != nil {
			return Answer{}, err
		}
		for j, m := range matches {
			if m.Score >= 1 {
				exact++
			}
			if j < maxCandidatesPerComune || len(scope) == 1 {
				all = append(all, found{ix, m})
			}
		}
	}
	if len(all) == 0 {
		if !named && len(scope) != 1 {
			return Answer{}, &fibremon.Error{Kind: fibremon.NotFound, Field: "address",
				Msg: fmt.Sprintf("no address of the %d comuni matches %q; name the comune (\"Via Roma 5, Crema\" or comune=)", len(scope), query)}
		}
		ix := scope[0]
		streets := ix.SuggestStreets(query, 5)
		msg := fmt.Sprintf("no address of %s matches %q", ix.Comune().Name, query)
		if len(streets) > 0 {
			msg += "; streets of " + ix.Comune().Name + " with a close name: " + strings.Join(streets, ", ")
		}
		return Answer{}, &NoMatchError{Err: &fibremon.Error{Kind: fibremon.NotFound, Field: "address", Msg: msg}, Streets: streets}
	}
	slices.SortStableFunc(all, func(a, b found) int { return cmp.Compare(b.m.Score, a.m.Score) })
	if exact != 1 {
		ans := Answer{Match: MatchAmbiguous, Query: Query{Address: query}, NearestProbes: []Probe{}}
		if len(scope) == 1 {
			ans.Comune = comuneInfo(scope[0])
		}
		for _, f := range all {
			ai := info(f.m.Address)
			ai.Comune, ai.ComuneName = f.ix.Comune().Slug, f.ix.Comune().Name
			ans.Candidates = append(ans.Candidates, ai)
			ans.Synthetic = ans.Synthetic || f.m.Address.Synthetic
		}
		return ans, nil
	}
	ans := describe(set, all[0].ix, statuses, all[0].m.Address, now)
	ans.Match, ans.Query = MatchExact, Query{Address: query}
	return ans, nil
}

// ByPoint answers a point: the civic nearest to it in the comune that
// contains it, or MatchOutside when no comune of the set does.
// Errors: Invalid (field "lat" or "lon") for coordinates out of range.
func ByPoint(set *geo.Set, statuses []fibremon.SiteStatus, lat, lon float64, now time.Time) (Answer, error) {
	switch {
	case math.IsNaN(lat) || lat < -90 || lat > 90:
		return Answer{}, fibremon.FieldErrorf("lat", "%v is not a latitude in [-90, 90]", lat)
	case math.IsNaN(lon) || lon < -180 || lon > 180:
		return Answer{}, fibremon.FieldErrorf("lon", "%v is not a longitude in [-180, 180]", lon)
	}
	q := Query{Lat: &lat, Lon: &lon}
	p := orb.Point{lon, lat}
	ix, ok := set.At(p)
	if !ok {
		return Answer{Match: MatchOutside, Query: q, Message: OutsideMessage, NearestProbes: []Probe{}}, nil
	}
	near := ix.Nearest(p, 1)
	if len(near) == 0 {
		ans := Answer{Match: MatchNearest, Query: q, Message: "no civic register loaded for this comune",
			Comune: comuneInfo(ix), NearestProbes: nearestProbes(set, statuses, p)}
		return ans, nil
	}
	ans := describe(set, ix, statuses, near[0], now)
	d := round(geo.DistanceMeters(p, near[0].Point), 1)
	ans.Match, ans.Query, ans.DistanceM = MatchNearest, q, &d
	return ans, nil
}

func describe(set *geo.Set, ix *geo.Index, statuses []fibremon.SiteStatus, a *geo.Address, now time.Time) Answer {
	ai := info(a)
	ai.Comune, ai.ComuneName = ix.Comune().Slug, ix.Comune().Name
	ans := Answer{
		Comune:          comuneInfo(ix),
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
		NearestProbes:   nearestProbes(set, statuses, a.Point),
	}
	if st, since, ok := a.StateAt(now); ok {
		ans.State = st
		ans.StateSince = since.Format(time.DateOnly)
	}
	return ans
}

// nearestProbes lists the monitored sites nearest to p, in any comune of
// the set: a probe across the border is still the nearest evidence.
func nearestProbes(set *geo.Set, statuses []fibremon.SiteStatus, p orb.Point) []Probe {
	byID := make(map[string]*fibremon.SiteStatus, len(statuses))
	for i := range statuses {
		byID[statuses[i].ID] = &statuses[i]
	}
	out := []Probe{}
	for _, sd := range set.NearestSites(p, NearestProbes) {
		pr := Probe{SiteID: sd.Site.ID, Name: sd.Site.Name, Comune: sd.Site.Comune, DistanceM: round(sd.Meters, 1),
			State: fibremon.StateUnknown, Technology: sd.Site.Technology, Synthetic: sd.Site.Synthetic,
			Emulated: sd.Site.LineEmulated}
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
