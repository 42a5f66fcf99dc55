package geo_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"

	"github.com/paulmach/orb"
)

// MustLoadFixture loads the embedded boundary, hamlets and sites with the
// hand-written civics and coverage of testdata/.
func MustLoadFixture(tb testing.TB) *geo.Comune {
	tb.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{geo.BoundaryFile, geo.HamletsFile, geo.SitesFile} {
		b, err := fs.ReadFile(data.FS, dir+"/"+n)
		if err != nil {
			tb.Fatal(err)
		}
		fsys[dir+"/"+n] = &fstest.MapFile{Data: b}
	}
	for _, n := range []string{geo.CivicsFile, geo.CoverageFile} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			tb.Fatal(err)
		}
		fsys[dir+"/"+n] = &fstest.MapFile{Data: b}
	}
	c, err := geo.Load(fsys, dir)
	if err != nil {
		tb.Fatalf("Load(fixture): %v", err)
	}
	return c
}

// day returns UTC midnight of an ISO date.
func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// fixtureNow is the present of the coverage tests.
var fixtureNow = day("2025-06-01")

func addressByLabel(tb testing.TB, c *geo.Comune, label string) *geo.Address {
	tb.Helper()
	for i := range c.Addresses {
		if c.Addresses[i].Label() == label {
			return &c.Addresses[i]
		}
	}
	tb.Fatalf("no address %q", label)
	return nil
}

func TestLoadFixture(t *testing.T) {
	c := MustLoadFixture(t)
	if len(c.Addresses) != 16 {
		t.Fatalf("len(Addresses) = %d; want 16", len(c.Addresses))
	}
	tests := []struct {
		label, id, hamlet string
		tech              fibremon.Technology
		state             fibremon.RolloutState
		since             string
	}{
		{"Via Roma 5", "019081-via-roma-5", "Ripalta Nuova", fibremon.FTTH, fibremon.RolloutActive, "2021-04-02"},
		{"Via Roma 12", "019081-via-roma-12", "Ripalta Nuova", fibremon.FTTH, fibremon.RolloutWorks, "2024-11-05"}, // hamlet from the zone
		{"Piazza Dante 3A", "019081-piazza-dante-3a", "Ripalta Nuova", fibremon.FTTB, fibremon.RolloutActive, "2020-01-15"},
		{"Via Santa Maria 5BIS", "019081-via-santa-maria-5bis", "Bolzone", fibremon.ADSL, fibremon.RolloutActive, "2010-03-01"},
		{"Via Dell'Olmo 2", "019081-via-dell-olmo-2", "Bolzone", fibremon.FTTH, fibremon.RolloutActive, "2021-06-15"},
		{"Località Cà Nova 1", "019081-localita-ca-nova-1", "San Michele", fibremon.FTTH, fibremon.RolloutDesign, "2025-03-01"},
		{"Via San Michele 8", "019081-via-san-michele-8", "San Michele", fibremon.FTTC, fibremon.RolloutActive, "2019-01-01"},
		{"Strada Zappello 9", "019081-strada-zappello-9", "Zappello", fibremon.FTTH, fibremon.RolloutReadyForSale, "2022-05-31"},
		{"Cascina Bassa 1", "019081-cascina-bassa-1", "Zappello", fibremon.Unknown, "", ""},
	}
	for _, tt := range tests {
		a := addressByLabel(t, c, tt.label)
		var since string
		if !a.Since().IsZero() {
			since = a.Since().Format(time.DateOnly)
		}
		if a.ID != tt.id || a.Hamlet != tt.hamlet || a.Technology != tt.tech || a.State != tt.state || since != tt.since {
			t.Errorf("%s: ID, Hamlet, Technology, State, Since = %q, %q, %q, %q, %q; want %q, %q, %q, %q, %q",
				tt.label, a.ID, a.Hamlet, a.Technology, a.State, since, tt.id, tt.hamlet, tt.tech, tt.state, tt.since)
		}
		if err := a.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v", tt.label, err)
		}
		if !a.Synthetic {
			t.Errorf("%s: Synthetic = false; the fixture is invented", tt.label)
		}
	}
	if a := addressByLabel(t, c, "Via Roma 5"); a.Street() != "Via Roma" || a.Number != "5" || a.Operator != "Open Fiber" || a.AreaClass != geo.White {
		t.Errorf("Via Roma 5: Street, Number, Operator, AreaClass = %q, %q, %q, %q", a.Street(), a.Number, a.Operator, a.AreaClass)
	}
}

