package fibrehttp_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/internal/auth"
	"fibremon/internal/contract"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/testing/storetest"
)

// TestContractAPI: results posted through the API are checked against the
// site's guarantees; the answer carries the percentile and the evidence.
func TestContractAPI(t *testing.T) {
	site := fibremon.Site{ID: "municipio", Name: "Municipio", Kind: fibremon.SiteTownHall, Technology: fibremon.FTTH,
		ContractDownloadBytesPerSecond: fibremon.MbitPerSecond(1000), MinDownloadBytesPerSecond: fibremon.MbitPerSecond(500)}
	f := newFixture(t, func(d *fibrehttp.Deps, _ *auth.Tokens) {
		store := d.Store.(contract.Reader)
		d.Contract = contract.NewChecker(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), []fibremon.Site{site}, store, nil)
	})
	now := time.Now().Truncate(time.Second)
	var rs []fibremon.Result
	for i := range 40 {
		r := storetest.Result("municipio", fibremon.KindDownload, now.Add(-time.Duration(i+1)*15*time.Minute), true)
		r.Probe = "p-municipio"
		r.Values[fibremon.DownloadBytesPerSecond] = fibremon.MbitPerSecond(900)
		if i < 4 { // 4 of 40 (10 %) at 60 Mbit/s: the 5th percentile
			r.Values[fibremon.DownloadBytesPerSecond] = fibremon.MbitPerSecond(60)
		}
		rs = append(rs, r)
	}
	if code, er := f.post(t, f.token, batchJSON(t, rs...)); code != http.StatusOK {
		t.Fatalf("post = %d %+v", code, er)
	}
	code, _, body := request(t, http.MethodGet, f.srv.URL+"/api/v1/sites/municipio/contract", f.reader, "")
	if code != http.StatusOK {
		t.Fatalf("contract = %d %s", code, body)
	}
	var e contract.Evaluation
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	d := e.Measure(contract.Download)
	if !e.Breach || e.Complete || d == nil || d.Status != contract.StatusBreach || d.Tests != 40 ||
		*d.Value != fibremon.MbitPerSecond(60) || len(d.Evidence) != 4 {
		t.Fatalf("evaluation %s", body)
	}
	code, _, body = request(t, http.MethodGet, f.srv.URL+fibrehttp.PathContracts, f.reader, "")
	var list fibrehttp.ContractsResponse
	if code != http.StatusOK || json.Unmarshal(body, &list) != nil || list.Window != 96 || len(list.Contracts) != 1 {
		t.Fatalf("contracts = %d %s", code, body)
	}
	if code, _, body := request(t, http.MethodGet, f.srv.URL+"/api/v1/sites/nowhere/contract", f.reader, ""); code != http.StatusNotFound {
		t.Fatalf("unknown site = %d %s; want 404", code, body)
	}
}
