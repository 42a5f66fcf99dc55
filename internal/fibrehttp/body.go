package fibrehttp

import (
	"errors"
	"io"
	"net/http"

	"golang.org/x/sync/semaphore"

	"fibremon"
)

// errBusy answers 503 with Retry-After: the bodies in flight already take
// the memory ingestion may use. The probe keeps its batch and retries.
var errBusy = errors.New("the service is reading as many result bytes as it may at once; retry after the time in Retry-After")

// bodyLimiter bounds the bytes of POST bodies being read, decoded and
// stored at once. A batch held in memory costs its body and, decoded,
// about twice that again until it is stored; without a bound, a hundred
// 8 MiB batches at once take gigabytes.
//
// A request is refused at once rather than queued: waiting would hold its
// connection and the probe's upload, and a 503 makes the probe retry
// later with backoff, which spreads a burst out.
type bodyLimiter struct {
	sem   *semaphore.Weighted // nil: no bound
	limit int64
}

func newBodyLimiter(limit int64) *bodyLimiter {
	if limit == 0 {
		limit = DefaultMaxInflightBodyBytes
	}
	if limit < 0 {
		return &bodyLimiter{}
	}
	return &bodyLimiter{sem: semaphore.NewWeighted(limit), limit: limit}
}

// admit takes the weight of r's body, its Content-Length or, unknown,
// MaxBodyBytes, before the body is read; release gives it back. A body
// larger than the limit weighs the whole limit, so that it passes alone.
// A Content-Length over MaxBodyBytes is refused (413) without reading.
func (b *bodyLimiter) admit(r *http.Request) (release func(), err error) {
	n := r.ContentLength
	switch {
	case n > MaxBodyBytes:
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	case n < 0:
		n = MaxBodyBytes
	}
	if b.sem == nil {
		return func() {}, nil
	}
	n = min(n, b.limit)
	if !b.sem.TryAcquire(n) {
		return nil, errBusy
	}
	return func() { b.sem.Release(n) }, nil
}

// readBody reads r's body, at most MaxBodyBytes. With a Content-Length it
// reads into a buffer of that size: io.ReadAll would grow its buffer by
// doubling and copying, holding up to twice the body at its peak.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if n := r.ContentLength; n >= 0 && n <= MaxBodyBytes {
		buf := make([]byte, n)
		if _, err := io.ReadFull(body, buf); err != nil {
			return nil, fibremon.FieldErrorf("", "body shorter than its Content-Length %d: %v", n, err)
		}
		return buf, nil
	}
	buf, err := io.ReadAll(body)
	var maxErr *http.MaxBytesError
	if err != nil && !errors.As(err, &maxErr) {
		return nil, fibremon.FieldErrorf("", "reading the body: %v", err)
	}
	return buf, err
}
