package spool

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"fibremon"
)

func TestEncodeDecode(t *testing.T) {
	for _, n := range []int{1, 2, 10, 100} {
		rs := makeResults(t, n, "p")
		data, err := encodeFile(rs)
		if err != nil {
			t.Fatalf("encodeFile(%d results) = %v", n, err)
		}
		if lines := bytes.Count(data, []byte{'\n'}); lines != n+1 {
			t.Errorf("encodeFile(%d results) has %d lines; want %d", n, lines, n+1)
		}
		got, err := DecodeFile(data)
		if err != nil {
			t.Fatalf("DecodeFile(encodeFile(%d results)) = %v", n, err)
		}
		if d := diffResults(got, rs); d != "" {
			t.Errorf("DecodeFile(encodeFile(%d results)): %s", n, d)
		}
	}
}

func TestDecodeFileErrors(t *testing.T) {
	const (
		hdr1 = `{"version":1,"count":1}` + "\n"
		r    = `{"id":"0f8fad5b-d9cb-469f-a165-70867728950e","site_id":"s","probe":"p","kind":"tcp","start":"2025-11-25T17:00:00Z","duration_seconds":0.1,"up":true}`
	)
	tests := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "no complete header line"},
		{"header only, no newline", `{"version":1,"count":1}`, "no complete header line"},
		{"header only", hdr1, "truncated: 0 of the 1"},
		{"not an object", "[1]\n" + r + "\n", "not a JSON object"},
		{"header null", "null\n" + r + "\n", "not a JSON object"},
		{"version 0", `{"count":1}` + "\n" + r + "\n", "unsupported format version 0"},
		{"version 2", `{"version":2,"count":1}` + "\n" + r + "\n", "unsupported format version 2"},
		{"count 0", `{"version":1,"count":0}` + "\n", "want at least 1"},
		{"count negative", `{"version":1,"count":-5}` + "\n" + r + "\n", "want at least 1"},
		{"count not an integer", `{"version":1,"count":1.5}` + "\n" + r + "\n", "header"},
		{"unknown header field", `{"version":1,"count":1,"x":1}` + "\n" + r + "\n", `unknown field "x"`},
		{"header trailing data", `{"version":1,"count":1} 7` + "\n" + r + "\n", "data after the JSON object"},
		{"header too long", `{"version":1,"count":1` + strings.Repeat(" ", 300) + "}\n" + r + "\n", "header line longer"},
		{"unknown result field", hdr1 + strings.Replace(r, `"up"`, `"upp":1,"up"`, 1) + "\n", `unknown field "upp"`},
		{"result null", hdr1 + "null\n", "result 0: not a JSON object"},
		{"result wrong type", hdr1 + strings.Replace(r, `"up":true`, `"up":"yes"`, 1) + "\n", "result 0"},
		{"result bad time", hdr1 + strings.Replace(r, `2025-11-25T17:00:00Z`, `yesterday`, 1) + "\n", "result 0"},
		{"result two objects on a line", hdr1 + r + r + "\n", "data after the JSON object"},
		{"no final newline", hdr1 + r, "no final newline"},
		{"more results than count", hdr1 + r + "\n" + r + "\n", "more than the 1 results"},
		{"fewer results than count", `{"version":1,"count":3}` + "\n" + r + "\n" + r + "\n", "truncated: 2 of the 3"},
		{"blank line", hdr1 + "\n" + r + "\n", "not a JSON object"},
		{"huge count", `{"version":1,"count":9000000000}` + "\n" + r + "\n", "truncated: 1 of the 9000000000"},
	}
	for _, tt := range tests {
		rs, err := DecodeFile([]byte(tt.data))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: DecodeFile = %d results, %v; want an error containing %q", tt.name, len(rs), err, tt.wantErr)
		}
	}
	if rs, err := DecodeFile([]byte(hdr1 + r + "\n")); err != nil || len(rs) != 1 {
		t.Errorf("DecodeFile(valid) = %d results, %v; want 1, nil", len(rs), err)
	}
	big := make([]byte, MaxFileSize+1)
	if _, err := DecodeFile(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("DecodeFile(%d bytes) = %v; want ErrTooLarge", len(big), err)
	}
}

// TestSeedCorpus checks that the fuzz seeds named valid-* decode and those
// named invalid-* do not, so that the corpus stays what its names say.
func TestSeedCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzDecodeFile", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed corpus: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// The format is "go test fuzz v1\n[]byte(<Go string literal>)\n".
		lit, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(strings.TrimSpace(lit), ")")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a []byte seed: %v", p, err)
		}
		rs, err := DecodeFile([]byte(data))
		switch name := filepath.Base(p); {
		case strings.HasPrefix(name, "valid-") && err != nil:
			t.Errorf("%s: DecodeFile = %v; want it to decode", name, err)
		case strings.HasPrefix(name, "invalid-") && err == nil:
			t.Errorf("%s: DecodeFile = %d results, nil; want an error", name, len(rs))
		}
	}
}

// FuzzDecodeFile checks that DecodeFile never panics and that whatever it
// accepts survives a round trip: encode, decode, same results and the same
// bytes when encoded again. Seeds: testdata/fuzz/FuzzDecodeFile and a file
// written by encodeFile.
func FuzzDecodeFile(f *testing.F) {
	data, err := encodeFile(makeResults(f, 3, "seed"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := DecodeFile(data)
		if err != nil {
			if rs != nil {
				t.Errorf("DecodeFile returned %d results with error %v; want none", len(rs), err)
			}
			return
		}
		if len(rs) == 0 {
			t.Fatal("DecodeFile accepted a file without results")
		}
		enc, err := encodeFile(rs)
		if err != nil {
			t.Fatalf("encodeFile(DecodeFile(data)) = %v", err)
		}
		rs2, err := DecodeFile(enc)
		if err != nil {
			t.Fatalf("DecodeFile(encodeFile(DecodeFile(data))) = %v\n%s", err, enc)
		}
		if d := diffResults(rs2, rs); d != "" {
			t.Fatalf("round trip changed the results: %s", d)
		}
		enc2, err := encodeFile(rs2)
		if err != nil || !bytes.Equal(enc2, enc) {
			t.Fatalf("second encoding differs (%v):\n%s\n%s", err, enc, enc2)
		}
		for i := range rs {
			if !rs[i].Start.Equal(rs2[i].Start) {
				t.Fatalf("result %d: start %v became %v", i, rs[i].Start, rs2[i].Start)
			}
		}
		_ = fibremon.ValidateBatch(rs, testNow) // must not panic either
	})
}
