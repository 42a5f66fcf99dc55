package main

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fibremon"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// inputs is what the generator reads from the comune's directory.
type inputs struct {
	boundary orb.MultiPolygon
	hamlets  map[string]orb.Point // looked up by name only, never iterated
	sites    []site
}

type site struct {
	id, hamlet, address string
	point               orb.Point
	tech                fibremon.Technology
}

// civic is one generated civic number with its coverage.
type civic struct {
	zone     *zone
	zoneIdx  int
	hamlet   string
	street   *street // nil for a farmstead
	typ      string
	name     string
	side     int     // +1 left (odd), -1 right (even)
	t        float64 // metres along the street
	pos      xy      // metres from origin
	lonlat   orb.Point
	dist     float64 // metres from the zone's centre
	units    int
	number   string
	fixedNum string // the number a source gives it
	site     *site  // the monitored site this civic is the address of
	cascina  bool

	// coverage
	tech  fibremon.Technology
	grey  bool
	wave  wave
	dates [7]time.Time // by fibremon.RolloutStates; zero = not reached
}

type wave int

const (
	early   wave = iota // FTTH ready for sale in 2021
	late                // FTTH ready for sale in 2022 (one of the 48)
	fwaWave             // FWA ready for sale in 2022 (one of the 78)
)

func (c *civic) key() string {
	return istatCode + "|" + c.typ + "|" + c.name + "|" + c.number
}

// state is the civic's state at refDate: the last one reached.
func (c *civic) state() fibremon.RolloutState {
	st := fibremon.RolloutStates[0]
	for i, d := range c.dates {
		if !d.IsZero() {
			st = fibremon.RolloutStates[i]
		}
	}
	return st
}

// model is a generated register.
type model struct {
	in     *inputs
	zones  []*zone
	civics []*civic
}

func readInputs(dir string) (*inputs, error) {
	in := &inputs{hamlets: map[string]orb.Point{}}
	fc, err := readGeoJSON(filepath.Join(dir, "boundary.geojson"))
	if err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			in.boundary = append(in.boundary, g)
		case orb.MultiPolygon:
			in.boundary = append(in.boundary, g...)
		}
	}
	if len(in.boundary) == 0 {
		return nil, fmt.Errorf("boundary.geojson: no polygon")
	}
	fc, err = readGeoJSON(filepath.Join(dir, "hamlets.geojson"))
	if err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		if p, ok := f.Geometry.(orb.Point); ok {
			in.hamlets[f.Properties.MustString("name", "")] = p
		}
	}
	in.sites, err = readSites(filepath.Join(dir, "sites.csv"))
	if err != nil {
		return nil, err
	}
	return in, nil
}

func readGeoJSON(name string) (*geojson.FeatureCollection, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return fc, nil
}

// readSites reads the columns of sites.csv that the generator needs.
func readSites(name string) ([]site, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := readCSV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var sites []site
	for _, r := range recs {
		lon, err1 := strconv.ParseFloat(r["lon"], 64)
		lat, err2 := strconv.ParseFloat(r["lat"], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: site %q: bad lon/lat", name, r["id"])
		}
		sites = append(sites, site{
			id: r["id"], hamlet: r["hamlet"], address: r["address"],
			point: orb.Point{lon, lat}, tech: fibremon.Technology(r["technology"]),
		})
	}
	return sites, nil
}

// readCSV reads a CSV file with a header into one map per row.
func readCSV(r io.Reader) ([]map[string]string, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no header")
	}
	var out []map[string]string
	for _, row := range rows[1:] {
		m := make(map[string]string, len(row))
		for i, h := range rows[0] {
			m[h] = row[i]
		}
		out = append(out, m)
	}
	return out, nil
}

func (m *model) inside(p orb.Point) bool { return planar.MultiPolygonContains(m.in.boundary, p) }

// free reports whether q is at least d metres from every civic.
func (m *model) free(q xy, d float64) bool {
	for _, c := range m.civics {
		if dist(c.pos, q) < d {
			return false
		}
	}
	return true
}

// addressRE parses a site's address: "Via Roma 5, 26010 ...".
var addressRE = regexp.MustCompile(`^(Via|Viale|Piazza|Vicolo|Largo|Corso|Strada) (.+?) ([1-9][0-9]*[A-Z]?)(,|$)`)

