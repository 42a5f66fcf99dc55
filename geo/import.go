package geo

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"fibremon"
)

// Bounds on imported input: more is refused as a whole, not truncated.
const (
	MaxImportBytes = 64 << 20 // 64 MiB
	MaxImportRows  = 200000   // data rows (CSV) or features (GeoJSON)
	// maxRowErrors bounds the row errors returned for one input; the last
	// one says how many more there were.
	maxRowErrors = 1000
)

// CivicColumns is the header of a civic CSV (ANNCSU-style), in order.
var CivicColumns = []string{"istat_code", "street_type", "street_name", "number", "lon", "lat", "hamlet", "units", "synthetic", "source"}

// CoverageColumns is the header of a per-civic coverage CSV
// (Infratel-style), in order. The dates columns are named after the
// fibremon.RolloutStates.
var CoverageColumns = []string{"istat_code", "street_type", "street_name", "number", "technology", "max_down_mbps", "max_up_mbps", "area_class", "state",
	"planned", "design", "works", "works_completed", "acceptance", "ready_for_sale", "active", "operator", "synthetic", "source"}

// RowError is a bad row of an imported file: the line it starts on (1 is
// the header; 0 means the input as a whole), the column or property at
// fault (may be empty) and what is wrong.
type RowError struct {
	Line  int
	Field string
	Msg   string
}

func (e RowError) Error() string {
	where := "input"
	if e.Line > 0 {
		where = "line " + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		where += ": " + e.Field
	}
	return where + ": " + e.Msg
}

// rowError turns a field error into a RowError on line.
func rowError(line int, err error) RowError {
	var fe *fibremon.Error
	if errors.As(err, &fe) {
		return RowError{Line: line, Field: fe.Field, Msg: fe.Msg}
	}
	return RowError{Line: line, Msg: err.Error()}
}

// CoverageRow is one row of a per-civic coverage file: what the rollout
// declares for a civic number, before it is joined to the civic register.
type CoverageRow struct {
	Line                                      int // where the row starts in its file
	ISTATCode, StreetType, StreetName, Number string
	Technology                                fibremon.Technology
	MaxDownMbps, MaxUpMbps                    float64
	AreaClass                                 AreaClass
	State                                     fibremon.RolloutState
	StateDates                                map[fibremon.RolloutState]time.Time
	Operator                                  string
	Synthetic                                 bool
	Source                                    string
}

// key returns the civic the row is about, as an Address.ID.
func (c *CoverageRow) key() string {
	return addressID(c.ISTATCode, c.StreetType, c.StreetName, c.Number)
}

// errorList collects row errors up to maxRowErrors.
type errorList struct {
	errs    []RowError
	dropped int
}

func (l *errorList) add(e RowError) {
	if len(l.errs) < maxRowErrors {
		l.errs = append(l.errs, e)
		return
	}
	l.dropped++
}

func (l *errorList) list() []RowError {
	if l.dropped > 0 {
		last := l.errs[len(l.errs)-1].Line
		l.errs = append(l.errs, RowError{Line: last, Msg: fmt.Sprintf("%d more bad rows not listed", l.dropped)})
		l.dropped = 0
	}
	return l.errs
}

// readInput reads at most MaxImportBytes from r.
func readInput(r io.Reader) ([]byte, *RowError) {
	b, err := io.ReadAll(io.LimitReader(r, MaxImportBytes+1))
	if err != nil {
		return nil, &RowError{Msg: "read: " + err.Error()}
	}
	if len(b) > MaxImportBytes {
		return nil, &RowError{Msg: fmt.Sprintf("larger than %d MiB: refused", MaxImportBytes>>20)}
	}
	return b, nil
}

