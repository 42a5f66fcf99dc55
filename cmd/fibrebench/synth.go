package main

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"

	"fibremon/geo"
)

// A synthetic national-scale register: one data-set directory (boundary,
// hamlets, sites, civics.csv.gz, coverage.csv.gz) of a made-up region with
// Areas hamlets (the areas whose zones a point-in-area query finds) and
// Civics civic numbers on streets around them. Every row, name and place
// is invented and says so (synthetic=true, source "synthetic: ..."). The
// output depends only on the size and the seed.
//
// Civics are not held in memory: civic(i) computes the i-th from the
// streets, so the register is written, loaded into PostGIS and sampled
// for queries without a million structs alive.

const (
	synthComune = "synthetic-region"
	synthISTAT  = "999001"
	synthName   = "Regione Sintetica"
)

// region is the made-up region: about 230 km × 200 km of northern Italy's
// latitudes, so that lon/lat arithmetic is as distorted as it is there.
var region = orb.Bound{Min: orb.Point{8.5, 44.8}, Max: orb.Point{11.5, 46.6}}

type synthHamlet struct {
	name   string
	p      orb.Point
	civics int
}

type synthStreet struct {
	typ, name string
	hamlet    int
	start, n  int       // its civics are start .. start+n-1
	origin    orb.Point // lon, lat of its first civic's position along it
	dx, dy    float64   // degrees per metre along the street (lon, lat)
	sx, sy    float64   // degrees per metre across it (to the left)
	// schedule of the rollout on the street (days since 2017-06-30)
	design, works, ready int
}

type synth struct {
	seed     uint64
	civics   int
	boundary orb.Ring
	hamlets  []synthHamlet
	streets  []synthStreet
}

// synthCivic is one civic of the register.
type synthCivic struct {
	id     int // 0-based, its row
	street int
	number int
	p      orb.Point
}

func newSynth(civics, areas int, seed uint64) (*synth, error) {
	if civics < areas || areas < 1 {
		return nil, fmt.Errorf("want at least one area and at least as many civics as areas (got %d civics, %d areas)", civics, areas)
	}
	s := &synth{seed: seed, civics: civics}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	c := region.Center()
	rx, ry := (region.Max[0]-region.Min[0])/2, (region.Max[1]-region.Min[1])/2
	// The boundary: a 96-gon around an ellipse, radius ±4 %, counter-clockwise.
	const nv = 96
	for k := range nv {
		a := 2 * math.Pi * float64(k) / nv
		f := 0.96 + 0.04*rng.Float64()
		s.boundary = append(s.boundary, orb.Point{round6(c[0] + f*rx*math.Cos(a)), round6(c[1] + f*ry*math.Sin(a))})
	}
	s.boundary = append(s.boundary, s.boundary[0])

	// Hamlets: uniform in the inner ellipse (0.8 of the boundary's), sized
	// by a Zipf-like law (the largest is a town of a few per cent).
	names := newNamer(rng)
	weights := make([]float64, areas)
	total := 0.0
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 0.8)
		total += weights[i]
	}
	left := civics - areas // every hamlet has at least one civic
	for i := range areas {
		var p orb.Point
		for {
			u, v := 2*rng.Float64()-1, 2*rng.Float64()-1
			if u*u+v*v <= 1 {
				p = orb.Point{round6(c[0] + 0.8*rx*u), round6(c[1] + 0.8*ry*v)}
				break
			}
		}
		n := 1 + int(float64(civics-areas)*weights[i]/total)
		left -= n - 1
		s.hamlets = append(s.hamlets, synthHamlet{name: names.hamlet(), p: p, civics: n})
	}
	for i := 0; left > 0; i = (i + 1) % areas { // rounding: spread the rest
		s.hamlets[i].civics++
		left--
	}

	// Streets: 5 to 60 civics each, around their hamlet's centre within
	// a radius growing with the hamlet (40 m × √civics).
	const mPerDegLat = 111195.0
	start := 0
	for h, hm := range s.hamlets {
		radius := 40 * math.Sqrt(float64(hm.civics))
		kx := 1 / (mPerDegLat * math.Cos(hm.p[1]*math.Pi/180))
		ky := 1 / mPerDegLat
		for left := hm.civics; left > 0; {
			n := min(left, 5+rng.IntN(56))
			left -= n
			r := radius * math.Sqrt(rng.Float64())
			a := 2 * math.Pi * rng.Float64()
			dir := 2 * math.Pi * rng.Float64()
			typ, name := names.street()
			design := 700 + rng.IntN(200)
			works := design + 100 + rng.IntN(200)
			ready := works + 150 + rng.IntN(400)
			s.streets = append(s.streets, synthStreet{
				typ: typ, name: name, hamlet: h, start: start, n: n,
				origin: orb.Point{hm.p[0] + r*math.Cos(a)*kx, hm.p[1] + r*math.Sin(a)*ky},
				dx:     math.Cos(dir) * kx, dy: math.Sin(dir) * ky,
				sx: -math.Sin(dir) * kx, sy: math.Cos(dir) * ky,
				design: design, works: works, ready: ready,
			})
			start += n
		}
	}
	return s, nil
}

