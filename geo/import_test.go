package geo_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"

	"fibremon"
	"fibremon/geo"
)

var (
	civicHeader    = strings.Join(geo.CivicColumns, ",") + "\n"
	coverageHeader = strings.Join(geo.CoverageColumns, ",") + "\n"
)

func errorsString(errs []geo.RowError) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, " | ")
}

func TestImportCivics(t *testing.T) {
	good := "019081,Via,Roma,5,9.69445,45.33473,,1,false,src\n"
	tests := []struct {
		name    string
		csv     string
		wantN   int
		wantErr []string // substrings of the errors, in order
	}{
		{"good", civicHeader + good, 1, nil},
		{"empty input", "", 0, []string{"line 1: missing header"}},
		{"header only", civicHeader, 0, nil},
		{"BOM, columns in another order", "\ufeffnumber,istat_code,street_type,street_name,lon,lat,hamlet,units,synthetic,source\n5,019081,Via,Roma,9.69,45.33,,1,true,\n", 1, nil},
		{"missing column", "istat_code,street_type\n", 0, []string{"line 1: street_name: missing column"}},
		{"unknown column", strings.TrimSuffix(civicHeader, "\n") + ",extra\n", 0, []string{"line 1: extra: unknown column"}},
		{"duplicate column", "istat_code,istat_code\n", 0, []string{"line 1: istat_code: duplicate column"}},
		{"bad rows and good ones", civicHeader +
			"19081,Via,Roma,1,9.69,45.33,,1,false,\n" + // line 2
			"019081,,Roma,2,9.69,45.33,,1,false,\n" + // line 3
			"019081,Via,...,3,9.69,45.33,,1,false,\n" + // line 4
			"019081,Via,Roma,tre,9.69,45.33,,1,false,\n" + // line 5
			"019081,Via,Roma,4,NaN,45.33,,1,false,\n" + // line 6
			"019081,Via,Roma,5,9.69,95,,1,false,\n" + // line 7
			"019081,Via,Roma,6,9.69,45.33,,-1,false,\n" + // line 8
			"019081,Via,Roma,7,9.69,45.33,,1,yes,\n" + // line 9
			"019081,Via,Roma,8,9.69,45.33,,1\n" + // line 10
			good + // line 11
			"019081,V.,ROMA,5,9.69,45.33,,1,false,\n" + // line 12: the same civic
			"019081,Via,\"Roma\nNuova\",9,9.69,45.33,,1,false,\n" + // line 13: a newline in a name
			"019081,Via,\"Roma,10,9.69,45.33,,1,false,\n", // line 15: unterminated quote
			1, []string{
				"line 2: istat_code", "line 3: street_type", "line 4: street_name", "line 5: number", "line 6: lon", "line 7: lon",
				"line 8: units", "line 9: synthetic", "line 10: 8 fields; want 10", "line 12: number: duplicate civic V. ROMA 5 (line 11)",
				"line 13: street_name", "line 15: CSV",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, errs := geo.ImportCivics(strings.NewReader(tt.csv))
			if len(addrs) != tt.wantN {
				t.Errorf("ImportCivics: %d addresses; want %d (errors: %s)", len(addrs), tt.wantN, errorsString(errs))
			}
			if len(errs) != len(tt.wantErr) {
				t.Fatalf("ImportCivics errors:\n%s\nwant %d: %q", errorsString(errs), len(tt.wantErr), tt.wantErr)
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.wantErr[i]) {
					t.Errorf("error %d = %q; want it to contain %q", i, e.Error(), tt.wantErr[i])
				}
			}
		})
	}
}

