// Package fibrehttp is fibremon's HTTP surface: the chi router with every
// route of the service, its handlers and middleware (see SPEC.md beside
// this file). The results contract and the Client the probe agent posts
// with live in package wire, which links none of this.
package fibrehttp

import "fibremon/internal/wire"

// Paths of the v1 API. Outside tools rely on them: only add.
const (
	PathHealthz  = "/healthz"
	PathReadyz   = "/readyz"
	PathMetrics  = "/metrics"
	PathResults  = wire.PathResults
	PathSites    = "/api/v1/sites"
	PathCoverage = "/api/v1/coverage.geojson"
	PathDownload = "/ndt/v7/download"
	PathUpload   = "/ndt/v7/upload"
)

// Limits of the ingestion API.
const (
	MaxBodyBytes    = wire.MaxBodyBytes
	MaxBatchResults = wire.MaxBatchResults
	RetryAfterSecs  = 5 // advertised on 503
	// DefaultMaxInflightBodyBytes bounds the bytes of POST bodies being
	// read, decoded and stored at once (Deps.MaxInflightBodyBytes);
	// beyond, 503 with Retry-After. Two of the largest batches: with it,
	// 100 batches of 7.6 MiB posted at once peaked at 249 MiB resident,
	// SQLite's page caches included (docs/RELIABILITY.md); without, at
	// 3.4 GiB.
	DefaultMaxInflightBodyBytes = 2 * MaxBodyBytes
)

// The v1 results contract, owned by package wire (the probe's side links
// no server code); named here too for the server's code and tests.
type (
	ResultsRequest  = wire.ResultsRequest
	ResultsResponse = wire.ResultsResponse
	ErrorResponse   = wire.ErrorResponse
)
