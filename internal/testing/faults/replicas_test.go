package faults

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

// TestReplicaKilled runs two `fibremon serve` replicas on one influxd and
// four probes spread over them (two list replica a first, two replica b,
// each with the other as its fallback in service.urls), then kills
// replica a with SIGKILL mid-run. Before the kill, replica b's site
// status shows the results of a's probes, which it never received: its
// rebuild from InfluxDB catches up. After it, a's probes fail over to b
// and go on. In the end every result each probe made is in InfluxDB
// exactly once (read there directly): those a acknowledged before it
// died, those whose acknowledgement the kill lost (sent again to b: the
// same point), and those b took after. Beside the probes, uploaders post
// batches to a back to back (so that the kill finds requests in flight,
// whose results a may have written without answering), each switching
// to b when a fails and sending the same batch again until acknowledged:
// every result they posted is in InfluxDB once.
func TestReplicaKilled(t *testing.T) {
	long(t)
	t.Parallel()
	db := influxtest.Start(t)
	tokensFile := filepath.Join(t.TempDir(), "tokens.json")
	sites := []string{"municipio", "scuola-primaria-pascoli", "scuola-secondaria-ripalta", "scuola-infanzia-ripalta-nuova", loadSite}
	tokens := make([]string, len(sites))
	for i, site := range sites {
		out, err := exec.Command(bins.fibremon, "token", "add", "--auth.tokens-file", tokensFile,
			"--probe", "probe-"+site, "--site", site).Output()
		if err != nil {
			t.Fatalf("fibremon token add: %v", err)
		}
		tokens[i] = strings.TrimSpace(string(out))
	}
	// No rate limit: the uploaders post back to back on one token.
	opts := serviceOptions{influx: db, tokensFile: tokensFile, args: []string{"--web.rate-limit", "0"}}
	a, _ := newService(t, opts)
	b, _ := newService(t, opts)
	a.start()
	b.start()
	since := time.Now().Add(-time.Minute)
	loadToken := tokens[len(sites)-1]
	sites, tokens = sites[:len(sites)-1], tokens[:len(tokens)-1]
	tg := newTargets(t)
	probes := make([]*probe, len(sites))
	for i, site := range sites {
		urls := []string{a.base, b.base} // even: a first
		if i%2 == 1 {
			urls = []string{b.base, a.base}
		}
		probes[i] = newProbe(t, a, tokens[i], tg, probeOptions{name: "probe-" + site, site: site, serviceURLs: urls, batchSize: 20})
		probes[i].start()
	}
	for _, p := range probes {
		p.waitAccount("the first uploads", startTimeout, func(ac account) bool { return ac.uploaded >= 12 })
	}

	// Replica b shows the newest result of a site whose probe uploads only
	// to a: it rebuilt its status from InfluxDB.
	aOnly := fmt.Sprintf(`site_id="%s"`, sites[0])
	waitFor(t, "replica b's status to show a site only replica a was sent", func() bool {
		return metrics(t, b.base+fibrehttp.PathMetrics).sum("fibremon_site_last_result_timestamp_seconds", aOnly) > 0
	})
	if n := failovers(t, probes[0]); n != 0 {
		t.Fatalf("probe %s failed over %v times before the kill; the check of b's status assumes it sent only to a", sites[0], n)
	}
	if m := metrics(t, b.base+fibrehttp.PathMetrics); m.sum("fibremon_ingest_results_total", `outcome="stored"`) == 0 {
		t.Fatalf("replica b stored nothing before the kill; the probes should be spread over both")
	}

	up := startUploaders(t, a.base, b.base, loadToken)
	waitFor(t, "the uploaders' first acknowledgements", func() bool { return up.count() >= 200 })
	a.kill()
	// Each uploader's POST in flight fails; before any goes to b, see
	// what of those batches a wrote without answering.
	waitFor(t, "every uploader's POST to a to fail", func() bool { return len(up.inDoubt()) == uploaderCount })
	written := map[string]bool{}
	for _, row := range db.QueryResult(t, db.Database, fmt.Sprintf(`SELECT "result_id" FROM "probe_result" WHERE "probe" = 'probe-%s'`, loadSite)) {
		written[row[len(row)-1]] = true
	}
	unanswered := 0
	for _, batch := range up.inDoubt() {
		n := 0
		for _, id := range batch {
			if written[id] {
				n++
			}
		}
		if n > 0 {
			unanswered++
		}
		t.Logf("a batch in flight at the kill: %d of its %d results already in InfluxDB", n, len(batch))
	}
	close(up.resume)
	atKill := make([]account, len(probes))
	for i, p := range probes {
		atKill[i] = p.account()
	}
	waitFor(t, "the uploaders' acknowledgements from b", func() bool { return up.afterKill() >= 200 })
	posted, acked, failed := up.stop()
	if len(acked) != len(posted) {
		t.Fatalf("uploaders: %d results posted, %d acknowledged; every batch is retried until acknowledged", len(posted), len(acked))
	}
	rows := db.QueryResult(t, db.Database, fmt.Sprintf(`SELECT "result_id" FROM "probe_result" WHERE "probe" = 'probe-%s'`, loadSite))
	points := map[string]int{}
	for _, row := range rows {
		points[row[len(row)-1]]++
	}
	for id, n := range points {
		if n != 1 || !posted[id] {
			t.Errorf("InfluxDB holds the uploaders' result %s %d times (posted: %v)", id, n, posted[id])
		}
	}
	if len(points) != len(acked) {
		t.Errorf("InfluxDB holds %d of the uploaders' results; %d acknowledged", len(points), len(acked))
	}
	t.Logf("uploaders: %d results acknowledged (%d by b after the kill), %d failed POSTs (%d of them written by a unanswered, then sent to b), %d points in InfluxDB",
		len(acked), up.afterKill(), failed, unanswered, len(rows))

	// a's probes fail over to b and keep uploading there.
	for i, p := range probes {
		if i%2 == 1 {
			continue
		}
		p.waitAccount("uploads to replica b after the kill", backoffTimeout, func(ac account) bool {
			return ac.uploaded >= atKill[i].uploaded+12 && failovers(t, p) >= 1
		})
	}

	// Every result each probe made is in InfluxDB once.
	total := 0
	for i, p := range probes {
		acct, ids := settleInflux(t, p, db, "probe-"+sites[i])
		total += len(ids)
		if acct.dropped != 0 || acct.writeErrors != 0 {
			t.Errorf("probe %s dropped %d and failed to spool %d results; want none", sites[i], acct.dropped, acct.writeErrors)
		}
		t.Logf("probe %s (first %s): made %d, %d acknowledged before the kill, %d failed POSTs, %d failovers, %d in InfluxDB",
			sites[i], map[bool]string{true: "a", false: "b"}[i%2 == 0], acct.produced, atKill[i].uploaded, acct.failed,
			int(failovers(t, p)), len(ids))
	}
	// And replica b's API lists them all, whichever replica stored them.
	stored := 0
	for i := range sites {
		stored += len(resultsOf(t, b, tokens[i], sites[i], since))
	}
	if stored < total {
		t.Errorf("replica b's API lists %d results; InfluxDB holds %d", stored, total)
	}
}

