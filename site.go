package fibremon

import (
	"math"
	"slices"
	"time"
)

// Technology is a line's access technology.
type Technology string

const (
	FTTH    Technology = "FTTH" // fibre to the home
	FTTB    Technology = "FTTB" // fibre to the building
	FWA     Technology = "FWA"  // fixed wireless access
	FTTC    Technology = "FTTC" // fibre to the cabinet, VDSL on copper
	ADSL    Technology = "ADSL"
	NoLine  Technology = "none"
	Unknown Technology = ""
)

// Technologies lists every known technology, fastest class first.
var Technologies = []Technology{FTTH, FTTB, FWA, FTTC, ADSL, NoLine}

// Valid reports whether t is a known technology.
func (t Technology) Valid() bool {
	for _, x := range Technologies {
		if t == x {
			return true
		}
	}
	return false
}

// SiteKind says what a monitored site is.
type SiteKind string

const (
	SiteTownHall SiteKind = "town_hall"
	SiteSchool   SiteKind = "school"
	SiteBusiness SiteKind = "business"
	SiteOther    SiteKind = "other"
)

// SiteKinds lists every site kind.
var SiteKinds = []SiteKind{SiteTownHall, SiteSchool, SiteBusiness, SiteOther}

// Valid reports whether k is a known site kind.
func (k SiteKind) Valid() bool {
	for _, x := range SiteKinds {
		if k == x {
			return true
		}
	}
	return false
}

// CoordStatus says how much a coordinate can be trusted.
type CoordStatus string

const (
	// CoordSourced: the point comes from a cited source.
	CoordSourced CoordStatus = "sourced"
	// CoordApproximate: the place is known (e.g. its street) but the point is
	// a nearby reference point, not a geocoded address.
	CoordApproximate CoordStatus = "approximate"
	// CoordEstimated: no source places it; the point is an informed guess.
	CoordEstimated CoordStatus = "estimated"
)

// Valid reports whether c is a known status.
func (c CoordStatus) Valid() bool {
	return c == CoordSourced || c == CoordApproximate || c == CoordEstimated
}

// Site is a monitored place with a probe agent: the town hall, a school, a
// business.
type Site struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Kind    SiteKind `json:"kind"`
	Hamlet  string   `json:"hamlet"`
	Address string   `json:"address,omitempty"`
	// Comune is the slug of the comune the site lies in (see geo.Slug),
	// set when the comune's data is loaded.
	Comune string `json:"comune,omitempty"`

	Lon         float64     `json:"lon"`
	Lat         float64     `json:"lat"`
	CoordStatus CoordStatus `json:"coord_status"`
	// CoordUncertaintyMeters is the radius within which the real place lies.
	CoordUncertaintyMeters float64 `json:"coord_uncertainty_meters"`

	Technology Technology `json:"technology"`
	// Contracted speeds of the line, in bytes per second (0 when unknown).
	ContractDownloadBytesPerSecond float64 `json:"contract_download_bytes_per_second"`
	ContractUploadBytesPerSecond   float64 `json:"contract_upload_bytes_per_second"`
	// What the contract guarantees (AGCOM: "banda minima garantita" in each
	// direction and the maximum delay), 0 when it states nothing. The
	// service checks them the way MisuraInternet does: 5th percentile of
	// the speeds and 95th percentile of the delay over the last 96 tests.
	MinDownloadBytesPerSecond float64 `json:"min_download_bytes_per_second"`
	MinUploadBytesPerSecond   float64 `json:"min_upload_bytes_per_second"`
	MaxRTTSeconds             float64 `json:"max_rtt_seconds"`

	// Source cites where the site and its position come from. Synthetic
	// marks a site invented where no real one is known; LineSynthetic marks
	// technology and contract figures that are illustrative, not sourced.
	Source        string `json:"source,omitempty"`
	Synthetic     bool   `json:"synthetic"`
	LineSynthetic bool   `json:"line_synthetic"`
	// LineEmulated marks a site whose line is emulated, as in the demo:
	// its measurements describe a line simulator, not a real line, and
	// say so wherever they are shown.
	LineEmulated bool `json:"line_emulated"`
}

