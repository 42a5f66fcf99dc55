package fibrehttp_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/wire"
)

// gatedStore is the real store with a gate before each write: a write
// signals entered, then waits for open. It holds a request inside the
// service, with its body counted, for as long as the test needs, so the
// test needs no timing.
type gatedStore struct {
	fibrehttp.ResultStore
	entered chan struct{}
	open    chan struct{}
}

func (g *gatedStore) WriteResults(ctx context.Context, rs []fibremon.Result) (int, error) {
	select {
	case g.entered <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case <-g.open:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return g.ResultStore.WriteResults(ctx, rs)
}

// bigBatch is a batch of n results padded to about size bytes of JSON.
func bigBatch(t *testing.T, n, size int) ([]fibremon.Result, string) {
	t.Helper()
	now := time.Now()
	rs := make([]fibremon.Result, n)
	for i := range rs {
		rs[i] = good(now)
		rs[i].Target = strings.Repeat("t", min(fibremon.MaxTextLength, size/n))
	}
	return rs, batchJSON(t, rs...)
}

// TestPostResultsBoundedBodies: with the bytes of bodies in flight
// bounded, a POST beyond the bound is answered 503 with Retry-After before
// its body is read — the client takes it as transient and keeps its
// batch — while a smaller one that fits is taken; once the bodies in
// flight are done, the refused batches go through on retry, and every
// result is stored exactly once.
func TestPostResultsBoundedBodies(t *testing.T) {
	gate := &gatedStore{entered: make(chan struct{}), open: make(chan struct{})}
	const limit = 3 << 20
	f := newFixture(t, func(d *fibrehttp.Deps, _ *auth.Tokens) {
		gate.ResultStore = d.Store
		d.Store = gate
		d.MaxInflightBodyBytes = limit
	})
	client := &wire.Client{BaseURL: f.srv.URL, Token: f.token}

	// A (2 MiB) is admitted and held in the store's gate.
	a, aBody := bigBatch(t, 2000, 2<<20)
	if len(aBody) < 2<<20 || len(aBody) > limit {
		t.Fatalf("batch A is %d bytes; want 2 MiB to %d", len(aBody), limit)
	}
	aDone := make(chan error, 1)
	go func() {
		_, err := client.PostResults(context.Background(), a)
		aDone <- err
	}()
	<-gate.entered

	// B and C (2 MiB each) would pass the bound: 503 with Retry-After,
	// transient for the probe's client, nothing read or stored.
	// (Without the bound they would wait in the gate: the timeout, far
	// longer than a 503 takes even on a loaded machine, ends the test.)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, bBody := bigBatch(t, 2000, 2<<20)
	c, _ := bigBatch(t, 2000, 2<<20)
	for _, batch := range [][]fibremon.Result{b, c} {
		_, err := client.PostResults(ctx, batch)
		var pe *wire.PostError
		if !errors.As(err, &pe) || pe.Code != http.StatusServiceUnavailable || wire.Permanent(err) ||
			wire.RetryAfter(err) != fibrehttp.RetryAfterSecs*time.Second {
			t.Fatalf("POST beyond the bound: %v; want a transient 503 with Retry-After", err)
		}
	}
	resp := rawPost(ctx, t, f, bBody, int64(len(bBody)))
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != fmt.Sprint(fibrehttp.RetryAfterSecs) {
		t.Fatalf("POST beyond the bound = %d, Retry-After %q; want 503 with Retry-After %d",
			resp.StatusCode, resp.Header.Get("Retry-After"), fibrehttp.RetryAfterSecs)
	}
	// A body of unknown length counts as the largest there may be.
	if resp := rawPost(ctx, t, f, bBody, -1); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("chunked POST beyond the bound = %d; want 503", resp.StatusCode)
	}
	// A Content-Length over the largest body is refused unread.
	conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n{}",
		fibrehttp.PathResults, f.token, fibrehttp.MaxBodyBytes+1)
	resp, err = http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("POST with Content-Length %d: %v, %v; want 413", fibrehttp.MaxBodyBytes+1, resp, err)
	}

	// A small batch fits beside A: the bound is on bytes, not requests.
	small := []fibremon.Result{good(time.Now())}
	smallDone := make(chan error, 1)
	go func() {
		_, err := client.PostResults(context.Background(), small)
		smallDone <- err
	}()
	<-gate.entered
	gate.open <- struct{}{} // one of A and the small batch writes
	gate.open <- struct{}{} // and the other
	if err := <-smallDone; err != nil {
		t.Fatalf("small batch beside A: %v", err)
	}
	if err := <-aDone; err != nil {
		t.Fatalf("batch A: %v", err)
	}

	// Retried, as the probe does, B and C are taken, one after the other.
	close(gate.open)
	go func() {
		for range gate.entered {
		}
	}()
	for _, batch := range [][]fibremon.Result{b, c} {
		got, err := client.PostResults(t.Context(), batch)
		if err != nil || got.Stored != len(batch) {
			t.Fatalf("retried batch = %+v, %v; want %d stored", got, err, len(batch))
		}
	}
	got, err := client.PostResults(t.Context(), b)
	if err != nil || got.Duplicates != len(b) {
		t.Fatalf("batch B again = %+v, %v; want all duplicates", got, err)
	}
	if n, want := f.count(t), len(a)+len(b)+len(c)+len(small); n != want {
		t.Fatalf("%d results stored; want %d, each once", n, want)
	}
	close(gate.entered)
}

// rawPost posts body with the given Content-Length (-1: chunked).
func rawPost(ctx context.Context, t *testing.T, f *fixture, body string, contentLength int64) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.srv.URL+fibrehttp.PathResults, strings.NewReader(body))
	req.ContentLength = contentLength
	if contentLength < 0 {
		req.Body = io.NopCloser(strings.NewReader(body)) // no length known: chunked
		req.TransferEncoding = []string{"chunked"}
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}