func TestImportCoverage(t *testing.T) {
	row := func(state, dates string) string {
		return "019081,Via,Roma,5,FTTH,1000,300,white," + state + "," + dates + ",Open Fiber,false,src\n"
	}
	tests := []struct {
		name    string
		line    string
		wantErr string // "" means valid
	}{
		{"all dates", row("active", "2019-01-01,2019-02-01,2019-03-01,2019-04-01,2019-05-01,2019-06-01,2019-07-01"), ""},
		{"skipped states", row("ready_for_sale", "2019-01-01,,,,,2019-06-01,"), ""},
		{"only its own date", row("active", ",,,,,,2019-07-01"), ""},
		{"same day twice", row("works", "2019-01-01,,2019-01-01,,,,"), ""},
		{"no state, no dates", row("", ",,,,,,"), ""},
		{"state without its date", row("works", "2019-01-01,,,,,,"), "line 2: works: missing"},
		{"a later state's date", row("works", "2019-01-01,,2019-03-01,,,2019-06-01,"), "line 2: ready_for_sale: set, but the state is \"works\""},
		{"dates out of order", row("active", "2019-05-01,,2019-03-01,,,,2019-07-01"), "line 2: works: 2019-03-01 is before planned"},
		{"no state but dates", row("", "2019-01-01,,,,,,"), "line 2: planned: set, but the state is \"none\""},
		{"bad date", row("planned", "2019-13-01,,,,,,"), "line 2: planned: want a date"},
		{"ancient date", row("planned", "1899-01-01,,,,,,"), "line 2: planned: 1899-01-01 out of range"},
		{"unknown state", row("live", ",,,,,,"), "line 2: state"},
		{"unknown technology", "019081,Via,Roma,5,fibre,1000,300,white,,,,,,,,,OF,false,\n", "line 2: technology"},
		{"negative speed", "019081,Via,Roma,5,FTTH,-1,300,white,,,,,,,,,OF,false,\n", "line 2: max_down_mbps"},
		{"absurd speed", "019081,Via,Roma,5,FTTH,1e9,300,white,,,,,,,,,OF,false,\n", "line 2: max_down_mbps"},
		{"unknown area class", "019081,Via,Roma,5,FTTH,1000,300,bianca,,,,,,,,,OF,false,\n", "line 2: area_class"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs := geo.ImportCoverage(strings.NewReader(coverageHeader + tt.line))
			if tt.wantErr == "" {
				if len(errs) > 0 || len(rows) != 1 {
					t.Fatalf("ImportCoverage: %d rows, errors %s; want 1 row", len(rows), errorsString(errs))
				}
				if rows[0].Line != 2 {
					t.Errorf("row Line = %d; want 2", rows[0].Line)
				}
				return
			}
			if len(rows) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr) {
				t.Errorf("ImportCoverage: %d rows, errors %q; want one containing %q", len(rows), errorsString(errs), tt.wantErr)
			}
		})
	}
}

