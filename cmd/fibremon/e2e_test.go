package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/testnet"
)

// TestMain removes the binaries the end-to-end tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built holds both commands, compiled once for all the end-to-end tests of
// the package (they run in parallel, and a link takes seconds).
var built struct {
	once                      sync.Once
	dir, fibremon, fibreprobe string
	err                       error
}

// buildBinaries compiles both commands once for the end-to-end tests.
func buildBinaries(t *testing.T) (fibremonBin, probeBin string) {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "fibremon-e2e-")
		if built.err != nil {
			return
		}
		for _, c := range []string{"fibremon", "fibreprobe"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(built.dir, c), "fibremon/cmd/"+c).CombinedOutput()
			if err != nil {
				built.err = fmt.Errorf("go build %s: %v\n%s", c, err, out)
				return
			}
		}
		built.fibremon, built.fibreprobe = filepath.Join(built.dir, "fibremon"), filepath.Join(built.dir, "fibreprobe")
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.fibremon, built.fibreprobe
}

func freeAddr(t *testing.T) string { return testnet.FreeAddr(t) }

// waitLimit bounds the waits of these tests for processes to start and
// results to arrive: far above what they take, as a loaded 2-core machine
// runs them several times slower. Only what never happens waits this long.
const waitLimit = 2 * time.Minute

// startServe starts `fibremon serve` and waits until /readyz answers 200 —
// or, while the tokens file holds no probe token, the 503 that says so.
func startServe(t *testing.T, bin, addr, db, tokens string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--storage.path", db,
		"--status.refresh-interval", "1s")
	cmd.Env = append(os.Environ(), "FIBREMON_AUTH_TOKENS_FILE="+tokens) // the env mirror
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	ts, err := auth.Load(tokens)
	if err != nil {
		t.Fatal(err)
	}
	noProbes := ts.Counts().Probe == 0
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 || (noProbes && resp.StatusCode == 503 && strings.Contains(string(body), "0 probe tokens loaded")) {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("fibremon serve did not become ready in %v", waitLimit)
	return nil
}

func getJSON(t *testing.T, url string, v any) { t.Helper(); getJSONAs(t, url, "", v) }

