// Package wire is the v1 results contract between the probe agent and the
// service: the path and limits of POST /api/v1/results, its request,
// acknowledgement and error bodies, and the Client that posts batches. It
// imports only the root package fibremon, so the probe links no server
// code (internal/fibrehttp serves the other side; SPEC.md there is the
// protocol).
package wire

import "fibremon"

// PathResults is where results are posted. Outside tools rely on it.
const PathResults = "/api/v1/results"

// Limits of a batch.
const (
	MaxBodyBytes    = 8 << 20 // a POST body larger than this gets 413
	MaxBatchResults = 5000    // results per POST
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
	// Suggestions are what to ask instead (the streets of the named
	// comune closest to an address that matched nothing).
	Suggestions []string `json:"suggestions,omitempty"`
}
