package geo

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"fibremon"
)

// Bounds on imported input. The CSV importers (ImportCivics,
// ImportCoverage) stream their input and take any number of rows; only a
// row is bounded. ImportGeoJSON reads a whole document and is bounded as a
// whole. More is refused as a whole, not truncated.
const (
	MaxImportBytes = 64 << 20 // 64 MiB: a GeoJSON document
	MaxImportRows  = 200000   // features of a GeoJSON document
	MaxRowBytes    = 64 << 10 // 64 KiB: one CSV row (with its quoted line breaks)
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
func (c *CoverageRow) key() string { return c.keyWith(nil) }

func (c *CoverageRow) keyWith(norm streetNorm) string {
	return norm.addressID(c.ISTATCode, c.StreetType, c.StreetName, c.Number)
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

// errRowTooLong stops a CSV reader at a row longer than MaxRowBytes.
var errRowTooLong = errors.New("geo: row too long")

// rowLimiter is the input of a CSV reader: it fails with errRowTooLong once
// more than limit bytes have been read past the start of the current row
// (mark), so a reader never buffers more than about one row, and it
// counts lines so that a refused row is reported on the line it starts.
type rowLimiter struct {
	r          io.Reader
	limit      int64
	read, mark int64   // bytes handed out; offset where the current row starts
	nl         []int64 // offsets of the line breaks read at or after mark
	linesSeen  int     // line breaks before mark
}

func (l *rowLimiter) Read(p []byte) (int, error) {
	// Hand out no byte beyond limit+1 past the row's start: a longer row
	// needs another Read to end, and gets the error.
	room := l.mark + l.limit + 1 - l.read
	if room <= 0 {
		return 0, errRowTooLong
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		k := bytes.IndexByte(p[i:n], '\n')
		if k < 0 {
			break
		}
		l.nl = append(l.nl, l.read+int64(i+k))
		i += k + 1
	}
	l.read += int64(n)
	return n, err
}

// setMark records that the next row starts at offset off.
func (l *rowLimiter) setMark(off int64) {
	k := 0
	for k < len(l.nl) && l.nl[k] < off {
		k++
	}
	l.linesSeen += k
	l.nl = append(l.nl[:0], l.nl[k:]...)
	l.mark = off
}

// markLine returns the line on which the current row starts.
func (l *rowLimiter) markLine() int { return l.linesSeen + 1 }

// csvRows reads a CSV whose header must hold exactly the given columns (in
// any order; a byte-order mark and spaces around names are ignored) and
// calls row for each data record, in order, with a getter by column name.
// Structural errors (bad quoting, wrong number of fields) are added to
// errs; a bad header, a row over MaxRowBytes or a read error refuses the
// input (refused is true, and errs holds that one error). The input is
// streamed: memory holds about one row of it at a time.
func csvRows(r io.Reader, columns []string, errs *errorList, row func(line int, get func(string) string)) (refused bool) {
	lim := &rowLimiter{r: r, limit: MaxRowBytes}
	cr := csv.NewReader(lim)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	refuse := func(e RowError) bool {
		*errs = errorList{}
		errs.add(e)
		return true
	}
	// fatal turns an error that is not about one row's CSV into a refusal.
	fatal := func(err error) (RowError, bool) {
		switch {
		case errors.Is(err, errRowTooLong):
			return RowError{Line: lim.markLine(), Msg: fmt.Sprintf("a row longer than %d KiB: refused", MaxRowBytes>>10)}, true
		case !errors.As(err, new(*csv.ParseError)):
			return RowError{Line: lim.markLine(), Msg: "read: " + err.Error()}, true
		}
		return RowError{}, false
	}
	header, err := cr.Read()
	if err == io.EOF {
		return refuse(RowError{Line: 1, Msg: "missing header: want " + strings.Join(columns, ",")})
	}
	if err != nil {
		if e, ok := fatal(err); ok {
			return refuse(e)
		}
		return refuse(RowError{Line: 1, Msg: "header: " + csvErrMsg(err)})
	}
	header = slices.Clone(header) // cr reuses its record
	col := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := col[h]; dup {
			return refuse(RowError{Line: 1, Field: h, Msg: "duplicate column"})
		}
		col[h] = i
	}
	for _, c := range columns {
		if _, ok := col[c]; !ok {
			return refuse(RowError{Line: 1, Field: c, Msg: "missing column (want " + strings.Join(columns, ",") + ")"})
		}
	}
	if len(col) != len(columns) {
		known := make(map[string]bool, len(columns))
		for _, c := range columns {
			known[c] = true
		}
		for _, h := range header {
			if h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")); !known[h] {
				return refuse(RowError{Line: 1, Field: truncate(h, 40), Msg: "unknown column (want " + strings.Join(columns, ",") + ")"})
			}
		}
	}
	var rec []string
	get := func(name string) string { return strings.TrimSpace(rec[col[name]]) }
	for {
		lim.setMark(cr.InputOffset())
		var err error
		rec, err = cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if e, ok := fatal(err); ok {
				return refuse(e)
			}
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.StartLine
			}
			errs.add(RowError{Line: line, Msg: csvErrMsg(err)})
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			errs.add(RowError{Line: line, Msg: fmt.Sprintf("%d fields; want %d", len(rec), len(header))})
			continue
		}
		row(line, get)
	}
	return false
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
// duplicate civic, or structural problem, by line, at most 1,000 of them
// and then one that counts the rest. The input is streamed and may hold
// any number of rows; a row over MaxRowBytes, a read error (such as a
// corrupt gzip stream) or a bad header refuses it as a whole. Hamlets are
// not checked against a comune: Load and Comune.WithAddresses do that.
func ImportCivics(r io.Reader) ([]Address, []RowError) {
	addrs, _, errs := importCivics(r)
	return addrs.flat(), errs
}

