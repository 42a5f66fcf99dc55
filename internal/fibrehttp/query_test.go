package fibrehttp_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// TestGetResultsTimesBeyondStorage: a since or until the stores cannot
// hold (int64 nanoseconds: 1677 to 2262) is refused with a 400 naming it,
// never answered with the wrong results; times within still select.
func TestGetResultsTimesBeyondStorage(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	if code, er := f.post(t, f.token, batchJSON(t, good(now), good(now), good(now))); code != http.StatusOK {
		t.Fatalf("seed: %d %+v", code, er)
	}
	for _, tc := range []struct {
		query     string
		wantCode  int
		wantField string
		wantN     int
	}{
		{"until=9999-12-31T23:59:59Z", 400, "until", 0},
		{"since=2300-01-01T00:00:00Z", 400, "since", 0},
		{"since=1600-01-01T00:00:00Z", 400, "since", 0},
		{"since=0001-01-02T00:00:00Z&until=2262-04-12T00:00:00Z", 400, "since", 0},
		{"since=2000-01-01T00:00:00Z&until=2262-04-12T00:00:00Z", 400, "until", 0},
		{"since=1970-01-01T00:00:00Z&until=2262-04-11T00:00:00Z", 200, "", 3},
		{"since=1678-01-01T00:00:00Z", 200, "", 3},
		{"since=2262-04-10T00:00:00Z", 200, "", 0},
		{"since=2026-01-01T00:00:00%2B24:00", 400, "since", 0},
		{"until=2026-01-01T00:00:00-24:00", 400, "until", 0},
		{"since=2000-01-01T00:00:00%2B23:59", 200, "", 3},
	} {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+fibrehttp.PathResults+"?"+tc.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.reader) // raw results need a read token
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			fibrehttp.ErrorResponse
			Results []fibremon.Result `json:"results"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		if resp.StatusCode != tc.wantCode || body.Field != tc.wantField || len(body.Results) != tc.wantN {
			t.Errorf("GET ?%s = %d field %q (%q), %d results; want %d field %q, %d results",
				tc.query, resp.StatusCode, body.Field, body.Error, len(body.Results), tc.wantCode, tc.wantField, tc.wantN)
		}
	}
}
