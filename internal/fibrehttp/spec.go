// Package fibrehttp is fibremon's HTTP surface: the chi router with every
// route of the service, its handlers and middleware, and the Client the
// probe agent uses to post results, so the v1 wire format has one owner
// (see SPEC.md beside this file).
package fibrehttp

import "fibremon"

// Paths of the v1 API. Outside tools rely on them: only add.
const (
	PathHealthz  = "/healthz"
	PathReadyz   = "/readyz"
	PathMetrics  = "/metrics"
	PathResults  = "/api/v1/results"
	PathSites    = "/api/v1/sites"
	PathCoverage = "/api/v1/coverage.geojson"
	PathDownload = "/ndt/v7/download"
	PathUpload   = "/ndt/v7/upload"
)

// Limits of the ingestion API.
const (
	MaxBodyBytes    = 8 << 20 // a POST body larger than this gets 413
	MaxBatchResults = 5000    // results per POST
	RetryAfterSecs  = 5       // advertised on 503
	// DefaultMaxInflightBodyBytes bounds the bytes of POST bodies being
	// read, decoded and stored at once (Deps.MaxInflightBodyBytes);
	// beyond, 503 with Retry-After. Two of the largest batches: with it,
	// 100 batches of 7.6 MiB posted at once peaked at 249 MiB resident,
	// SQLite's page caches included (docs/RELIABILITY.md); without, at
	// 3.4 GiB.
	DefaultMaxInflightBodyBytes = 2 * MaxBodyBytes
)

// ResultsRequest is the body of POST /api/v1/results.
type ResultsRequest struct {
	Results []fibremon.Result `json:"results"`
}

// ResultsResponse is the body of a 2xx answer to POST /api/v1/results.
// Stored + Duplicates = the number of results posted.
type ResultsResponse struct {
	Stored     int `json:"stored"`
	Duplicates int `json:"duplicates"`
}

// ErrorResponse is the body of every error a client can cause.
type ErrorResponse struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}
