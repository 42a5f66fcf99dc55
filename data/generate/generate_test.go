package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fibremon"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// dir is the comune's directory, holding the committed files.
const dir = "../ripalta-cremasca"

// TestCommittedFilesAreGenerated regenerates the register into a temporary
// directory: the committed files must be exactly what the generator writes,
// so they can never drift from it.
func TestCommittedFilesAreGenerated(t *testing.T) {
	out := t.TempDir()
	if _, err := run(dir, out); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{civicsFile, coverageFile} {
		got, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
			for i := range max(len(gl), len(wl)) {
				g, w := line(gl, i), line(wl, i)
				if g != w {
					t.Errorf("%s differs from the generator's output at line %d:\n committed: %s\n generated: %s\nrun `go run ./data/generate` from the module root and commit the result",
						name, i+1, w, g)
					break
				}
			}
		}
	}
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end of file)"
}

// TestDeterministic generates twice in one process: no state may leak
// between runs (the zones are built afresh; globals are read only).
func TestDeterministic(t *testing.T) {
	in, err := readInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][2][]byte
	for i := range outs {
		m, err := generate(in)
		if err != nil {
			t.Fatal(err)
		}
		if outs[i][0], err = m.civicsCSV(); err != nil {
			t.Fatal(err)
		}
		if outs[i][1], err = m.coverageCSV(); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(outs[0][0], outs[1][0]) || !bytes.Equal(outs[0][1], outs[1][1]) {
		t.Error("two runs gave different output")
	}
}

// readFile reads a committed CSV file, checking its header.
func readFile(t *testing.T, name string, header []string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(rows) < 2 {
		t.Fatalf("%s: no rows", name)
	}
	if !slices.Equal(rows[0], header) {
		t.Fatalf("%s: header %q; want %q", name, rows[0], header)
	}
	return rows[1:]
}

var (
	numberRE = regexp.MustCompile(`^[1-9][0-9]*[A-Z]?$`)
	coordRE  = regexp.MustCompile(`^[0-9]{1,3}\.[0-9]{6}$`)
	sourceRE = regexp.MustCompile(`^synthetic: fibremon data/generate v[0-9]+, seed [0-9]+$`)
)

