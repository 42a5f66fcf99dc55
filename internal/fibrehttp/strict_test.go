package fibrehttp_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// TestPostResultsStrictJSON: bodies that encoding/json would take with
// the last of two values winning, a name in another case, or a lone
// surrogate; IDs that are not random UUIDs; impossible offsets; void
// results that claim to be up. Each is a 400 naming the field, and
// nothing of the batch is stored.
func TestPostResultsStrictJSON(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	first, _ := json.Marshal(good(now))
	// result returns the JSON of a valid result with edit applied to its
	// text, as the second of a batch.
	batch := func(edit func(string) string) string {
		second, _ := json.Marshal(good(now))
		return fmt.Sprintf(`{"results":[%s,%s]}`, first, edit(string(second)))
	}
	voidResult := func(edit func(r *fibremon.Result)) string {
		r := good(now)
		r.Kind, r.Up, r.Error = fibremon.KindDownload, false, "void: other traffic was 40 % of the test's bytes"
		r.Values = map[string]float64{fibremon.Void: 1, fibremon.CrossTrafficRatio: 0.4}
		edit(&r)
		return batchJSON(t, good(now), r)
	}
	withID := func(id string) string {
		return batch(func(s string) string { return replaceField(t, s, "id", `"`+id+`"`) })
	}
	tests := []struct {
		name      string
		body      string
		wantField string
		wantMsg   string // in the error, when set
	}{
		{"id twice", batch(func(s string) string {
			return strings.Replace(s, `{"id":`, `{"id":"0b6c3f2e-9d1a-4c5e-8f00-1234567890ab","id":`, 1)
		}),
			"results[1].id", "duplicate"},
		{"site_id twice", batch(func(s string) string { return strings.Replace(s, `"site_id":`, `"site_id":"valserio","site_id":`, 1) }),
			"results[1].site_id", "duplicate"},
		{"results twice", `{"results":[` + string(first) + `],"results":[` + string(first) + `]}`, "results", "duplicate"},
		{"value twice", batch(func(s string) string {
			return replaceField(t, s, "values", `{"loss_ratio":5,"loss_ratio":0.5}`)
		}), "results[1].values.loss_ratio", "duplicate"},
		{"value twice, one escaped", batch(func(s string) string {
			return replaceField(t, s, "values", `{"loss_ratio":0.5,"loss_\u0072atio":0.5}`)
		}), "results[1].values.loss_ratio", "duplicate"},
		{"upper-case name", batch(func(s string) string { return strings.Replace(s, `"id":`, `"ID":`, 1) }), "results[1].ID", `"id"`},
		{"mixed-case name", batch(func(s string) string { return strings.Replace(s, `"site_id":`, `"Site_ID":`, 1) }), "results[1].Site_ID", `"site_id"`},
		{"upper-case results", `{"Results":[` + string(first) + `]}`, "Results", `"results"`},
		{"lone surrogate in a string", batch(func(s string) string { return replaceField(t, s, "target", `"host\ud800"`) }), "results[1].target", "surrogate"},
		{"lone low surrogate", batch(func(s string) string { return replaceField(t, s, "target", `"\udc00"`) }), "results[1].target", "surrogate"},
		{"lone surrogate in a name", batch(func(s string) string {
			return replaceField(t, s, "values", `{"loss_ratio\ud800":0.5}`)
		}), "results[1].values", "surrogate"},
		{"nil UUID", withID("00000000-0000-0000-0000-000000000000"), "results[1].id", "version"},
		{"max UUID", withID("ffffffff-ffff-ffff-ffff-ffffffffffff"), "results[1].id", "version"},
		{"UUID v1", withID("0b6c3f2e-9d1a-1c5e-8f00-1234567890ab"), "results[1].id", "version"},
		{"UUID v5", withID("0b6c3f2e-9d1a-5c5e-8f00-1234567890ab"), "results[1].id", "version"},
		{"UUID v4, NCS variant", withID("0b6c3f2e-9d1a-4c5e-0f00-1234567890ab"), "results[1].id", "variant"},
		{"UUID v7, Microsoft variant", withID("0196f1c2-9d1a-7c5e-cf00-1234567890ab"), "results[1].id", "variant"},
		{"offset +24:00", batch(func(s string) string {
			return replaceField(t, s, "start", `"`+now.UTC().Add(-time.Minute).Format("2006-01-02T15:04:05")+`+24:00"`)
		}), "results[1].start", "RFC 3339"},
		{"offset -24:00", batch(func(s string) string {
			return replaceField(t, s, "start", `"`+now.UTC().Add(-time.Minute).Format("2006-01-02T15:04:05")+`-24:00"`)
		}), "results[1].start", "RFC 3339"},
		{"void and up", voidResult(func(r *fibremon.Result) { r.Up, r.Error = true, "" }), "results[1].up", "void"},
		{"void 0.5", voidResult(func(r *fibremon.Result) { r.Values[fibremon.Void] = 0.5 }), "results[1].values.void", ""},
		{"void 0", voidResult(func(r *fibremon.Result) { r.Values[fibremon.Void] = 0 }), "results[1].values.void", ""},
		{"void latency", voidResult(func(r *fibremon.Result) { r.Kind = fibremon.KindLatency }), "results[1].values.void", "throughput"},
		{"void with a speed", voidResult(func(r *fibremon.Result) { r.Values[fibremon.DownloadBytesPerSecond] = 1e6 }),
			"results[1].values.download_bytes_per_second", "void"},
		{"void without its error", voidResult(func(r *fibremon.Result) { r.Error = "busy line" }), "results[1].error", "void: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, er := f.post(t, f.token, tc.body)
			if code != http.StatusBadRequest || er.Field != tc.wantField || !strings.Contains(er.Error, tc.wantMsg) {
				t.Fatalf("POST = %d %+v; want 400 on %q saying %q\nbody %s", code, er, tc.wantField, tc.wantMsg, tc.body)
			}
			if n := f.count(t); n != 0 {
				t.Fatalf("%d results stored after a refused batch; want 0", n)
			}
		})
	}
	// The void result as a probe makes it, and a v7 UUID, are taken.
	code, er := f.post(t, f.token, voidResult(func(r *fibremon.Result) { r.ID = "0196f1c2-9d1a-7c5e-8f00-1234567890ab" }))
	if code != http.StatusOK {
		t.Fatalf("valid void result with a v7 UUID: %d %+v", code, er)
	}
}

