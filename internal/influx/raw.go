package influx

import (
	"context"
	"strings"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"

	"fibremon"
)

// RawWriter writes results straight to InfluxDB as the points
// Store.WriteResults writes (the same line protocol: measurement, tags,
// fields and timestamps), with the same client and one blocking write
// request per call, and does nothing else: no validation, no HTTP API, no bookkeeping.
// It is the baseline against which cmd/fibreload measures the service. It
// is safe for concurrent use.
type RawWriter struct {
	client influxdb2.Client
	writer api.WriteAPIBlocking
}

// NewRawWriter returns a writer to the bucket of cfg, with the client
// options of New. It checks nothing: the first Write does.
func NewRawWriter(cfg Config) *RawWriter {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	opts := clientOptions(cfg)
	client := influxdb2.NewClientWithOptions(strings.TrimRight(cfg.URL, "/"), cfg.Token, opts)
	return &RawWriter{client: client, writer: client.WriteAPIBlocking(cfg.Org, cfg.Bucket)}
}

// Write writes rs in one blocking request.
func (w *RawWriter) Write(ctx context.Context, rs []fibremon.Result) error {
	lines := make([]byte, 0, 320*len(rs))
	for i := range rs {
		lines = appendPoint(lines, &rs[i], PointTime(rs[i].Start.UnixNano(), rs[i].ID))
	}
	return w.writer.WriteRecord(ctx, string(lines))
}

// Close releases the client's connections.
func (w *RawWriter) Close() { w.client.Close() }
