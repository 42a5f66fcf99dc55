package geo

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"

	"fibremon"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// Names of the files Load reads from a comune's directory.
const (
	BoundaryFile = "boundary.geojson"
	HamletsFile  = "hamlets.geojson"
	SitesFile    = "sites.csv"
	// CivicsFile and CoverageFile are optional: see Load.
	CivicsFile   = "civics.csv"
	CoverageFile = "coverage.csv"
)

// Comune is a municipality's reference data: its boundary, its hamlets and
// the sites monitored in it.
type Comune struct {
	Name      string
	ISTATCode string
	// Slug names the comune in URLs, labels and data sets: the name of its
	// directory (Slug of its name when loaded from the root of fsys).
	Slug string
	// Boundary is in lon/lat, outer rings counter-clockwise (RFC 7946).
	Boundary orb.MultiPolygon
	Hamlets  []Hamlet
	Sites    []fibremon.Site
	// Attribution is the text a map drawing Boundary must show.
	Attribution string
	// Addresses are the civic numbers of the comune with their declared
	// coverage (see Address), in file order; none when the comune's
	// directory has no CivicsFile.
	Addresses []Address

	zones     []Zone     // computed by Load; see Zones
	zoneIndex *AreaIndex // of zones' parts, in Hamlets order; nil for a Comune built by hand
	dir       string     // the directory LoadSet loaded it from

	lenient bool           // LoadLenient: skip bad register rows
	skipped []FileRowError // the rows LoadLenient skipped
}

// Hamlet is an inhabited centre (frazione) of a comune.
type Hamlet struct {
	Name              string
	Point             orb.Point // lon, lat
	CoordStatus       fibremon.CoordStatus
	UncertaintyMeters float64
	Seat              bool // the municipal seat
}

// Contains reports whether p (lon, lat) lies inside the comune's boundary or
// on it.
func (c *Comune) Contains(p orb.Point) bool {
	return planar.MultiPolygonContains(c.Boundary, p)
}

// Load reads a comune from dir in fsys: BoundaryFile, HamletsFile and
// SitesFile (see data/README.md for their format). It checks every site
// with Site.Validate, that site ids are unique, that each site's hamlet is
// one of the comune's, and that every hamlet and site lies inside the
// boundary. The comune's name, ISTAT code and attribution are the "name",
// "istat_code" and "attribution" properties of the first boundary feature;
// the polygons of every boundary feature make up the Boundary, rewound to
// RFC 7946 orientation. Load then computes the hamlet zones (Zones).
//
// When dir holds CivicsFile, Load imports it (ImportCivics) and joins
// CoverageFile to it when present (ImportCoverage, MergeCoverage, row by
// row as it is read); the result goes through WithAddresses: empty
// hamlets are assigned from the zones, and every address must lie inside
// the boundary and name one of the comune's hamlets. Either file may be
// gzip-compressed instead, named with ".gz" added (civics.csv.gz), and is
// read so when the plain file is absent. Without CivicsFile the comune has
// no addresses; a CoverageFile without a CivicsFile is an error.
// Reference data must be clean: any bad row is a Load error.
//
// Errors name the file and the feature or line at fault; data errors are
// of kind fibremon.Invalid.
//
// For the embedded reference data: Load(data.FS, "ripalta-cremasca").
func Load(fsys fs.FS, dir string) (*Comune, error) {
	return load(fsys, dir, false)
}

func load(fsys fs.FS, dir string, lenient bool) (*Comune, error) {
	c := &Comune{lenient: lenient}
	if err := c.loadBoundary(fsys, path.Join(dir, BoundaryFile)); err != nil {
		return nil, err
	}
	if err := c.loadHamlets(fsys, path.Join(dir, HamletsFile)); err != nil {
		return nil, err
	}
	if err := c.loadSites(fsys, path.Join(dir, SitesFile)); err != nil {
		return nil, err
	}
	c.Slug = path.Base(dir)
	if dir == "." || dir == "" {
		c.Slug = Slug(c.Name)
	}
	for i := range c.Sites {
		c.Sites[i].Comune = c.Slug
	}
	c.zones = computeZones(c.Boundary, c.Hamlets)
	c.zoneIndex = newZoneIndex(c.zones)
	if err := c.loadAddresses(fsys, dir); err != nil {
		return nil, err
	}
	return c, nil
}