// generate builds the register from the inputs.
func generate(in *inputs) (*model, error) {
	m := &model{in: in, zones: zones()}
	for _, z := range m.zones {
		if z.hamlet {
			p, ok := in.hamlets[z.name]
			if !ok {
				return nil, fmt.Errorf("hamlet %q not in hamlets.geojson", z.name)
			}
			z.centre = p
		}
	}
	if err := m.checkNames(); err != nil {
		return nil, err
	}
	if err := m.placeAnchors(); err != nil {
		return nil, err
	}
	// The seat takes the units the others leave, and is filled last.
	seat := m.zones[0]
	seat.units = totalUnits - m.cascinaUnits()
	for _, z := range m.zones[1:] {
		seat.units -= z.units
	}
	order := append(slices.Clone(m.zones[1:]), seat)
	for _, z := range order {
		if err := m.fillZone(z); err != nil {
			return nil, err
		}
		if z == m.zones[len(m.zones)-1] {
			// Farmsteads come after the small zones and before the seat:
			// they keep clear of the civics placed so far and of the seat's
			// centre.
			if err := m.placeCascine(); err != nil {
				return nil, err
			}
		}
	}
	if err := m.number(); err != nil {
		return nil, err
	}
	if err := m.cover(); err != nil {
		return nil, err
	}
	m.sortCivics()
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// check fails when a change to the model breaks one of the facts it must
// honour.
func (m *model) check() error {
	units, in2022 := 0, 0
	for _, c := range m.civics {
		units += c.units
		ready := c.dates[readyForSale]
		switch {
		case c.wave == early && ready.Year() != 2021:
			return fmt.Errorf("%s: ready for sale %s; want 2021", c.key(), ready.Format(time.DateOnly))
		case c.wave != early && (ready.Year() != 2022 || ready.Month() < 5 || ready.Month() > 6):
			return fmt.Errorf("%s: ready for sale %s; want May or June 2022", c.key(), ready.Format(time.DateOnly))
		case c.wave != early:
			in2022++
		}
		for _, d := range c.dates {
			if d.After(refDate) {
				return fmt.Errorf("%s: date %s after the reference date", c.key(), d.Format(time.DateOnly))
			}
		}
	}
	if units != totalUnits {
		return fmt.Errorf("%d units; want %d", units, totalUnits)
	}
	if in2022 != uncovered2022 {
		return fmt.Errorf("%d civics ready for sale in 2022; want %d", in2022, uncovered2022)
	}
	return nil
}

// checkNames checks that every odonym is unique in the comune.
func (m *model) checkNames() error {
	var seen []string
	for _, z := range m.zones {
		for _, st := range z.streets {
			k := st.typ + " " + st.name
			if slices.Contains(seen, k) {
				return fmt.Errorf("street %q appears twice", k)
			}
			seen = append(seen, k)
		}
	}
	return nil
}

func (m *model) zoneIndex(z *zone) int { return slices.Index(m.zones, z) }

func (m *model) zoneCentre(z *zone) xy { return toXY(z.centre) }

// newCivic adds a civic at q (metres from origin) in zone z.
// A nil zone is a farmstead, which sorts after every zone.
func (m *model) newCivic(z *zone, q xy) *civic {
	c := &civic{zone: z, zoneIdx: len(m.zones), lonlat: toLonLat(q)}
	c.pos = toXY(c.lonlat) // the rounded point, as written
	if z != nil {
		c.zoneIdx, c.hamlet = m.zoneIndex(z), z.name
		c.dist = dist(c.pos, m.zoneCentre(z))
	}
	m.civics = append(m.civics, c)
	return c
}

func (c *civic) onStreet(st *street) {
	c.street, c.typ, c.name = st, st.typ, st.name
	local := sub(c.pos, toXY(c.zone.centre))
	_, c.t, c.side = project(st.pts, local)
	if st.oneSide {
		c.side = 1
	}
}

// placeAnchors places the civics that must exist: the sourced fixed
// civics, and one civic at the point of every monitored site of sites.csv
// (the site's own point, so that a site joins its address at distance 0).
func (m *model) placeAnchors() error {
	for _, f := range fixedCivics {
		z := m.zoneNamed(f.zone)
		st := z.street(f.typ, f.name)
		if z == nil || st == nil {
			return fmt.Errorf("fixed civic %s %s %s: no such zone or street", f.typ, f.name, f.number)
		}
		c := m.newCivic(z, add(m.zoneCentre(z), f.at))
		c.units, c.fixedNum = 1, f.number
		c.onStreet(st)
	}
	for i := range m.in.sites {
		st := &m.in.sites[i]
		if err := m.placeSite(st); err != nil {
			return fmt.Errorf("site %q: %w", st.id, err)
		}
	}
	return nil
}

func (m *model) zoneNamed(name string) *zone {
	for _, z := range m.zones {
		if z.name == name {
			return z
		}
	}
	return nil
}

func (z *zone) street(typ, name string) *street {
	if z == nil {
		return nil
	}
	for i := range z.streets {
		if z.streets[i].typ == typ && z.streets[i].name == name {
			return &z.streets[i]
		}
	}
	return nil
}

// maxSetback: a site's civic belongs to the nearest street of its zone if
// that street is this close, in metres; a site farther from every street
// (in open country) gets a farmstead of its own.
const maxSetback = 150.0

func (m *model) placeSite(s *site) error {
	q := toXY(s.point)
	if !m.free(q, minSpacing) {
		return fmt.Errorf("closer than %g m to another civic", minSpacing)
	}
	// Candidate zones: the site's hamlet, or the zones outside the hamlets.
	var best *street
	var bestZone *zone
	bestOff := maxSetback
	for _, z := range m.zones {
		if z.name != s.hamlet {
			continue
		}
		for i := range z.streets {
			off, _, _ := project(z.streets[i].pts, sub(q, m.zoneCentre(z)))
			if off < bestOff {
				best, bestZone, bestOff = &z.streets[i], z, off
			}
		}
	}
	fixed := ""
	if sm := addressRE.FindStringSubmatch(s.address); sm != nil {
		z := m.zoneNamed(s.hamlet)
		st := z.street(sm[1], sm[2])
		if st == nil {
			return fmt.Errorf("address %q: street not in the model of %q", s.address, s.hamlet)
		}
		best, bestZone, fixed = st, z, sm[3]
	}
	if best == nil {
		if s.hamlet != "" {
			return fmt.Errorf("no street of %s within %g m", s.hamlet, maxSetback)
		}
		c, err := m.newCascina(q)
		if err != nil {
			return err
		}
		c.units, c.site = 1, s
		return nil
	}
	c := m.newCivic(bestZone, q)
	c.units, c.site, c.fixedNum = 1, s, fixed
	c.onStreet(best)
	return nil
}

// candidate is a possible civic along a street.
type candidate struct {
	st   *street
	side int
	t    float64
	pos  xy // metres from origin
	dist float64
}

// fillZone adds civics to z, nearest its centre first, until its units are
// reached: a village grows from its centre along its streets.
func (m *model) fillZone(z *zone) error {
	r := newRNG(uint64(1 + m.zoneIndex(z)))
	centre := m.zoneCentre(z)
	var cands []candidate
	for i := range z.streets {
		st := &z.streets[i]
		cands = append(cands, m.streetCandidates(r, z, st, centre)...)
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return cmp.Compare(a.dist, b.dist) })
	units := 0
	for _, c := range m.civics {
		if c.zone == z {
			units += c.units
		}
	}
	for _, cd := range cands {
		if units >= z.units {
			break
		}
		p := toLonLat(cd.pos)
		if !m.inside(p) || !m.free(toXY(p), minSpacing) {
			continue
		}
		c := m.newCivic(z, cd.pos)
		c.street, c.typ, c.name, c.side, c.t = cd.st, cd.st.typ, cd.st.name, cd.side, cd.t
		c.units = min(m.drawUnits(r, z, c.dist), z.units-units)
		units += c.units
	}
	if units != z.units {
		return fmt.Errorf("zone %q: streets too short for %d units (placed %d)", z.name, z.units, units)
	}
	return nil
}