// addressChunks holds the addresses of an import in chunks of fixed size,
// so that growing it never copies (and never has the garbage collector
// scan twice) what it already holds.
type addressChunks struct {
	chunks [][]Address
	n      int
}

const addressChunk = 1 << 14

func (l *addressChunks) add(a Address) {
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == addressChunk {
		l.chunks = append(l.chunks, make([]Address, 0, addressChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, a)
	l.n++
}

func (l *addressChunks) at(i int32) *Address {
	return &l.chunks[i/addressChunk][i%addressChunk]
}

// flat returns the addresses in one slice (nil for none).
func (l *addressChunks) flat() []Address {
	if l == nil || l.n == 0 {
		return nil
	}
	out := make([]Address, 0, l.n)
	for _, c := range l.chunks {
		out = append(out, c...)
	}
	return out
}

// civicRef is where a civic of an import is: its index in the returned
// addresses and its line.
type civicRef struct{ i, line int32 }

// importCivics is ImportCivics that also returns the civics by ID.
func importCivics(r io.Reader) (*addressChunks, map[string]civicRef, []RowError) {
	addrs := new(addressChunks)
	seen := map[string]civicRef{}
	var errs errorList
	var in interner
	norm := streetNorm{}
	refused := csvRows(r, CivicColumns, &errs, func(line int, get func(string) string) {
		a, err := parseCivic(get, norm)
		if err != nil {
			errs.add(rowError(line, err))
			return
		}
		if prev, dup := seen[a.ID]; dup {
			errs.add(RowError{Line: line, Field: "number", Msg: fmt.Sprintf("duplicate civic %s (line %d)", a.Label(), prev.line)})
			return
		}
		seen[a.ID] = civicRef{int32(addrs.n), int32(line)}
		in.address(&a)
		addrs.add(a)
	})
	if refused {
		return nil, nil, errs.list()
	}
	return addrs, seen, errs.list()
}

// interner shares one copy of each distinct string among the rows of an
// import, so that an address keeps neither its row's text alive nor its
// own copies of the street, hamlet and source names it shares with its
// neighbours. Its memory grows with the distinct values, not the rows.
type interner map[string]string

func (in *interner) s(v string) string {
	if *in == nil {
		*in = make(interner)
	}
	if w, ok := (*in)[v]; ok {
		return w
	}
	v = strings.Clone(v)
	(*in)[v] = v
	return v
}

// address interns a's text fields but its ID, which is its own.
func (in *interner) address(a *Address) {
	a.StreetType, a.StreetName, a.Number = in.s(a.StreetType), in.s(a.StreetName), in.s(a.Number)
	a.Hamlet, a.Source, a.Operator = in.s(a.Hamlet), in.s(a.Source), in.s(a.Operator)
	a.Technology, a.AreaClass, a.State = fibremon.Technology(in.s(string(a.Technology))), AreaClass(in.s(string(a.AreaClass))), fibremon.RolloutState(in.s(string(a.State)))
}

// parseCivic builds an Address from the civic columns; norm (may be nil)
// remembers street names across rows.
func parseCivic(get func(string) string, norm streetNorm) (Address, error) {
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
	a.ID = norm.addressID(istat, a.StreetType, a.StreetName, a.Number)
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
	if !validText(*streetName, maxTextLen, true) || !hasLetterOrDigit(*streetName) {
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
// civics are RowErrors, as in ImportCivics; the rest is returned, in file
// order. The input is streamed as in ImportCivics, with the same bounds.
func ImportCoverage(r io.Reader) ([]CoverageRow, []RowError) {
	var rows []CoverageRow
	seen := map[string]int{}
	norm := streetNorm{}
	errs, refused := importCoverage(r, func(c CoverageRow) *RowError {
		key := c.keyWith(norm)
		if prev, dup := seen[key]; dup {
			return &RowError{Line: c.Line, Field: "number", Msg: fmt.Sprintf("duplicate coverage for %s %s %s (line %d)", c.StreetType, c.StreetName, c.Number, prev)}
		}
		seen[key] = c.Line
		rows = append(rows, c)
		return nil
	})
	if refused {
		return nil, errs
	}
	return rows, errs
}

// importCoverage reads coverage rows as ImportCoverage does and passes
// each good one to row, in file order, without keeping them; the error row
// returns, if any, is listed with the others. It does not look for
// duplicates.
func importCoverage(r io.Reader, row func(CoverageRow) *RowError) (errs []RowError, refused bool) {
	var list errorList
	var in interner
	refused = csvRows(r, CoverageColumns, &list, func(line int, get func(string) string) {
		c, err := parseCoverage(get)
		if err != nil {
			list.add(rowError(line, err))
			return
		}
		c.Line = line
		c.ISTATCode, c.StreetType, c.StreetName, c.Number = in.s(c.ISTATCode), in.s(c.StreetType), in.s(c.StreetName), in.s(c.Number)
		c.Technology, c.AreaClass, c.State = fibremon.Technology(in.s(string(c.Technology))), AreaClass(in.s(string(c.AreaClass))), fibremon.RolloutState(in.s(string(c.State)))
		c.Operator, c.Source = in.s(c.Operator), in.s(c.Source)
		if e := row(c); e != nil {
			list.add(*e)
		}
	})
	return list.list(), refused
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
	byID := make(map[string]civicRef, len(addrs))
	for i, a := range addrs {
		merged[i] = a
		merged[i].StateDates = maps.Clone(a.StateDates)
		byID[a.ID] = civicRef{i: int32(i)}
	}
	m := newMerger(len(merged), func(i int32) *Address { return &merged[i] }, byID)
	for _, c := range cov {
		if e := m.merge(c); e != nil {
			unmatched = append(unmatched, *e)
		}
	}
	return merged, unmatched
}

// merger joins coverage rows, one at a time, to civics it modifies in
// place.
type merger struct {
	at      func(int32) *Address // the civics, by index
	byID    map[string]civicRef  // the civics by Address.ID (only i is used)
	streets map[string]bool      // the civics' streets, as IDs without the number
	used    []int32              // the line of the row merged into each civic, 0 for none
	owned   bool                 // the rows' StateDates may be kept rather than copied
	in      interner             // of the joined sources
	norm    streetNorm
}

func newMerger(n int, at func(int32) *Address, byID map[string]civicRef) *merger {
	m := &merger{at: at, byID: byID, streets: make(map[string]bool), used: make([]int32, n), norm: streetNorm{}}
	for i := range int32(n) {
		a := at(i)
		m.streets[streetKey(a.ID, a.Number)] = true
	}
	return m
}

// streetKey is an address ID without its number.
func streetKey(id, number string) string {
	n := len(number)
	if len(id) > n && id[len(id)-n-1] == '-' && strings.EqualFold(id[len(id)-n:], number) {
		return id[:len(id)-n-1]
	}
	return id
}

// merge joins c to its civic, or says why it cannot.
func (m *merger) merge(c CoverageRow) *RowError {
	key := c.keyWith(m.norm)
	ref, ok := m.byID[key]
	label := strings.TrimSpace(c.StreetType+" "+c.StreetName) + " " + c.Number
	switch {
	case !ok && m.streets[streetKey(key, c.Number)]:
		return &RowError{Line: c.Line, Field: "number", Msg: fmt.Sprintf("no civic %s in the civic register (the street is there)", label)}
	case !ok:
		return &RowError{Line: c.Line, Field: "street_name", Msg: fmt.Sprintf("no civic %s in the civic register (no such street in comune %s)", label, c.ISTATCode)}
	}
	i := ref.i
	if prev := m.used[i]; prev != 0 {
		return &RowError{Line: c.Line, Field: "number", Msg: fmt.Sprintf("second coverage row for %s (first at line %d)", label, prev)}
	}
	m.used[i] = int32(max(c.Line, 1))
	a := m.at(i)
	a.Technology, a.MaxDownMbps, a.MaxUpMbps = c.Technology, c.MaxDownMbps, c.MaxUpMbps
	a.AreaClass, a.State, a.StateDates, a.Operator = c.AreaClass, c.State, c.StateDates, c.Operator
	if !m.owned {
		a.StateDates = maps.Clone(c.StateDates)
	}
	a.Synthetic = a.Synthetic || c.Synthetic
	a.Source = m.in.s(joinSources(a.Source, c.Source))
	return nil
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
