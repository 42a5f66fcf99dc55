package main

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"fibremon"
	"fibremon/geo"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// version names this generator in every row's source column.
const version = "v1"

// skipISTAT is Ripalta Cremasca, whose data set data/generate writes.
const skipISTAT = "019081"

// civicsPerPerson is Ripalta Cremasca's register (1,034 civics) over its
// population (3,355, 2021): the size of every other comune's register.
const civicsPerPerson = 1034.0 / 3355.0

// refDate is the date the generated states describe, as in data/generate.
var refDate = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

const attribution = "Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0"

// comune is one input feature.
type comune struct {
	istat, name, slug     string
	belfiore, cap         string
	population            int
	centre                orb.Point
	boundary              orb.MultiPolygon
	province, region, src string
}

func readComuni(name string) ([]comune, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var out []comune
	for i, f := range fc.Features {
		p := f.Properties
		c := comune{
			istat:      p.MustString("com_istat_code", ""),
			name:       p.MustString("name", ""),
			belfiore:   p.MustString("com_catasto_code", ""),
			cap:        p.MustString("cap", ""),
			population: p.MustInt("population_2021", 0),
			centre:     orb.Point{p.MustFloat64("centre_lon", 0), p.MustFloat64("centre_lat", 0)},
			province:   p.MustString("prov_acr", ""),
			region:     p.MustString("reg_name", ""),
			src:        p.MustString("source", ""),
		}
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			c.boundary = orb.MultiPolygon{g}
		case orb.MultiPolygon:
			c.boundary = g
		default:
			return nil, fmt.Errorf("%s: features[%d]: geometry %T", name, i, f.Geometry)
		}
		c.boundary = geo.Rewind(c.boundary)
		c.slug = geo.Slug(c.name)
		if c.istat == "" || c.name == "" || c.population <= 0 {
			return nil, fmt.Errorf("%s: features[%d]: missing istat code, name or population", name, i)
		}
		if !planar.MultiPolygonContains(c.boundary, c.centre) {
			return nil, fmt.Errorf("%s: %s: centre point %v outside the boundary", name, c.name, c.centre)
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b comune) int { return cmp.Compare(a.istat, b.istat) })
	return out, nil
}

