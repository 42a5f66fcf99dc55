package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedFilesAreGenerated regenerates every comune and compares it
// with the files in data/ (registers compared after gunzip, so that a
// change in the compressor does not matter).
func TestCommittedFilesAreGenerated(t *testing.T) {
	comuni, err := readComuni(filepath.Join("..", "..", "sources", "area_omogenea_cremasca_48_comuni.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	if len(comuni) != 48 {
		t.Fatalf("%d comuni in the source; want 48", len(comuni))
	}
	out := t.TempDir()
	for _, c := range comuni {
		if c.istat == skipISTAT {
			continue
		}
		if _, err := writeComune(out, c); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, name := range []string{"boundary.geojson", "hamlets.geojson", "sites.csv", "civics.csv.gz", "coverage.csv.gz"} {
			got := read(t, filepath.Join(out, c.slug, name))
			want := read(t, filepath.Join("..", "..", c.slug, name))
			if !bytes.Equal(got, want) {
				t.Errorf("data/%s/%s differs from what the generator writes: run go run ./data/generate/consortium", c.slug, name)
			}
		}
	}
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestStreetNamesUnique(t *testing.T) {
	for _, list := range [][]string{streetNames, cascinaNames} {
		seen := map[string]bool{}
		for _, n := range list {
			if seen[n] {
				t.Errorf("%q twice", n)
			}
			seen[n] = true
		}
	}
}
