package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

// startServeInflux starts `fibremon serve` on the InfluxDB store of srv
// (the token through its environment mirror) and waits until /readyz
// answers 200.
func startServeInflux(t *testing.T, bin, addr, tokens string, srv *influxtest.Server) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--auth.tokens-file", tokens,
		"--storage.influx.url", srv.URL, "--storage.influx.bucket", srv.Bucket,
		"--storage.influx.timeout", "2s", "--status.refresh-interval", "1s")
	cmd.Env = append(os.Environ(), "FIBREMON_STORAGE_INFLUX_TOKEN="+srv.Token)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("fibremon serve exited at start: %v\n%s", err, stderr.String())
		default:
		}
		if readyz(t, "http://"+addr) == http.StatusOK {
			return cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fibremon serve did not become ready in %v\n%s", waitLimit, stderr.String())
	return nil
}

// readyz returns the status of GET /readyz, or 0 when nothing answers.
func readyz(t *testing.T, base string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + fibrehttp.PathReadyz)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeInflux runs the real binary on a real influxd (with auth): a
// wrong token stops serve at start; results posted by a probe are read
// back through the API; with influxd stopped a POST answers 503 with
// Retry-After and /readyz fails; after influxd restarts the probe's retry
// goes in, nothing acknowledged is lost and nothing is stored twice.
func TestServeInflux(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary and influxd")
	}
	t.Parallel() // its own ports, files and processes
	srv := influxtest.StartWithOptions(t, influxtest.Options{Auth: true})
	bin, _ := buildBinaries(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")

	t.Run("WrongToken", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--web.listen-address", freeAddr(t),
			"--auth.tokens-file", tokens, "--storage.influx.url", srv.URL,
			"--storage.influx.bucket", srv.Bucket, "--storage.influx.token", "admin:wrong")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("serve with a wrong token: %v; want exit status 1\n%s", err, out)
		}
		for _, want := range []string{"InfluxDB at " + srv.URL + " refused the token", "401", "--storage.influx.token"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("serve's message lacks %q:\n%s", want, out)
			}
		}
	})

	out, err := exec.Command(bin, "token", "add", "--auth.tokens-file", tokens,
		"--probe", "probe-municipio", "--site", "municipio").Output()
	if err != nil {
		t.Fatalf("token add: %v", err)
	}
	readerOut, err := exec.Command(bin, "token", "add", "--auth.tokens-file", tokens, "--reader", "--name", "grafana").Output()
	if err != nil {
		t.Fatalf("token add --reader: %v", err)
	}
	reader := strings.TrimSpace(string(readerOut))
	addr := freeAddr(t)
	base := "http://" + addr
	startServeInflux(t, bin, addr, tokens, srv)
	token := strings.TrimSpace(string(out))
	probe := &wire.Client{BaseURL: base, Token: token}

	now := time.Now().UTC()
	batch := func(from time.Duration, n int) []fibremon.Result {
		var rs []fibremon.Result
		for i := range n {
			kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindLatency, fibremon.KindDownload}[i%3]
			rs = append(rs, storetest.Result("municipio", kind, now.Add(-from+time.Duration(i)*time.Second), i%7 != 0))
		}
		return rs
	}
	post := func(rs []fibremon.Result, wantStored int) {
		t.Helper()
		resp, err := probe.PostResults(t.Context(), rs)
		if err != nil {
			t.Fatalf("POST %d results: %v", len(rs), err)
		}
		if resp.Stored != wantStored || resp.Duplicates != len(rs)-wantStored {
			t.Fatalf("POST %d results: %+v; want %d stored", len(rs), resp, wantStored)
		}
	}
	acked := batch(time.Hour, 60)
	post(acked, 60)
	post(acked[:30], 0) // a retry

	var rr struct{ Results []fibremon.Result }
	getJSONAs(t, base+"/api/v1/results?site_id=municipio&limit=1000", token, &rr)
	checkResults(t, "before the outage", rr.Results, acked)

	// /api/v1/sites: the status tracker reads Latest and Availability.
	var site fibremon.SiteStatus
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		getJSONAs(t, base+"/api/v1/sites/municipio", reader, &site) // the full view: latest results
		if len(site.Latest) == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(site.Latest) != 3 || site.Availability24h == nil {
		t.Fatalf("site municipio: %d latest results, availability %v; want 3 and a ratio", len(site.Latest), site.Availability24h)
	}
	for _, r := range site.Latest {
		if want := lastOfKind(acked, r.Kind); r.ID != want.ID {
			t.Errorf("latest %s result %s; want %s", r.Kind, r.ID, want.ID)
		}
	}

	// InfluxDB goes away: the probe is told to retry, the service is not ready.
	srv.Stop()
	during := batch(30*time.Minute, 20)
	_, err = probe.PostResults(t.Context(), during)
	var pe *wire.PostError
	if !errors.As(err, &pe) || pe.Code != http.StatusServiceUnavailable || pe.RetryAfter <= 0 {
		t.Fatalf("POST with influxd down: %v; want 503 with Retry-After", err)
	}
	if code := readyz(t, base); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with influxd down = %d; want 503", code)
	}

	// It comes back: the probe's retry (the refused batch with an
	// acknowledged one) stores exactly what was missing.
	srv.Restart(t)
	deadline = time.Now().Add(waitLimit)
	for readyz(t, base) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 200 within %v of influxd's restart", waitLimit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	post(append(acked[50:], during...), len(during))
	post(during, 0)

	want := append(append([]fibremon.Result{}, acked...), during...)
	var after struct{ Results []fibremon.Result } // a fresh one: json merges into old values
	getJSONAs(t, base+"/api/v1/results?site_id=municipio&limit=1000", token, &after)
	checkResults(t, "after influxd's restart", after.Results, want)
	// and in InfluxDB itself, one point per result
	db, _, _ := strings.Cut(srv.Bucket, "/")
	rows := srv.QueryResult(t, db, `SELECT count("result_id") FROM probe_result`)
	if len(rows) != 1 || rows[0][1] != fmt.Sprint(len(want)) {
		t.Fatalf("InfluxDB holds %v points; want %d", rows, len(want))
	}
}

// lastOfKind returns the last result of kind in rs.
func lastOfKind(rs []fibremon.Result, kind fibremon.Kind) fibremon.Result {
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].Kind == kind {
			return rs[i]
		}
	}
	return fibremon.Result{}
}

// checkResults checks that got holds each of want exactly once, intact.
func checkResults(t *testing.T, when string, got, want []fibremon.Result) {
	t.Helper()
	byID := make(map[string]fibremon.Result, len(got))
	for _, r := range got {
		if _, dup := byID[r.ID]; dup {
			t.Errorf("%s: result %s listed twice", when, r.ID)
		}
		byID[r.ID] = r
	}
	if len(got) != len(want) {
		t.Errorf("%s: %d results; want %d", when, len(got), len(want))
	}
	for _, w := range want {
		g, ok := byID[w.ID]
		switch {
		case !ok:
			t.Errorf("%s: acknowledged result %s is lost", when, w.ID)
		case !g.Start.Equal(w.Start) || g.Kind != w.Kind || g.Up != w.Up || g.Error != w.Error || len(g.Values) != len(w.Values):
			t.Errorf("%s: result %s\n got %+v\nwant %+v", when, w.ID, g, w)
		}
	}
}
