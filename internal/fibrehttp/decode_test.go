package fibrehttp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"fibremon"
)

// seedNow is the present the seed batches in testdata were written for.
var seedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// seedFields is the field each invalid seed batch must be refused on.
var seedFields = map[string]string{
	"invalid-case-folded-key.json":   "results[0].Site_ID",
	"invalid-duplicate-id.json":      "results[1].id",
	"invalid-duplicate-key.json":     "results[0].id",
	"invalid-duplicate-results.json": "results",
	"invalid-duplicate-value.json":   "results[0].values.dns_answers",
	"invalid-lone-surrogate.json":    "results[0].probe",
	"invalid-nan.json":               "results[0].duration_seconds",
	"invalid-nil-uuid.json":          "results[0].id",
	"invalid-offset-24h.json":        "results[0].start",
	"invalid-truncated.json":         "results[0].start",
	"invalid-uuid-v1.json":           "results[0].id",
	"invalid-void-half.json":         "results[0].values.void",
	"invalid-void-up.json":           "results[0].up",
	"invalid-wrong-type.json":        "results[0].duration_seconds",
}

func TestSeedBatches(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) < 3 {
		t.Fatalf("%d seed batches in testdata; want at least 3", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeResults(b, seedNow)
		valid := filepath.Base(f)[:6] == "valid-"
		if valid && err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !valid && err == nil {
			t.Errorf("%s: decoded; want an error", f)
		}
		if err != nil && fibremon.KindOf(err) != fibremon.Invalid {
			t.Errorf("%s: error kind %v; want Invalid", f, fibremon.KindOf(err))
		}
		if !valid {
			want, ok := seedFields[filepath.Base(f)]
			if !ok {
				t.Errorf("%s: no expected field in seedFields", f)
			} else if got := fibremon.FieldOf(err); got != want {
				t.Errorf("%s: refused on %q (%v); want %q", f, got, err, want)
			}
		}
	}
}

// FuzzDecodeResults: no input panics; every error is Invalid; a batch that
// decodes is valid and survives a round trip through its own encoding.
func FuzzDecodeResults(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := DecodeResults(data, seedNow)
		if err != nil {
			if fibremon.KindOf(err) != fibremon.Invalid {
				t.Fatalf("error of kind %v: %v", fibremon.KindOf(err), err)
			}
			return
		}
		if err := fibremon.ValidateBatch(rs, seedNow); err != nil {
			t.Fatalf("decoded an invalid batch: %v", err)
		}
		again, err := json.Marshal(ResultsRequest{Results: rs})
		if err != nil {
			t.Fatal(err)
		}
		rs2, err := DecodeResults(again, seedNow)
		if err != nil {
			t.Fatalf("re-encoded batch does not decode: %v\n%s", err, again)
		}
		for i := range rs {
			if !rs[i].Start.Equal(rs2[i].Start) {
				t.Fatalf("start changed: %v -> %v", rs[i].Start, rs2[i].Start)
			}
			rs2[i].Start = rs[i].Start
			if len(rs[i].Values) == 0 { // {} and absent are the same batch
				rs[i].Values, rs2[i].Values = nil, nil
			}
		}
		if !reflect.DeepEqual(rs, rs2) {
			t.Fatalf("round trip changed the batch:\n%+v\n%+v", rs, rs2)
		}
	})
}
