package geo

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fibremon"

	"github.com/paulmach/orb"
)

// AreaClass is the Infratel classification of a civic number by the
// next-generation (NGA) networks that private operators plan there within
// three years: white (none), grey (one) or black (two or more). Since 2017
// Infratel classifies each civic number, so a comune is "x % white", not
// simply white.
type AreaClass string

const (
	White AreaClass = "white" // area bianca: no private NGA network (clusters C and D)
	Grey  AreaClass = "grey"  // area grigia: one
	Black AreaClass = "black" // area nera: two or more (cluster A)
)

// AreaClasses lists the area classes.
var AreaClasses = []AreaClass{White, Grey, Black}

// Valid reports whether a is a known area class.
func (a AreaClass) Valid() bool { return a == White || a == Grey || a == Black }

// Address is a civic number (numero civico) of the comune and what the
// rollout declares about it: the ANNCSU register's street, number and
// position joined with Infratel-style per-civic coverage.
//
// An address without a coverage row has Technology fibremon.Unknown and
// an empty State: nothing is declared, so it is not served.
type Address struct {
	// ID is "<istat_code>-<street slug>-<number>", e.g. "019081-via-roma-5".
	ID         string
	StreetType string // "Via", "Piazza" (the ANNCSU "DUG")
	StreetName string // "Roma"
	Number     string // canonical: digits and an upper-case suffix, "5", "5A", "5BIS"; "SNC" when the civic has no number
	Hamlet     string
	Point      orb.Point // lon, lat
	Units      int       // real-estate units (unità immobiliari) at the civic

	Technology  fibremon.Technology // declared technology of the new network
	MaxDownMbps float64             // declared maximum speeds, Mbit/s
	MaxUpMbps   float64
	State       fibremon.RolloutState // latest state reached
	// StateDates holds the date each state was reached (UTC midnight); a
	// state may be skipped. StateDates[State] is always set when State is.
	StateDates map[fibremon.RolloutState]time.Time
	AreaClass  AreaClass
	Operator   string

	// Synthetic marks an invented civic (or invented coverage for it);
	// Source cites where the row comes from.
	Synthetic bool
	Source    string
}

// Street returns the street's full name, "Via Roma".
func (a *Address) Street() string {
	return strings.TrimSpace(a.StreetType + " " + a.StreetName)
}

// Label returns the address as people write it, "Via Roma 5".
func (a *Address) Label() string {
	if a.Number == "" {
		return a.Street()
	}
	return a.Street() + " " + a.Number
}

// Since returns the date the address reached its current State; zero when
// it has none.
func (a *Address) Since() time.Time {
	return a.StateDates[a.State]
}

// StateAt returns the state the address was in at time at (the last state
// in fibremon.RolloutStates order whose date is not after at) and its date.
// ok is false when no state had been reached by then.
func (a *Address) StateAt(at time.Time) (s fibremon.RolloutState, since time.Time, ok bool) {
	for i := len(fibremon.RolloutStates) - 1; i >= 0; i-- {
		st := fibremon.RolloutStates[i]
		if d, has := a.StateDates[st]; has && !d.After(at) {
			return st, d, true
		}
	}
	return "", time.Time{}, false
}

// Served reports whether the new network serves the address at time at:
// its state then, by StateDates, is ready_for_sale or active. A civic whose
// works are still under way (or not recorded) is not served yet.
func (a *Address) Served(at time.Time) bool {
	s, _, ok := a.StateAt(at)
	return ok && servedState(s)
}

func servedState(s fibremon.RolloutState) bool {
	return s == fibremon.RolloutReadyForSale || s == fibremon.RolloutActive
}

// ClassAt returns the address's class at time at: Below when it is not
// served then, otherwise Classify of its declared technology and speeds.
func (a *Address) ClassAt(at time.Time) Class {
	if !a.Served(at) {
		return Below
	}
	return Classify(a.Technology, a.MaxDownMbps, a.MaxUpMbps)
}

// Class returns the class the coverage data declares for the address by
// its latest state, whatever the dates: Below unless State is
// ready_for_sale or active.
func (a *Address) Class() Class {
	if !servedState(a.State) {
		return Below
	}
	return Classify(a.Technology, a.MaxDownMbps, a.MaxUpMbps)
}

// Limits on imported addresses.
const (
	maxTextLen   = 200 // street type and name, hamlet, operator
	maxSourceLen = 1000
	maxUnits     = 10000
	maxMbps      = 100000 // 100 Gbit/s: anything above is a typo
)