// civic returns the i-th civic: numbered from 1 along its street, odd on
// the left, even on the right, 15 m apart on each side, 12 m off the
// street's line.
func (s *synth) civic(i int) synthCivic {
	k, found := slices.BinarySearchFunc(s.streets, i, func(st synthStreet, i int) int { return st.start - i })
	if !found {
		k--
	}
	st := &s.streets[k]
	j := i - st.start
	along := 10 + 7.5*float64(j)
	side := 12.0
	if j%2 == 1 {
		side = -12
	}
	p := orb.Point{
		round6(st.origin[0] + along*st.dx + side*st.sx),
		round6(st.origin[1] + along*st.dy + side*st.sy),
	}
	return synthCivic{id: i, street: k, number: j + 1, p: p}
}

// coverage is what the synthetic rollout declares for civic i: a
// technology with its speeds, an area class, a state reached and its
// dates, an operator. Deterministic in (seed, i).
type synthCoverage struct {
	technology string
	down, up   int
	areaClass  string
	state      string
	dates      map[string]string
	operator   string
}

func (s *synth) coverage(c synthCivic) synthCoverage {
	r := rand.New(rand.NewPCG(s.seed^0xc0ffee, uint64(c.id)))
	st := &s.streets[c.street]
	var cv synthCoverage
	switch x := r.IntN(100); {
	case x < 80:
		cv.technology, cv.down, cv.up, cv.operator = "FTTH", 1000, 300, "Open Fiber"
	case x < 92:
		cv.technology, cv.down, cv.up, cv.operator = "FWA", 100, 50, "Open Fiber (FWA)"
	case x < 97:
		cv.technology, cv.down, cv.up, cv.operator = "FTTC", 100, 20, "TIM"
	default:
		cv.technology = "none"
	}
	switch x := r.IntN(100); {
	case x < 60:
		cv.areaClass = "white"
	case x < 85:
		cv.areaClass = "grey"
	default:
		cv.areaClass = "black"
	}
	if cv.technology == "none" {
		return cv
	}
	day := func(d int) string { return dateBase.AddDate(0, 0, d).Format("2006-01-02") }
	cv.dates = map[string]string{"planned": day(0)}
	cv.state = "planned"
	steps := []struct {
		state string
		at    int
	}{{"design", st.design}, {"works", st.works}, {"ready_for_sale", st.ready}, {"active", st.ready + 14 + r.IntN(700)}}
	reached := r.IntN(100) // how far the civic got: most are served
	for k, step := range steps {
		if (k == 1 && reached < 5) || (k == 2 && reached < 12) || (k == 3 && reached < 30) || k > 3 {
			break
		}
		cv.state, cv.dates[step.state] = step.state, day(step.at+r.IntN(5))
	}
	return cv
}

