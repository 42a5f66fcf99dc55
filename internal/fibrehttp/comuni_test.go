package fibrehttp_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/data"
	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/coverage"
	"fibremon/internal/fibrehttp"

	"github.com/paulmach/orb/geojson"
)

var (
	embeddedOnce sync.Once
	embeddedSet  *geo.Set
	embeddedErr  error
)

// consortium returns the embedded data set of the 48 comuni (loaded once).
func consortium(t testing.TB) *geo.Set {
	t.Helper()
	embeddedOnce.Do(func() { embeddedSet, embeddedErr = geo.LoadSet(data.FS, ".", geo.LoadOptions{}) })
	if embeddedErr != nil {
		t.Fatal(embeddedErr)
	}
	return embeddedSet
}

func newConsortiumFixture(t *testing.T) *fixture {
	set := consortium(t)
	return newFixture(t, func(d *fibrehttp.Deps, _ *auth.Tokens) {
		live := new(geo.Live)
		live.Store(set)
		d.Geo = live
	})
}

func getJSON(t *testing.T, u string, want int, v any) []byte {
	t.Helper()
	code, body := get(t, u)
	if code != want {
		t.Fatalf("GET %s = %d %s; want %d", u, code, body, want)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", u, err, body)
		}
	}
	return body
}

// TestComuni: GET /api/v1/comuni lists every comune with its figures, and
// the consortium's totals are their sums.
func TestComuni(t *testing.T) {
	f := newConsortiumFixture(t)
	var resp fibrehttp.ComuniResponse
	getJSON(t, f.srv.URL+fibrehttp.PathComuni, 200, &resp)
	if len(resp.Comuni) != 48 {
		t.Fatalf("%d comuni; want 48", len(resp.Comuni))
	}
	var civics, units, served, sites int
	for _, c := range resp.Comuni {
		if c.Status != "ok" || c.Slug == "" || len(c.ISTATCode) != 6 || c.Civics == 0 || !c.Synthetic {
			t.Errorf("comune %+v", c)
		}
		if c.ServedShare < 0 || c.ServedShare > 1 || c.ServedUnits > c.Units || c.WhiteAreaLeftUnits > c.WhiteAreaUnits {
			t.Errorf("%s: inconsistent figures %+v", c.Slug, c)
		}
		civics += c.Civics
		units += c.Units
		served += c.ServedUnits
		sites += c.Sites
	}
	tot := resp.Consortium
	if tot.Civics != civics || tot.Units != units || tot.ServedUnits != served || tot.Sites != sites {
		t.Errorf("consortium %+v; want the sums civics %d units %d served %d sites %d", tot, civics, units, served, sites)
	}
	if !strings.Contains(resp.Attribution, "ISTAT") {
		t.Errorf("attribution %q", resp.Attribution)
	}
	if code, _ := get(t, f.srv.URL+fibrehttp.PathComuni+"?x=1"); code != 400 {
		t.Errorf("unknown parameter: %d", code)
	}
}

