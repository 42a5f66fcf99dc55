package fibrehttp

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeOnePass: the one-pass decoding of DecodeResults and the
// result-by-result decoding agree on every body: the same results when both
// accept it, both refuse it otherwise.
func FuzzDecodeOnePass(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"results":[null]}`))
	f.Add([]byte(`{"Results":[]}`))
	f.Add([]byte(`{"results":[{"ID":"0b6c3f2e-9d1a-4c5e-8f00-1234567890ab"}]}`))
	f.Add([]byte(`{"results":[{"id":"a","id":"a"}]}`))
	f.Add([]byte(`{"results":[{"target":"\ud800\udc00"}],"results":null}`))
	f.Add([]byte(`{"results":[{"values":{"void":1,"vo\u0069d":1}}]}`))
	f.Add([]byte(`{"results":[{"start":"2026-11-25T11:00:00-24:00"}]}`))
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // refused before either decoding
		}
		got, gotErr := DecodeResults(body, now)
		want, wantErr := decodeEach(body, now)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("one pass: %v; result by result: %v\nbody %q", gotErr, wantErr, body)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodings differ:\none pass       %+v\nresult by result %+v", got, want)
		}
	})
}