// Validate checks a site's fields.
func (s *Site) Validate() error {
	switch {
	case !ValidID(s.ID):
		return FieldErrorf("id", "invalid site id %.80q", s.ID)
	case s.Name == "":
		return FieldErrorf("name", "missing")
	case !s.Kind.Valid():
		return FieldErrorf("kind", "unknown site kind %.40q (want one of %v)", string(s.Kind), SiteKinds)
	case !validLonLat(s.Lon, s.Lat):
		return FieldErrorf("lon", "coordinates (%g, %g) out of range", s.Lon, s.Lat)
	case !s.CoordStatus.Valid():
		return FieldErrorf("coord_status", "unknown status %.40q", string(s.CoordStatus))
	case !s.Technology.Valid():
		return FieldErrorf("technology", "unknown technology %.40q (want one of %v)", string(s.Technology), Technologies)
	case s.CoordUncertaintyMeters < 0 || math.IsNaN(s.CoordUncertaintyMeters):
		return FieldErrorf("coord_uncertainty_meters", "must be >= 0")
	case s.ContractDownloadBytesPerSecond < 0 || s.ContractUploadBytesPerSecond < 0:
		return FieldErrorf("contract_download_bytes_per_second", "must be >= 0")
	case !(s.MinDownloadBytesPerSecond >= 0) || math.IsInf(s.MinDownloadBytesPerSecond, 0):
		return FieldErrorf("min_download_bytes_per_second", "must be a finite number >= 0")
	case !(s.MinUploadBytesPerSecond >= 0) || math.IsInf(s.MinUploadBytesPerSecond, 0):
		return FieldErrorf("min_upload_bytes_per_second", "must be a finite number >= 0")
	case !(s.MaxRTTSeconds >= 0) || math.IsInf(s.MaxRTTSeconds, 0):
		return FieldErrorf("max_rtt_seconds", "must be a finite number >= 0")
	case s.ContractDownloadBytesPerSecond > 0 && s.MinDownloadBytesPerSecond > s.ContractDownloadBytesPerSecond:
		return FieldErrorf("min_download_bytes_per_second", "guaranteed minimum above the contracted speed")
	case s.ContractUploadBytesPerSecond > 0 && s.MinUploadBytesPerSecond > s.ContractUploadBytesPerSecond:
		return FieldErrorf("min_upload_bytes_per_second", "guaranteed minimum above the contracted speed")
	}
	return nil
}

func validLonLat(lon, lat float64) bool {
	return !math.IsNaN(lon) && !math.IsNaN(lat) && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// MbitPerSecond converts megabits per second (the unit contracts are sold in)
// to bytes per second (the unit fibremon stores).
func MbitPerSecond(mbps float64) float64 { return mbps * 1e6 / 8 }

// ToMbitPerSecond converts bytes per second to megabits per second.
func ToMbitPerSecond(bytesPerSecond float64) float64 { return bytesPerSecond * 8 / 1e6 }

// State is the up/down state of a site as the service sees it.
type State string

const (
	StateUp      State = "up"      // the latest availability checks passed
	StateDown    State = "down"    // the latest availability checks failed
	StateSilent  State = "silent"  // no result has arrived within the staleness window
	StateUnknown State = "unknown" // no result ever
)

// SiteState derives a site's state from its latest availability results (at
// most one per kind), the newest of which decides, and from when anything
// was last heard from it.
func SiteState(latest []Result, lastSeen, now time.Time, stale time.Duration) State {
	if lastSeen.IsZero() {
		return StateUnknown
	}
	if now.Sub(lastSeen) > stale {
		return StateSilent
	}
	var newest time.Time
	anyUp, anyAvail := false, false
	for _, r := range latest {
		if !r.Kind.Availability() {
			continue
		}
		end := r.Start.Add(time.Duration(r.DurationSeconds * float64(time.Second)))
		if end.After(newest) {
			newest = end
		}
	}
	// Consider the checks of the most recent round: those that ended within
	// a minute of the newest one.
	for _, r := range latest {
		if !r.Kind.Availability() {
			continue
		}
		end := r.Start.Add(time.Duration(r.DurationSeconds * float64(time.Second)))
		if newest.Sub(end) > time.Minute {
			continue
		}
		anyAvail = true
		if r.Up {
			anyUp = true
		}
	}
	switch {
	case !anyAvail:
		return StateUnknown
	case anyUp:
		return StateUp
	default:
		return StateDown
	}
}

// RolloutState is a civic address's place in the Infratel works sequence.
type RolloutState string

const (
	RolloutPlanned        RolloutState = "planned"
	RolloutDesign         RolloutState = "design"
	RolloutWorks          RolloutState = "works"
	RolloutWorksCompleted RolloutState = "works_completed"
	RolloutAcceptance     RolloutState = "acceptance"
	RolloutReadyForSale   RolloutState = "ready_for_sale"
	RolloutActive         RolloutState = "active"
)

// RolloutStates lists the states in order.
var RolloutStates = []RolloutState{RolloutPlanned, RolloutDesign, RolloutWorks,
	RolloutWorksCompleted, RolloutAcceptance, RolloutReadyForSale, RolloutActive}

// SiteStatus is what the service knows of a site now: its state, when it
// was last heard from, and its newest result of each kind.
type SiteStatus struct {
	Site
	State    State     `json:"state"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Latest holds the newest result of each kind, in Kinds order.
	Latest []Result `json:"latest"`
	// Availability24h is the share of availability checks that passed over
	// the last 24 hours; nil when there were none.
	Availability24h *float64 `json:"availability_24h"`
}

// PercentileNearestRank returns the p-th percentile (0 < p <= 100) of xs by
// the nearest-rank method: the smallest value such that at least p % of
// the values are at or below it. This is how AGCOM's MisuraInternet reads
// its "banda minima" (p = 5 of the speeds). xs must not be empty; it is
// not modified.
func PercentileNearestRank(xs []float64, p float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}
