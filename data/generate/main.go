// Command generate writes the SYNTHETIC civic register of Ripalta Cremasca:
// data/ripalta-cremasca/civics.csv (ANNCSU-style civic numbers) and
// data/ripalta-cremasca/coverage.csv (Infratel-style per-civic coverage).
//
// No per-civic register of the comune was found offline, so this one is
// invented, consistent with the known facts (data/README.md lists them with
// their sources): ~1,700 units; FTTH from the BUL white-area plan for most
// civics by 2021; 126 civics still uncovered in May 2022, then 78 served by
// FWA and 48 by FTTH. Every row says synthetic=true and names this
// generator and its seed in its source column. Replace the files with the
// real registers when they are available; the formats are the same.
//
// It reads boundary.geojson, hamlets.geojson and sites.csv from the
// comune's directory: every civic lies inside the boundary, the hamlets'
// streets are drawn around their points, and every monitored site gets the
// civic at its own point (the town hall's is Via Roma 5). Regenerate after
// changing any of them. The output is byte-for-byte reproducible: seeded
// PCG streams, no map iteration, stable sorts, fixed formatting.
//
// From the module root:
//
//	go run ./data/generate
//
// or go generate ./data/generate, which runs:
//
//go:generate go run . -dir ../ripalta-cremasca
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", filepath.Join("data", "ripalta-cremasca"), "the comune's directory: read boundary.geojson, hamlets.geojson, sites.csv")
	out := flag.String("out", "", "where to write civics.csv and coverage.csv (default: -dir)")
	flag.Parse()
	if *out == "" {
		*out = *dir
	}
	m, err := run(*dir, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "generate:", err)
		os.Exit(1)
	}
	fmt.Print(m.summary())
}

// run generates the register from the files in dir and writes it to out.
func run(dir, out string) (*model, error) {
	in, err := readInputs(dir)
	if err != nil {
		return nil, err
	}
	m, err := generate(in)
	if err != nil {
		return nil, err
	}
	civics, err := m.civicsCSV()
	if err != nil {
		return nil, err
	}
	coverage, err := m.coverageCSV()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, civicsFile), civics, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(out, coverageFile), coverage, 0o644); err != nil {
		return nil, err
	}
	return m, nil
}