func TestMergeCoverage(t *testing.T) {
	civics, errs := geo.ImportCivics(strings.NewReader(civicHeader +
		"019081,Via,Roma,5,9.69445,45.33473,,1,false,ANNCSU\n" +
		"019081,Piazza,Dante,3A,9.6925,45.332,,2,false,ANNCSU\n"))
	if len(errs) > 0 {
		t.Fatal(errorsString(errs))
	}
	cov, errs := geo.ImportCoverage(strings.NewReader(coverageHeader +
		"019081,V.,ROMA,5,FTTH,1000,300,white,active,,,,,,,2021-04-02,Open Fiber,true,generated\n" + // line 2
		"019081,P.zza,Dante,3/a,FTTB,1000,100,black,planned,2024-01-01,,,,,,,X,false,\n" + // line 3
		"019081,Via,Roma,6,FTTH,1000,300,white,,,,,,,,,OF,false,\n" + // line 4: no such number
		"019081,Via,Verdi,1,FTTH,1000,300,white,,,,,,,,,OF,false,\n" + // line 5: no such street
		"019082,Via,Roma,5,FTTH,1000,300,white,,,,,,,,,OF,false,\n")) // line 6: another comune
	if len(errs) > 0 {
		t.Fatal(errorsString(errs))
	}
	merged, unmatched := geo.MergeCoverage(civics, cov)
	want := []string{"line 4: number: no civic Via Roma 6", "line 5: street_name: no civic Via Verdi 1", "line 6: street_name"}
	if len(unmatched) != len(want) {
		t.Fatalf("unmatched = %s; want %q", errorsString(unmatched), want)
	}
	for i, w := range want {
		if !strings.Contains(unmatched[i].Error(), w) {
			t.Errorf("unmatched[%d] = %q; want %q", i, unmatched[i].Error(), w)
		}
	}
	roma, dante := merged[0], merged[1]
	if roma.Technology != fibremon.FTTH || roma.State != fibremon.RolloutActive || !roma.Synthetic || roma.Source != "ANNCSU; coverage: generated" {
		t.Errorf("merged Via Roma 5 = %+v", roma)
	}
	if dante.Technology != fibremon.FTTB || dante.AreaClass != geo.Black || dante.Synthetic || dante.Source != "ANNCSU" {
		t.Errorf("merged Piazza Dante 3A = %+v", dante)
	}
	if civics[0].Technology != fibremon.Unknown || civics[0].StateDates != nil {
		t.Error("MergeCoverage modified its input")
	}
	for i := range merged {
		if err := merged[i].Validate(); err != nil {
			t.Errorf("merged %s: %v", merged[i].Label(), err)
		}
	}
	// A second row for the same civic.
	_, unmatched = geo.MergeCoverage(civics, []geo.CoverageRow{cov[0], cov[0]})
	if len(unmatched) != 1 || !strings.Contains(unmatched[0].Error(), "second coverage row") {
		t.Errorf("MergeCoverage(same row twice) unmatched = %s", errorsString(unmatched))
	}
}

func TestImportGeoJSON(t *testing.T) {
	feature := func(coords string, props map[string]any) string {
		b, _ := json.Marshal(props)
		return `{"type": "Feature", "geometry": {"type": "Point", "coordinates": ` + coords + `}, "properties": ` + string(b) + `}`
	}
	civic := map[string]any{"istat_code": "019081", "street_type": "Via", "street_name": "Roma", "number": "5", "hamlet": nil, "units": 3, "synthetic": true, "source": "test"}
	withCoverage := map[string]any{}
	for k, v := range civic {
		withCoverage[k] = v
	}
	for k, v := range map[string]any{"number": "7", "technology": "FTTH", "max_down_mbps": 1000, "max_up_mbps": 300, "area_class": "white",
		"state": "active", "planned": "2019-03-01", "active": "2021-04-02", "operator": "Open Fiber", "label": "ignored"} {
		withCoverage[k] = v
	}
	badState := map[string]any{}
	for k, v := range withCoverage {
		badState[k] = v
	}
	badState["number"], badState["active"] = "9", nil
	text := `{
 "type": "FeatureCollection",
 "name": "civics",
 "features": [
  ` + feature("[9.69445, 45.33473]", civic) + `,
  ` + feature("[9.6946, 45.3348, 80]", withCoverage) + `,
  ` + feature("[9.6946]", civic) + `,
  ` + feature("[9.6946, 45.3348]", badState) + `,
  {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[9.69, 45.33], [9.7, 45.3]]}, "properties": {}},
  {"type": "Feature", "geometry": null, "properties": {"number": {"x": 1}}},
  ` + feature("[9.69445, 45.33473]", civic) + `
 ]
}`
	addrs, errs := geo.ImportGeoJSON(strings.NewReader(text))
	if len(addrs) != 2 {
		t.Fatalf("ImportGeoJSON: %d addresses; want 2 (errors %s)", len(addrs), errorsString(errs))
	}
	want := []string{"line 7: geometry: want coordinates [lon, lat]", "line 8: active: missing", "line 9: geometry: want a Point", "line 10: geometry", "line 11: number: duplicate civic Via Roma 5 (line 5)"}
	if len(errs) != len(want) {
		t.Fatalf("errors %s; want %q", errorsString(errs), want)
	}
	for i, w := range want {
		if !strings.Contains(errs[i].Error(), w) {
			t.Errorf("error %d = %q; want %q", i, errs[i].Error(), w)
		}
	}
	if a := addrs[0]; a.Label() != "Via Roma 5" || a.Units != 3 || a.Technology != fibremon.Unknown || a.Point.Lon() != 9.69445 {
		t.Errorf("first address = %+v", a)
	}
	if a := addrs[1]; a.Technology != fibremon.FTTH || a.State != fibremon.RolloutActive || a.Since().Format("2006-01-02") != "2021-04-02" || a.Source != "test" {
		t.Errorf("second address = %+v", a)
	}

	for _, tt := range []struct{ name, text, want string }{
		{"not JSON", "{\n\"type\": ", "line 2: JSON"},
		{"not a collection", `{"type": "Feature", "features": []}`, "type"},
		{"array", `[]`, "not a GeoJSON object"},
		{"no features", `{"type": "FeatureCollection"}`, "features: missing"},
		{"trailing data", `{"type": "FeatureCollection", "features": []} {}`, "data after"},
		{"features not an array", `{"type": "FeatureCollection", "features": {}}`, "features: want an array"},
	} {
		addrs, errs := geo.ImportGeoJSON(strings.NewReader(tt.text))
		if len(addrs) != 0 || len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("%s: ImportGeoJSON = %d addresses, %s; want one error containing %q", tt.name, len(addrs), errorsString(errs), tt.want)
		}
	}
}

