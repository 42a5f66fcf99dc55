package main

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fibremon/geo"
	"fibremon/internal/cli"
)

// TestSynthReproducible: the same size and seed give the same files, byte
// for byte; another seed gives others.
func TestSynthReproducible(t *testing.T) {
	t.Parallel()
	sum := func(seed uint64) string {
		dir := t.TempDir()
		s, err := newSynth(3000, 40, seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.writeDir(dir); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			h.Write([]byte(d.Name()))
			h.Write(b)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return string(h.Sum(nil))
	}
	if a, b := sum(7), sum(7); a != b {
		t.Error("two registers of seed 7 differ")
	}
	if sum(7) == sum(8) {
		t.Error("the registers of seeds 7 and 8 are the same")
	}
}

// TestSynthLoads: the generated data set passes geo.Load, which refuses
// any bad row, with every civic, every hamlet and the declared coverage;
// every row says it is synthetic.
func TestSynthLoads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := newSynth(20000, 200, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.writeDir(dir); err != nil {
		t.Fatal(err)
	}
	c, err := geo.Load(os.DirFS(dir), synthComune)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Addresses) != 20000 || len(c.Hamlets) != 200 || len(c.Sites) != 2 {
		t.Fatalf("loaded %d civics, %d hamlets, %d sites; want 20000, 200, 2", len(c.Addresses), len(c.Hamlets), len(c.Sites))
	}
	covered := 0
	for i, a := range c.Addresses {
		if !a.Synthetic || !strings.HasPrefix(a.Source, "synthetic: ") {
			t.Fatalf("address %d (%s) not marked synthetic: %v %q", i, a.Label(), a.Synthetic, a.Source)
		}
		if a.State != "" {
			covered++
		}
		if want := civicID(s, s.civic(i)); a.ID != want {
			t.Fatalf("address %d is %s; civic(%d) gives %s", i, a.ID, i, want)
		}
	}
	if covered < 19000 {
		t.Errorf("%d civics with a rollout state; want most of 20,000", covered)
	}
	for _, st := range c.Sites {
		if !st.Synthetic || !strings.Contains(st.Name, "(synthetic)") {
			t.Errorf("site %s not marked synthetic", st.ID)
		}
	}
}

// TestLookupRun runs the whole lookup benchmark in process on a small
// register (no PostGIS, no HTTP: they need installed servers and a
// fibremon binary) and checks the report's rows and that every exact
// address was found.
func TestLookupRun(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	err := run(t.Context(), []string{"lookup", "--civics", "20000", "--areas", "200", "--queries", "500", "--postgis", "off"},
		func(string) string { return "" }, &out, &errs)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errs.String())
	}
	report := out.String()
	for _, want := range []string{
		"Lookup at national scale: 20000 civics, 200 areas",
		"| geo.Load: stream-import 20000 civics",
		"| point in area: AreaIndex.Find vs ST_Contains |",
		"| nearest civic: Index.Nearest vs KNN <-> |",
		"| address text, one typo: Index.Lookup vs pg_trgm |",
		"Lookup finds the civic asked for in 100.0 % of exact queries",
		"the nearest civic lies within 50 m in 100.0 % of point queries",
		"PostGIS: not run (--postgis=off)",
		"HTTP: not run (no --fibremon)",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q:\n%s", want, report)
		}
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"nope"}, {"lookup", "--postgis", "maybe"}, {"lookup", "--queries", "10"}, {"lookup", "--passes", "0"}, {"lookup", "--civics", "5", "--areas", "10"}} {
		var out, errs bytes.Buffer
		err := run(t.Context(), args, func(string) string { return "" }, &out, &errs)
		if _, ok := err.(cli.UsageError); !ok {
			t.Errorf("run(%q) = %v; want a usage error", args, err)
		}
	}
}
