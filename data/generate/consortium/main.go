// Command consortium writes the data set of the comuni of the Cremasco
// area other than Ripalta Cremasca: one directory per comune under data/,
// named by its slug, with the comune's real boundary and a SYNTHETIC civic
// register sized from its population.
//
// Input: data/sources/area_omogenea_cremasca_48_comuni.geojson (ISTAT 2023
// limits via openpolis/geojson-italy, CC-BY 4.0, with the population 2021
// and the gi_comuni_cap centre point of each comune; see data/README.md).
// For each comune but Ripalta Cremasca (019081, whose register comes from
// data/generate) it writes:
//
//   - boundary.geojson: the real boundary, rewound to RFC 7946;
//   - hamlets.geojson: one hamlet, the capoluogo, at the centre point
//     (approximate: the frazioni of these comuni are not in the sources);
//   - sites.csv: the header only (no monitored site yet);
//   - civics.csv.gz, coverage.csv.gz: the synthetic register.
//
// No per-civic register of these comuni was found offline, so these are
// invented: round(population × 1034 / 3355) civics (the ratio of Ripalta
// Cremasca's register to its population), on invented streets around the
// centre point, plus farmsteads (cascine) in the countryside; coverage
// drawn per comune from its seed (the ISTAT code): white areas (the BUL
// plan, Open Fiber FTTH and FWA) in the smaller comuni and the outskirts,
// grey and black areas (commercial FTTH and FTTC) in the larger centres,
// with rollouts started between mid-2017 and 2025, so that some are still in
// works. Every row says synthetic=true and names this generator and its
// seed. Replace a comune's files with its real registers when available;
// the formats are the same.
//
// The output is byte-for-byte reproducible: seeded PCG streams, no
// trigonometry or logarithms, no map iteration, fixed formatting.
//
//	go run ./data/generate/consortium
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	src := flag.String("src", filepath.Join("data", "sources", "area_omogenea_cremasca_48_comuni.geojson"), "the comuni's boundaries and attributes")
	out := flag.String("out", "data", "the directory to write one <slug>/ directory per comune into")
	flag.Parse()
	comuni, err := readComuni(*src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "consortium:", err)
		os.Exit(1)
	}
	total := 0
	for _, c := range comuni {
		if c.istat == skipISTAT {
			continue
		}
		n, err := writeComune(*out, c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "consortium: %s: %v\n", c.name, err)
			os.Exit(1)
		}
		total += n
		fmt.Printf("%s %-28s %-30s %6d people %6d civics (synthetic)\n", c.istat, c.name, c.slug, c.population, n)
	}
	fmt.Printf("%d comuni, %d synthetic civics\n", len(comuni)-1, total)
}