// TestLoadEmbeddedAddresses checks the civic register data/ embeds: Load
// must accept it, and every address must be inside the comune, in a known
// hamlet, and valid.
func TestLoadEmbeddedAddresses(t *testing.T) {
	c := MustLoad(t)
	if _, err := fs.Stat(data.FS, dir+"/"+geo.CivicsFile); err != nil {
		t.Fatalf("no embedded %s: %v", geo.CivicsFile, err)
	}
	if len(c.Addresses) == 0 {
		t.Fatalf("%s is embedded but Load gave no addresses", geo.CivicsFile)
	}
	hamlets := map[string]bool{}
	for _, h := range c.Hamlets {
		hamlets[h.Name] = true
	}
	for i := range c.Addresses {
		a := &c.Addresses[i]
		if err := a.Validate(); err != nil || !c.Contains(a.Point) || !hamlets[a.Hamlet] {
			t.Errorf("address %s: Validate = %v, inside = %v, hamlet %q", a.Label(), err, c.Contains(a.Point), a.Hamlet)
		}
		if !a.Synthetic && strings.Contains(strings.ToLower(a.Source), "synthetic") {
			t.Errorf("address %s: source says synthetic but Synthetic = false", a.Label())
		}
	}
	f := c.Figures(time.Now())
	t.Logf("embedded register: %d addresses, %d units; by class now: %v", f[0].Addresses, f[0].Units, f[0].ByClass)
	for _, layer := range []string{geo.LayerAddresses, geo.LayerWhiteAreas, geo.LayerHamlets} {
		fc := mustLayer(t, c, geo.LayerQuery{Layer: layer})
		for _, f := range fc.Features {
			checkGeometry(t, f)
		}
	}
	ix := geo.NewIndex(c)
	a := &c.Addresses[len(c.Addresses)/2]
	if m, err := ix.Lookup(a.Label()); err != nil || len(m) == 0 || m[0].Address.ID != a.ID || m[0].Score != 1 {
		t.Errorf("Lookup(%q) = %v, %v; want that civic first, score 1", a.Label(), m, err)
	}
}

