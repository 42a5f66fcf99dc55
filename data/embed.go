// Package data embeds fibremon's reference data so that binaries and tests
// can load it without a path on disk: the boundary, hamlets and monitored
// sites of each comune, one directory per comune.
//
// README.md (embedded too) gives every file's source, licence and the
// attribution that maps drawing the data must show. Package geo parses the
// files; this package only carries them.
package data

import "embed"

// FS holds README.md and, for each comune directory named by its slug
// ("ripalta-cremasca", "crema", ...), boundary.geojson, hamlets.geojson,
// sites.csv and the civic register (civics.csv and coverage.csv, gzipped
// as .csv.gz for the comuni of data/generate/consortium): the 48 comuni of
// the Cremasco area. geo.LoadSet(data.FS, ".") loads them all.
//
//go:embed README.md */boundary.geojson */hamlets.geojson */*.csv */*.csv.gz
var FS embed.FS
