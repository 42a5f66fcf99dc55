package contract_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fibremon"
	"fibremon/internal/contract"
	"fibremon/internal/sqlite"
	"fibremon/internal/testing/storetest"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// site is an FTTH 1000/300 line guaranteeing 500/150 Mbit/s and 20 ms.
func site() fibremon.Site {
	return fibremon.Site{ID: "municipio", Name: "Municipio", Kind: fibremon.SiteTownHall, Technology: fibremon.FTTH, Comune: "ripalta-cremasca",
		ContractDownloadBytesPerSecond: fibremon.MbitPerSecond(1000), ContractUploadBytesPerSecond: fibremon.MbitPerSecond(300),
		MinDownloadBytesPerSecond: fibremon.MbitPerSecond(500), MinUploadBytesPerSecond: fibremon.MbitPerSecond(150),
		MaxRTTSeconds: 0.020}
}

// tests returns n results of kind, one per 15 minutes back from now, the
// i-th (0 = newest) carrying value(i).
func tests(kind fibremon.Kind, n int, value func(i int) float64) []fibremon.Result {
	name := map[fibremon.Kind]string{fibremon.KindDownload: fibremon.DownloadBytesPerSecond,
		fibremon.KindUpload: fibremon.UploadBytesPerSecond, fibremon.KindLatency: fibremon.AvgRTTSeconds}[kind]
	var rs []fibremon.Result
	for i := range n {
		r := storetest.Result("municipio", kind, now.Add(-time.Duration(i)*15*time.Minute), true)
		r.Values[name] = value(i)
		rs = append(rs, r)
	}
	return rs
}

func mbps(v float64) func(int) float64 { return func(int) float64 { return fibremon.MbitPerSecond(v) } }

func TestEvaluateBreachWithEvidence(t *testing.T) {
	// Download: 6 of 96 tests (6 %) at 40 Mbit/s, the rest at 940: the
	// 5th percentile (the 5th lowest of 96) is 40 — a breach, with the six
	// slow tests as evidence. Upload: 4 slow tests of 96 (4 %): p5 is the
	// full speed — no breach, but the 4 tests are listed. Latency: 95th
	// percentile 12 ms under 20 ms.
	down := tests(fibremon.KindDownload, 96, func(i int) float64 {
		if i%16 == 3 {
			return fibremon.MbitPerSecond(40)
		}
		return fibremon.MbitPerSecond(940)
	})
	up := tests(fibremon.KindUpload, 96, func(i int) float64 {
		if i%24 == 5 {
			return fibremon.MbitPerSecond(20)
		}
		return fibremon.MbitPerSecond(290)
	})
	lat := tests(fibremon.KindLatency, 96, func(i int) float64 { return 0.004 + float64(i%10)*0.001 })
	e := contract.Evaluate(site(), down, up, lat, now)
	if !e.Breach || !e.Complete || e.Window != 96 {
		t.Fatalf("evaluation breach=%v complete=%v window=%d; want a complete breach over 96", e.Breach, e.Complete, e.Window)
	}
	d := e.Measure(contract.Download)
	if d.Status != contract.StatusBreach || *d.Value != fibremon.MbitPerSecond(40) || d.Tests != 96 || len(d.Evidence) != 6 {
		t.Fatalf("download %+v", d)
	}
	if !d.Last.Equal(now) || !d.First.Equal(now.Add(-95*15*time.Minute)) {
		t.Errorf("download window %v – %v", d.First, d.Last)
	}
	for i, ev := range d.Evidence {
		if ev.Value != fibremon.MbitPerSecond(40) || (i > 0 && !ev.Start.Before(d.Evidence[i-1].Start)) {
			t.Errorf("evidence %d: %+v (want 40 Mbit/s tests, newest first)", i, ev)
		}
	}
	u := e.Measure(contract.Upload)
	if u.Status != contract.StatusOK || *u.Value != fibremon.MbitPerSecond(290) || len(u.Evidence) != 4 {
		t.Fatalf("upload %+v", u)
	}
	l := e.Measure(contract.Latency)
	if l.Status != contract.StatusOK || l.Statistic != "p95" || *l.Value < 0.0125 || *l.Value > 0.0135 {
		t.Fatalf("latency %+v", l)
	}
}

func TestEvaluateLatencyBreach(t *testing.T) {
	lat := tests(fibremon.KindLatency, 96, func(i int) float64 {
		if i < 10 { // 10 of 96 above 20 ms: more than 5 %
			return 0.045
		}
		return 0.008
	})
	e := contract.Evaluate(site(), nil, nil, lat, now)
	l := e.Measure(contract.Latency)
	if l.Status != contract.StatusBreach || *l.Value != 0.045 || len(l.Evidence) != 10 || !e.Breach {
		t.Fatalf("latency %+v", l)
	}
	if e.Complete {
		t.Error("complete without download and upload tests")
	}
	if d := e.Measure(contract.Download); d.Status != contract.StatusInsufficient || d.Value != nil || d.Tests != 0 {
		t.Errorf("download without tests %+v", d)
	}
}

func TestEvaluateCountsOnlyValidNewestTests(t *testing.T) {
	// 150 tests: the newest 96 valid ones are fast; slow ones are older,
	// failed, void, or another site's: none may count.
	down := tests(fibremon.KindDownload, 96, mbps(900))
	old := tests(fibremon.KindDownload, 50, mbps(10))
	for i := range old {
		old[i].Start = old[i].Start.Add(-30 * 24 * time.Hour)
	}
	failed := storetest.Result("municipio", fibremon.KindDownload, now.Add(-time.Minute), false)
	void := tests(fibremon.KindDownload, 20, mbps(10))
	for i := range void {
		void[i].Values[fibremon.Void] = 1
		void[i].Values[fibremon.CrossTrafficRatio] = 0.4
	}
	other := tests(fibremon.KindDownload, 20, mbps(10))
	for i := range other {
		other[i].SiteID = "valserio"
	}
	all := append(append(append(append(old, down...), failed), void...), other...)
	e := contract.Evaluate(site(), all, nil, nil, now)
	d := e.Measure(contract.Download)
	if d.Tests != 96 || *d.Value != fibremon.MbitPerSecond(900) || d.Status != contract.StatusOK || len(d.Evidence) != 0 {
		t.Fatalf("download %+v; want the 96 newest valid tests, all at 900 Mbit/s", d)
	}
}