func TestLoadAddressErrors(t *testing.T) {
	base := fstest.MapFS{}
	for _, n := range []string{geo.BoundaryFile, geo.HamletsFile, geo.SitesFile} {
		base[dir+"/"+n] = &fstest.MapFile{Data: []byte(mustRead(t, n))}
	}
	header := strings.Join(geo.CivicColumns, ",") + "\n"
	covHeader := strings.Join(geo.CoverageColumns, ",") + "\n"
	tests := []struct {
		name     string
		civics   string // "" means no file
		coverage string
		want     string
	}{
		{"coverage without civics", "", covHeader, "coverage without a civic register"},
		{"bad row", header + "019081,Via,Roma,five,9.69,45.33,,1,false,x\n", "", "line 2: number"},
		{"outside the boundary", header + "019081,Via,Roma,5,9.60,45.33,,1,false,x\n", "", "outside the boundary"},
		{"swapped", header + "019081,Via,Roma,5,45.3347,9.6944,,1,false,x\n", "", "swapped"},
		{"unknown hamlet", header + "019081,Via,Roma,5,9.69445,45.33473,Crema,1,false,x\n", "", `"Crema" is not a hamlet`},
		{"unmatched coverage", header + "019081,Via,Roma,5,9.69445,45.33473,,1,false,x\n",
			covHeader + "019081,Via,Roma,6,FTTH,1000,300,white,active,,,,,,,2021-01-01,OF,false,x\n", "line 2: number: no civic Via Roma 6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range base {
				fsys[k] = v
			}
			if tt.civics != "" {
				fsys[dir+"/"+geo.CivicsFile] = &fstest.MapFile{Data: []byte(tt.civics)}
			}
			if tt.coverage != "" {
				fsys[dir+"/"+geo.CoverageFile] = &fstest.MapFile{Data: []byte(tt.coverage)}
			}
			_, err := geo.Load(fsys, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || fibremon.KindOf(err) != fibremon.Invalid {
				t.Errorf("Load() = %v (kind %v); want an Invalid error containing %q", err, fibremon.KindOf(err), tt.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		tech     fibremon.Technology
		down, up float64
		want     geo.Class
	}{
		{fibremon.FTTH, 1000, 300, geo.VHCN},
		{fibremon.FTTH, 100, 20, geo.VHCN}, // VHCN by technology, whatever is sold
		{fibremon.FTTB, 0, 0, geo.VHCN},
		{fibremon.FWA, 1000, 200, geo.VHCN}, // VHCN by speed
		{fibremon.FWA, 1000, 199.9, geo.NGA},
		{fibremon.FTTC, 999.9, 300, geo.NGA},
		{fibremon.FWA, 100, 50, geo.NGA},
		{fibremon.FTTC, 30, 3, geo.NGA}, // NGA from 30 down
		{fibremon.FTTC, 29.99, 3, geo.Adequate},
		{fibremon.ADSL, 20, 1, geo.Adequate}, // AGCOM universal service: 20 down
		{fibremon.ADSL, 19.99, 1, geo.Below},
		{fibremon.ADSL, 7, 0.7, geo.Below},
		{fibremon.NoLine, 1000, 1000, geo.Below},
		{fibremon.Unknown, 30, 0, geo.NGA},
		{fibremon.FTTC, math.NaN(), 0, geo.Below},
	}
	for _, tt := range tests {
		if got := geo.Classify(tt.tech, tt.down, tt.up); got != tt.want {
			t.Errorf("Classify(%q, %g, %g) = %q; want %q", tt.tech, tt.down, tt.up, got, tt.want)
		}
	}
}

func TestServedClassAt(t *testing.T) {
	c := MustLoadFixture(t)
	tests := []struct {
		label  string
		at     string
		served bool
		class  geo.Class
		state  fibremon.RolloutState
	}{
		{"Via Roma 5", "2021-03-09", false, geo.Below, fibremon.RolloutAcceptance},
		{"Via Roma 5", "2021-03-10", true, geo.VHCN, fibremon.RolloutReadyForSale}, // the day it is ready
		{"Via Roma 5", "2025-06-01", true, geo.VHCN, fibremon.RolloutActive},
		{"Via Roma 5", "2019-02-28", false, geo.Below, ""}, // before any date
		{"Via Roma 7", "2020-12-31", false, geo.Below, fibremon.RolloutWorks},
		{"Via Roma 12", "2025-06-01", false, geo.Below, fibremon.RolloutWorks}, // FTTH planned, not served
		{"Vicolo Roma 5", "2025-06-01", true, geo.NGA, fibremon.RolloutActive},
		{"Piazza Dante 3", "2025-06-01", true, geo.Adequate, fibremon.RolloutActive},
		{"Via Santa Maria 5BIS", "2025-06-01", true, geo.Below, fibremon.RolloutActive}, // ADSL 7
		{"Località Cà Nova 1", "2025-02-28", false, geo.Below, fibremon.RolloutPlanned},
		{"Strada Zappello 6", "2025-06-01", false, geo.Below, fibremon.RolloutAcceptance},
		{"Cascina Bassa 1", "2025-06-01", false, geo.Below, ""}, // no coverage data
	}
	for _, tt := range tests {
		a := addressByLabel(t, c, tt.label)
		at := day(tt.at)
		st, _, _ := a.StateAt(at)
		if got, cl := a.Served(at), a.ClassAt(at); got != tt.served || cl != tt.class || st != tt.state {
			t.Errorf("%s at %s: Served, ClassAt, StateAt = %v, %q, %q; want %v, %q, %q", tt.label, tt.at, got, cl, st, tt.served, tt.class, tt.state)
		}
	}
}

func TestFigures(t *testing.T) {
	c := MustLoadFixture(t)
	figs := c.Figures(fixtureNow)
	if len(figs) != 5 {
		t.Fatalf("len(Figures) = %d; want 5 (comune and 4 hamlets)", len(figs))
	}
	scopes := []string{geo.ScopeComune, "Ripalta Nuova", "Bolzone", "San Michele", "Zappello"}
	for i, f := range figs {
		if f.Scope != scopes[i] {
			t.Errorf("Figures[%d].Scope = %q; want %q", i, f.Scope, scopes[i])
		}
		for name, sum := range map[string]geo.Count{"ByTechnology": sumCounts(f.ByTechnology), "ByState": sumCounts(f.ByState), "ByClass": sumCounts(f.ByClass)} {
			if sum != (geo.Count{Addresses: f.Addresses, Units: f.Units}) {
				t.Errorf("%s: %s sums to %+v; want %d addresses, %d units", f.Scope, name, sum, f.Addresses, f.Units)
			}
		}
		if len(f.ByClass) != 4 || len(f.ByState) != 8 || len(f.ByTechnology) != 7 {
			t.Errorf("%s: maps hold %d classes, %d states, %d technologies; want every key (4, 8, 7)", f.Scope, len(f.ByClass), len(f.ByState), len(f.ByTechnology))
		}
	}
	comune, zappello := figs[0], figs[4]
	if comune.Addresses != 16 || comune.Units != 34 || !comune.Synthetic {
		t.Errorf("comune: Addresses, Units, Synthetic = %d, %d, %v; want 16, 34, true", comune.Addresses, comune.Units, comune.Synthetic)
	}
	wantClass := map[geo.Class]geo.Count{geo.VHCN: {6, 17}, geo.NGA: {4, 7}, geo.Adequate: {1, 3}, geo.Below: {5, 7}}
	for cl, want := range wantClass {
		if got := comune.ByClass[cl]; got != want {
			t.Errorf("comune ByClass[%s] = %+v; want %+v", cl, got, want)
		}
	}
	if comune.WhiteAreaUnits != 21 || math.Abs(comune.WhiteAreaShare-21.0/34) > 1e-12 {
		t.Errorf("comune white area: %d units, share %g; want 21, %g", comune.WhiteAreaUnits, comune.WhiteAreaShare, 21.0/34)
	}
	if got := comune.ByTechnology[fibremon.FTTH]; got != (geo.Count{7, 15}) {
		t.Errorf("comune ByTechnology[FTTH] = %+v; want {7 15}", got)
	}
	for k, want := range map[fibremon.Technology]geo.Count{fibremon.FWA: {2, 3}, fibremon.FTTH: {1, 3}, fibremon.Unknown: {1, 1}} {
		if got := zappello.ByTechnology[k]; got != want {
			t.Errorf("Zappello ByTechnology[%q] = %+v; want %+v", k, got, want)
		}
	}
	for k, want := range map[fibremon.RolloutState]geo.Count{
		fibremon.RolloutActive: {1, 2}, fibremon.RolloutAcceptance: {1, 1}, fibremon.RolloutReadyForSale: {1, 3}, "": {1, 1},
	} {
		if got := zappello.ByState[k]; got != want {
			t.Errorf("Zappello ByState[%q] = %+v; want %+v", k, got, want)
		}
	}
	if zappello.Units != 7 || zappello.WhiteAreaUnits != 6 || math.Abs(zappello.WhiteAreaShare-6.0/7) > 1e-12 {
		t.Errorf("Zappello: units %d, white %d (%g); want 7, 6 (%g)", zappello.Units, zappello.WhiteAreaUnits, zappello.WhiteAreaShare, 6.0/7)
	}
	// In 2020 Via Roma 5 was still under works.
	if got := c.Figures(day("2020-06-01"))[0].ByState[fibremon.RolloutWorks]; got.Addresses != 2 {
		t.Errorf("comune ByState[works] in June 2020 = %+v; want 2 addresses (Via Roma 5 and 7)", got)
	}
	// A comune without addresses has zero figures with every key.
	empty := (&geo.Comune{Hamlets: c.Hamlets}).Figures(fixtureNow)
	if len(empty) != 5 || empty[0].Addresses != 0 || len(empty[0].ByClass) != 4 || empty[0].Synthetic {
		t.Errorf("Figures of a comune without addresses = %+v", empty[0])
	}
}

func sumCounts[K comparable](m map[K]geo.Count) geo.Count {
	var s geo.Count
	for _, c := range m {
		s.Addresses += c.Addresses
		s.Units += c.Units
	}
	return s
}

func TestTimeline(t *testing.T) {
	c := MustLoadFixture(t)
	all := c.Timeline("")
	if len(all) != 181 || all[0].Month != "2010-03" || all[len(all)-1].Month != "2025-03" {
		t.Fatalf("Timeline(\"\"): %d points from %q; want 181 from 2010-03 to 2025-03", len(all), all[0].Month)
	}
	for _, p := range all {
		if s := sumCounts(p.ByState); s != (geo.Count{16, 34}) {
			t.Fatalf("%s: ByState sums to %+v; want {16 34}", p.Month, s)
		}
	}
	last := all[len(all)-1]
	// Served: everything active or ready but Via Roma 12, Cà Nova 1,
	// Zappello 6 and Cascina Bassa 1: 34 - 2 - 2 - 1 - 1 units.
	if want := 28.0 / 34; math.Abs(last.ServedShare-want) > 1e-12 {
		t.Errorf("2025-03 ServedShare = %g; want %g", last.ServedShare, want)
	}
	// FTTH ready: Via Roma 5 and 7, Garibaldi 10, Dell'Olmo 2, Zappello 9.
	if last.FTTHReadyUnits != 11 {
		t.Errorf("2025-03 FTTHReadyUnits = %d; want 11", last.FTTHReadyUnits)
	}

	z := c.Timeline("Zappello")
	want := []struct {
		month   string
		planned int
		ftth    int
		served  float64
	}{
		{"2022-02", 3, 0, 0},
		{"2022-03", 3, 0, 0},
		{"2022-04", 3, 0, 0},
		{"2022-05", 0, 3, 5.0 / 7},
	}
	if len(z) != len(want) {
		t.Fatalf("Timeline(Zappello): %d points; want %d", len(z), len(want))
	}
	for i, w := range want {
		p := z[i]
		if p.Month != w.month || p.ByState[fibremon.RolloutPlanned].Addresses != w.planned || p.FTTHReadyUnits != w.ftth ||
			math.Abs(p.ServedShare-w.served) > 1e-12 || math.Abs(p.FTTHReadyShare-float64(w.ftth)/7) > 1e-12 {
			t.Errorf("Timeline(Zappello)[%d] = %+v; want month %s, %d planned, %d FTTH-ready units, served %g", i, p, w.month, w.planned, w.ftth, w.served)
		}
	}
	if got := z[3].ByState[""]; got != (geo.Count{1, 1}) {
		t.Errorf("2022-05 ByState[\"\"] = %+v; want {1 1} (Cascina Bassa 1)", got)
	}
	if got := c.Timeline("Crema"); got != nil {
		t.Errorf("Timeline(unknown hamlet) = %d points; want nil", len(got))
	}
	if got := MustLoad(t).Timeline(""); len(MustLoad(t).Addresses) == 0 && got != nil {
		t.Errorf("Timeline without addresses = %v; want nil", got)
	}
}

func TestDeclaredVsMeasured(t *testing.T) {
	c := MustLoadFixture(t)
	ix := geo.NewIndex(c)
	downloads := map[string][]float64{
		"municipio":                     {900, 850, 920, 880},
		"fonderia-allanconi":            {265, 270, 250, math.NaN()},
		"impresa-artigiana-san-michele": {25, 28, 29, -1},
		"azienda-agricola-zappello":     {6, 6.5},
		"utenza-fwa-zappello":           {},
	}
	gaps := geo.DeclaredVsMeasured(ix, c.Sites, downloads)
	want := []geo.Gap{
		{SiteID: "municipio", Address: "Via Roma 5", AddressID: "019081-via-roma-5", Joined: "address", DeclaredClass: geo.VHCN,
			DeclaredDownMbps: 1000, ThresholdMbps: 300, MeasuredP5DownMbps: 850, Tests: 4},
		{SiteID: "fonderia-allanconi", Address: "Via Dell'Olmo 2", AddressID: "019081-via-dell-olmo-2", Joined: "address", DeclaredClass: geo.VHCN,
			DeclaredDownMbps: 300, ThresholdMbps: 300, MeasuredP5DownMbps: 250, Tests: 3, Flag: geo.FlagBelowDeclaredClass},
		{SiteID: "azienda-agricola-zappello", Joined: "site", DeclaredClass: geo.Below, DeclaredDownMbps: 7, MeasuredP5DownMbps: 6, Tests: 2},
		{SiteID: "impresa-artigiana-san-michele", Address: "Via San Michele 8", AddressID: "019081-via-san-michele-8", Joined: "address",
			DeclaredClass: geo.NGA, DeclaredDownMbps: 30, ThresholdMbps: 30, MeasuredP5DownMbps: 25, Tests: 3, Flag: geo.FlagBelowDeclaredClass},
	}
	if len(gaps) != len(want) {
		t.Fatalf("DeclaredVsMeasured: %d gaps; want %d: %+v", len(gaps), len(want), gaps)
	}
	for i := range want {
		g := gaps[i]
		g.DeclaredDownMbps = math.Round(g.DeclaredDownMbps*1000) / 1000
		if g != want[i] {
			t.Errorf("gap %d = %+v\nwant %+v", i, g, want[i])
		}
	}
}

func TestPercentileNearestRank(t *testing.T) {
	seq := func(n int) []float64 {
		var xs []float64
		for i := n; i >= 1; i-- {
			xs = append(xs, float64(i))
		}
		return xs
	}
	c := MustLoadFixture(t)
	ix := geo.NewIndex(c)
	for _, tt := range []struct {
		n    int
		want float64
	}{{1, 1}, {19, 1}, {20, 1}, {21, 2}, {40, 2}, {41, 3}, {96, 5}} {
		g := geo.DeclaredVsMeasured(ix, c.Sites[:1], map[string][]float64{c.Sites[0].ID: seq(tt.n)})
		if g[0].MeasuredP5DownMbps != tt.want {
			t.Errorf("p5 of 1..%d = %g; want %g", tt.n, g[0].MeasuredP5DownMbps, tt.want)
		}
	}
}

func TestUnprobedZones(t *testing.T) {
	c := MustLoad(t)
	if got := geo.UnprobedZones(c); len(got) != 0 {
		t.Errorf("UnprobedZones(embedded) = %q; want none (every hamlet has a site)", got)
	}
	var sites []fibremon.Site
	for _, s := range c.Sites {
		if h, _ := c.HamletAt(orb.Point{s.Lon, s.Lat}); h == "Ripalta Nuova" {
			sites = append(sites, s)
		}
	}
	only := &geo.Comune{Name: c.Name, Boundary: c.Boundary, Hamlets: c.Hamlets, Sites: sites}
	want := []string{"Bolzone", "San Michele", "Zappello"}
	if got := geo.UnprobedZones(only); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("UnprobedZones(sites in Ripalta Nuova only) = %q; want %q", got, want)
	}
}

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// TestLoadGzip: civics.csv.gz and coverage.csv.gz are read when the plain
// files are absent, to the same comune; errors name the .gz file and the
// line of its decompressed text.
func TestLoadGzip(t *testing.T) {
	want := MustLoadFixture(t)
	base := fstest.MapFS{}
	for _, n := range []string{geo.BoundaryFile, geo.HamletsFile, geo.SitesFile} {
		base[dir+"/"+n] = &fstest.MapFile{Data: []byte(mustRead(t, n))}
	}
	civics, err := os.ReadFile(filepath.Join("testdata", geo.CivicsFile))
	if err != nil {
		t.Fatal(err)
	}
	coverage, err := os.ReadFile(filepath.Join("testdata", geo.CoverageFile))
	if err != nil {
		t.Fatal(err)
	}
	with := func(files map[string][]byte) fstest.MapFS {
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = v
		}
		for k, v := range files {
			fsys[dir+"/"+k] = &fstest.MapFile{Data: v}
		}
		return fsys
	}
	for _, tc := range []struct {
		name  string
		files map[string][]byte
	}{
		{"both gzipped", map[string][]byte{"civics.csv.gz": gzipped(t, civics), "coverage.csv.gz": gzipped(t, coverage)}},
		{"civics gzipped", map[string][]byte{"civics.csv.gz": gzipped(t, civics), "coverage.csv": coverage}},
		{"plain wins", map[string][]byte{"civics.csv": civics, "civics.csv.gz": []byte("not gzip"), "coverage.csv.gz": gzipped(t, coverage)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := geo.Load(with(tc.files), dir)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got.Addresses) != len(want.Addresses) {
				t.Fatalf("%d addresses; want %d", len(got.Addresses), len(want.Addresses))
			}
			for i := range want.Addresses {
				g, w := got.Addresses[i], want.Addresses[i]
				if g.ID != w.ID || g.Hamlet != w.Hamlet || g.Technology != w.Technology || g.State != w.State || g.Source != w.Source || !maps.Equal(g.StateDates, w.StateDates) {
					t.Fatalf("address %d = %+v; from the plain files %+v", i, g, w)
				}
			}
		})
	}

	badRow := append(bytes.Clone(civics), "019081,Via,Roma,five,9.69,45.33,,1,false,x\n"...)
	badLine := bytes.Count(civics, []byte("\n")) + 1
	corrupt := gzipped(t, civics)
	corrupt[len(corrupt)-5] ^= 0xff // the CRC-32 at the end of the stream
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  string
	}{
		{"bad row", map[string][]byte{"civics.csv.gz": gzipped(t, badRow)}, fmt.Sprintf("%s/civics.csv.gz: 1 bad rows: line %d: number", dir, badLine)},
		{"corrupt stream", map[string][]byte{"civics.csv.gz": corrupt}, "/civics.csv.gz: 1 bad rows: line"},
		{"not gzip", map[string][]byte{"civics.csv.gz": civics}, dir + "/civics.csv.gz: file: not gzip"},
		{"coverage alone", map[string][]byte{"coverage.csv.gz": gzipped(t, coverage)}, "coverage without a civic register"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.Load(with(tc.files), dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || fibremon.KindOf(err) != fibremon.Invalid {
				t.Errorf("Load() = %v; want an Invalid error containing %q", err, tc.want)
			}
		})
	}
}