// writeDir writes the data set as <dir>/<synthComune>/..., civics and
// coverage gzip-compressed.
func (s *synth) writeDir(dir string) error {
	d := filepath.Join(dir, synthComune)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	source := s.source()
	boundary := geojson.NewFeatureCollection()
	bf := geojson.NewFeature(orb.Polygon{s.boundary})
	bf.Properties = geojson.Properties{"name": synthName, "istat_code": synthISTAT, "synthetic": true, "source": source,
		"attribution": "synthetic boundary of a made-up region (fibrebench); no real place"}
	boundary.Append(bf)
	hamlets := geojson.NewFeatureCollection()
	for i, h := range s.hamlets {
		f := geojson.NewFeature(h.p)
		f.Properties = geojson.Properties{"name": h.name, "seat": i == 0, "coord_status": "estimated", "coord_uncertainty_m": 0,
			"synthetic": true, "source": source}
		hamlets.Append(f)
	}
	for name, fc := range map[string]*geojson.FeatureCollection{geo.BoundaryFile: boundary, geo.HamletsFile: hamlets} {
		b, err := json.Marshal(fc)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			return err
		}
	}
	if err := s.writeSites(filepath.Join(d, geo.SitesFile)); err != nil {
		return err
	}
	if err := writeGzipCSV(filepath.Join(d, geo.CivicsFile+".gz"), geo.CivicColumns, s.civics, func(i int, rec []string) []string {
		c := s.civic(i)
		st := &s.streets[c.street]
		return append(rec, synthISTAT, st.typ, st.name, strconv.Itoa(c.number),
			strconv.FormatFloat(c.p[0], 'f', 6, 64), strconv.FormatFloat(c.p[1], 'f', 6, 64),
			"", strconv.Itoa(1+i%3), "true", source)
	}); err != nil {
		return err
	}
	return writeGzipCSV(filepath.Join(d, geo.CoverageFile+".gz"), geo.CoverageColumns, s.civics, func(i int, rec []string) []string {
		c := s.civic(i)
		st := &s.streets[c.street]
		cv := s.coverage(c)
		rec = append(rec, synthISTAT, st.typ, st.name, strconv.Itoa(c.number), cv.technology,
			strconv.Itoa(cv.down), strconv.Itoa(cv.up), cv.areaClass, cv.state)
		for _, state := range []string{"planned", "design", "works", "works_completed", "acceptance", "ready_for_sale", "active"} {
			rec = append(rec, cv.dates[state])
		}
		return append(rec, cv.operator, "true", source)
	})
}

func (s *synth) source() string {
	return fmt.Sprintf("synthetic: fibremon fibrebench v1, seed %d", s.seed)
}

