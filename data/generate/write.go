package main

import (
	"bytes"
	"encoding/csv"
	"strconv"

	"fibremon"
)

// The import formats of the real registers (ANNCSU civic numbers, Infratel
// per-civic coverage); package geo parses them. Keep the headers exactly.
var (
	civicsHeader = []string{"istat_code", "street_type", "street_name", "number",
		"lon", "lat", "hamlet", "units", "synthetic", "source"}
	coverageHeader = []string{"istat_code", "street_type", "street_name", "number",
		"technology", "max_down_mbps", "max_up_mbps", "area_class", "state",
		"planned", "design", "works", "works_completed", "acceptance",
		"ready_for_sale", "active", "operator", "synthetic", "source"}
)

// Output file names, in the comune's directory.
const (
	civicsFile   = "civics.csv"
	coverageFile = "coverage.csv"
)

func coord(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// civicsCSV returns civics.csv.
func (m *model) civicsCSV() ([]byte, error) {
	rows := [][]string{civicsHeader}
	for _, c := range m.civics {
		rows = append(rows, []string{istatCode, c.typ, c.name, c.number,
			coord(c.lonlat.Lon()), coord(c.lonlat.Lat()), c.hamlet, itoa(c.units),
			"true", source})
	}
	return writeCSV(rows)
}

// coverageCSV returns coverage.csv, one row per civic in the same order.
func (m *model) coverageCSV() ([]byte, error) {
	rows := [][]string{coverageHeader}
	for _, c := range m.civics {
		down, up, op := ftthDown, ftthUp, operatorFTTH
		if c.tech == fibremon.FWA {
			down, up, op = fwaDown, fwaUp, operatorFWA
		}
		class := "white"
		if c.grey {
			class = "grey"
		}
		row := []string{istatCode, c.typ, c.name, c.number, string(c.tech),
			itoa(down), itoa(up), class, string(c.state())}
		for _, d := range c.dates {
			s := ""
			if !d.IsZero() {
				s = d.Format("2006-01-02")
			}
			row = append(row, s)
		}
		rows = append(rows, append(row, op, "true", source))
	}
	return writeCSV(rows)
}

func writeCSV(rows [][]string) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
