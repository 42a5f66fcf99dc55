package geo_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"fibremon"
	"fibremon/geo"

	"github.com/paulmach/orb"
)

// randomComune returns the embedded comune with n random addresses inside
// its boundary.
func randomComune(tb testing.TB, n int, seed uint64) *geo.Comune {
	tb.Helper()
	c := MustLoad(tb)
	b := c.Boundary.Bound()
	rng := rand.New(rand.NewPCG(seed, 7))
	var addrs []geo.Address
	for i := 0; len(addrs) < n; i++ {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		if !c.Contains(p) {
			continue
		}
		num := fmt.Sprint(len(addrs) + 1)
		addrs = append(addrs, geo.Address{ID: "019081-via-test-" + num, StreetType: "Via", StreetName: "Test", Number: num, Point: p, Units: 1, Synthetic: true})
	}
	c, err := c.WithAddresses(addrs)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestNearestBruteForce(t *testing.T) {
	c := randomComune(t, 2000, 1)
	ix := geo.NewIndex(c)
	rng := rand.New(rand.NewPCG(3, 4))
	b := c.Boundary.Bound().Pad(0.02) // queries also outside the comune
	for q := range 300 {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		k := 1 + q%12
		got := ix.Nearest(p, k)
		ds := make([]float64, len(c.Addresses))
		for i, a := range c.Addresses {
			ds[i] = geo.DistanceMeters(p, a.Point)
		}
		want := slices.Clone(ds)
		slices.Sort(want)
		if len(got) != k {
			t.Fatalf("Nearest(%v, %d): %d results", p, k, len(got))
		}
		for i, a := range got {
			if d := geo.DistanceMeters(p, a.Point); math.Abs(d-want[i]) > 1e-6 {
				t.Fatalf("Nearest(%v, %d)[%d] at %.3f m; brute force gives %.3f m", p, k, i, d, want[i])
			}
		}
	}
	if got := ix.Nearest(orb.Point{9.69, 45.33}, 0); len(got) != 0 {
		t.Errorf("Nearest(max 0) = %d results", len(got))
	}
	if got := ix.Nearest(orb.Point{9.69, 45.33}, math.MaxInt); len(got) != len(c.Addresses) {
		t.Errorf("Nearest(max MaxInt) = %d results; want all %d", len(got), len(c.Addresses))
	}
}

func TestIndexSitesAndAddressAt(t *testing.T) {
	c := MustLoadFixture(t)
	ix := geo.NewIndex(c)
	town := orb.Point{9.6944508, 45.3347282}
	sites := ix.NearestSites(town, 3)
	if len(sites) != 3 || sites[0].Site.ID != "municipio" || sites[0].Meters > 0.001 || sites[1].Meters < sites[0].Meters || sites[2].Meters < sites[1].Meters {
		t.Errorf("NearestSites(town hall, 3) = %+v; want municipio first at 0 m, then increasing", sites)
	}
	a, d, ok := ix.AddressAt(town, 100)
	if !ok || a.Label() != "Via Roma 5" || d > 1 {
		t.Errorf("AddressAt(town hall, 100 m) = %v, %.1f m, %v; want Via Roma 5 within 1 m", a, d, ok)
	}
	if a, _, ok := ix.AddressAt(orb.Point{9.70, 45.316}, 100); ok {
		t.Errorf("AddressAt(open country, 100 m) = %s; want none", a.Label())
	}
	if !ix.Contains(town) || ix.Contains(orb.Point{9.60, 45.33}) {
		t.Error("Contains: wrong for the town hall or a point west of the comune")
	}
	empty := geo.NewIndex(nil)
	if len(empty.Nearest(town, 5)) != 0 || len(empty.NearestSites(town, 5)) != 0 || empty.Contains(town) {
		t.Error("the index of a nil comune is not empty")
	}
	if _, _, ok := empty.AddressAt(town, 1e9); ok {
		t.Error("AddressAt on an empty index found something")
	}
}

// TestLive reloads the index while readers use it; run with -race.
func TestLive(t *testing.T) {
	var live geo.Live
	if live.Load() != nil {
		t.Fatal("zero Live holds an index")
	}
	c := MustLoadFixture(t)
	set := func() *geo.Set {
		s, err := geo.SetOf(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	live.Store(set())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				ix, err := live.Load().Comune(c.Slug)
				if err != nil {
					t.Error(err)
					return
				}
				if got := ix.Nearest(orb.Point{9.6944, 45.3347}, 3); len(got) != 3 {
					t.Errorf("Nearest: %d results", len(got))
					return
				}
				if _, err := ix.Lookup("via roma 5"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for range 20 {
		live.Store(set())
	}
	wg.Wait()
}

func labels(ms []geo.Match) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s (%.3g)", m.Address.Label(), m.Score))
	}
	return strings.Join(s, "; ")
}

func TestLookup(t *testing.T) {
	ix := geo.NewIndex(MustLoadFixture(t))
	tests := []struct {
		query string
		want  string // labels with scores, best first
	}{
		{"Via Roma 5", "Via Roma 5 (1)"},
		{"v. roma, 5", "Via Roma 5 (1)"},
		{"v.roma 5", "Via Roma 5 (1)"},
		{"VIA ROMA 5 Ripalta Cremasca", "Via Roma 5 (1)"},
		{"Via Roma, 5 - 26010 Ripalta Cremasca (CR)", "Via Roma 5 (1)"},
		{"Via Roma n. 5", "Via Roma 5 (1)"},
		{"piazza dante 3/a", "Piazza Dante 3A (1)"},
		{"P.zza Dante 3 A", "Piazza Dante 3A (1)"},
		{"p.za dante 3", "Piazza Dante 3 (1)"},
		{"pza dante 03", "Piazza Dante 3 (1)"},
		{"Via Santa Maria 5 bis", "Via Santa Maria 5BIS (1)"},
		{"via santa maria 5/bis, Bolzone", "Via Santa Maria 5BIS (1)"},
		{"località cà nova 1", "Località Cà Nova 1 (1)"},
		{"LOC. CA' NOVA 1", "Località Cà Nova 1 (1)"},
		{"Ripalta Cremasca, via dell'olmo 2", "Via Dell'Olmo 2 (1)"},
		{"str. zappello 6", "Strada Zappello 6 (1)"},
		// A street without its type may match several streets.
		{"roma 5", "Via Roma 5 (0.9); Vicolo Roma 5 (0.9)"},
		{"roma", "Via Roma 5 (0.72); Via Roma 7 (0.72); Via Roma 12 (0.72); Vicolo Roma 5 (0.72)"},
		// The street without that number: its nearest numbers.
		{"via roma 6", "Via Roma 5 (0.818); Via Roma 7 (0.818); Via Roma 12 (0.563)"},
		{"Via San Michele", "Via San Michele 8 (0.8)"},
		{"via san michele 8, San Michele", "Via San Michele 8 (1)"},
		{"Strada Zappello", "Strada Zappello 4 (0.8); Strada Zappello 6 (0.8); Strada Zappello 9 (0.8)"},
		// Typos, when no street matches exactly.
		{"via rima 5", "Via Roma 5 (0.7)"},
		{"via garibladi 10", "Via Garibaldi 10 (0.6)"},
		{"viale garibaldi 10", "Via Garibaldi 10 (0.7)"},
		{"piazza roma 5", "Via Roma 5 (0.7); Vicolo Roma 5 (0.7)"},
		// A hamlet in the query ranks its civics first among equals.
		{"roma 5 Ripalta Nuova", "Via Roma 5 (0.9); Vicolo Roma 5 (0.9)"},
		{"santa maria 1, San Michele", "Via Santa Maria 1 (0.855)"},
		// Nothing.
		{"via inesistente 3", ""},
		{"Ripalta Cremasca", ""},
	}
	for _, tt := range tests {
		got, err := ix.Lookup(tt.query)
		if err != nil {
			t.Errorf("Lookup(%q) error = %v", tt.query, err)
			continue
		}
		if l := labels(got); l != tt.want {
			t.Errorf("Lookup(%q) = %s; want %s", tt.query, l, tt.want)
		}
	}
}

func TestLookupInvalid(t *testing.T) {
	ix := geo.NewIndex(MustLoadFixture(t))
	for _, q := range []string{"", "   ", "12345", "5/7 - 3", strings.Repeat("a", geo.MaxQueryLength+1), "\xff\xfe via"} {
		got, err := ix.Lookup(q)
		if fibremon.KindOf(err) != fibremon.Invalid || fibremon.FieldOf(err) != "address" {
			t.Errorf("Lookup(%.30q) = %v, %v; want an Invalid error on field address", q, labels(got), err)
		}
	}
}

func TestLookupAtMostTen(t *testing.T) {
	ix := geo.NewIndex(randomComune(t, 50, 2))
	got, err := ix.Lookup("via test 25")
	if err != nil || len(got) != 1 || got[0].Address.Number != "25" {
		t.Errorf("Lookup(via test 25) = %s, %v; want Via Test 25", labels(got), err)
	}
	got, _ = ix.Lookup("via test 100")
	if len(got) != geo.MaxMatches || got[0].Address.Number != "50" {
		t.Errorf("Lookup(via test 100) = %s; want %d candidates from 50 down", labels(got), geo.MaxMatches)
	}
}

func TestNormaliseStreet(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Via Roma", "via roma"},
		{"  VIA   ROMA ", "via roma"},
		{"v. Roma", "via roma"},
		{"V.Roma", "via roma"},
		{"v roma", "via roma"},
		{"P.za Garibaldi", "piazza garibaldi"},
		{"p.zza Garibaldi", "piazza garibaldi"},
		{"pza Garibaldi", "piazza garibaldi"},
		{"C.so Matteotti", "corso matteotti"},
		{"v.le Europa", "viale europa"},
		{"vle Europa", "viale europa"},
		{"L.go Cavour", "largo cavour"},
		{"str. Provinciale", "strada provinciale"},
		{"Loc. Cà de' Bonzi", "localita ca de bonzi"},
		{"Località Cà Nova", "localita ca nova"},
		{"Fraz. Bolzone", "frazione bolzone"},
		{"vic. Stretto", "vicolo stretto"},
		{"P.le Stazione", "piazzale stazione"},
		{"Via F.lli Cervi", "via fratelli cervi"},
		{"Via V Novembre", "via v novembre"}, // the numeral is not expanded
		{"Via XXV Aprile", "via xxv aprile"},
		{"Via 25 Aprile", "via 25 aprile"},
		{"Via Dell'Olmo", "via dell olmo"},
		{"Piazza S. Maria", "piazza s maria"},
		{"Via Niccolò Tommaseo", "via niccolo tommaseo"},
		{"VIA PERTINI, 5", "via pertini 5"},
		{"Straße Über", "strasse uber"},
		{"...", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := geo.NormaliseStreet(tt.in); got != tt.want {
			t.Errorf("NormaliseStreet(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
