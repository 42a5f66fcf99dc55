// Package dashboards holds fibremon's operators' view — Grafana dashboards
// and the provisioning files that load them (grafana/), and Prometheus alert
// and recording rules (prometheus/rules/) — and no Go code. Its tests lint
// every dashboard against the metrics reference (internal/metrics/README.md),
// the GeoJSON reference (geo/GEOJSON.md), the InfluxDB schema
// (internal/influx/SCHEMA.md) and the provisioned datasources; run promtool
// on the rules and their unit tests; and run every dashboard query against
// a real Prometheus scraping `fibremon demo` or a real InfluxDB that
// `fibremon demo` stores its results in. See README.md.
package dashboards
