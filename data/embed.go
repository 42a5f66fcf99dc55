// Package data embeds fibremon's reference data so that binaries and tests
// can load it without a path on disk: the boundary, hamlets and monitored
// sites of each comune, one directory per comune.
//
// README.md (embedded too) gives every file's source, licence and the
// attribution that maps drawing the data must show. Package geo parses the
// files; this package only carries them.
package data

import "embed"

// FS holds README.md and, for each comune directory (e.g.
// "ripalta-cremasca"), boundary.geojson, hamlets.geojson and sites.csv.
//
//go:embed README.md ripalta-cremasca/*.geojson ripalta-cremasca/*.csv
var FS embed.FS
