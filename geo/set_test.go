package geo_test

import (
	"bytes"
	"compress/gzip"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"

	"github.com/paulmach/orb"
)

// TestEmbeddedSet loads the embedded data set: the 48 comuni of the
// Cremasco area, Ripalta Cremasca with its sites and the others with their
// synthetic registers.
func TestEmbeddedSet(t *testing.T) {
	s, err := geo.LoadSet(data.FS, ".", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 48 {
		t.Errorf("%d comuni; want 48: %s", s.Len(), s.Names())
	}
	for _, r := range s.Reports() {
		if r.Err != nil || r.Kept || len(r.Skipped) > 0 {
			t.Errorf("%s: err %v, kept %v, %d rows skipped", r.Dir, r.Err, r.Kept, len(r.Skipped))
		}
	}
	civics := 0
	for _, ix := range s.Comuni() {
		c := ix.Comune()
		if c.Slug != geo.Slug(c.Name) {
			t.Errorf("%s: slug %q; want %q", c.Name, c.Slug, geo.Slug(c.Name))
		}
		if len(c.Addresses) == 0 {
			t.Errorf("%s: no civics", c.Name)
		}
		for _, a := range c.Addresses {
			if !a.Synthetic {
				t.Fatalf("%s: civic %s not marked synthetic", c.Name, a.Label())
			}
		}
		if !strings.Contains(c.Attribution, "ISTAT") || !strings.Contains(c.Attribution, "openpolis") {
			t.Errorf("%s: attribution %q", c.Name, c.Attribution)
		}
		civics += len(c.Addresses)
	}
	// 160,001 people at Ripalta Cremasca's 1,034 civics per 3,355.
	if civics < 48000 || civics > 51000 {
		t.Errorf("%d civics in all", civics)
	}

	rip, err := s.Comune("019081")
	if err != nil || rip.Comune().Slug != "ripalta-cremasca" {
		t.Fatalf("Comune(019081) = %v, %v", rip, err)
	}
	if got, _ := s.Comune("Ripalta Cremasca"); got != rip {
		t.Error("Comune by name does not find Ripalta Cremasca")
	}
	if len(s.Sites()) != len(rip.Comune().Sites) || len(s.Sites()) == 0 {
		t.Errorf("%d sites in the set, %d in Ripalta Cremasca", len(s.Sites()), len(rip.Comune().Sites))
	}
	for _, site := range s.Sites() {
		if site.Comune != "ripalta-cremasca" {
			t.Errorf("site %s: comune %q", site.ID, site.Comune)
		}
		if ix, ok := s.SiteComune(site.ID); !ok || ix != rip {
			t.Errorf("SiteComune(%s) = %v, %v", site.ID, ix, ok)
		}
	}
	if _, err := s.Comune("atlantide"); fibremon.KindOf(err) != fibremon.NotFound || !strings.Contains(err.Error(), "atlantide") {
		t.Errorf("unknown comune: %v", err)
	}

	// Points resolve to their comune: the hamlets of Ripalta Cremasca, and
	// each comune's own seat.
	for _, h := range rip.Comune().Hamlets {
		if ix, ok := s.At(h.Point); !ok || ix != rip {
			t.Errorf("At(%s) = %v, %v", h.Name, ix, ok)
		}
	}
	for _, ix := range s.Comuni() {
		seat := ix.Comune().Hamlets[0].Point
		if got, ok := s.At(seat); !ok || got != ix {
			t.Errorf("At(seat of %s) = %v", ix.Comune().Name, got)
		}
	}
	if _, ok := s.At(orb.Point{12.4964, 41.9028}); ok { // Rome
		t.Error("At(Rome) found a comune of the Cremasco")
	}
}

// copyComune copies the files of the embedded comune slug into m under dir,
// gunzipping its registers.
func copyComune(t *testing.T, m fstest.MapFS, slug, dir string) {
	t.Helper()
	entries, err := fs.ReadDir(data.FS, slug)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(data.FS, slug+"/"+e.Name())
		if err != nil {
			t.Fatal(err)
		}
		name := e.Name()
		if n, ok := strings.CutSuffix(name, ".gz"); ok {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := out.ReadFrom(zr); err != nil {
				t.Fatal(err)
			}
			name, b = n, out.Bytes()
		}
		m[dir+"/"+name] = &fstest.MapFile{Data: b}
	}
}

