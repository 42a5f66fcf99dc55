package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// verifyWorkers bounds the concurrent reads of the check.
const verifyWorkers = 8

// verify reads back every result stored for each probe's site since since
// and compares the UUIDs with what the run acknowledged: each acknowledged
// UUID stored once, nothing else, except results of batches in doubt,
// which must be stored whole or not at all.
func verify(ctx context.Context, base string, since time.Time, probes []*probe, rep *report) {
	client := &http.Client{Timeout: 2 * time.Minute}
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	fail := func(kind string, n int) {
		if n == 0 {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if rep.errors == nil {
			rep.errors = map[string]int64{}
		}
		rep.errors[kind] += int64(n)
	}
	work := make(chan *probe)
	var wg sync.WaitGroup
	for range verifyWorkers {
		wg.Go(func() {
			for p := range work {
				stored, err := storedIDs(ctx, client, base, p.site, p.token, since)
				if err != nil {
					fail(errVerify, 1)
					mu.Lock()
					if rep.verifyErr == "" {
						rep.verifyErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				c := p.check(stored)
				mu.Lock()
				rep.acked += len(p.acked)
				rep.stored += len(stored)
				rep.inDoubt += c.inDoubt
				mu.Unlock()
				fail(errStoredTwice, c.twice)
				fail(errMissing, c.missing)
				fail(errUnexpected, c.unexpected)
				fail(errPartial, c.partial)
			}
		})
	}
	for _, p := range probes {
		work <- p
	}
	close(work)
	wg.Wait()
}

// checked is the comparison of one probe's stored results with its run.
type checked struct {
	twice, missing, unexpected, partial, inDoubt int
}

// check compares the UUIDs stored for p's site (with their multiplicity)
// with p's acknowledged results and batches in doubt.
func (p *probe) check(stored map[uuid.UUID]int) checked {
	var c checked
	acked := make(map[uuid.UUID]bool, len(p.acked))
	for _, id := range p.acked {
		acked[id] = true
		if stored[id] == 0 {
			c.missing++
		}
	}
	doubt := map[uuid.UUID]bool{}
	for _, b := range p.doubt {
		n := 0
		for _, id := range b.ids {
			doubt[id] = true
			if stored[id] > 0 {
				n++
			}
		}
		c.inDoubt += len(b.ids)
		if n != 0 && n != len(b.ids) {
			c.partial++
		}
	}
	for id, n := range stored {
		if n > 1 {
			c.twice += n - 1
		}
		if !acked[id] && !doubt[id] {
			c.unexpected++
		}
	}
	return c
}

// storedIDs returns the UUIDs of the results stored for site since since,
// each with the number of times it was returned, reading back in pages of
// the API's largest limit, newest first. The load generator's starts are
// distinct per site, so paging by "until the oldest start seen" (exclusive)
// misses nothing.
func storedIDs(ctx context.Context, client *http.Client, base, site, token string, since time.Time) (map[uuid.UUID]int, error) {
	out := map[uuid.UUID]int{}
	var until time.Time
	for {
		q := url.Values{
			"site_id": {site},
			"since":   {since.UTC().Format(time.RFC3339Nano)},
			"limit":   {strconv.Itoa(fibremon.DefaultQueryLimit)},
		}
		if !until.IsZero() {
			q.Set("until", until.UTC().Format(time.RFC3339Nano))
		}
		rs, err := getResults(ctx, client, strings.TrimRight(base, "/")+fibrehttp.PathResults+"?"+q.Encode(), token)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			id, err := uuid.Parse(r.ID)
			if err != nil {
				return nil, fmt.Errorf("stored result id %q: %w", r.ID, err)
			}
			out[id]++
			if until.IsZero() || r.Start.Before(until) {
				until = r.Start
			}
		}
		if len(rs) < fibremon.DefaultQueryLimit {
			return out, nil
		}
	}
}

// getResults reads with the probe's own token, which may read its site's
// results.
func getResults(ctx context.Context, client *http.Client, u, token string) ([]fibremon.Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("GET %s: %s %s", u, resp.Status, b)
	}
	var body struct {
		Results []fibremon.Result `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	return body.Results, nil
}
