package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fibremon/internal/auth"
	"fibremon/internal/testing/testnet"
)

// httpTimes is what the HTTP run measured.
type httpTimes struct {
	ready time.Duration // from start to /readyz 200: loading the register
	rss   int64         // the service's resident memory after the runs
	rows  []httpRow
}

type httpRow struct {
	name        string
	concurrency int
	requests    int
	t           timing
	rate        float64 // requests per second
}

// benchHTTP starts `fibremon serve --data.dir dir` and times coverage
// lookups by point and by address at concurrency 1 and 16.
func benchHTTP(ctx context.Context, bin, dir string, qs queries, requests int, logf func(string, ...any)) (*httpTimes, error) {
	work, err := os.MkdirTemp("", "fibrebench-http-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	port, err := testnet.FreePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// One probe token: without any, the service is not ready (it could
	// take no results).
	tokens := auth.NewTokens()
	if _, _, err := tokens.Issue("bench-probe", []string{"site-00000"}, time.Now()); err != nil {
		return nil, err
	}
	if err := tokens.Save(filepath.Join(work, "tokens.json")); err != nil {
		return nil, err
	}
	logPath := filepath.Join(work, "fibremon.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--data.dir", dir, "--data.comune", synthComune,
		"--storage.path", filepath.Join(work, "fibremon.db"), "--auth.tokens-file", filepath.Join(work, "tokens.json"), "--log.level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // reported by Wait
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // may have exited
			<-done
		}
	}()
	tail := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		return string(b)
	}
	base := "http://" + addr
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var listening time.Time // when /readyz first answered: the data set is loaded by then
	for ready := false; !ready; {
		select {
		case err := <-done:
			done <- err
			return nil, fmt.Errorf("fibremon serve exited: %v\n%s", err, tail())
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Since(start) > 10*time.Minute {
			return nil, fmt.Errorf("fibremon serve not ready after 10 minutes\n%s", tail())
		}
		if resp, err := client.Get(base + "/readyz"); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			ready = resp.StatusCode == http.StatusOK
			if listening.IsZero() {
				listening = time.Now()
			}
			if !ready && time.Since(listening) > 30*time.Second {
				return nil, fmt.Errorf("fibremon serve answers but is not ready: %s %s\n%s", resp.Status, body, tail())
			}
		}
	}
	r := &httpTimes{ready: time.Since(start)}
	logf("  ready after %s", secs(r.ready))

	point := func(i int) string {
		p := qs.points[i%len(qs.points)]
		return fmt.Sprintf("%s/api/v1/coverage?lat=%.6f&lon=%.6f", base, p[1], p[0])
	}
	address := func(i int) string {
		return base + "/api/v1/coverage?address=" + url.QueryEscape(qs.exact[i%len(qs.exact)].text)
	}
	for _, conc := range []int{1, 16} {
		for _, kind := range []struct {
			name string
			url  func(int) string
		}{{"/api/v1/coverage?lat=&lon=", point}, {"/api/v1/coverage?address=", address}} {
			row, err := loadHTTP(ctx, client, kind.url, requests, conc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w\n%s", kind.name, err, tail())
			}
			row.name = kind.name
			r.rows = append(r.rows, row)
			logf("  %s at concurrency %d: p50 %s, p99 %s", kind.name, conc, us(row.t.p50), us(row.t.p99))
		}
	}
	r.rss = vmRSS(cmd.Process.Pid)
	return r, nil
}

// loadHTTP sends n GETs (after n/10 to warm up) with conc in flight and
// times each; any answer but 200 is an error.
func loadHTTP(ctx context.Context, client *http.Client, urlOf func(int) string, n, conc int) (httpRow, error) {
	get := func(i int) error {
		resp, err := client.Get(urlOf(i))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", urlOf(i), resp.Status)
		}
		return nil
	}
	warm := n / 10
	durations := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	pass := func(count int, record bool) {
		next.Store(0)
		var wg sync.WaitGroup
		for range conc {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= count || ctx.Err() != nil {
						return
					}
					t := time.Now()
					err := get(i)
					if record {
						durations[i] = time.Since(t)
					}
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
	}
	pass(warm, false)
	t := time.Now()
	pass(n, true)
	elapsed := time.Since(t)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return httpRow{concurrency: conc, requests: n, t: timingOf(durations), rate: float64(n) / elapsed.Seconds()}, firstErr
}

// timingOf returns the p50 and p99 of ds, which it sorts.
func timingOf(ds []time.Duration) timing {
	slices.Sort(ds)
	return timing{p50: rank(ds, 0.50), p99: rank(ds, 0.99), p99all: rank(ds, 0.99)}
}

// vmRSS returns the resident memory of process pid in bytes (0 when not
// known).
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
