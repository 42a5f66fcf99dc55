// Package geo turns fibremon's sites and their latest results into map
// layers: it loads a comune's reference data (boundary, hamlets, monitored
// sites) and builds the RFC 7946 GeoJSON FeatureCollection that the service
// serves to Grafana's Geomap panel.
//
// Geometry is orb's: an orb.Point is {lon, lat}, in that order, everywhere.
// Distances and areas are computed on the sphere with orb/geo (imported here
// as orbgeo, since this package is also called geo); only point-in-polygon
// containment uses planar lon/lat arithmetic, which is exact enough at the
// scale of a comune.
//
// Every GeoJSON property that Build emits, with its type and unit, is listed
// in GEOJSON.md next to this file: that table is the contract with the
// dashboards, and a test checks that Build emits nothing it does not list.
//
// Load and Build are safe for concurrent use; a *Comune is not modified
// after Load returns it and may be shared by readers.
package geo