// TestImportBounds checks what bounds an import: not its rows, but the
// length of one row and the number of errors listed.
func TestImportBounds(t *testing.T) {
	t.Parallel() // CPU-bound parts, each on its own input
	// More rows than the old bound of 200,000, streamed through a pipe by a
	// writer that holds none of them; bad rows are reported by line.
	t.Run("many rows", func(t *testing.T) {
		t.Parallel()
		const rows = 250000
		bad := map[int]string{100000: "units", 200001: "lat", rows + 1: "number"} // by line
		pr, pw := io.Pipe()
		go func() {
			w := bufio.NewWriter(pw)
			w.WriteString(civicHeader)
			for line := 2; line <= rows+1; line++ {
				n := line - 2
				street := fmt.Sprintf("Strada %d", n/50000)
				switch bad[line] {
				case "units":
					fmt.Fprintf(w, "019081,Via,%s,%d,9.69,45.33,,-1,true,x\n", street, n%50000+1)
				case "lat":
					fmt.Fprintf(w, "019081,Via,%s,%d,9.69,north,,1,true,x\n", street, n%50000+1)
				case "number":
					fmt.Fprintf(w, "019081,Via,%s,%d,9.69,45.33,,1,true,x\n", "Strada 0", 1) // a duplicate of line 2
				default:
					fmt.Fprintf(w, "019081,Via,%s,%d,9.69,45.33,,1,true,x\n", street, n%50000+1)
				}
			}
			pw.CloseWithError(w.Flush())
		}()
		addrs, errs := geo.ImportCivics(pr)
		if len(addrs) != rows-len(bad) {
			t.Errorf("ImportCivics(%d rows, %d bad) = %d addresses; want %d", rows, len(bad), len(addrs), rows-len(bad))
		}
		want := []string{"line 100000: units", "line 200001: lat", fmt.Sprintf("line %d: number: duplicate civic Via Strada 0 1 (line 2)", rows+1)}
		if len(errs) != len(want) {
			t.Fatalf("errors: %s; want %q", errorsString(errs), want)
		}
		for i, w := range want {
			if !strings.HasPrefix(errs[i].Error(), w) {
				t.Errorf("errors[%d] = %q; want it to start with %q", i, errs[i].Error(), w)
			}
		}
	})
	// Many bad rows: the list is bounded.
	t.Run("bad rows", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		b.WriteString(civicHeader)
		for range 5000 {
			b.WriteString("bad\n")
		}
		_, errs := geo.ImportCivics(&b)
		if len(errs) != 1001 || errs[1000].Msg != "4000 more bad rows not listed" || errs[999].Line != 1001 {
			t.Errorf("ImportCivics(5000 bad rows): %d errors, last %q", len(errs), errs[len(errs)-1])
		}
	})
	// A row longer than MaxRowBytes refuses the input, on the line it
	// starts on, whether it is one line or many (a quoted field).
	t.Run("long row", func(t *testing.T) {
		t.Parallel()
		good := "019081,Via,Roma,5,9.69,45.33,,1,false,x\n"
		long := strings.Repeat("x", geo.MaxRowBytes+1)
		quoted := `"` + strings.Repeat("x\n", geo.MaxRowBytes/2+1) + `"`
		for _, tc := range []struct {
			input string
			line  int
		}{
			{civicHeader + good + "019081,Via,Roma,6,9.69,45.33,,1,false," + long + "\n" + good, 3},
			{civicHeader + good + good + "019081,Via,Roma,6,9.69,45.33,,1,false," + quoted + "\n" + good, 4},
			{long + "\n" + good, 1},
		} {
			addrs, errs := geo.ImportCivics(strings.NewReader(tc.input))
			if len(addrs) != 0 || len(errs) != 1 || errs[0].Line != tc.line || !strings.Contains(errs[0].Msg, "a row longer than 64 KiB: refused") {
				t.Errorf("ImportCivics(long row on line %d) = %d addresses, %.200s", tc.line, len(addrs), errorsString(errs))
			}
		}
		// Just below the bound, the row is read (and its source is too long).
		_, errs := geo.ImportCivics(strings.NewReader(civicHeader + "019081,Via,Roma,6,9.69,45.33,,1,false," + strings.Repeat("x", geo.MaxRowBytes-5000) + "\n"))
		if len(errs) != 1 || errs[0].Field != "source" {
			t.Errorf("ImportCivics(row of 60 KiB) = %.200s; want a source error", errorsString(errs))
		}
	})
	// A read error (a truncated gzip stream, a broken connection) refuses
	// the input: the rest of it is not known.
	t.Run("read error", func(t *testing.T) {
		t.Parallel()
		r := io.MultiReader(strings.NewReader(civicHeader+"019081,Via,Roma,5,9.69,45.33,,1,false,x\n019081,Via,Ro"), iotest.ErrReader(io.ErrUnexpectedEOF))
		addrs, errs := geo.ImportCivics(r)
		if len(addrs) != 0 || len(errs) != 1 || errs[0].Line != 3 || !strings.Contains(errs[0].Msg, "read: unexpected EOF") {
			t.Errorf("ImportCivics(read error on line 3) = %d addresses, %s", len(addrs), errorsString(errs))
		}
	})
}