// getJSONAs is getJSON with a bearer token ("": none).
func getJSONAs(t *testing.T, url, token string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestEndToEnd runs the real binaries: serve on a free port with a temp
// database, a token issued by `fibremon token add`, a real probe measuring
// against the service, then a SIGKILL and a restart on the same database.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binaries")
	}
	t.Parallel() // its own ports, files and processes
	fibremonBin, probeBin := buildBinaries(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	db, tokens := filepath.Join(dir, "fibremon.db"), filepath.Join(dir, "tokens.json")
	base := "http://" + addr

	serve := startServe(t, fibremonBin, addr, db, tokens)

	// The token is issued while the service runs: it reloads the file.
	out, err := exec.Command(fibremonBin, "token", "add", "--auth.tokens-file", tokens,
		"--probe", "probe-municipio", "--site", "municipio").Output()
	if err != nil {
		t.Fatalf("token add: %v", err)
	}
	token := strings.TrimSpace(string(out))
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitForToken(t, base, token)
	if code := readyz(t, base); code != http.StatusOK {
		t.Fatalf("/readyz once a probe token is loaded = %d; want 200", code)
	}

	cfg := fmt.Sprintf(`probe: probe-municipio
site_id: municipio
service:
  url: %[1]s
  token_file: %[2]s
  upload_interval: 1s
spool:
  dir: %[3]s
web:
  listen_address: 127.0.0.1:0
measurements:
  - name: down
    kind: download
    target: %[1]s
    duration: 2s
    timeout: 10s
    interval: 1h
  - name: up
    kind: upload
    target: %[1]s
    duration: 2s
    timeout: 10s
    interval: 1h
  - name: rtt
    kind: latency
    target: %[4]s
    method: tcp
    count: 5
    packet_interval: 20ms
    interval: 2s
  - name: web
    kind: http
    target: %[1]s/healthz
    interval: 2s
  - name: port
    kind: tcp
    target: %[4]s
    interval: 2s
`, base, filepath.Join(dir, "token"), filepath.Join(dir, "spool"), addr)
	cfgPath := filepath.Join(dir, "probe.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	once := exec.Command(probeBin, "once", "--config.file", cfgPath, "--upload")
	out, err = once.CombinedOutput()
	if err != nil {
		t.Fatalf("fibreprobe once: %v\n%s", err, out)
	}
	t.Logf("fibreprobe once:\n%s", out)
	for _, want := range []string{"download", "upload", "latency", "http", "tcp", "5 results uploaded"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fibreprobe once output lacks %q", want)
		}
	}

	// in the store
	var rr struct{ Results []fibremon.Result }
	getJSONAs(t, base+"/api/v1/results?site_id=municipio", token, &rr) // a probe token reads its own site's results
	if len(rr.Results) != 5 {
		t.Fatalf("stored %d results; want 5", len(rr.Results))
	}
	var down fibremon.Result
	for _, r := range rr.Results {
		if !r.Up {
			t.Errorf("result %s %s is down: %s", r.Kind, r.ID, r.Error)
		}
		if r.Kind == fibremon.KindDownload {
			down = r
		}
	}
	speed := down.Values[fibremon.DownloadBytesPerSecond]
	if speed <= 0 {
		t.Fatalf("download result has no speed: %+v", down)
	}

	// in /metrics, after the status refresh
	var metricsText string
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		metricsText = getText(t, base+"/metrics")
		if strings.Contains(metricsText, `fibremon_site_download_bytes_per_second{comune="ripalta-cremasca",site_id="municipio"}`) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, want := range []string{
		`fibremon_site_download_bytes_per_second{comune="ripalta-cremasca",site_id="municipio"}`,
		`fibremon_site_up{comune="ripalta-cremasca",site_id="municipio"} 1`,
		`fibremon_ingest_results_total{outcome="stored"} 5`,
		`fibremon_ndt7_tests_total{outcome="ok",test="download"} 1`,
	} {
		if !strings.Contains(metricsText, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// in the GeoJSON
	var fc struct {
		Type     string
		Features []struct {
			Properties map[string]any
		}
	}
	getJSON(t, base+fibrehttp.PathCoverage, &fc)
	if n := ogrFeatureCount(t, "coverage", getText(t, base+fibrehttp.PathCoverage)); n != len(fc.Features) {
		t.Errorf("ogrinfo reads %d features; the service sent %d", n, len(fc.Features))
	}
	found := false
	for _, f := range fc.Features {
		if f.Properties["site_id"] == "municipio" {
			found = true
			if f.Properties["state"] != "up" || f.Properties["download_mbps"] == nil {
				t.Errorf("municipio feature: %v", f.Properties)
			}
		}
	}
	if fc.Type != "FeatureCollection" || !found {
		t.Fatalf("coverage GeoJSON: type %q, municipio found %v", fc.Type, found)
	}
	// every layer is read by an independent GeoJSON reader
	for _, layer := range geo.Layers {
		text := getText(t, base+fibrehttp.PathCoverage+"?layer="+layer)
		var lfc struct{ Features []json.RawMessage }
		if err := json.Unmarshal([]byte(text), &lfc); err != nil {
			t.Fatalf("layer %s: %v", layer, err)
		}
		if n := ogrFeatureCount(t, layer, text); n != len(lfc.Features) || n == 0 {
			t.Errorf("layer %s: ogrinfo reads %d features; the service sent %d", layer, n, len(lfc.Features))
		}
	}

	// the CLI answers from the same database, with the town hall's measurements
	out, err = exec.Command(fibremonBin, "coverage", "--storage.path", db, "--lang", "en", "Via Roma 5, Ripalta Cremasca").CombinedOutput()
	if err != nil {
		t.Fatalf("fibremon coverage: %v\n%s", err, out)
	}
	for _, want := range []string{"Via Roma 5, Ripalta Nuova", "Covered by FTTH up to 1000/300 Mbit/s", "Municipio di Ripalta Cremasca (FTTH, 0 m, up):", "Mbit/s", "synthetic data"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("fibremon coverage output lacks %q:\n%s", want, out)
		}
	}

	// SIGKILL and restart on the same database: every result is still there.
	if err := serve.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	serve.Wait()
	startServe(t, fibremonBin, addr, db, tokens)
	var after struct{ Results []fibremon.Result }
	getJSONAs(t, base+"/api/v1/results?site_id=municipio", token, &after)
	if len(after.Results) != 5 {
		t.Fatalf("after kill -9 and restart: %d results; want 5", len(after.Results))
	}

	// fibreprobe run: scheduled measurements reach the service through the spool.
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitLimit)
	defer cancel()
	probeAddr := freeAddr(t)
	runCmd := exec.CommandContext(ctx, probeBin, "run", "--config.file", cfgPath, "--log.level", "debug",
		"--web.listen-address", probeAddr)
	stderr, _ := runCmd.StderrPipe()
	if err := runCmd.Start(); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bufio.NewReader(stderr))
	deadline = time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		var now struct{ Results []fibremon.Result }
		getJSONAs(t, base+"/api/v1/results?site_id=municipio&kind=http", token, &now)
		if len(now.Results) >= 3 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	probeMetrics := getText(t, "http://"+probeAddr+"/metrics")
	for _, want := range []string{`fibreprobe_measurements_total{measurement="web",outcome="up"}`, "fibreprobe_uploaded_results_total", "fibreprobe_spool_results"} {
		if !strings.Contains(probeMetrics, want) {
			t.Errorf("the probe's /metrics lacks %s", want)
		}
	}
	runCmd.Process.Signal(os.Interrupt)
	if err := runCmd.Wait(); err != nil {
		t.Errorf("fibreprobe run did not stop cleanly on SIGINT: %v", err)
	}
	var final struct{ Results []fibremon.Result }
	getJSONAs(t, base+"/api/v1/results?site_id=municipio&kind=http", token, &final)
	if len(final.Results) < 3 {
		t.Fatalf("fibreprobe run: %d http results stored; want >= 3", len(final.Results))
	}
}

// waitForToken waits until the service accepts token (an empty batch is
// refused with 400 once the token is known; before, 401, or 503 while no
// probe token is loaded).
func waitForToken(t *testing.T, base, token string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPost, base+fibrehttp.PathResults, strings.NewReader(`{"results":[]}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusBadRequest {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the service did not pick up the new token within %v", waitLimit)
}