// streetCandidates walks st placing candidate civics on alternate sides, a
// random 9-18 m apart (one side: 12-20 m), 10-16 m from the centre line.
// Before a civic with a sourced number, only as many candidates are kept on
// its side as there are lower numbers.
func (m *model) streetCandidates(r *rng, z *zone, st *street, centre xy) []candidate {
	var out []candidate
	side := 1
	d := r.uniform(4, 10)
	for {
		p, left, ok := along(st.pts, d)
		if !ok {
			break
		}
		sd := side
		if st.oneSide {
			sd = 1
		}
		q := add(add(centre, p), scale(left, float64(sd)*r.uniform(10, 16)))
		out = append(out, candidate{st: st, side: sd, t: d, pos: q, dist: dist(q, centre)})
		side = -side
		if st.oneSide {
			d += r.uniform(12, 20)
		} else {
			d += r.uniform(9, 18)
		}
	}
	for _, c := range m.civics {
		if c.street != st || c.fixedNum == "" {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimRight(c.fixedNum, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
		slots := (n - 1) / 2
		if st.oneSide {
			slots = n - 1
		}
		var before []int
		for i, cd := range out {
			if cd.side == c.side && cd.t < c.t {
				before = append(before, i)
			}
		}
		drop := before[:max(0, len(before)-slots)]
		out = slices.DeleteFunc(out, func(cd candidate) bool {
			for _, i := range drop {
				if out[i] == cd {
					return true
				}
			}
			return false
		})
	}
	return out
}

// drawUnits draws a civic's units: mostly houses of 1-3 units, bigger near
// the centre, and some condominiums of 4-12 near the centre.
func (m *model) drawUnits(r *rng, z *zone, d float64) int {
	x := r.float()
	switch {
	case z.business:
		if x < 0.8 {
			return 1
		}
		return 2
	case d < z.condoRadius && x < z.condoProb:
		return r.between(4, 12)
	}
	x = r.float()
	if d < z.coreRadius {
		switch {
		case x < 0.55:
			return 1
		case x < 0.85:
			return 2
		}
		return 3
	}
	switch {
	case x < 0.65:
		return 1
	case x < 0.93:
		return 2
	}
	return 3
}

// cascinaUnits is the number of units of the farmsteads: those placed for
// sites, and those placeCascine will place.
func (m *model) cascinaUnits() int {
	n := 0
	for _, c := range m.civics {
		if c.cascina {
			n += c.units
		}
	}
	for _, f := range cascinaPlan() {
		for _, u := range f {
			n += u
		}
	}
	return n
}

// cascinaPlan returns, for each generated farmstead, the units of its
// civics: one civic (three in four) or two.
func cascinaPlan() [][]int {
	r := newRNG(100)
	plan := make([][]int, cascine)
	for i := range plan {
		n := 1
		if r.float() < 0.25 {
			n = 2
		}
		for range n {
			x := r.float()
			switch {
			case x < 0.5:
				plan[i] = append(plan[i], 1)
			case x < 0.85:
				plan[i] = append(plan[i], 2)
			default:
				plan[i] = append(plan[i], 3)
			}
		}
	}
	return plan
}

// newCascina adds civic number 1 of a new farmstead at q.
func (m *model) newCascina(q xy) (*civic, error) {
	used := 0
	for _, c := range m.civics {
		if c.cascina && c.number == "1" {
			used++
		}
	}
	if used == len(cascinaNames) {
		return nil, fmt.Errorf("more than %d farmsteads: add names to cascinaNames", used)
	}
	c := m.newCivic(nil, q)
	c.cascina, c.typ, c.name, c.number = true, "Cascina", cascinaNames[used], "1"
	return c, nil
}

// placeCascine places the farmsteads at random points in open country; a
// second civic stands 25 m from the first.
func (m *model) placeCascine() error {
	r := newRNG(101)
	bb := m.in.boundary.Bound()
	lo, hi := toXY(bb.Min), toXY(bb.Max)
	tries := 0
	for _, units := range cascinaPlan() {
		var q xy
		for {
			if tries++; tries > 100000 {
				return fmt.Errorf("no room for %d farmsteads", cascine)
			}
			q = xy{r.uniform(lo.X, hi.X), r.uniform(lo.Y, hi.Y)}
			if m.cascinaSite(q) {
				break
			}
		}
		c, err := m.newCascina(q)
		if err != nil {
			return err
		}
		c.units = units[0]
		if len(units) == 2 {
			offsets := []xy{{25, 0}, {0, 25}, {-25, 0}, {0, -25}}
			q2 := add(q, offsets[r.intn(len(offsets))])
			if !m.inside(toLonLat(q2)) || !m.free(q2, minSpacing) {
				return fmt.Errorf("cascina %s: no room for civic 2", c.name)
			}
			c2 := m.newCivic(nil, q2)
			c2.cascina, c2.typ, c2.name, c2.number, c2.units = true, c.typ, c.name, "2", units[1]
		}
	}
	return nil
}

// cascinaSite reports whether a farmstead may stand at q: well inside the
// comune, away from every zone's centre, from every civic and from other
// farmsteads.
func (m *model) cascinaSite(q xy) bool {
	for _, d := range []xy{{0, 0}, {80, 0}, {-80, 0}, {0, 80}, {0, -80}} {
		if !m.inside(toLonLat(add(q, d))) {
			return false
		}
	}
	for _, z := range m.zones {
		if dist(q, m.zoneCentre(z)) < cascinaClearance[z.name] {
			return false
		}
	}
	for _, c := range m.civics {
		lim := cascinaFromCivic
		if c.cascina {
			lim = cascinaFromOther
		}
		if dist(q, c.pos) < lim {
			return false
		}
	}
	return true
}
