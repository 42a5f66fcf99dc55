// Package metrics builds the Prometheus registry of each binary and its
// /metrics handler (the service's HTTP instrumentation is in fibrehttp,
// with its router). Every metric either binary exports is listed in
// README.md beside this file.
package metrics

import (
	"net/http"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go and process collectors and
// <namespace>_build_info.
func NewRegistry(namespace, version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        namespace + "_build_info",
		Help:        "Always 1; labels give the version of the running binary.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": goVersion},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return reg
}

// Handler serves the registry's metrics.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg, EnableOpenMetrics: false})
}