// invalidf returns an Invalid error reading "geo: name: where: ...".
func invalidf(name, where, format string, args ...any) error {
	return &fibremon.Error{Kind: fibremon.Invalid, Msg: fmt.Sprintf("geo: %s: %s: ", name, where) + fmt.Sprintf(format, args...)}
}

// wrap returns an error reading "prefix: err" (or just err when prefix is
// empty) of err's kind, or Invalid when err has none.
func wrap(prefix string, err error) error {
	kind := fibremon.KindOf(err)
	if kind == fibremon.KindUnknown {
		kind = fibremon.Invalid
	}
	msg := err.Error()
	if prefix != "" {
		msg = prefix + ": " + msg
	}
	return &fibremon.Error{Kind: kind, Msg: msg, Err: err}
}

func readFeatures(fsys fs.FS, name string) (*geojson.FeatureCollection, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return nil, wrap("geo: "+name, err)
	}
	return fc, nil
}

func (c *Comune) loadBoundary(fsys fs.FS, name string) error {
	fc, err := readFeatures(fsys, name)
	if err != nil {
		return err
	}
	if len(fc.Features) == 0 {
		return invalidf(name, "features", "no feature")
	}
	var mp orb.MultiPolygon
	for i, f := range fc.Features {
		where := fmt.Sprintf("features[%d]", i)
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			mp = append(mp, g)
		case orb.MultiPolygon:
			mp = append(mp, g...)
		default:
			return invalidf(name, where, "geometry is %s; want Polygon or MultiPolygon", geometryType(f.Geometry))
		}
		if i > 0 {
			continue
		}
		var err error
		if c.Name, err = stringProp(f.Properties, "name", true); err != nil {
			return wrap("geo: "+name+": "+where, err)
		}
		if c.ISTATCode, err = stringProp(f.Properties, "istat_code", true); err != nil {
			return wrap("geo: "+name+": "+where, err)
		}
		if c.Attribution, err = stringProp(f.Properties, "attribution", true); err != nil {
			return wrap("geo: "+name+": "+where, err)
		}
	}
	for i, p := range mp {
		for j, r := range p {
			if err := checkRing(r); err != nil {
				return invalidf(name, fmt.Sprintf("polygon %d ring %d", i, j), "%v", err)
			}
		}
	}
	c.Boundary = Rewind(mp)
	return nil
}

// swapHint returns a hint when p, outside the boundary, would be inside it
// with longitude and latitude swapped.
func (c *Comune) swapHint(p orb.Point) string {
	if c.Contains(orb.Point{p.Lat(), p.Lon()}) {
		return " (longitude and latitude swapped?)"
	}
	return ""
}

func checkRing(r orb.Ring) error {
	if len(r) < 4 {
		return fmt.Errorf("%d positions; a linear ring needs at least 4", len(r))
	}
	if r[0] != r[len(r)-1] {
		return errors.New("not closed: first and last positions differ")
	}
	for _, p := range r {
		if !validPoint(p) {
			return fmt.Errorf("position %v is not a lon/lat pair", p)
		}
	}
	if r.Orientation() == 0 {
		return errors.New("ring has no area")
	}
	return nil
}

func validPoint(p orb.Point) bool {
	lon, lat := p.Lon(), p.Lat()
	return !math.IsNaN(lon) && !math.IsNaN(lat) && lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

func geometryType(g orb.Geometry) string {
	if g == nil {
		return "null"
	}
	return g.GeoJSONType()
}

func (c *Comune) loadHamlets(fsys fs.FS, name string) error {
	fc, err := readFeatures(fsys, name)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(fc.Features))
	seats := 0
	for i, f := range fc.Features {
		where := fmt.Sprintf("features[%d]", i)
		pt, ok := f.Geometry.(orb.Point)
		if !ok {
			return invalidf(name, where, "geometry is %s; want Point", geometryType(f.Geometry))
		}
		h, err := hamletFromProperties(f.Properties)
		if err != nil {
			return wrap("geo: "+name+": "+where, err)
		}
		where = fmt.Sprintf("%s (%q)", where, h.Name)
		h.Point = pt
		switch {
		case !validPoint(pt):
			return invalidf(name, where, "coordinates %v are not a lon/lat pair", pt)
		case seen[h.Name]:
			return invalidf(name, where, "duplicate hamlet name")
		case !c.Contains(pt):
			return invalidf(name, where, "point (lon %g, lat %g) lies outside the boundary of %s%s", pt.Lon(), pt.Lat(), c.Name, c.swapHint(pt))
		}
		seen[h.Name] = true
		if h.Seat {
			seats++
		}
		c.Hamlets = append(c.Hamlets, h)
	}
	if len(c.Hamlets) > 0 && seats != 1 {
		return invalidf(name, "features", "%d hamlets marked as seat; want exactly 1", seats)
	}
	return nil
}