// TestFacts checks the committed files against the facts they must honour
// (data/README.md gives the sources).
func TestFacts(t *testing.T) {
	in, err := readInputs(dir)
	if err != nil {
		t.Fatal(err)
	}
	civics := readFile(t, civicsFile, civicsHeader)
	coverage := readFile(t, coverageFile, coverageHeader)
	if len(civics) != len(coverage) {
		t.Fatalf("%d civics but %d coverage rows; want one each", len(civics), len(coverage))
	}

	type point struct {
		key string
		p   orb.Point
		q   xy
	}
	var points []point
	keys := map[string]bool{}
	units := 0
	byKey := map[string]int{}
	for i, r := range civics {
		key := strings.Join(r[:4], "|")
		byKey[key] = i
		if keys[key] {
			t.Errorf("civics line %d: duplicate key %s", i+2, key)
		}
		keys[key] = true
		if r[0] != "019081" || r[1] == "" || r[2] == "" || !numberRE.MatchString(r[3]) {
			t.Errorf("civics line %d: bad key %q", i+2, r[:4])
		}
		if !coordRE.MatchString(r[4]) || !coordRE.MatchString(r[5]) {
			t.Errorf("civics line %d: lon/lat %s, %s: want 6 decimals", i+2, r[4], r[5])
		}
		lon, _ := strconv.ParseFloat(r[4], 64)
		lat, _ := strconv.ParseFloat(r[5], 64)
		p := orb.Point{lon, lat}
		if !planar.MultiPolygonContains(in.boundary, p) {
			t.Errorf("civics line %d: %s %s %s at %v lies outside the boundary", i+2, r[1], r[2], r[3], p)
		}
		if _, ok := in.hamlets[r[6]]; r[6] != "" && !ok {
			t.Errorf("civics line %d: hamlet %q is not in hamlets.geojson", i+2, r[6])
		}
		u, err := strconv.Atoi(r[7])
		if err != nil || u < 1 {
			t.Errorf("civics line %d: units %q; want >= 1", i+2, r[7])
		}
		units += u
		if r[8] != "true" || !sourceRE.MatchString(r[9]) {
			t.Errorf("civics line %d: synthetic=%q source=%q", i+2, r[8], r[9])
		}
		points = append(points, point{key, p, toXY(p)})
	}
	if units < 1650 || units > 1750 {
		t.Errorf("%d units; want 1,650-1,750 (~1,700)", units)
	}
	for i := range points {
		for j := i + 1; j < len(points); j++ {
			if d := dist(points[i].q, points[j].q); d < 8 {
				t.Errorf("%s and %s are %.1f m apart", points[i].key, points[j].key, d)
			}
		}
	}

	// Coverage.
	in2022 := map[fibremon.Technology]int{}
	techOf := make([]fibremon.Technology, len(coverage))
	stateOf := make([]fibremon.RolloutState, len(coverage))
	for i, r := range coverage {
		where := "coverage line " + strconv.Itoa(i+2)
		if key := strings.Join(r[:4], "|"); key != points[i].key {
			t.Fatalf("%s: key %s; want %s (same order as civics.csv)", where, key, points[i].key)
		}
		tech := fibremon.Technology(r[4])
		techOf[i] = tech
		speeds := map[fibremon.Technology][2]string{fibremon.FTTH: {"1000", "300"}, fibremon.FWA: {"100", "50"}}
		operators := map[fibremon.Technology]string{fibremon.FTTH: "Open Fiber", fibremon.FWA: "Open Fiber (FWA)"}
		if sp, ok := speeds[tech]; !ok || r[5] != sp[0] || r[6] != sp[1] || r[16] != operators[tech] {
			t.Errorf("%s: technology %s %s/%s operator %q: every civic is served by FTTH 1000/300 or FWA 100/50 of Open Fiber", where, r[4], r[5], r[6], r[16])
		}
		if !slices.Contains([]string{"white", "grey", "black"}, r[7]) {
			t.Errorf("%s: area_class %q", where, r[7])
		}
		state := fibremon.RolloutState(r[8])
		stateOf[i] = state
		idx := slices.Index(fibremon.RolloutStates, state)
		if idx < 0 {
			t.Errorf("%s: unknown state %q", where, r[8])
			continue
		}
		if state != fibremon.RolloutReadyForSale && state != fibremon.RolloutActive {
			t.Errorf("%s: state %s; every civic is served at the reference date", where, state)
		}
		var prev time.Time
		for k, s := range r[9:16] {
			if k > idx {
				if s != "" {
					t.Errorf("%s: %s date %s set in state %s", where, fibremon.RolloutStates[k], s, state)
				}
				continue
			}
			d, err := time.Parse(time.DateOnly, s)
			if err != nil {
				t.Errorf("%s: %s date %q: %v", where, fibremon.RolloutStates[k], s, err)
				continue
			}
			if d.Before(prev) {
				t.Errorf("%s: %s date %s before the previous state's", where, fibremon.RolloutStates[k], s)
			}
			if d.After(refDate) {
				t.Errorf("%s: %s date %s after the reference date", where, fibremon.RolloutStates[k], s)
			}
			prev = d
		}
		switch ready := r[14]; {
		case strings.HasPrefix(ready, "2022-"):
			in2022[tech]++
			if ready > "2022-06-30" {
				t.Errorf("%s: ready for sale %s; the 2022 civics were served by June 2022", where, ready)
			}
		case ready > "2021-12-31":
			t.Errorf("%s: ready for sale %s; only the 126 of 2022 came later than 2021", where, ready)
		}
		if r[17] != "true" || r[18] != civics[i][9] {
			t.Errorf("%s: synthetic=%q source=%q", where, r[17], r[18])
		}
	}
	if n := in2022[fibremon.FWA] + in2022[fibremon.FTTH]; n != 126 || in2022[fibremon.FWA] != 78 || in2022[fibremon.FTTH] != 48 {
		t.Errorf("ready for sale in 2022: %v; want 126 civics, 78 FWA and 48 FTTH", in2022)
	}
	fwa := 0
	for _, tech := range techOf {
		if tech == fibremon.FWA {
			fwa++
		}
	}
	if fwa != 78 {
		t.Errorf("%d FWA civics; want the 78 of 2022", fwa)
	}

	// Via Roma 5, the town hall, in Ripalta Nuova near the municipio site.
	i, ok := byKey["019081|Via|Roma|5"]
	if !ok {
		t.Fatal("no civic Via Roma 5")
	}
	if civics[i][6] != "Ripalta Nuova" {
		t.Errorf("Via Roma 5 is in %q; want Ripalta Nuova", civics[i][6])
	}
	// Every monitored site has a civic within 50 m, covered by the site's
	// technology when the site is on FTTH or FWA.
	for _, s := range in.sites {
		best, bestD := -1, 50.0
		for j, p := range points {
			if d := dist(p.q, toXY(s.point)); d <= bestD {
				best, bestD = j, d
			}
		}
		if best < 0 {
			t.Errorf("site %s: no civic within 50 m", s.id)
			continue
		}
		if s.id == "municipio" && bestD > 200 || s.id == "municipio" && points[best].key != "019081|Via|Roma|5" {
			t.Errorf("municipio: nearest civic %s at %.0f m; want Via Roma 5 within 200 m", points[best].key, bestD)
		}
		if (s.tech == fibremon.FTTH || s.tech == fibremon.FWA) && (techOf[best] != s.tech || stateOf[best] != fibremon.RolloutActive) {
			t.Errorf("site %s on %s: its civic %s is %s, %s; want %s, active", s.id, s.tech, points[best].key, techOf[best], stateOf[best], s.tech)
		}
	}
}