// TestCoverageByComune: an address names its comune, or is looked up in
// one, or in all; a point finds its comune; an unknown comune is a 404
// naming it; an address that matches nothing in the named comune gets
// suggestions from that comune, never a guess from another.
func TestCoverageByComune(t *testing.T) {
	f := newConsortiumFixture(t)
	set := consortium(t)
	lookup := f.srv.URL + fibrehttp.PathCoverageLookup + "?"
	crema, err := set.Comune("crema")
	if err != nil {
		t.Fatal(err)
	}
	a := crema.Comune().Addresses[len(crema.Comune().Addresses)/2]

	for _, q := range []string{
		"address=" + url.QueryEscape(a.Label()+", Crema"),
		"address=" + url.QueryEscape(a.Label()) + "&comune=crema",
		"address=" + url.QueryEscape(a.Label()) + "&comune=019035",
	} {
		var ans coverage.Answer
		getJSON(t, lookup+q, 200, &ans)
		if ans.Match != coverage.MatchExact || ans.Comune == nil || ans.Comune.Slug != "crema" || ans.Address.ID != a.ID {
			t.Errorf("%s: %+v", q, ans)
		}
	}

	// Via Roma 5 exists in several comuni: candidates from each.
	var amb coverage.Answer
	getJSON(t, lookup+"address="+url.QueryEscape("Via Roma 5"), 200, &amb)
	comuni := map[string]bool{}
	for _, c := range amb.Candidates {
		comuni[c.Comune] = true
	}
	if amb.Match != coverage.MatchAmbiguous || len(comuni) < 2 {
		t.Errorf("Via Roma 5 without a comune: match %s, candidates from %v", amb.Match, comuni)
	}

	// Nothing in the named comune: suggestions of that comune only.
	body := getJSON(t, lookup+"address="+url.QueryEscape("Via Qwertyuiop 5")+"&comune=crema", 404, nil)
	var er fibrehttp.ErrorResponse
	if err := json.Unmarshal(body, &er); err != nil || er.Field != "address" || len(er.Suggestions) == 0 {
		t.Fatalf("no match in Crema: %s", body)
	}
	for _, s := range er.Suggestions {
		found := false
		for _, ad := range crema.Comune().Addresses {
			found = found || ad.Street() == s
		}
		if !found {
			t.Errorf("suggestion %q is not a street of Crema", s)
		}
	}

	body = getJSON(t, lookup+"address=Via+Roma+5&comune=atlantide", 404, nil)
	if !strings.Contains(string(body), "atlantide") || !strings.Contains(string(body), `"field":"comune"`) {
		t.Errorf("unknown comune: %s", body)
	}

	// A point resolves to its comune first.
	var pt coverage.Answer
	getJSON(t, lookup+"lat="+ftoa(a.Point.Lat())+"&lon="+ftoa(a.Point.Lon()), 200, &pt)
	if pt.Comune == nil || pt.Comune.Slug != "crema" || pt.Address == nil || pt.Address.Comune != "crema" {
		t.Errorf("point in Crema: %+v", pt)
	}
	if code, _ := get(t, lookup+"lat=45.36&lon=9.68&comune=crema"); code != 400 {
		t.Errorf("comune with a point: %d; want 400", code)
	}
}