var (
	numberRE = regexp.MustCompile(`^([1-9][0-9]{0,4}[A-Z]{0,6}|SNC)$`)
	istatRE  = regexp.MustCompile(`^[0-9]{6}$`)
	// Dates before 1990 or after 2100 are typos, not rollout dates.
	minDate = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDate = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate checks an address's fields: what every importer guarantees of
// the addresses it returns. It returns an Invalid error naming the field
// (with the CSV column names).
func (a *Address) Validate() error {
	switch {
	case a.ID == "" || len(a.ID) > 3*maxTextLen:
		return fibremon.FieldErrorf("id", "missing or too long")
	case !validText(a.StreetType, maxTextLen, true):
		return fibremon.FieldErrorf("street_type", "missing, too long or not text: %.40q", a.StreetType)
	case !validText(a.StreetName, maxTextLen, true) || !hasLetterOrDigit(a.StreetName):
		return fibremon.FieldErrorf("street_name", "missing, too long or not text: %.40q", a.StreetName)
	case !numberRE.MatchString(a.Number):
		return fibremon.FieldErrorf("number", "not a civic number: %.40q", a.Number)
	case !validText(a.Hamlet, maxTextLen, false):
		return fibremon.FieldErrorf("hamlet", "too long or not text")
	case !validPoint(a.Point) || math.IsInf(a.Point[0], 0) || math.IsInf(a.Point[1], 0):
		return fibremon.FieldErrorf("lon", "coordinates %v are not a lon/lat pair", a.Point)
	case a.Units < 0 || a.Units > maxUnits:
		return fibremon.FieldErrorf("units", "%d out of range [0, %d]", a.Units, maxUnits)
	case a.Technology != fibremon.Unknown && !a.Technology.Valid():
		return fibremon.FieldErrorf("technology", "unknown technology %.40q", string(a.Technology))
	case !validMbps(a.MaxDownMbps):
		return fibremon.FieldErrorf("max_down_mbps", "%g out of range [0, %d]", a.MaxDownMbps, maxMbps)
	case !validMbps(a.MaxUpMbps):
		return fibremon.FieldErrorf("max_up_mbps", "%g out of range [0, %d]", a.MaxUpMbps, maxMbps)
	case a.AreaClass != "" && !a.AreaClass.Valid():
		return fibremon.FieldErrorf("area_class", "unknown area class %.40q", string(a.AreaClass))
	case !validText(a.Operator, maxTextLen, false):
		return fibremon.FieldErrorf("operator", "too long or not text")
	case !validText(a.Source, 2*maxSourceLen+32, false): // civic and coverage sources
		return fibremon.FieldErrorf("source", "too long or not text")
	}
	return checkStates(a.State, a.StateDates)
}

// checkStates checks that a state agrees with its dates: the state's own
// date is set, later states have none, and the dates do not decrease along
// the sequence. An empty state has no dates.
func checkStates(state fibremon.RolloutState, dates map[fibremon.RolloutState]time.Time) error {
	idx := -1
	for i, s := range fibremon.RolloutStates {
		if s == state {
			idx = i
		}
	}
	if state != "" && idx < 0 {
		return fibremon.FieldErrorf("state", "unknown state %.40q (want one of %v)", string(state), fibremon.RolloutStates)
	}
	for s := range dates {
		if !validState(s) {
			return fibremon.FieldErrorf("state", "date for unknown state %.40q", string(s))
		}
	}
	var prev time.Time
	var prevState fibremon.RolloutState
	for i, s := range fibremon.RolloutStates {
		d, ok := dates[s]
		switch {
		case i == idx && !ok:
			return fibremon.FieldErrorf(string(s), "missing: the state %s needs the date it was reached", s)
		case i > idx && ok:
			return fibremon.FieldErrorf(string(s), "set, but the state is %q, before %s", stateOrNone(state), s)
		case !ok:
			continue
		case d.Before(minDate) || !d.Before(maxDate):
			return fibremon.FieldErrorf(string(s), "%s out of range [%d, %d)", d.Format(time.DateOnly), minDate.Year(), maxDate.Year())
		case !prev.IsZero() && d.Before(prev):
			return fibremon.FieldErrorf(string(s), "%s is before %s (%s)", d.Format(time.DateOnly), prevState, prev.Format(time.DateOnly))
		}
		prev, prevState = d, s
	}
	return nil
}

func stateOrNone(s fibremon.RolloutState) string {
	if s == "" {
		return "none"
	}
	return string(s)
}

func validState(s fibremon.RolloutState) bool {
	for _, x := range fibremon.RolloutStates {
		if s == x {
			return true
		}
	}
	return false
}

func validMbps(v float64) bool {
	return !math.IsNaN(v) && v >= 0 && v <= maxMbps
}

// validText reports whether s is valid UTF-8 without control characters,
// at most max bytes, and (if required) not blank.
func validText(s string, max int, required bool) bool {
	if len(s) > max || !utf8.ValidString(s) || (required && strings.TrimSpace(s) == "") {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// addressID returns the ID of the civic at number on street (type and
// name) in the comune with the given ISTAT code.
func addressID(istat, streetType, streetName, number string) string {
	return streetNorm(nil).addressID(istat, streetType, streetName, number)
}

// streetNorm remembers the normalised full names of streets (type and
// name, NormaliseStreet) during one import or index build, where each
// street comes back for each of its civics. A nil streetNorm remembers
// nothing. It is not safe for concurrent use.
type streetNorm map[[2]string]string

func (m streetNorm) full(streetType, streetName string) string {
	if m == nil {
		return NormaliseStreet(streetType + " " + streetName)
	}
	k := [2]string{streetType, streetName}
	if v, ok := m[k]; ok {
		return v
	}
	v := NormaliseStreet(streetType + " " + streetName)
	m[[2]string{strings.Clone(streetType), strings.Clone(streetName)}] = v
	return v
}

// addressID is addressID with the street's name remembered.
func (m streetNorm) addressID(istat, streetType, streetName, number string) string {
	return istat + "-" + strings.ReplaceAll(m.full(streetType, streetName), " ", "-") + "-" + strings.ToLower(number)
}

// hasLetterOrDigit reports whether s has a letter or a digit: whether
// NormaliseStreet(s) is not empty.
func hasLetterOrDigit(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// canonicalNumber returns a civic number in canonical form: "5", "5A",
// "5BIS" from "5", "5a", "5/a", "5 bis", "5-A"; "SNC" for "snc" or "s.n.c.".
func canonicalNumber(s string) (string, error) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r == ' ', r == '/', r == '-', r == '.':
		default:
			return "", fmt.Errorf("not a civic number: %.40q", s)
		}
	}
	n := strings.TrimLeft(b.String(), "0") // "05" is 5
	if !numberRE.MatchString(n) {
		return "", fmt.Errorf("not a civic number: %.40q (want digits and an optional suffix, e.g. 5, 5A, 5/a, 5 bis, or SNC)", s)
	}
	return n, nil
}
