// Package dashboards holds fibremon's Grafana dashboards and the
// provisioning files that load them (grafana/), and no Go code: its test
// lints every dashboard against the metrics reference,
// internal/metrics/README.md, and against the provisioned datasource.
package dashboards