// failovers reads the probe's fibreprobe_upload_failovers_total.
func failovers(t *testing.T, p *probe) float64 {
	return metrics(t, p.metricsURL).sum("fibreprobe_upload_failovers_total")
}

// settleInflux waits for a moment when the probe's account and InfluxDB
// agree (see settle), reading the probe's points in InfluxDB directly:
// every result made, once. It fails the test on a result ID held by two
// points.
func settleInflux(t *testing.T, p *probe, db *influxtest.Server, probe string) (account, map[string]int) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		a := p.account()
		rows := db.QueryResult(t, db.Database, fmt.Sprintf(`SELECT "result_id" FROM "probe_result" WHERE "probe" = '%s'`, probe))
		b := p.account()
		ids := map[string]int{}
		for _, row := range rows {
			ids[row[len(row)-1]]++
		}
		for id, n := range ids {
			if n > 1 {
				t.Fatalf("InfluxDB holds result %s of %s %d times", id, probe, n)
			}
		}
		want := a.produced - a.dropped - a.writeErrors
		if a.produced == b.produced && a.spooled == 0 && b.spooled == 0 && len(rows) == want {
			return a, ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe %s and InfluxDB never agreed within %v: probe %+v then %+v, %d points; want %d\n%s",
				probe, settleTimeout, a, b, len(rows), want, p.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loadSite is the site of the uploaders' results (their probe is
// "probe-" + loadSite).
const loadSite = "valserio"

// uploaderCount is how many uploaders post at once.
const uploaderCount = 4

// uploaders post batches of loadSite's results to replica a, back to back,
// switching to replica b at a's first failure (once resume is closed); a
// batch is sent again, whole, until acknowledged.
type uploaders struct {
	mu       sync.Mutex
	posted   map[string]bool
	acked    map[string]bool
	failed   int
	switched int        // acknowledged by b
	doubt    [][]string // the IDs of each batch whose POST to a failed
	resume   chan struct{}
	stopc    chan struct{}
	wg       sync.WaitGroup
}

func startUploaders(t *testing.T, a, b, token string) *uploaders {
	u := &uploaders{posted: map[string]bool{}, acked: map[string]bool{}, stopc: make(chan struct{}), resume: make(chan struct{})}
	hc := &http.Client{Timeout: 10 * time.Second}
	for range uploaderCount {
		u.wg.Go(func() {
			base := a
			for {
				select {
				case <-u.stopc:
					return
				default:
				}
				batch := make([]fibremon.Result, 25)
				for i := range batch {
					kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindTCP, fibremon.KindDNS}[i%3]
					batch[i] = storetest.Result(loadSite, kind, time.Now(), i%6 != 0)
				}
				u.mu.Lock()
				for _, r := range batch {
					u.posted[r.ID] = true
				}
				u.mu.Unlock()
				for {
					_, err := (&wire.Client{BaseURL: base, Token: token, HTTPClient: hc}).PostResults(t.Context(), batch)
					if err == nil {
						break
					}
					if wire.Permanent(err) {
						t.Errorf("batch refused: %v", err)
						return
					}
					u.mu.Lock()
					u.failed++
					if base == a {
						var ids []string
						for _, r := range batch {
							ids = append(ids, r.ID)
						}
						u.doubt = append(u.doubt, ids)
					}
					u.mu.Unlock()
					if base == a {
						select {
						case <-u.resume:
						case <-t.Context().Done():
						}
					}
					if t.Context().Err() != nil {
						return
					}
					base = b // fail over, and stay there
					time.Sleep(50 * time.Millisecond)
				}
				u.mu.Lock()
				for _, r := range batch {
					u.acked[r.ID] = true
				}
				if base == b {
					u.switched += len(batch)
				}
				u.mu.Unlock()
			}
		})
	}
	t.Cleanup(func() { u.stop() })
	return u
}

func (u *uploaders) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.acked)
}

func (u *uploaders) inDoubt() [][]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.doubt
}

func (u *uploaders) afterKill() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.switched
}

// stop stops the uploaders, each after its batch in hand is acknowledged,
// and returns what they posted and had acknowledged, and their failures.
func (u *uploaders) stop() (posted, acked map[string]bool, failed int) {
	select {
	case <-u.stopc:
	default:
		close(u.stopc)
	}
	u.wg.Wait()
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.posted, u.acked, u.failed
}