// csvRows reads a CSV whose header must hold exactly the given columns (in
// any order; a byte-order mark and spaces around names are ignored) and
// calls row for each data record with a getter by column name. Structural
// errors (bad header, bad quoting, wrong number of fields) are row errors.
func csvRows(r io.Reader, columns []string, row func(line int, get func(string) string)) (errs errorList, refused bool) {
	b, rerr := readInput(r)
	if rerr != nil {
		errs.add(*rerr)
		return errs, true
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err == io.EOF {
		errs.add(RowError{Line: 1, Msg: "missing header: want " + strings.Join(columns, ",")})
		return errs, true
	}
	if err != nil {
		errs.add(RowError{Line: 1, Msg: "header: " + csvErrMsg(err)})
		return errs, true
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := col[h]; dup {
			errs.add(RowError{Line: 1, Field: h, Msg: "duplicate column"})
			return errs, true
		}
		col[h] = i
	}
	for _, c := range columns {
		if _, ok := col[c]; !ok {
			errs.add(RowError{Line: 1, Field: c, Msg: "missing column (want " + strings.Join(columns, ",") + ")"})
			return errs, true
		}
	}
	if len(col) != len(columns) {
		known := make(map[string]bool, len(columns))
		for _, c := range columns {
			known[c] = true
		}
		for _, h := range header {
			if h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")); !known[h] {
				errs.add(RowError{Line: 1, Field: truncate(h, 40), Msg: "unknown column (want " + strings.Join(columns, ",") + ")"})
				return errs, true
			}
		}
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			errs.add(RowError{Line: line, Msg: csvErrMsg(err)})
			continue
		}
		line, _ := cr.FieldPos(0)
		if rows++; rows > MaxImportRows {
			return errorList{errs: []RowError{{Line: line, Msg: fmt.Sprintf("more than %d rows: refused", MaxImportRows)}}}, true
		}
		if len(rec) != len(header) {
			errs.add(RowError{Line: line, Msg: fmt.Sprintf("%d fields; want %d", len(rec), len(header))})
			continue
		}
		row(line, func(name string) string { return strings.TrimSpace(rec[col[name]]) })
	}
	return errs, false
}