// writeSites writes one synthetic monitored site per 100 hamlets (at
// least one), at the hamlet's centre.
func (s *synth) writeSites(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"id", "name", "kind", "hamlet", "lon", "lat", "coord_status", "coord_uncertainty_m", "technology",
		"contract_down_mbps", "contract_up_mbps", "synthetic", "line_synthetic", "source"})
	for i := 0; i < len(s.hamlets); i += 100 {
		h := s.hamlets[i]
		w.Write([]string{fmt.Sprintf("site-%05d", i), "Synthetic site " + strconv.Itoa(i) + " (synthetic)", "business", h.name,
			strconv.FormatFloat(h.p[0], 'f', 6, 64), strconv.FormatFloat(h.p[1], 'f', 6, 64), "estimated", "50", "FTTH",
			"1000", "300", "true", "true", s.source()})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeGzipCSV(path string, header []string, n int, row func(i int, rec []string) []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	w := csv.NewWriter(zw)
	w.Write(header)
	rec := make([]string, 0, len(header))
	for i := range n {
		if err := w.Write(row(i, rec[:0])); err != nil {
			f.Close()
			return err
		}
	}
	w.Flush()
	err = w.Error()
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// inside reports whether p lies inside the region's boundary.
func (s *synth) inside(p orb.Point) bool { return planar.RingContains(s.boundary, p) }

// label is how people write civic c's address.
func (s *synth) label(c synthCivic) string {
	st := &s.streets[c.street]
	return st.typ + " " + st.name + " " + strconv.Itoa(c.number)
}

// dateBase is day 0 of the synthetic rollout: the BUL plan's award.
var dateBase = time.Date(2017, 6, 30, 0, 0, 0, 0, time.UTC)

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// namer invents unique, Italian-sounding hamlet and street names.
type namer struct {
	rng          *rand.Rand
	used         map[string]bool
	usedStreets  map[string]bool
	given, surns []string
}

var (
	syllStart = []string{"Bar", "Ber", "Bon", "Ca", "Col", "Fer", "Gal", "Lom", "Mar", "Mon", "Pel", "Ros", "Ser", "Tor", "Val", "Vi",
		"Zan", "Pa", "Ga", "Bel", "Cer", "Cor", "Fa", "Gor", "Lu", "Me", "Ne", "Or", "Pi", "Ri", "Sa", "Ta", "Ve", "Ar", "Ba", "Do"}
	syllMid      = []string{"be", "ca", "de", "ga", "li", "ma", "ne", "ra", "ri", "to", "ve", "", "bi", "co", "lo", "sa"}
	syllSurname  = []string{"lli", "tti", "ni", "ri", "chi", "ssi", "ldi", "ndi", "zzi", "ghi", "sco", "ne"}
	syllPlace    = []string{"ano", "ello", "ago", "ate", "engo", "asco", "ino", "one", "era", "ola"}
	placePrefix  = []string{"", "", "", "San ", "Santa ", "Castel", "Borgo ", "Villa ", "Torre ", "Monte ", "Pieve ", "Ca' ", "Corte ", "Cascine "}
	givenNames   = []string{"Giuseppe", "Giovanni", "Antonio", "Mario", "Luigi", "Francesco", "Angelo", "Vincenzo", "Pietro", "Salvatore", "Carlo", "Franco", "Domenico", "Bruno", "Paolo", "Michele", "Giorgio", "Aldo", "Sergio", "Luciano", "Maria", "Anna", "Giuseppina", "Rosa", "Angela", "Giovanna", "Teresa", "Lucia", "Carmela", "Caterina", "Francesca", "Antonietta", "Elena", "Luisa", "Carla", "Alessandro", "Andrea", "Marco", "Matteo", "Lorenzo", "Roberto", "Stefano", "Alberto", "Enrico", "Filippo", "Giacomo", "Ugo", "Dante", "Ettore", "Nazario"}
	streetTypes  = []string{"Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Via", "Vicolo", "Vicolo", "Viale", "Piazza", "Strada", "Corso", "Largo", "Località"}
	streetPlural = []string{"dei Tigli", "dei Pioppi", "delle Rose", "dei Salici", "degli Olmi", "dei Ciliegi", "delle Viole", "dei Noci", "delle Querce", "dei Mandorli", "degli Aceri", "delle Acacie", "dei Frassini", "delle Betulle", "dei Castagni", "dei Larici", "dei Mulini", "delle Industrie", "dell'Artigianato", "dei Mille"}
)

func newNamer(rng *rand.Rand) *namer {
	n := &namer{rng: rng, used: map[string]bool{}, usedStreets: map[string]bool{}, given: givenNames}
	for _, a := range syllStart {
		for _, b := range syllMid {
			for _, c := range syllSurname {
				n.surns = append(n.surns, a+b+c)
			}
		}
	}
	return n
}

func (n *namer) pick(list []string) string { return list[n.rng.IntN(len(list))] }

func (n *namer) hamlet() string {
	for {
		base := n.pick(syllStart) + n.pick(syllMid) + n.pick(syllPlace)
		p := n.pick(placePrefix)
		name := p + base
		if p == "Castel" {
			name = p + strings.ToLower(base)
		}
		if !n.used[name] {
			n.used[name] = true
			return name
		}
	}
}

func (n *namer) street() (typ, name string) {
	for {
		typ = n.pick(streetTypes)
		switch x := n.rng.IntN(20); {
		case x == 0:
			name = n.pick(streetPlural)
		case x == 1:
			name = "San " + n.pick(givenNames[:20])
		case x < 5:
			name = n.pick(n.surns)
		default:
			name = n.pick(n.given) + " " + n.pick(n.surns)
		}
		key := geo.NormaliseStreet(typ + " " + name)
		if !n.usedStreets[key] {
			n.usedStreets[key] = true
			return typ, name
		}
	}
}