func hamletFromProperties(p geojson.Properties) (Hamlet, error) {
	var h Hamlet
	var err error
	if h.Name, err = stringProp(p, "name", true); err != nil {
		return h, err
	}
	status, err := stringProp(p, "coord_status", true)
	if err != nil {
		return h, err
	}
	h.CoordStatus = fibremon.CoordStatus(status)
	if !h.CoordStatus.Valid() {
		return h, fibremon.FieldErrorf("coord_status", "unknown status %.40q", status)
	}
	if h.UncertaintyMeters, err = numberProp(p, "coord_uncertainty_m"); err != nil {
		return h, err
	}
	if v, ok := p["seat"]; ok {
		if h.Seat, ok = v.(bool); !ok {
			return h, fibremon.FieldErrorf("seat", "want true or false, got %v", v)
		}
	}
	return h, nil
}

func stringProp(p geojson.Properties, key string, required bool) (string, error) {
	v, ok := p[key]
	if !ok || v == nil {
		if required {
			return "", fibremon.FieldErrorf(key, "missing")
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fibremon.FieldErrorf(key, "want a string, got %v", v)
	}
	if required && s == "" {
		return "", fibremon.FieldErrorf(key, "empty")
	}
	return s, nil
}

func numberProp(p geojson.Properties, key string) (float64, error) {
	v, ok := p[key]
	if !ok {
		return 0, fibremon.FieldErrorf(key, "missing")
	}
	f, ok := v.(float64)
	if !ok || f < 0 {
		return 0, fibremon.FieldErrorf(key, "want a number >= 0, got %v", v)
	}
	return f, nil
}

// siteColumns are the columns of SitesFile, in the order the reference file
// uses. notes is for reviewers and is not loaded; any other column is an
// error, so that a misspelt header does not silently drop data.
var siteColumns = []string{
	"id", "name", "kind", "hamlet", "address", "lon", "lat",
	"coord_status", "coord_uncertainty_m", "technology",
	"contract_down_mbps", "contract_up_mbps", "min_down_mbps", "min_up_mbps", "max_rtt_ms",
	"synthetic", "line_synthetic", "source", "notes",
}

// optionalSiteColumns may be missing; the contract's guarantees
// (min_down_mbps, min_up_mbps, max_rtt_ms) may also be left empty.
var optionalSiteColumns = map[string]bool{"address": true, "source": true, "notes": true,
	"min_down_mbps": true, "min_up_mbps": true, "max_rtt_ms": true}

func (c *Comune) loadSites(fsys fs.FS, name string) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return fmt.Errorf("geo: %w", err)
	}
	sites, lines, err := parseSites(bytes.NewReader(b))
	if err != nil {
		return wrap("geo: "+name, err)
	}
	hamlets := make(map[string]bool, len(c.Hamlets))
	for _, h := range c.Hamlets {
		hamlets[h.Name] = true
	}
	for i, s := range sites {
		where := fmt.Sprintf("line %d (id %q)", lines[i], s.ID)
		switch {
		case s.Hamlet != "" && !hamlets[s.Hamlet]:
			return invalidf(name, where, "hamlet: %q is not in %s", s.Hamlet, HamletsFile)
		case !c.Contains(orb.Point{s.Lon, s.Lat}):
			return invalidf(name, where, "point (lon %g, lat %g) lies outside the boundary of %s%s", s.Lon, s.Lat, c.Name, c.swapHint(orb.Point{s.Lon, s.Lat}))
		}
	}
	c.Sites = sites
	return nil
}

// ParseSites reads sites in the CSV format of SitesFile: a header naming the
// columns (in any order; notes is optional and ignored), then one site per
// line. Contracted speeds are in Mbit/s and are converted to bytes per
// second. Each site is checked with Site.Validate; ids must be unique; a
// synthetic site cannot have a sourced position. Errors are of kind
// fibremon.Invalid and name the line at fault.
func ParseSites(r io.Reader) ([]fibremon.Site, error) {
	sites, _, err := parseSites(r)
	return sites, err
}