// replaceField replaces the value of the member name in the JSON object
// text s (as json.Marshal writes it) with value.
func replaceField(t *testing.T, s, name, value string) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	old, ok := m[name]
	if !ok {
		t.Fatalf("no %q in %s", name, s)
	}
	key := `"` + name + `":`
	return strings.Replace(s, key+string(old), key+value, 1)
}

// TestPostResultsHeaders: the media type is compared as one
// (case-insensitive, parameters parsed), a content coding the service does
// not decode is a 415, and a request repeating Authorization or
// Content-Type is a 400 naming it. Nothing is stored on a refusal.
func TestPostResultsHeaders(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	tests := []struct {
		name      string
		header    http.Header
		wantCode  int
		wantField string
	}{
		{"no content type", http.Header{}, 200, ""},
		{"application/json", http.Header{"Content-Type": {"application/json"}}, 200, ""},
		{"mixed case with charset", http.Header{"Content-Type": {"Application/JSON; charset=UTF-8"}}, 200, ""},
		{"charset quoted", http.Header{"Content-Type": {`application/json;charset="utf-8"`}}, 200, ""},
		{"identity coding", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"identity"}}, 200, ""},
		{"application/jsonx", http.Header{"Content-Type": {"application/jsonx"}}, 415, "Content-Type"},
		{"application/json-seq", http.Header{"Content-Type": {"application/json-seq"}}, 415, "Content-Type"},
		{"text/plain", http.Header{"Content-Type": {"text/plain"}}, 415, "Content-Type"},
		{"latin-1", http.Header{"Content-Type": {"application/json; charset=iso-8859-1"}}, 415, "Content-Type"},
		{"unknown parameter", http.Header{"Content-Type": {"application/json; boundary=x"}}, 415, "Content-Type"},
		{"malformed", http.Header{"Content-Type": {"application/json; ;="}}, 415, "Content-Type"},
		{"gzip", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}}, 415, "Content-Encoding"},
		{"br after identity", http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"identity, br"}}, 415, "Content-Encoding"},
		{"two content types", http.Header{"Content-Type": {"application/json", "text/plain"}}, 400, "Content-Type"},
		{"two tokens", http.Header{"Authorization": {"Bearer " + f.token, "Bearer " + f.token2}}, 400, "Authorization"},
		{"the same token twice", http.Header{"Authorization": {"Bearer " + f.token, "Bearer " + f.token}}, 400, "Authorization"},
	}
	stored := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+fibrehttp.PathResults,
				strings.NewReader(batchJSON(t, good(now))))
			req.Header = tc.header.Clone()
			if req.Header.Get("Authorization") == "" {
				req.Header.Set("Authorization", "Bearer "+f.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var er fibrehttp.ErrorResponse
			json.Unmarshal(raw, &er)
			if resp.StatusCode != tc.wantCode || er.Field != tc.wantField {
				t.Fatalf("POST = %d %s; want %d naming %q", resp.StatusCode, raw, tc.wantCode, tc.wantField)
			}
			if tc.wantCode == 200 {
				stored++
			}
			if n := f.count(t); n != stored {
				t.Fatalf("%d results stored; want %d", n, stored)
			}
		})
	}
	// A read endpoint refuses repeated tokens too.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/api/v1/admin/tokens", nil)
	req.Header["Authorization"] = []string{"Bearer " + f.admin, "Bearer " + f.token}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("admin API with two tokens = %d; want 400", resp.StatusCode)
	}
}