// writeComune writes c's directory and returns the number of civics.
func writeComune(root string, c comune) (int, error) {
	dir := filepath.Join(root, c.slug)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	seed, _ := strconv.ParseUint(c.istat, 10, 64)
	g := newGen(c, seed)
	g.streets()
	g.cascine()
	g.cover()
	files := []struct {
		name string
		b    []byte
		err  error
	}{
		{name: geo.BoundaryFile}, {name: geo.HamletsFile}, {name: geo.SitesFile},
		{name: geo.CivicsFile + ".gz"}, {name: geo.CoverageFile + ".gz"},
	}
	files[0].b, files[0].err = boundaryJSON(c)
	files[1].b, files[1].err = hamletsJSON(c)
	files[2].b = []byte("id,name,kind,hamlet,address,lon,lat,coord_status,coord_uncertainty_m,technology,contract_down_mbps,contract_up_mbps,min_down_mbps,min_up_mbps,max_rtt_ms,synthetic,line_synthetic,source,notes\n")
	files[3].b, files[3].err = gzipCSV(g.civicsRows())
	files[4].b, files[4].err = gzipCSV(g.coverageRows())
	for _, f := range files {
		if f.err != nil {
			return 0, fmt.Errorf("%s: %w", f.name, f.err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), f.b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(g.civics), nil
}

func boundaryJSON(c comune) ([]byte, error) {
	f := geojson.NewFeature(c.boundary)
	if len(c.boundary) == 1 {
		f = geojson.NewFeature(c.boundary[0])
	}
	f.Properties = geojson.Properties{
		"name": c.name, "istat_code": c.istat, "belfiore_code": c.belfiore, "cap": c.cap,
		"province": c.province, "region": c.region, "population_2021": c.population,
		"source":      "ISTAT generalised administrative limits (June 2023) via openpolis/geojson-italy; " + c.src,
		"licence":     "CC-BY 4.0",
		"attribution": attribution,
	}
	fc := geojson.NewFeatureCollection()
	fc.Append(f)
	return marshalIndent(fc)
}

func hamletsJSON(c comune) ([]byte, error) {
	f := geojson.NewFeature(c.centre)
	f.Properties = geojson.Properties{
		"name": c.name, "seat": true,
		"coord_status": string(fibremon.CoordApproximate), "coord_uncertainty_m": 300,
		"source": "gi_comuni_cap centre point (github.com/saldang/grezzi gi_comuni_cap.csv @2519ae19e1df); the frazioni of this comune are not in the sources, so the comune is one hamlet",
	}
	fc := geojson.NewFeatureCollection()
	fc.Append(f)
	return marshalIndent(fc)
}

func marshalIndent(fc *geojson.FeatureCollection) ([]byte, error) {
	b, err := fc.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(b)
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

func gzipCSV(rows [][]string) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	w := csv.NewWriter(zw)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// xy is a position in metres east and north of the comune's centre.
type xy struct{ X, Y float64 }

// gen generates one comune's register.
type gen struct {
	c         comune
	seed      uint64
	lat0      float64
	mLon      float64 // metres per degree of longitude at the centre
	radius    float64 // metres: the built-up core's scale
	want      int     // civics to place
	civics    []*civic
	grid      map[[2]int][]xy // for spacing, keyed by 10 m cells
	names     []string        // street names not used yet
	cascNames []string
	round     int // how many times every street name was taken
}

// laterTypes are the street types of the names drawn again once every
// name is taken (the first round draws Via, Viale, Vicolo, Piazza).
var laterTypes = []string{"", "Strada", "Largo", "Contrada", "Traversa"}

type civic struct {
	typ, name, number string
	pos               xy
	units             int
	dist              float64 // metres from the centre
	tech              fibremon.Technology
	class             geo.AreaClass
	state             fibremon.RolloutState
	dates             [7]time.Time
}

const (
	mPerDegLat = 111138.19
	minSpacing = 9.0
)

func newGen(c comune, seed uint64) *gen {
	g := &gen{c: c, seed: seed, lat0: c.centre.Lat(), grid: map[[2]int][]xy{}}
	// Metres per degree of longitude at 45.3° N, as a fixed constant
	// scaled by a polynomial in the latitude offset (no trigonometry, so
	// the output does not depend on the platform's math library).
	d := c.centre.Lat() - 45.33
	g.mLon = 78392.97 - 1379.6*d
	g.want = int(math.Round(float64(c.population) * civicsPerPerson))
	g.radius = 220 * math.Sqrt(float64(g.want)/300)
	g.names = slices.Clone(streetNames)
	g.cascNames = slices.Clone(cascinaNames)
	return g
}

func (g *gen) rng(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(g.seed, stream)) }

func (g *gen) lonlat(q xy) orb.Point {
	return orb.Point{round6(g.c.centre.Lon() + q.X/g.mLon), round6(g.c.centre.Lat() + q.Y/mPerDegLat)}
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

func (g *gen) inside(q xy) bool { return planar.MultiPolygonContains(g.c.boundary, g.lonlat(q)) }

func (g *gen) free(q xy) bool {
	cx, cy := int(math.Floor(q.X/10)), int(math.Floor(q.Y/10))
	for dx := -1; dx <= 1; dx++ {
		for dy := -1; dy <= 1; dy++ {
			for _, p := range g.grid[[2]int{cx + dx, cy + dy}] {
				if (p.X-q.X)*(p.X-q.X)+(p.Y-q.Y)*(p.Y-q.Y) < minSpacing*minSpacing {
					return false
				}
			}
		}
	}
	return true
}

func (g *gen) add(c *civic) {
	k := [2]int{int(math.Floor(c.pos.X / 10)), int(math.Floor(c.pos.Y / 10))}
	g.grid[k] = append(g.grid[k], c.pos)
	c.dist = math.Sqrt(c.pos.X*c.pos.X + c.pos.Y*c.pos.Y)
	g.civics = append(g.civics, c)
}

// normal returns an approximately normal deviate (Irwin–Hall, 4 terms).
func normal(r *rand.Rand) float64 {
	return (r.Float64() + r.Float64() + r.Float64() + r.Float64() - 2) * math.Sqrt(3)
}

// unit returns a random direction.
func unit(r *rand.Rand) xy {
	for {
		x, y := 2*r.Float64()-1, 2*r.Float64()-1
		if n := x*x + y*y; n > 0.01 && n <= 1 {
			s := math.Sqrt(n)
			return xy{x / s, y / s}
		}
	}
}

// streets lays out streets around the centre until 97 % of the civics
// have a place; the rest are farmsteads (cascine).
func (g *gen) streets() {
	r := g.rng(1)
	onStreets := g.want - g.cascineCount()
	for tries := 0; len(g.civics) < onStreets && tries < 100000; tries++ {
		start := xy{normal(r) * g.radius, normal(r) * g.radius}
		if tries == 0 {
			start = xy{}
		}
		if !g.inside(start) {
			continue
		}
		dir := unit(r)
		length := 80 + 420*r.Float64()
		spacing := 14 + 16*r.Float64()
		typ, name, ok := g.streetName(r, length)
		if !ok {
			break
		}
		var left, right []*civic
		for t := spacing / 2; t < length && len(g.civics) < onStreets; t += spacing {
			for _, side := range []float64{1, -1} {
				if len(g.civics) >= onStreets {
					break
				}
				q := xy{start.X + dir.X*t - side*dir.Y*10, start.Y + dir.Y*t + side*dir.X*10}
				if !g.inside(q) || !g.free(q) {
					continue
				}
				c := &civic{typ: typ, name: name, pos: q, units: g.units(r, q)}
				g.add(c)
				if side > 0 {
					left = append(left, c)
				} else {
					right = append(right, c)
				}
			}
		}
		if typ == "Piazza" { // one sequence around a square
			numberSide(r, append(left, right...), 1, true)
		} else {
			numberSide(r, left, 1, false)
			numberSide(r, right, 2, false)
		}
	}
}

// numberSide numbers one side of a street from start in steps of 2 (1 on a
// square), now and then taking the number before with a letter ("5A").
func numberSide(r *rand.Rand, list []*civic, start int, oneSide bool) {
	step := 2
	if oneSide {
		step = 1
	}
	next, prev := start, ""
	for _, c := range list {
		if prev != "" && prev[len(prev)-1] != 'A' && r.Float64() < 0.03 {
			c.number = prev + "A"
		} else {
			c.number = strconv.Itoa(next)
			next += step
		}
		prev = c.number
	}
}

// streetName draws an unused street name; short ones are sometimes a
// Vicolo, and a few a Piazza.
func (g *gen) streetName(r *rand.Rand, length float64) (typ, name string, ok bool) {
	if len(g.names) == 0 {
		// Every name taken: again, with a street type of the next round.
		if g.round++; g.round >= len(laterTypes) {
			return "", "", false
		}
		g.names = slices.Clone(streetNames)
	}
	i := r.IntN(len(g.names))
	name = g.names[i]
	g.names = slices.Delete(g.names, i, i+1)
	if g.round > 0 {
		return laterTypes[g.round], name, true
	}
	switch u := r.Float64(); {
	case u < 0.05:
		typ = "Piazza"
	case length < 180 && u < 0.25:
		typ = "Vicolo"
	case u < 0.30:
		typ = "Viale"
	default:
		typ = "Via"
	}
	return typ, name, true
}

func (g *gen) cascineCount() int { return max(1, g.want*3/100) }

// cascine places the farmsteads, in the countryside away from the centre.
func (g *gen) cascine() {
	r := g.rng(2)
	b := g.c.boundary.Bound()
	min, max := g.xy(b.Min), g.xy(b.Max)
	for tries := 0; len(g.civics) < g.want && tries < 100000; tries++ {
		q := xy{min.X + (max.X-min.X)*r.Float64(), min.Y + (max.Y-min.Y)*r.Float64()}
		if q.X*q.X+q.Y*q.Y < 4*g.radius*g.radius || !g.inside(q) || !g.free(q) {
			continue
		}
		name := fmt.Sprintf("Cascina %d", len(g.civics))
		if len(g.cascNames) > 0 {
			i := r.IntN(len(g.cascNames))
			name = g.cascNames[i]
			g.cascNames = slices.Delete(g.cascNames, i, i+1)
		}
		g.add(&civic{typ: "Cascina", name: name, number: "1", pos: q, units: 1 + r.IntN(3)})
	}
}

func (g *gen) xy(p orb.Point) xy {
	return xy{(p.Lon() - g.c.centre.Lon()) * g.mLon, (p.Lat() - g.c.centre.Lat()) * mPerDegLat}
}

func (g *gen) units(r *rand.Rand, q xy) int {
	d := math.Sqrt(q.X*q.X+q.Y*q.Y) / g.radius
	switch u := r.Float64(); {
	case d < 0.7 && u < 0.25:
		return 4 + r.IntN(20)
	case u < 0.55:
		return 1
	case u < 0.8:
		return 2
	default:
		return 3 + r.IntN(4)
	}
}

// The rollout states' dates, as indexes into civic.dates.
const (
	planned = iota
	design
	works
	worksCompleted
	acceptance
	readyForSale
	active
)

// cover draws the comune's coverage: where its grey and black areas are,
// when its rollout started, and then each civic's technology, class and
// dates.
func (g *gen) cover() {
	r := g.rng(3)
	// Larger comuni have commercial networks in their centre: black
	// (two or more NGA networks) in Crema's, grey (one) in the centres of
	// the comuni above 5,000 people; the rest is white (the BUL plan).
	black, grey := 0.0, 0.0
	switch {
	case g.c.population > 20000:
		black, grey = 1.2*g.radius, 2.2*g.radius
	case g.c.population > 5000:
		grey = 0.9 * g.radius
	case r.Float64() < 0.3:
		grey = 0.4 * g.radius
	}
	// The BUL works started in the comune between mid-2017 and 2025.
	start := time.Date(2017, time.Month(6+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC).AddDate(r.IntN(8), 0, 0)
	fwaShare := 0.02 + 0.08*r.Float64()
	noneShare := 0.01 * r.Float64()
	for _, c := range g.civics {
		switch {
		case black > 0 && c.dist <= black:
			c.class = geo.Black
		case grey > 0 && c.dist <= grey:
			c.class = geo.Grey
		default:
			c.class = geo.White
		}
		u := r.Float64()
		switch {
		case c.class != geo.White && u < 0.25:
			c.tech = fibremon.FTTC
		case c.class != geo.White:
			c.tech = fibremon.FTTH
		case c.typ == "Cascina" && u < 0.7, u < fwaShare:
			c.tech = fibremon.FWA
		case u < fwaShare+noneShare:
			c.tech = fibremon.NoLine
		default:
			c.tech = fibremon.FTTH
		}
		g.datesOf(r, c, start)
	}
}

// datesOf sets c's rollout dates from the comune's start: each stage a
// few weeks to months after the previous, stopping at refDate.
func (g *gen) datesOf(r *rand.Rand, c *civic, start time.Time) {
	days := func(lo, hi int) int { return lo + r.IntN(hi-lo+1) }
	var d [7]time.Time
	switch c.tech {
	case fibremon.FTTC:
		// Commercial VDSL cabinets, before the BUL plan.
		d[planned] = time.Date(2014, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, days(0, 400))
	case fibremon.NoLine:
		// In the plan, not reached: only planned.
		c.dates[planned] = start
		c.state = fibremon.RolloutStates[planned]
		return
	default:
		d[planned] = start
	}
	offsets := [][2]int{{60, 240}, {120, 420}, {30, 200}, {15, 90}, {30, 120}, {20, 900}}
	for i := design; i <= active; i++ {
		d[i] = d[i-1].AddDate(0, 0, days(offsets[i-1][0], offsets[i-1][1]))
	}
	if r.Float64() < 0.15 { // ready, but nobody subscribed yet
		d[active] = time.Time{}
	}
	for i := range d {
		if d[i].IsZero() || d[i].After(refDate) {
			break
		}
		c.dates[i] = d[i]
		c.state = fibremon.RolloutStates[i]
	}
}

func (g *gen) source() string {
	return fmt.Sprintf("synthetic: fibremon data/generate/consortium %s, seed %s", version, g.c.istat)
}

func (g *gen) sorted() []*civic {
	out := slices.Clone(g.civics)
	slices.SortStableFunc(out, func(a, b *civic) int {
		an, as := splitNumber(a.number)
		bn, bs := splitNumber(b.number)
		return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.name, b.name), cmp.Compare(an, bn), cmp.Compare(as, bs))
	})
	return out
}

func splitNumber(s string) (int, string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:]
}

func (g *gen) civicsRows() [][]string {
	rows := [][]string{geo.CivicColumns}
	for _, c := range g.sorted() {
		p := g.lonlat(c.pos)
		rows = append(rows, []string{g.c.istat, c.typ, c.name, c.number,
			strconv.FormatFloat(p.Lon(), 'f', 6, 64), strconv.FormatFloat(p.Lat(), 'f', 6, 64),
			g.c.name, strconv.Itoa(c.units), "true", g.source()})
	}
	return rows
}

func (g *gen) coverageRows() [][]string {
	rows := [][]string{geo.CoverageColumns}
	for _, c := range g.sorted() {
		down, up, op := 1000, 300, "Open Fiber"
		switch c.tech {
		case fibremon.FWA:
			down, up, op = 100, 50, "Open Fiber (FWA)"
		case fibremon.FTTC:
			down, up, op = 200, 20, "TIM (FTTC)"
		case fibremon.NoLine:
			down, up, op = 0, 0, ""
		}
		if c.tech == fibremon.FTTH && c.class != geo.White {
			op = "FiberCop"
		}
		row := []string{g.c.istat, c.typ, c.name, c.number, string(c.tech),
			strconv.Itoa(down), strconv.Itoa(up), string(c.class), string(c.state)}
		for _, d := range c.dates {
			s := ""
			if !d.IsZero() {
				s = d.Format(time.DateOnly)
			}
			row = append(row, s)
		}
		rows = append(rows, append(row, op, "true", g.source()))
	}
	return rows
}
