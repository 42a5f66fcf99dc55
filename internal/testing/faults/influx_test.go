package faults

import (
	"errors"
	"net/http"
	"syscall"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/testing/storetest"
	"fibremon/internal/wire"
)

// TestInfluxDown kills InfluxDB (SIGKILL, as a crash would) under a
// service that stores there while a probe keeps measuring, then starts it
// again on the same data. While it is down the service answers 503 with
// Retry-After, acknowledges nothing and /readyz says 503; the probe waits
// at least as long as it is told, with jitter. Afterwards every result the
// probe made is stored exactly once, in InfluxDB itself as through the
// API, and the batch refused with 503 is not stored.
func TestInfluxDown(t *testing.T) {
	long(t)
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	db := influxtest.Start(t)
	svc, token := newService(t, serviceOptions{influx: db})
	svc.start()
	p := newProbe(t, svc, token, newTargets(t), probeOptions{})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 10 })

	db.Kill()
	waitFor(t, "/readyz to answer 503 with InfluxDB down", func() bool { return svc.readyz() == http.StatusServiceUnavailable })
	client := &wire.Client{BaseURL: svc.base, Token: token}
	refused := make([]fibremon.Result, 10)
	for i := range refused {
		refused[i] = storetest.Result(siteID, fibremon.KindHTTP, time.Now(), true)
	}
	_, err := client.PostResults(t.Context(), refused)
	var pe *wire.PostError
	if !errors.As(err, &pe) || pe.Code != http.StatusServiceUnavailable || pe.RetryAfter < time.Second {
		t.Fatalf("POST with InfluxDB down: %v; want 503 with Retry-After", err)
	}

	// The probe is refused too; from its first refusal on nothing is
	// acknowledged and nothing stored.
	first := p.waitAccount("a refused upload", startTimeout, func(a account) bool { return a.failed >= 1 })
	storedFirst := metrics(t, svc.base+fibrehttp.PathMetrics).sum("fibremon_ingest_results_total", `outcome="stored"`)
	// Two refusals show the backoff: the first retry waits the
	// Retry-After, the second twice as long, with jitter. InfluxDB comes
	// back before the third attempt, which then goes in (a third refusal
	// would add a 20 s wait to the test and prove nothing more).
	last := p.waitAccount("two refused uploads", backoffTimeout, func(a account) bool { return a.failed >= 2 })
	m := metrics(t, svc.base+fibrehttp.PathMetrics)
	switch {
	case last.uploaded != first.uploaded:
		t.Fatalf("the probe had results acknowledged with InfluxDB down: %d then %d", first.uploaded, last.uploaded)
	case m.sum("fibremon_ingest_results_total", `outcome="stored"`) != storedFirst:
		t.Fatalf("the service counted results stored with InfluxDB down")
	case m.sum("fibremon_ingest_batches_total", `code="503"`) < 3:
		t.Fatalf("the service answered %v POSTs with 503; want the probe's 2 and ours", m.sum("fibremon_ingest_batches_total", `code="503"`))
	case last.spooled == 0 || last.produced <= first.produced:
		t.Fatalf("the probe stopped measuring or spooling with InfluxDB down: %+v then %+v", first, last)
	}
	if code := svc.readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with InfluxDB down = %d; want 503", code)
	}

	db.Restart(t)
	waitFor(t, "/readyz to answer 200 after InfluxDB's restart", func() bool { return svc.readyz() == http.StatusOK })
	p.waitAccount("the spool to drain after InfluxDB's restart", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > last.uploaded
	})
	acct, stored := settle(t, p, svc, since, 0)
	checkOwn(t, stored)
	storedIDs := ids(stored)
	for _, r := range refused {
		if storedIDs[r.ID] {
			t.Errorf("result %s of the batch refused with 503 is stored", r.ID)
		}
	}
	if acct.dropped != 0 || acct.writeErrors != 0 {
		t.Errorf("the probe dropped %d and failed to spool %d results; want none", acct.dropped, acct.writeErrors)
	}
	// Every wait honours Retry-After and doubles with jitter.
	rs := retries(p.log())
	if len(rs) != acct.failed {
		t.Errorf("%d upload retries logged; the probe counts %d failed uploads", len(rs), acct.failed)
	}
	checkBackoff(t, rs, float64(fibrehttp.RetryAfterSecs))

	// InfluxDB itself, read directly once the service is stopped: one
	// point per result the probe had acknowledged, each result once.
	if err := svc.signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("fibremon serve on SIGTERM: %v; want exit status 0", err)
	}
	final := p.waitAccount("the probe to see the service gone", startTimeout, func(a account) bool { return a.failed > acct.failed })
	rows := db.QueryResult(t, db.Database, `SELECT "result_id" FROM "probe_result"`)
	points := map[string]int{}
	for _, row := range rows {
		points[row[len(row)-1]]++
	}
	for id, n := range points {
		if n > 1 {
			t.Errorf("InfluxDB holds result %s %d times", id, n)
		}
		if isIn(id, refused) {
			t.Errorf("InfluxDB holds result %s of the batch refused with 503", id)
		}
	}
	for id := range storedIDs {
		if points[id] == 0 {
			t.Errorf("result %s listed by the API is not in InfluxDB", id)
		}
	}
	if len(rows) != final.uploaded {
		t.Errorf("InfluxDB holds %d points; the probe had %d results acknowledged", len(rows), final.uploaded)
	}
	t.Logf("fault 3 (InfluxDB down): made %d, stored %d (InfluxDB: %d points, %d acknowledged by the end), dropped %d, refused uploads %d",
		acct.produced, len(stored), len(rows), final.uploaded, acct.dropped, acct.failed)
}

func isIn(id string, rs []fibremon.Result) bool {
	for _, r := range rs {
		if r.ID == id {
			return true
		}
	}
	return false
}