// TestImportStreamsInBoundedMemory imports 80 MiB of rows (all bad, so
// that nothing is kept) through a pipe and samples the heap as it goes: a
// reader that held the input would hold all 80 MiB. It does not run in
// parallel, so that the heap is this test's.
func TestImportStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("80 MiB of input")
	}
	const total = 80 << 20
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	pr, pw := io.Pipe()
	go func() {
		row := []byte("019081,Via,Roma,1,9.69,45.33,,1,false,x," + strings.Repeat("y", 1000) + "\n") // 11 fields
		pw.Write([]byte(civicHeader))
		for n := 0; n < total; n += len(row) {
			if n%(4<<20) < len(row) {
				// Collect first: what counts is what the importer holds,
				// not garbage the collector has yet to reclaim (which
				// grows with the live heap of the other tests' data).
				runtime.GC()
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
			if _, err := pw.Write(row); err != nil {
				return
			}
		}
		pw.Close()
	}()
	addrs, errs := geo.ImportCivics(pr)
	if len(addrs) != 0 || len(errs) != 1001 || !strings.HasSuffix(errs[1000].Msg, "more bad rows not listed") {
		t.Fatalf("ImportCivics = %d addresses, %d errors; want none and 1,001 (the last counting the rest)", len(addrs), len(errs))
	}
	if grew := int64(peak) - int64(base); grew > 24<<20 {
		t.Errorf("the heap grew by %d MiB while importing %d MiB; want at most 24 MiB", grew>>20, total>>20)
	}
	t.Logf("heap grew by at most %.1f MiB while importing %d MiB", float64(int64(peak)-int64(base))/(1<<20), total>>20)
}

