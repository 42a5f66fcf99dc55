package status_test

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fibremon"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
	"fibremon/internal/testing/storetest"
)

func TestTrackerStatesAndMetrics(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().UTC()
	sites := []fibremon.Site{
		{ID: "up-site", Name: "Up", Kind: fibremon.SiteSchool, Technology: fibremon.FTTH, ContractDownloadBytesPerSecond: 125e6, Comune: "ripalta-cremasca"},
		{ID: "down-site", Name: "Down", Kind: fibremon.SiteBusiness, Technology: fibremon.ADSL, Comune: "ripalta-cremasca"},
		{ID: "silent-site", Name: "Silent", Kind: fibremon.SiteOther, Technology: fibremon.FWA, Comune: "crema"},
		{ID: "new-site", Name: "New", Kind: fibremon.SiteTownHall, Technology: fibremon.FTTC, Comune: "crema"},
	}
	batch := []fibremon.Result{
		storetest.Result("up-site", fibremon.KindLatency, now.Add(-30*time.Second), true),
		storetest.Result("up-site", fibremon.KindHTTP, now.Add(-2*time.Minute), false), // older round
		storetest.Result("up-site", fibremon.KindDownload, now.Add(-time.Minute), true),
		storetest.Result("down-site", fibremon.KindHTTP, now.Add(-20*time.Second), false),
		storetest.Result("down-site", fibremon.KindTCP, now.Add(-21*time.Second), false),
		storetest.Result("silent-site", fibremon.KindHTTP, now.Add(-time.Hour), true),
		storetest.Result("stranger", fibremon.KindHTTP, now.Add(-time.Minute), true),
	}
	if _, err := store.WriteResults(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	tr := status.New(slog.New(slog.DiscardHandler), reg, sites, store, status.Options{Stale: 10 * time.Minute, Now: func() time.Time { return now }})
	if got := tr.Snapshot().Sites[0].State; got != fibremon.StateUnknown {
		t.Fatalf("before refresh: state %s; want unknown", got)
	}
	if err := tr.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	snap := tr.Snapshot()
	want := map[string]fibremon.State{"up-site": fibremon.StateUp, "down-site": fibremon.StateDown,
		"silent-site": fibremon.StateSilent, "new-site": fibremon.StateUnknown}
	for _, s := range snap.Sites {
		if s.State != want[s.ID] {
			t.Errorf("site %s state %s; want %s", s.ID, s.State, want[s.ID])
		}
	}
	if snap.Unconfigured != 1 {
		t.Errorf("Unconfigured = %d; want 1", snap.Unconfigured)
	}
	if a := snap.Sites[0].Availability24h; a == nil || *a != 0.5 {
		t.Errorf("up-site availability %v; want 0.5", a)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
	exp := `
# HELP fibremon_site_up 1 when the site's latest availability checks passed, 0 when they failed or the site is silent; absent when unknown.
# TYPE fibremon_site_up gauge
fibremon_site_up{comune="ripalta-cremasca",site_id="down-site"} 0
fibremon_site_up{comune="crema",site_id="silent-site"} 0
fibremon_site_up{comune="ripalta-cremasca",site_id="up-site"} 1
# HELP fibremon_site_download_bytes_per_second Download speed measured by the site's newest successful download test.
# TYPE fibremon_site_download_bytes_per_second gauge
fibremon_site_download_bytes_per_second{comune="ripalta-cremasca",site_id="up-site"} 1.25e+07
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "fibremon_site_up", "fibremon_site_download_bytes_per_second"); err != nil {
		t.Fatal(err)
	}
}