// parseSites is ParseSites that also returns the line of each site.
func parseSites(r io.Reader) (sites []fibremon.Site, lines []int, err error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, &fibremon.Error{Kind: fibremon.Invalid, Msg: "line 1: missing header"}
	}
	if err != nil {
		return nil, nil, wrap("", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff") // byte-order mark from spreadsheets
		}
		h = strings.TrimSpace(h)
		if _, dup := col[h]; dup {
			return nil, nil, invalidLine1("duplicate column %q", h)
		}
		col[h] = i
	}
	known := make(map[string]bool, len(siteColumns))
	for _, name := range siteColumns {
		known[name] = true
		if _, ok := col[name]; !ok && !optionalSiteColumns[name] {
			return nil, nil, invalidLine1("missing column %q", name)
		}
	}
	for _, h := range header {
		if h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")); !known[h] {
			return nil, nil, invalidLine1("unknown column %.40q (want %s)", h, strings.Join(siteColumns, ","))
		}
	}

	ids := make(map[string]int)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, wrap("", err)
		}
		line, _ := cr.FieldPos(0)
		where := fmt.Sprintf("line %d", line)
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		s, err := siteFromRecord(get)
		if err != nil {
			return nil, nil, prefixed(where, s.ID, err)
		}
		if err := s.Validate(); err != nil {
			return nil, nil, prefixed(where, s.ID, err)
		}
		if s.Synthetic && s.CoordStatus == fibremon.CoordSourced {
			return nil, nil, prefixed(where, s.ID, fibremon.FieldErrorf("coord_status", "a synthetic site cannot have a sourced position"))
		}
		if prev, dup := ids[s.ID]; dup {
			return nil, nil, prefixed(where, s.ID, fibremon.FieldErrorf("id", "duplicate of line %d", prev))
		}
		ids[s.ID] = line
		sites = append(sites, s)
		lines = append(lines, line)
	}
	return sites, lines, nil
}

// prefixed wraps a field error with the line and site id it belongs to.
func prefixed(where, id string, err error) error {
	if id != "" {
		where = fmt.Sprintf("%s (id %q)", where, id)
	}
	return wrap(where, err)
}

func siteFromRecord(get func(string) string) (fibremon.Site, error) {
	s := fibremon.Site{
		ID:          get("id"),
		Name:        get("name"),
		Kind:        fibremon.SiteKind(get("kind")),
		Hamlet:      get("hamlet"),
		Address:     get("address"),
		CoordStatus: fibremon.CoordStatus(get("coord_status")),
		Technology:  fibremon.Technology(get("technology")),
		Source:      get("source"),
	}
	var err error
	num := func(name string) float64 {
		if err != nil {
			return 0
		}
		v, perr := strconv.ParseFloat(get(name), 64)
		if perr != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			err = fibremon.FieldErrorf(name, "not a finite number: %.40q", get(name))
		}
		return v
	}
	boolean := func(name string) bool {
		if err != nil {
			return false
		}
		v, perr := strconv.ParseBool(get(name))
		if perr != nil {
			err = fibremon.FieldErrorf(name, "want true or false, got %.40q", get(name))
		}
		return v
	}
	s.Lon = num("lon")
	s.Lat = num("lat")
	s.CoordUncertaintyMeters = num("coord_uncertainty_m")
	s.ContractDownloadBytesPerSecond = fibremon.MbitPerSecond(num("contract_down_mbps"))
	s.ContractUploadBytesPerSecond = fibremon.MbitPerSecond(num("contract_up_mbps"))
	optional := func(name string) float64 {
		if get(name) == "" {
			return 0
		}
		return num(name)
	}
	s.MinDownloadBytesPerSecond = fibremon.MbitPerSecond(optional("min_down_mbps"))
	s.MinUploadBytesPerSecond = fibremon.MbitPerSecond(optional("min_up_mbps"))
	s.MaxRTTSeconds = optional("max_rtt_ms") / 1000
	s.Synthetic = boolean("synthetic")
	s.LineSynthetic = boolean("line_synthetic")
	return s, err
}

func invalidLine1(format string, args ...any) error {
	return &fibremon.Error{Kind: fibremon.Invalid, Msg: "line 1: " + fmt.Sprintf(format, args...)}
}