func csvErrMsg(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return "CSV: " + pe.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ImportCivics reads a civic register in the CSV format of CivicColumns
// (ANNCSU-style: one civic number per row, lon/lat in WGS84 degrees, hamlet
// may be empty, units >= 0, synthetic true or false). It returns the good
// rows as Addresses (without coverage) and a RowError for each bad row,
// duplicate civic, or structural problem. Input over MaxImportBytes or
// MaxImportRows, or with a bad header, is refused as a whole. Hamlets are
// not checked against a comune: Load and Comune.WithAddresses do that.
func ImportCivics(r io.Reader) ([]Address, []RowError) {
	var addrs []Address
	seen := map[string]int{}
	var bad errorList
	errs, refused := csvRows(r, CivicColumns, func(line int, get func(string) string) {
		a, err := parseCivic(get)
		if err != nil {
			bad.add(rowError(line, err))
			return
		}
		if prev, dup := seen[a.ID]; dup {
			bad.add(RowError{Line: line, Field: "number", Msg: fmt.Sprintf("duplicate civic %s (line %d)", a.Label(), prev)})
			return
		}
		seen[a.ID] = line
		addrs = append(addrs, a)
	})
	if refused {
		return nil, errs.list()
	}
	return addrs, mergeErrors(errs, bad)
}

// mergeErrors returns the row errors of both lists ordered by line.
func mergeErrors(a, b errorList) []RowError {
	out := append(a.list(), b.list()...)
	sortRowErrors(out)
	if len(out) > maxRowErrors+1 {
		out = out[:maxRowErrors+1]
	}
	return out
}

func sortRowErrors(errs []RowError) {
	// Insertion sort keeps equal lines in order and is fast on the nearly
	// sorted lists the importers produce.
	for i := 1; i < len(errs); i++ {
		for j := i; j > 0 && errs[j].Line < errs[j-1].Line; j-- {
			errs[j], errs[j-1] = errs[j-1], errs[j]
		}
	}
}

// parseCivic builds an Address from the civic columns.
func parseCivic(get func(string) string) (Address, error) {
	var a Address
	istat, err := parseKey(get, &a.StreetType, &a.StreetName, &a.Number)
	if err != nil {
		return a, err
	}
	lon, err := parseFloat(get, "lon")
	if err != nil {
		return a, err
	}
	lat, err := parseFloat(get, "lat")
	if err != nil {
		return a, err
	}
	a.Point = [2]float64{lon, lat}
	if !validPoint(a.Point) {
		return a, fibremon.FieldErrorf("lon", "(%g, %g) is not a lon/lat pair", lon, lat)
	}
	if a.Hamlet = get("hamlet"); !validText(a.Hamlet, maxTextLen, false) {
		return a, fibremon.FieldErrorf("hamlet", "too long or not text")
	}
	u, err := strconv.Atoi(get("units"))
	if err != nil || u < 0 || u > maxUnits {
		return a, fibremon.FieldErrorf("units", "want an integer in [0, %d], got %.40q", maxUnits, get("units"))
	}
	a.Units = u
	if a.Synthetic, err = parseBool(get, "synthetic"); err != nil {
		return a, err
	}
	if a.Source = get("source"); !validText(a.Source, maxSourceLen, false) {
		return a, fibremon.FieldErrorf("source", "longer than %d bytes or not text", maxSourceLen)
	}
	a.ID = addressID(istat, a.StreetType, a.StreetName, a.Number)
	return a, a.Validate()
}

// parseKey reads the columns that identify a civic: istat_code,
// street_type, street_name and number.
func parseKey(get func(string) string, streetType, streetName, number *string) (istat string, err error) {
	istat = get("istat_code")
	if !istatRE.MatchString(istat) {
		return "", fibremon.FieldErrorf("istat_code", "want 6 digits, got %.40q", istat)
	}
	*streetType = get("street_type")
	if !validText(*streetType, maxTextLen, true) {
		return "", fibremon.FieldErrorf("street_type", "missing, too long or not text: %.40q", *streetType)
	}
	*streetName = get("street_name")
	if !validText(*streetName, maxTextLen, true) || NormaliseStreet(*streetName) == "" {
		return "", fibremon.FieldErrorf("street_name", "missing, too long or without letters or digits: %.40q", *streetName)
	}
	n, err := canonicalNumber(get("number"))
	if err != nil {
		return "", fibremon.FieldErrorf("number", "%v", err)
	}
	*number = n
	return istat, nil
}

func parseFloat(get func(string) string, name string) (float64, error) {
	v, err := strconv.ParseFloat(get(name), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fibremon.FieldErrorf(name, "not a finite number: %.40q", get(name))
	}
	return v, nil
}

func parseBool(get func(string) string, name string) (bool, error) {
	switch get(name) {
	case "true", "TRUE", "True":
		return true, nil
	case "false", "FALSE", "False":
		return false, nil
	}
	return false, fibremon.FieldErrorf(name, "want true or false, got %.40q", get(name))
}

// ImportCoverage reads per-civic coverage in the CSV format of
// CoverageColumns (Infratel-style). Dates are YYYY-MM-DD or empty, and must
// agree with the state: the state's own date is set, later states' dates
// are empty, and dates do not decrease along fibremon.RolloutStates. An
// empty state (no works recorded) has no dates. Bad rows and duplicate
// civics are RowErrors; the rest is returned, in file order. Input over
// MaxImportBytes or MaxImportRows, or with a bad header, is refused as a
// whole.
func ImportCoverage(r io.Reader) ([]CoverageRow, []RowError) {
	var rows []CoverageRow
	seen := map[string]int{}
	var bad errorList
	errs, refused := csvRows(r, CoverageColumns, func(line int, get func(string) string) {
		c, err := parseCoverage(get)
		if err != nil {
			bad.add(rowError(line, err))
			return
		}
		c.Line = line
		if prev, dup := seen[c.key()]; dup {
			bad.add(RowError{Line: line, Field: "number", Msg: fmt.Sprintf("duplicate coverage for %s %s %s (line %d)", c.StreetType, c.StreetName, c.Number, prev)})
			return
		}
		seen[c.key()] = line
		rows = append(rows, c)
	})
	if refused {
		return nil, errs.list()
	}
	return rows, mergeErrors(errs, bad)
}

// parseCoverage builds a CoverageRow from the coverage columns.
func parseCoverage(get func(string) string) (CoverageRow, error) {
	var c CoverageRow
	var err error
	if c.ISTATCode, err = parseKey(get, &c.StreetType, &c.StreetName, &c.Number); err != nil {
		return c, err
	}
	c.Technology = fibremon.Technology(get("technology"))
	if !c.Technology.Valid() {
		return c, fibremon.FieldErrorf("technology", "want one of %v, got %.40q", fibremon.Technologies, get("technology"))
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"max_down_mbps", &c.MaxDownMbps}, {"max_up_mbps", &c.MaxUpMbps}} {
		if *f.v, err = parseFloat(get, f.name); err != nil {
			return c, err
		}
		if !validMbps(*f.v) {
			return c, fibremon.FieldErrorf(f.name, "%g out of range [0, %d]", *f.v, maxMbps)
		}
	}
	c.AreaClass = AreaClass(get("area_class"))
	if !c.AreaClass.Valid() {
		return c, fibremon.FieldErrorf("area_class", "want one of %v, got %.40q", AreaClasses, get("area_class"))
	}
	c.State = fibremon.RolloutState(get("state"))
	if c.State != "" && !validState(c.State) {
		return c, fibremon.FieldErrorf("state", "want one of %v or empty, got %.40q", fibremon.RolloutStates, get("state"))
	}
	for _, s := range fibremon.RolloutStates {
		v := get(string(s))
		if v == "" {
			continue
		}
		d, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return c, fibremon.FieldErrorf(string(s), "want a date YYYY-MM-DD or empty, got %.40q", v)
		}
		if c.StateDates == nil {
			c.StateDates = make(map[fibremon.RolloutState]time.Time)
		}
		c.StateDates[s] = d
	}
	if err := checkStates(c.State, c.StateDates); err != nil {
		return c, err
	}
	if c.Operator = get("operator"); !validText(c.Operator, maxTextLen, false) {
		return c, fibremon.FieldErrorf("operator", "too long or not text")
	}
	if c.Synthetic, err = parseBool(get, "synthetic"); err != nil {
		return c, err
	}
	if c.Source = get("source"); !validText(c.Source, maxSourceLen, false) {
		return c, fibremon.FieldErrorf("source", "longer than %d bytes or not text", maxSourceLen)
	}
	return c, nil
}

