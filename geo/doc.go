// Package geo is fibremon's map and coverage model. It loads a comune's
// reference data (boundary, hamlets, monitored sites and, when present,
// the civic register with per-civic coverage), and builds the RFC 7946
// GeoJSON layers that the service serves to Grafana's Geomap panel.
//
// Geometry is orb's: an orb.Point is {lon, lat}, in that order, everywhere.
// Distances and areas are computed on the sphere with orb/geo (imported here
// as orbgeo, since this package is also called geo); point-in-polygon
// containment uses planar lon/lat arithmetic, and the hamlet zones and the
// spatial index a local equirectangular projection in metres, both exact
// enough at the scale of a comune.
//
// The coverage model:
//
//   - Zones partition the comune around the hamlet centres (Voronoi cells
//     clipped to the boundary). They are derived, not official boundaries.
//     HamletAt finds a point's zone through an AreaIndex: a packed R-tree
//     of polygon boxes with an exact point-in-polygon test on the few
//     candidates, for any set of areas (zones, comuni).
//   - An Address is a civic number with what the rollout declares for it
//     (technology, speeds, Infratel area class, works state and dates).
//     ImportCivics, ImportCoverage, MergeCoverage and ImportGeoJSON read
//     untrusted registers and report bad rows by line. The CSV importers
//     stream: any number of rows, one row of at most MaxRowBytes; Load
//     also reads the registers gzip-compressed (CivicsFile + ".gz").
//   - Classify gives the broadband class (VHCN, NGA, adequate, below);
//     Address.ClassAt is Below until the civic is served (ready_for_sale or
//     active).
//   - Comune.Figures and Comune.Timeline count coverage per comune and
//     hamlet; DeclaredVsMeasured compares declared classes with the 5th
//     percentile of measured downloads.
//   - Index (quadtree) finds nearest civics and sites and looks up free-text
//     addresses (typos through a partition index of the street names, not
//     a scan); Live publishes a rebuilt Index to concurrent readers.
//
// Every GeoJSON property that Build and BuildLayer emit, with its type and
// unit, is listed in GEOJSON.md next to this file: that table is the
// contract with the dashboards, and a test checks that the layers emit
// nothing it does not list.
//
// Load, Build and BuildLayer are safe for concurrent use; a *Comune is not
// modified after Load returns it and may be shared by readers, as may an
// *Index after NewIndex returns it.
package geo