// TestViewsByComune: layers, rollout, gaps and sites take a comune.
func TestViewsByComune(t *testing.T) {
	f := newConsortiumFixture(t)
	u := f.srv.URL

	fc := new(geojson.FeatureCollection)
	getJSON(t, u+fibrehttp.PathCoverage+"?layer=comune", 200, fc)
	if len(fc.Features) != 48 {
		t.Errorf("comune layer of the consortium: %d features; want 48", len(fc.Features))
	}
	fc = new(geojson.FeatureCollection)
	getJSON(t, u+fibrehttp.PathCoverage+"?layer=comune&comune=crema", 200, fc)
	if len(fc.Features) != 1 || fc.Features[0].Properties["comune"] != "crema" {
		t.Errorf("comune layer of Crema: %d features", len(fc.Features))
	}
	getJSON(t, u+fibrehttp.PathCoverage+"?comune=atlantide", 404, nil)
	// Several comuni, comma-separated (Grafana's ${comune:csv}), by slug,
	// ISTAT code or name, each once.
	fc = new(geojson.FeatureCollection)
	getJSON(t, u+fibrehttp.PathCoverage+"?layer=comune&comune=ripalta-cremasca,019035,Crema", 200, fc)
	if got := comuniOf(fc); !slices.Equal(got, []string{"crema", "ripalta-cremasca"}) {
		t.Errorf("comune layer of two comuni: %q", got)
	}
	fc = new(geojson.FeatureCollection)
	getJSON(t, u+fibrehttp.PathCoverage+"?layer=sites&comune=crema,ripalta-cremasca", 200, fc)
	if got := comuniOf(fc); !slices.Equal(got, []string{"ripalta-cremasca"}) || len(fc.Features) != 11 {
		t.Errorf("sites of Crema and Ripalta Cremasca: %d of %q; want Ripalta Cremasca's 11", len(fc.Features), got)
	}
	var all48 []string
	for _, ix := range consortium(t).Comuni() {
		all48 = append(all48, ix.Comune().Slug)
	}
	fc = new(geojson.FeatureCollection)
	getJSON(t, u+fibrehttp.PathCoverage+"?layer=comune&comune="+strings.Join(all48, ","), 200, fc)
	if len(fc.Features) != 48 {
		t.Errorf("comune layer of every comune listed: %d features", len(fc.Features))
	}
	for _, bad := range []string{"crema,atlantide", "crema,", strings.Repeat("x", fibrehttp.MaxQueryParam+1)} {
		code, body := get(t, u+fibrehttp.PathCoverage+"?comune="+bad)
		if code != 404 && code != 400 || !strings.Contains(string(body), `"field":"comune"`) {
			t.Errorf("comune=%.40s: %d %s; want a 4xx naming comune", bad, code, body)
		}
	}
	if code, _ := get(t, u+fibrehttp.PathCoverage+"?comune="+strings.Repeat("crema,", fibrehttp.MaxComuneList/6+1)); code != 400 {
		t.Errorf("a comune list over %d bytes: %d; want 400", fibrehttp.MaxComuneList, code)
	}

	var roll fibrehttp.RolloutResponse
	getJSON(t, u+fibrehttp.PathRollout+"?comune=crema", 200, &roll)
	if roll.Slug != "crema" || roll.Comune != "Crema" || !roll.Synthetic || len(roll.Timeline) == 0 {
		t.Errorf("rollout of Crema: %+v", roll.Slug)
	}
	var all fibrehttp.RolloutResponse
	getJSON(t, u+fibrehttp.PathRollout, 200, &all)
	if all.Slug != "" || all.Comune != geo.ConsortiumName || len(all.Figures) != 49 {
		t.Fatalf("rollout of the consortium: %q, %d figures", all.Comune, len(all.Figures))
	}
	sum := 0
	for _, fg := range all.Figures[1:] {
		sum += fg.Units
	}
	if all.Figures[0].Units != sum {
		t.Errorf("consortium units %d; comuni sum to %d", all.Figures[0].Units, sum)
	}
	getJSON(t, u+fibrehttp.PathRollout+"?hamlet=Bolzone", 400, nil)
	getJSON(t, u+fibrehttp.PathRollout+"?comune=ripalta-cremasca&hamlet=Bolzone", 200, nil)

	var sites fibrehttp.PublicSitesResponse
	getJSON(t, u+fibrehttp.PathSites+"?comune=crema", 200, &sites)
	if len(sites.Sites) != 0 {
		t.Errorf("Crema has %d sites; want 0", len(sites.Sites))
	}
	getJSON(t, u+fibrehttp.PathSites+"?comune=atlantide", 404, nil)
	var gaps fibrehttp.GapsResponse
	getJSON(t, u+fibrehttp.PathGaps+"?comune=crema", 200, &gaps)
	if len(gaps.UnprobedHamlets) != 1 || gaps.UnprobedHamlets[0] != "Crema" {
		t.Errorf("unprobed hamlets of Crema: %v", gaps.UnprobedHamlets)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// TestResultsAndContractsByComune: raw results and contracts take a comune.
func TestResultsAndContractsByComune(t *testing.T) {
	f := newConsortiumFixture(t)
	now := time.Now()
	if code, er := f.post(t, f.token, batchJSON(t, good(now), good(now), good(now))); code != http.StatusOK {
		t.Fatalf("seed: %d %+v", code, er)
	}
	read := func(q string) (int, []fibremon.Result, fibrehttp.ErrorResponse) {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+q, nil)
		req.Header.Set("Authorization", "Bearer "+f.reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			fibrehttp.ErrorResponse
			Results []fibremon.Result `json:"results"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return resp.StatusCode, body.Results, body.ErrorResponse
	}
	for _, tc := range []struct {
		query string
		code  int
		n     int
		field string
	}{
		{"?comune=ripalta-cremasca", 200, 3, ""},
		{"?comune=019081&site_id=municipio&limit=2", 200, 2, ""},
		{"?comune=crema", 200, 0, ""},
		{"?comune=crema&site_id=municipio", 400, 0, "site_id"},
		{"?comune=atlantide", 404, 0, "comune"},
	} {
		code, rs, er := read(fibrehttp.PathResults + tc.query)
		if code != tc.code || len(rs) != tc.n || er.Field != tc.field {
			t.Errorf("results%s = %d, %d results, field %q (%s); want %d, %d, %q", tc.query, code, len(rs), er.Field, er.Error, tc.code, tc.n, tc.field)
		}
	}
	if code, _, er := read(fibrehttp.PathContracts + "?comune=atlantide"); code != 404 && code != 400 {
		t.Errorf("contracts of an unknown comune: %d %+v", code, er)
	}
}

// comuniOf returns the comuni the features of fc name, sorted, once each.
func comuniOf(fc *geojson.FeatureCollection) []string {
	var out []string
	for _, f := range fc.Features {
		if c, _ := f.Properties["comune"].(string); !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}