// MergeCoverage joins coverage rows to civics on ISTAT code, normalised
// street (type and name, NormaliseStreet) and canonical number. It returns
// a copy of addrs in which each civic with a row carries that row's
// technology, speeds, area class, state and dates, operator, and is
// synthetic if either side is; addrs is not modified. A row for a civic
// that is not in addrs, or a second row for the same civic, is returned in
// unmatched with the row's line.
func MergeCoverage(addrs []Address, cov []CoverageRow) (merged []Address, unmatched []RowError) {
	merged = make([]Address, len(addrs))
	byID := make(map[string]int, len(addrs))
	streets := make(map[string]bool)
	for i, a := range addrs {
		merged[i] = a
		merged[i].StateDates = maps.Clone(a.StateDates)
		byID[a.ID] = i
		streets[strings.TrimSuffix(a.ID, "-"+strings.ToLower(a.Number))] = true
	}
	used := make(map[int]int, len(cov))
	for _, c := range cov {
		key := c.key()
		i, ok := byID[key]
		label := strings.TrimSpace(c.StreetType+" "+c.StreetName) + " " + c.Number
		switch {
		case !ok && streets[strings.TrimSuffix(key, "-"+strings.ToLower(c.Number))]:
			unmatched = append(unmatched, RowError{Line: c.Line, Field: "number", Msg: fmt.Sprintf("no civic %s in the civic register (the street is there)", label)})
			continue
		case !ok:
			unmatched = append(unmatched, RowError{Line: c.Line, Field: "street_name", Msg: fmt.Sprintf("no civic %s in the civic register (no such street in comune %s)", label, c.ISTATCode)})
			continue
		}
		if prev, dup := used[i]; dup {
			unmatched = append(unmatched, RowError{Line: c.Line, Field: "number", Msg: fmt.Sprintf("second coverage row for %s (first at line %d)", label, prev)})
			continue
		}
		used[i] = c.Line
		a := &merged[i]
		a.Technology, a.MaxDownMbps, a.MaxUpMbps = c.Technology, c.MaxDownMbps, c.MaxUpMbps
		a.AreaClass, a.State, a.StateDates, a.Operator = c.AreaClass, c.State, maps.Clone(c.StateDates), c.Operator
		a.Synthetic = a.Synthetic || c.Synthetic
		a.Source = joinSources(a.Source, c.Source)
	}
	return merged, unmatched
}

// joinSources cites the civic's and the coverage's sources.
func joinSources(civic, coverage string) string {
	switch {
	case coverage == "" || coverage == civic:
		return civic
	case civic == "":
		return "coverage: " + coverage
	}
	return civic + "; coverage: " + coverage
}