// TestNumberSide checks the numbering of one side of a street, around a
// number that a source gives.
func TestNumberSide(t *testing.T) {
	civics := func(fixed ...string) []*civic {
		var l []*civic
		for _, f := range fixed {
			l = append(l, &civic{fixedNum: f})
		}
		return l
	}
	numbers := func(l []*civic) []string {
		var s []string
		for _, c := range l {
			s = append(s, c.number)
		}
		return s
	}
	tests := []struct {
		name        string
		list        []*civic
		start, step int
		want        []string
		err         bool
	}{
		{"odd", civics("", "", ""), 1, 2, []string{"1", "3", "5"}, false},
		{"even", civics("", ""), 2, 2, []string{"2", "4"}, false},
		{"fixed 5 after two", civics("", "", "5", ""), 1, 2, []string{"1", "3", "5", "7"}, false},
		{"fixed 5 after one", civics("", "5", ""), 1, 2, []string{"3", "5", "7"}, false},
		{"fixed 5 after three", civics("", "", "", "5"), 1, 2, nil, true},
		{"fixed 4 on the odd side", civics("4"), 1, 2, nil, true},
		{"piazza", civics("", "3", ""), 1, 1, []string{"2", "3", "4"}, false},
	}
	never := func() bool { return false }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := numberSide(tt.list, tt.start, tt.step, never)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v; want error %v", err, tt.err)
			}
			if err == nil && !slices.Equal(numbers(tt.list), tt.want) {
				t.Errorf("numbers %q; want %q", numbers(tt.list), tt.want)
			}
		})
	}
	t.Run("suffixes", func(t *testing.T) {
		l := civics("", "", "5", "", "", "")
		if err := numberSide(l, 1, 2, func() bool { return true }); err != nil {
			t.Fatal(err)
		}
		if want := []string{"1", "3", "5", "5A", "7", "7A"}; !slices.Equal(numbers(l), want) {
			t.Errorf("numbers %q; want %q", numbers(l), want)
		}
	})
}

// TestREADME checks that data/README.md describes the files and names
// every street of the model, so that its list of real and synthetic names
// stays complete.
func TestREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(b)), " ") // lines wrap anywhere
	for _, s := range []string{"`ripalta-cremasca/civics.csv`", "`ripalta-cremasca/coverage.csv`",
		"SYNTHETIC", source, "go run ./data/generate"} {
		if !strings.Contains(readme, s) {
			t.Errorf("README.md does not mention %q", s)
		}
	}
	for _, z := range zones() {
		for _, st := range z.streets {
			name := st.typ + " " + st.name
			switch {
			case st.real && !strings.Contains(readme, "| "+name+" |"):
				t.Errorf("README.md's table of real names has no row for %s", name)
			case !st.real && strings.Contains(readme, "| "+name+" |"):
				t.Errorf("README.md lists the synthetic %s among the real names", name)
			case !strings.Contains(readme, name):
				t.Errorf("README.md does not list %s", name)
			}
		}
	}
	for _, name := range cascinaNames {
		if !strings.Contains(readme, name) {
			t.Errorf("README.md does not list the farmstead name %s", name)
		}
	}
}