// TestLoadSetBrokenComune: a comune whose register breaks is reported with
// file and line, keeps its previous version, and the others load.
func TestLoadSetBrokenComune(t *testing.T) {
	m := fstest.MapFS{}
	copyComune(t, m, "ticengo", "ds/ticengo")
	copyComune(t, m, "castel-gabbiano", "ds/castel-gabbiano")
	first, err := geo.LoadSet(m, "ds", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if first.Len() != 2 {
		t.Fatalf("%d comuni", first.Len())
	}
	oldTicengo, _ := first.Comune("ticengo")

	// Break line 3 of Ticengo's register.
	lines := strings.SplitAfter(string(m["ds/ticengo/civics.csv"].Data), "\n")
	lines[2] = "019104,Via,Roma,x,9.8,45.3,Ticengo,1,true,broken\n"
	m["ds/ticengo/civics.csv"] = &fstest.MapFile{Data: []byte(strings.Join(lines, ""))}
	second, err := geo.LoadSet(m, "ds", geo.LoadOptions{Prev: first})
	if err != nil {
		t.Fatal(err)
	}
	var rep geo.ComuneReport
	for _, r := range second.Reports() {
		if r.Dir == "ds/ticengo" {
			rep = r
		} else if r.Err != nil {
			t.Errorf("%s: %v", r.Dir, r.Err)
		}
	}
	if rep.Err == nil || !rep.Kept || !strings.Contains(rep.Err.Error(), "civics.csv") || !strings.Contains(rep.Err.Error(), "line 3") {
		t.Fatalf("report %+v; want the error at civics.csv line 3, previous version kept", rep)
	}
	if got, _ := second.Comune("ticengo"); got != oldTicengo {
		t.Error("Ticengo's previous version is not the one served")
	}
	if second.Len() != 2 {
		t.Errorf("%d comuni after the broken reload", second.Len())
	}

	// Without a previous version the broken comune is left out and
	// reported; the other is served.
	third, err := geo.LoadSet(m, "ds", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if third.Len() != 1 {
		t.Errorf("%d comuni; want 1", third.Len())
	}
	if _, err := third.Comune("ticengo"); err == nil {
		t.Error("broken Ticengo served without a previous version")
	}

	// A lenient load skips the bad row and says so.
	fourth, err := geo.LoadSet(m, "ds", geo.LoadOptions{Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range fourth.Reports() {
		// Line 3 of the civics, and the coverage row of the civic it was.
		if r.Dir == "ds/ticengo" && (r.Err != nil || len(r.Skipped) != 2 || r.Skipped[0].Line != 3 || !strings.HasSuffix(r.Skipped[0].File, "civics.csv")) {
			t.Errorf("lenient report %+v; want civics.csv line 3 skipped", r)
		}
	}
}

// TestLoadSetDuplicates: two comuni with the same ISTAT code, or sharing a
// site id, are not both served.
func TestLoadSetDuplicates(t *testing.T) {
	m := fstest.MapFS{}
	copyComune(t, m, "ripalta-cremasca", "ds/a")
	copyComune(t, m, "ripalta-cremasca", "ds/b")
	s, err := geo.LoadSet(m, "ds", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Errorf("%d comuni; want 1", s.Len())
	}
	if r := s.Reports()[1]; r.Err == nil || !strings.Contains(r.Err.Error(), "019081") {
		t.Errorf("duplicate not reported: %+v", r)
	}

	// A data set of one comune: root itself.
	one, err := geo.LoadSet(m, "ds/a", geo.LoadOptions{})
	if err != nil || one.Len() != 1 {
		t.Fatalf("LoadSet(ds/a) = %v, %v", one, err)
	}
	if _, err := geo.LoadSet(m, "nowhere", geo.LoadOptions{}); err == nil {
		t.Error("LoadSet of a missing directory succeeded")
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Ripalta Cremasca":          "ripalta-cremasca",
		"Rivolta d'Adda":            "rivolta-d-adda",
		"Casale Cremasco-Vidolasco": "casale-cremasco-vidolasco",
		"  Cà de' Bonzi ":           "ca-de-bonzi",
		"Forlì":                     "forli",
	} {
		if got := geo.Slug(in); got != want {
			t.Errorf("Slug(%q) = %q; want %q", in, got, want)
		}
	}
}