// repeatReader yields line over and over, n bytes in all.
type repeatReader struct {
	line []byte
	n    int
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	k := 0
	for k < len(p) && r.n > 0 {
		c := copy(p[k:min(len(p), k+r.n)], r.line[r.off:])
		r.off = (r.off + c) % len(r.line)
		k += c
		r.n -= c
	}
	return k, nil
}

// checkImport is the fuzz property of every importer: no panic (the fuzz
// engine catches it), every address valid, every error on a line of the
// input (0 is the input as a whole).
func checkImport(t *testing.T, input string, addrs []geo.Address, errs []geo.RowError) {
	t.Helper()
	lines := strings.Count(input, "\n") + 1
	for i := range addrs {
		if err := addrs[i].Validate(); err != nil {
			t.Fatalf("address %d (%q) does not validate: %v", i, addrs[i].Label(), err)
		}
	}
	for _, e := range errs {
		if e.Line < 0 || e.Line > lines {
			t.Fatalf("error %q on line %d; the input has %d lines", e.Error(), e.Line, lines)
		}
	}
}

func mustReadTestdata(f *testing.F, name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}

func FuzzImportCivics(f *testing.F) {
	f.Add(mustReadTestdata(f, geo.CivicsFile))
	f.Add(civicHeader + "019081,Via,\"Roma\",5 bis,9.69,45.33,,1,true,\"a, b\"\n")
	f.Fuzz(func(t *testing.T, input string) {
		addrs, errs := geo.ImportCivics(strings.NewReader(input))
		checkImport(t, input, addrs, errs)
	})
}

func FuzzImportCoverage(f *testing.F) {
	f.Add(mustReadTestdata(f, geo.CoverageFile))
	f.Add(coverageHeader + "019081,Via,Roma,5,FTTH,1000,300,white,works,2019-01-01,,2019-03-01,,,,,OF,false,\n")
	f.Fuzz(func(t *testing.T, input string) {
		rows, errs := geo.ImportCoverage(strings.NewReader(input))
		checkImport(t, input, nil, errs)
		lines := strings.Count(input, "\n") + 1
		for _, r := range rows {
			if r.Line < 2 || r.Line > lines {
				t.Fatalf("row on line %d; the input has %d lines", r.Line, lines)
			}
		}
		// Joined to civics made from the rows themselves, every row
		// matches and every merged address validates.
		var civics []geo.Address
		for _, r := range rows {
			civic := civicHeader + fmt.Sprintf("%s,%q,%q,%s,9.69,45.33,,1,false,\n", r.ISTATCode, r.StreetType, r.StreetName, r.Number)
			as, _ := geo.ImportCivics(strings.NewReader(civic))
			civics = append(civics, as...)
		}
		merged, _ := geo.MergeCoverage(civics, rows)
		checkImport(t, input, merged, nil)
	})
}

func FuzzImportGeoJSON(f *testing.F) {
	f.Add(`{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [9.69445, 45.33473]},
 "properties": {"istat_code": "019081", "street_type": "Via", "street_name": "Roma", "number": "5", "units": 3, "synthetic": true, "source": "x",
 "technology": "FTTH", "max_down_mbps": 1000, "max_up_mbps": 300, "area_class": "white", "state": "active", "active": "2021-04-02"}}]}`)
	f.Add(`{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null, "properties": null}]}`)
	f.Fuzz(func(t *testing.T, input string) {
		addrs, errs := geo.ImportGeoJSON(strings.NewReader(input))
		checkImport(t, input, addrs, errs)
	})
}