func TestEvaluateFewTestsAndNoGuarantee(t *testing.T) {
	s := site()
	s.MinUploadBytesPerSecond = 0
	e := contract.Evaluate(s, tests(fibremon.KindDownload, contract.MinTests-1, mbps(1)),
		tests(fibremon.KindUpload, 96, mbps(1)), nil, now)
	if d := e.Measure(contract.Download); d.Status != contract.StatusInsufficient || len(d.Evidence) != contract.MinTests-1 {
		t.Errorf("download on %d slow tests: %+v; want insufficient, with the evidence", contract.MinTests-1, d)
	}
	if u := e.Measure(contract.Upload); u.Status != contract.StatusNoGuarantee || u.Guaranteed != nil || u.Value == nil {
		t.Errorf("upload without a guarantee: %+v", u)
	}
	if e.Breach {
		t.Error("breach flagged on too few tests or no guarantee")
	}
}

// TestCheckerOverSQLite: the checker reads a real store and exports the
// percentiles and the breach as metrics.
func TestCheckerOverSQLite(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	down := tests(fibremon.KindDownload, 96, func(i int) float64 {
		if i%10 == 0 { // 10 of 96 slow
			return fibremon.MbitPerSecond(100)
		}
		return fibremon.MbitPerSecond(900)
	})
	lat := tests(fibremon.KindLatency, 30, func(int) float64 { return 0.006 })
	if _, err := store.WriteResults(t.Context(), append(down, lat...)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	c := contract.NewChecker(slog.New(slog.DiscardHandler), reg, []fibremon.Site{site()}, store, func() time.Time { return now })
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP fibremon_contract_breach 1 when the measure breaks the contract's guarantee over the last 96 valid tests, 0 when it keeps it; absent with fewer than 20 tests or no guarantee.
# TYPE fibremon_contract_breach gauge
fibremon_contract_breach{comune="ripalta-cremasca",measure="download",site_id="municipio"} 1
fibremon_contract_breach{comune="ripalta-cremasca",measure="latency",site_id="municipio"} 0
# HELP fibremon_contract_download_p5_bytes_per_second 5th percentile of the site's last 96 valid download tests (MisuraInternet's banda minima).
# TYPE fibremon_contract_download_p5_bytes_per_second gauge
fibremon_contract_download_p5_bytes_per_second{comune="ripalta-cremasca",site_id="municipio"} 1.25e+07
# HELP fibremon_contract_valid_tests Valid tests the contract check used (at most 96), by measure (download, upload, latency).
# TYPE fibremon_contract_valid_tests gauge
fibremon_contract_valid_tests{comune="ripalta-cremasca",measure="download",site_id="municipio"} 96
fibremon_contract_valid_tests{comune="ripalta-cremasca",measure="latency",site_id="municipio"} 30
fibremon_contract_valid_tests{comune="ripalta-cremasca",measure="upload",site_id="municipio"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"fibremon_contract_breach", "fibremon_contract_download_p5_bytes_per_second", "fibremon_contract_valid_tests"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(reg, "fibremon_contract_upload_p5_bytes_per_second"); n != 0 {
		t.Errorf("upload p5 exported without upload tests (%d series)", n)
	}
	e, err := c.Site(t.Context(), "municipio")
	if err != nil || !e.Breach || len(e.Measure(contract.Download).Evidence) != 10 {
		t.Fatalf("Site(municipio) = %+v, %v", e, err)
	}
	if _, err := c.Site(t.Context(), "nowhere"); fibremon.KindOf(err) != fibremon.NotFound {
		t.Fatalf("Site(nowhere) = %v; want NotFound", err)
	}
}

// TestCheckerSetSites: a reloaded data set changes the guarantees checked
// and forgets sites no longer configured.
func TestCheckerSetSites(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "fibremon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.WriteResults(t.Context(), tests(fibremon.KindDownload, 30, mbps(450))); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	c := contract.NewChecker(slog.New(slog.DiscardHandler), reg, []fibremon.Site{site()}, store, func() time.Time { return now })
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if e := c.Evaluations(); len(e) != 1 || !e[0].Breach {
		t.Fatalf("450 Mbit/s against a 500 minimum: %+v; want a breach", e)
	}
	lowered := site()
	lowered.MinDownloadBytesPerSecond = fibremon.MbitPerSecond(400)
	other := site()
	other.ID = "valserio"
	c.SetSites([]fibremon.Site{other, lowered})
	if err := c.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := c.Evaluations()
	if len(e) != 2 || e[0].SiteID != "valserio" || e[1].SiteID != "municipio" || e[1].Breach {
		t.Fatalf("after SetSites: %+v; want valserio then municipio, no breach against 400 Mbit/s", e)
	}
	c.SetSites([]fibremon.Site{other})
	if e := c.Evaluations(); len(e) != 1 || e[0].SiteID != "valserio" {
		t.Fatalf("after removing municipio: %+v", e)
	}
	if _, err := c.Site(t.Context(), "municipio"); fibremon.KindOf(err) != fibremon.NotFound {
		t.Fatalf("Site(removed) = %v; want NotFound", err)
	}
}
