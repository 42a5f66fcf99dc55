package influx_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/influx"
	"fibremon/internal/testing/influxtest"
	"fibremon/internal/testing/storetest"
)

func TestMain(m *testing.M) { os.Exit(influxtest.Main(m)) }

// open opens a store on bucket of srv and closes it when t ends.
func open(t testing.TB, srv *influxtest.Server, bucket string) *influx.Store {
	t.Helper()
	s, err := influx.New(t.Context(), influx.Config{URL: srv.URL, Token: srv.Token, Bucket: bucket, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the suite the SQLite store passes against a real
// influxd: a fresh database per subtest, and a new Store on the same
// bucket for SurvivesReopen; with Latest reading through InfluxQL (as it
// does on InfluxDB 1.8), and through Flux (as on a server whose /query
// does not answer for the bucket).
func TestConformance(t *testing.T) {
	srv := influxtest.Shared(t)
	for _, flux := range []bool{false, true} {
		name := map[bool]string{false: "InfluxQL", true: "Flux"}[flux]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t,
				func(t *testing.T) storetest.Store {
					return openWith(t, srv, srv.NewDatabase(t), flux)
				},
				func(t *testing.T, s storetest.Store) storetest.Store {
					st := s.(*influx.Store)
					if err := st.Close(); err != nil {
						t.Fatal(err)
					}
					return openWith(t, srv, st.Config().Bucket, flux)
				})
		})
	}
}

// openWith opens a store as open does; with flux, Latest reads through
// Flux. Without, it checks that the store found InfluxQL.
func openWith(t testing.TB, srv *influxtest.Server, bucket string, flux bool) *influx.Store {
	t.Helper()
	s := open(t, srv, bucket)
	if !s.UsesInfluxQL() {
		t.Fatal("the store does not read through InfluxQL on InfluxDB 1.8")
	}
	if flux {
		s.UseFlux()
	}
	return s
}

// TestSameStart: different results of one site, probe and kind that start
// in the same nanosecond are all kept (their IDs put them on different
// points) and read back with their true start; retrying them stores
// nothing new, through the same store (counted as duplicates) or another
// replica's (counted as stored: it cannot tell, but overwrites).
func TestSameStart(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s, replica := open(t, srv, bucket), open(t, srv, bucket)
	start := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	mk := func(up bool) fibremon.Result { return storetest.Result("zappello", fibremon.KindHTTP, start, up) }
	a, b, c := mk(true), mk(false), mk(true)
	if n, err := s.WriteResults(t.Context(), []fibremon.Result{a, b}); err != nil || n != 2 {
		t.Fatalf("WriteResults(a, b) = %d, %v; want 2, nil", n, err)
	}
	if n, err := s.WriteResults(t.Context(), []fibremon.Result{c, a}); err != nil || n != 1 {
		t.Fatalf("WriteResults(c, a) = %d, %v; want 1 (a is a duplicate), nil", n, err)
	}
	if n, err := s.WriteResults(t.Context(), []fibremon.Result{a, b, c}); err != nil || n != 0 {
		t.Fatalf("retry of a, b, c = %d, %v; want 0, nil", n, err)
	}
	if n, err := replica.WriteResults(t.Context(), []fibremon.Result{a, b, c}); err != nil || n != 3 {
		t.Fatalf("retry of a, b, c through another replica = %d, %v; want 3 (it cannot tell), nil", n, err)
	}
	got, err := s.Results(t.Context(), fibremon.Query{SiteID: "zappello"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID)
		if !r.Start.Equal(start) {
			t.Errorf("result %s start %v; want %v", r.ID, r.Start, start)
		}
		if want := map[string]bool{a.ID: true, b.ID: false, c.ID: true}[r.ID]; r.Up != want {
			t.Errorf("result %s up = %v; want %v (fields of another result?)", r.ID, r.Up, want)
		}
	}
	slices.Sort(ids)
	want := []string{a.ID, b.ID, c.ID}
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("stored IDs %v; want %v", ids, want)
	}
	db, _, _ := strings.Cut(bucket, "/")
	if rows := srv.QueryResult(t, db, `SELECT "result_id" FROM "probe_result"`); len(rows) != 3 {
		t.Fatalf("InfluxDB holds %d points; want 3: %v", len(rows), rows)
	}
	for _, flux := range []bool{false, true} {
		latest, err := openWith(t, srv, bucket, flux).Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// same start: the tie goes to the greatest ID
		if l := latest["zappello"]; len(l) != 1 || !l[0].Start.Equal(start) || l[0].ID != want[2] {
			t.Fatalf("flux %v: Latest[zappello] = %+v; want http result %s at %v", flux, l, want[2], start)
		}
	}
}

// TestSameSecond: many results of one series in one second, whose points
// lie in that second in the order of their IDs, not of their starts. Reads
// still go by true start: a time range that cuts the second, a limit that
// cuts it, the newest result, availability since a moment within it.
func TestSameSecond(t *testing.T) {
	srv := influxtest.Shared(t)
	s := open(t, srv, srv.NewDatabase(t))
	sec := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var batch []fibremon.Result // newest first, 50 ms apart
	for i := range 20 {
		batch = append(batch, storetest.Result("bolzone", fibremon.KindTCP, sec.Add(time.Duration(19-i)*50*time.Millisecond), i%4 != 0))
	}
	// and one result a second before and after
	before := storetest.Result("bolzone", fibremon.KindTCP, sec.Add(-700*time.Millisecond), true)
	after := storetest.Result("bolzone", fibremon.KindTCP, sec.Add(1200*time.Millisecond), false)
	if _, err := s.WriteResults(t.Context(), append([]fibremon.Result{before, after}, batch...)); err != nil {
		t.Fatal(err)
	}
	all := append(append([]fibremon.Result{after}, batch...), before)
	for _, c := range []struct {
		name string
		q    fibremon.Query
		want []fibremon.Result
	}{
		{"all", fibremon.Query{SiteID: "bolzone"}, all},
		{"since within the second", fibremon.Query{SiteID: "bolzone", Since: sec.Add(420 * time.Millisecond)}, all[:1+11]},
		{"until within the second", fibremon.Query{SiteID: "bolzone", Until: sec.Add(420 * time.Millisecond)}, all[1+11:]},
		{"both within the second", fibremon.Query{Since: sec.Add(100 * time.Millisecond), Until: sec.Add(300 * time.Millisecond)}, batch[14:18]},
		{"limit cuts the second", fibremon.Query{SiteID: "bolzone", Limit: 5}, all[:5]},
		{"limit cuts the second, whole seconds", fibremon.Query{SiteID: "bolzone", Since: sec.Add(-time.Second), Until: sec.Add(2 * time.Second), Limit: 7}, all[:7]},
		{"since on the second, limit", fibremon.Query{Since: sec, Limit: 3}, all[:3]},
	} {
		got, err := s.Results(t.Context(), c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.EqualFunc(got, c.want, same) {
			t.Errorf("%s: got %d results %v; want %d %v", c.name, len(got), starts(got), len(c.want), starts(c.want))
		}
	}
	// The newest of the series is after, in the next second; without it,
	// the newest of the crowded second. Through InfluxQL and Flux, each
	// store's first call (a full read).
	crowded := srv.NewDatabase(t)
	if _, err := open(t, srv, crowded).WriteResults(t.Context(), append([]fibremon.Result{before}, batch...)); err != nil {
		t.Fatal(err)
	}
	for _, flux := range []bool{false, true} {
		r := openWith(t, srv, s.Config().Bucket, flux)
		latest, err := r.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if l := latest["bolzone"]; len(l) != 1 || l[0].ID != after.ID {
			t.Errorf("flux %v: Latest[bolzone] = %v; want %s", flux, l, after.ID)
		}
		r2 := openWith(t, srv, crowded, flux)
		if latest, err = r2.Latest(t.Context()); err != nil {
			t.Fatal(err)
		}
		if l := latest["bolzone"]; len(l) != 1 || l[0].ID != batch[0].ID {
			t.Errorf("flux %v: Latest[bolzone] of the crowded second = %v; want %s, started last", flux, l, batch[0].ID)
		}
	}
	// Availability since 420 ms into the second: the 11 newest of the
	// second (up unless i%4 == 0) and after (down).
	avail, err := s.Availability(t.Context(), sec.Add(420*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	want := fibremon.Tally{Total: 12}
	for _, r := range all[:12] {
		if r.Up {
			want.Up++
		}
	}
	if avail["bolzone"] != want {
		t.Errorf("Availability since 420 ms into the second = %+v; want %+v", avail["bolzone"], want)
	}
}

func starts(rs []fibremon.Result) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Start.Format("05.000"))
	}
	return out
}

// TestLongBatch: a batch spread over days (a probe back from a long
// outage) is written in one request and read back whole; sent again, the
// results this store wrote before are counted as duplicates.
func TestLongBatch(t *testing.T) {
	srv := influxtest.Shared(t)
	s := open(t, srv, srv.NewDatabase(t))
	now := time.Now().UTC()
	var batch []fibremon.Result
	for i := range 40 {
		batch = append(batch, storetest.Result("bolzone", fibremon.KindTCP, now.Add(-time.Duration(i*i)*time.Hour), true))
	}
	if n, err := s.WriteResults(t.Context(), batch[:25]); err != nil || n != 25 {
		t.Fatalf("first WriteResults = %d, %v; want 25", n, err)
	}
	if n, err := s.WriteResults(t.Context(), batch); err != nil || n != 15 {
		t.Fatalf("second WriteResults = %d, %v; want 15 new", n, err)
	}
	got, err := s.Results(t.Context(), fibremon.Query{SiteID: "bolzone"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 40 {
		t.Fatalf("%d results stored; want 40", len(got))
	}
}

// TestSchema checks the contract dashboards rely on (SCHEMA.md): the
// measurement, the tags (no UUID among them), the fields and their types.
func TestSchema(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s := open(t, srv, bucket)
	now := time.Now().UTC()
	batch := []fibremon.Result{
		storetest.Result("municipio", fibremon.KindDownload, now.Add(-time.Minute), true),
		storetest.Result("municipio", fibremon.KindLatency, now.Add(-time.Minute), false),
	}
	if _, err := s.WriteResults(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	db, _, _ := strings.Cut(bucket, "/")
	tags := srv.QueryResult(t, db, "SHOW TAG KEYS FROM probe_result")
	if want := "kind,probe,site_id"; strings.Join(column(tags, 0), ",") != want {
		t.Errorf("tag keys %v; want %s", tags, want)
	}
	fields := map[string]string{}
	for _, row := range srv.QueryResult(t, db, "SHOW FIELD KEYS FROM probe_result") {
		fields[row[0]] = row[1]
	}
	want := map[string]string{
		"result_id": "string", "duration_seconds": "float", "up": "boolean", "error": "string",
		"method": "string", "target": "string",
		"download_bytes_per_second": "float", "transferred_bytes": "float",
	}
	for f, typ := range want {
		if fields[f] != typ {
			t.Errorf("field %s has type %q; want %q", f, fields[f], typ)
		}
	}
	// The InfluxQL view dashboards may use: the latest download speed.
	rows := srv.QueryResult(t, db, `SELECT last("download_bytes_per_second") FROM probe_result WHERE site_id = 'municipio' AND kind = 'download'`)
	if len(rows) != 1 || rows[0][1] != "1.25e+07" {
		t.Errorf("InfluxQL last download speed: %v; want 1.25e+07", rows)
	}
}

func column(rows [][]string, i int) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[i])
	}
	return out
}

// TestNewChecks: New refuses, with the URL in the message, a server that
// does not answer, a bucket that does not exist and a wrong token.
func TestNewChecks(t *testing.T) {
	t.Parallel() // its own influxd (a start takes seconds of CPU: Flux)
	srv := influxtest.StartWithOptions(t, influxtest.Options{Auth: true})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	for _, c := range []struct {
		name string
		cfg  influx.Config
		kind fibremon.ErrorKind
		msg  string
	}{
		{"no server", influx.Config{URL: closed, Bucket: "fibremon/autogen"}, fibremon.Transient, closed + " does not answer"},
		{"wrong token", influx.Config{URL: srv.URL, Token: "admin:wrong", Bucket: srv.Bucket}, fibremon.Unauthorized, srv.URL + " refused the token"},
		{"no token", influx.Config{URL: srv.URL, Bucket: srv.Bucket}, fibremon.Unauthorized, "refused the token"},
		{"no bucket", influx.Config{URL: srv.URL, Token: srv.Token, Bucket: "nope/autogen"}, fibremon.NotFound, `no bucket "nope/autogen"`},
		{"no retention policy", influx.Config{URL: srv.URL, Token: srv.Token, Bucket: "fibremon/nope"}, fibremon.NotFound, `no bucket "fibremon/nope"`},
		{"bad URL", influx.Config{URL: "127.0.0.1:8086", Bucket: "b"}, fibremon.Invalid, "want http(s)://host:port"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := influx.New(t.Context(), c.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if fibremon.KindOf(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("New: %v (%v); want kind %v and %q", err, fibremon.KindOf(err), c.kind, c.msg)
			}
		})
	}
	// and accepts the right token, with which InfluxQL answers too
	if !open(t, srv, srv.Bucket).UsesInfluxQL() {
		t.Error("with auth-enabled, the store does not read through InfluxQL")
	}
}

// TestServerDown: with influxd stopped every call fails Transient (503 to
// a probe, which keeps its batch); after a restart the batch goes in and
// what was written before is still there.
func TestServerDown(t *testing.T) {
	t.Parallel() // its own influxd (a start takes seconds of CPU: Flux)
	srv := influxtest.Start(t)
	s := open(t, srv, srv.Bucket)
	now := time.Now().UTC()
	batch := func(from time.Duration, n int) []fibremon.Result {
		var rs []fibremon.Result
		for i := range n {
			kind := []fibremon.Kind{fibremon.KindHTTP, fibremon.KindLatency, fibremon.KindDownload}[i%3]
			rs = append(rs, storetest.Result("municipio", kind, now.Add(-from+time.Duration(i)*time.Second), i%7 != 0))
		}
		return rs
	}
	before, during := batch(time.Hour, 60), batch(30*time.Minute, 20)
	if _, err := s.WriteResults(t.Context(), before); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for name, call := range map[string]func() error{
		"WriteResults": func() error { _, err := s.WriteResults(ctx, during); return err },
		"Ping":         func() error { return s.Ping(ctx) },
		"Results":      func() error { _, err := s.Results(ctx, fibremon.Query{}); return err },
		"Latest":       func() error { _, err := s.Latest(ctx); return err },
		"Availability": func() error { _, err := s.Availability(ctx, now.Add(-time.Hour)); return err },
	} {
		if err := call(); fibremon.KindOf(err) != fibremon.Transient {
			t.Errorf("%s with influxd down: %v (%v); want a Transient error", name, err, fibremon.KindOf(err))
		} else if !strings.Contains(err.Error(), srv.URL) {
			t.Errorf("%s: error %q does not name %s", name, err, srv.URL)
		}
	}
	srv.Restart(t)
	if n, err := s.WriteResults(t.Context(), append(before[50:], during...)); err != nil || n != len(during) {
		t.Fatalf("after restart: WriteResults = %d, %v; want %d new, nil", n, err, len(during))
	}
	// Everything reads back intact, from before and after the restart.
	got, err := s.Results(t.Context(), fibremon.Query{SiteID: "municipio", Since: now.Add(-24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := append(before, during...)
	slices.SortFunc(want, func(a, b fibremon.Result) int { return b.Start.Compare(a.Start) })
	if len(got) != len(want) {
		t.Fatalf("after restart: %d results; want %d", len(got), len(want))
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Errorf("result %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// TestWriteRefused: a token that may not write gets a Transient error (a
// probe keeps its results until an operator fixes the grant).
func TestWriteRefused(t *testing.T) {
	t.Parallel() // its own influxd (a start takes seconds of CPU: Flux)
	srv := influxtest.StartWithOptions(t, influxtest.Options{Auth: true})
	for _, q := range []string{"CREATE USER reader WITH PASSWORD 'pw'", "GRANT READ ON fibremon TO reader"} {
		if err := srv.Query(q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := influx.New(t.Context(), influx.Config{URL: srv.URL, Token: "reader:pw", Bucket: srv.Bucket})
	if fibremon.KindOf(err) != fibremon.Forbidden || !strings.Contains(err.Error(), "may not use bucket") {
		t.Fatalf("New with a read-only user: %v; want Forbidden", err)
	}
	s := open(t, srv, srv.Bucket)
	if err := srv.Query("REVOKE ALL PRIVILEGES FROM admin"); err != nil {
		t.Fatal(err)
	}
	// admin is no longer an admin: a write to fibremon is refused.
	_, err = s.WriteResults(t.Context(), []fibremon.Result{storetest.Result("municipio", fibremon.KindTCP, time.Now(), true)})
	if fibremon.KindOf(err) != fibremon.Transient {
		t.Fatalf("write refused: %v (%v); want Transient", err, fibremon.KindOf(err))
	}
}

func ExampleConfig() {
	// InfluxDB 1.8 with auth: the token is user:password, the bucket
	// database/retention-policy.
	fmt.Printf("%+v\n", influx.Config{URL: "http://influxdb:8086", Token: "fibremon:secret", Bucket: "fibremon/autogen"})
	// Output: {URL:http://influxdb:8086 Token:fibremon:secret Org: Bucket:fibremon/autogen Timeout:0s Logger:<nil>}
}

// same reports whether a and b are the same result, field by field.
func same(a, b fibremon.Result) bool {
	if a.ID != b.ID || a.SiteID != b.SiteID || a.Probe != b.Probe || a.Kind != b.Kind || a.Method != b.Method ||
		a.Target != b.Target || !a.Start.Equal(b.Start) || a.DurationSeconds != b.DurationSeconds ||
		a.Up != b.Up || a.Error != b.Error || len(a.Values) != len(b.Values) {
		return false
	}
	for k, v := range a.Values {
		if w, ok := b.Values[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSchemaExamples runs every query of SCHEMA.md against a bucket of
// results: each must run and return rows. Grafana's v record and macros
// are given values.
func TestSchemaExamples(t *testing.T) {
	doc, err := os.ReadFile("SCHEMA.md")
	if err != nil {
		t.Fatal(err)
	}
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	db, _, _ := strings.Cut(bucket, "/")
	s := open(t, srv, bucket)
	now := time.Now().UTC()
	var batch []fibremon.Result
	for i := range 30 {
		for _, site := range []string{"municipio", "scuola-primaria"} {
			for _, kind := range fibremon.Kinds {
				batch = append(batch, storetest.Result(site, kind, now.Add(-time.Duration(i)*10*time.Minute), i%5 != 0))
			}
		}
	}
	if _, err := s.WriteResults(t.Context(), batch); err != nil {
		t.Fatal(err)
	}
	blocks := codeBlocks(string(doc))
	if len(blocks["flux"]) < 5 || len(blocks["sql"]) < 2 {
		t.Fatalf("SCHEMA.md has %d flux and %d sql examples; want at least 5 and 2", len(blocks["flux"]), len(blocks["sql"]))
	}
	grafana := "v = {timeRangeStart: -1d, timeRangeStop: now(), windowPeriod: 30m}\n"
	for i, q := range blocks["flux"] {
		q = strings.ReplaceAll(q, `"fibremon/autogen"`, `"`+bucket+`"`)
		if rows := srv.Flux(t, grafana+q); len(rows) == 0 {
			t.Errorf("flux example %d returned no rows:\n%s", i+1, q)
		}
	}
	for i, q := range blocks["sql"] {
		q = strings.NewReplacer("$timeFilter", "time > now() - 1d", "$__interval", "30m").Replace(q)
		if rows := srv.QueryResult(t, db, q); len(rows) == 0 {
			t.Errorf("InfluxQL example %d returned no rows:\n%s", i+1, q)
		}
	}
	// The first example's answer: each site's newest download, in bit/s.
	q := strings.ReplaceAll(blocks["flux"][0], `"fibremon/autogen"`, `"`+bucket+`"`)
	rows := srv.Flux(t, q)
	if len(rows) != 2 {
		t.Fatalf("newest download per site: %d rows; want 2", len(rows))
	}
	for _, r := range rows {
		if r["_value"] != "100000000" {
			t.Errorf("newest download of %s = %s bit/s; want 100000000", r["site_id"], r["_value"])
		}
	}
}

// codeBlocks returns the fenced code blocks of a Markdown text by language.
func codeBlocks(md string) map[string][]string {
	out := map[string][]string{}
	lang, cur := "", ""
	in := false
	for _, line := range strings.Split(md, "\n") {
		switch {
		case !in && strings.HasPrefix(line, "```") && len(line) > 3:
			in, lang, cur = true, strings.TrimPrefix(line, "```"), ""
		case in && line == "```":
			in = false
			out[lang] = append(out[lang], cur)
		case in:
			cur += line + "\n"
		}
	}
	return out
}

// TestLatestAcrossReplicas: Latest reads recent data on most calls and the
// whole history now and then. Replica a sees at once what it writes
// itself (even old results) and what replica b writes within the window;
// an old backlog written by b shows on a's next full read.
func TestLatestAcrossReplicas(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	a, b := open(t, srv, bucket), open(t, srv, bucket)
	const window, rescan = time.Hour, 2 * time.Second
	a.SetLatestTimes(window, rescan)
	now := time.Now().UTC()
	write := func(s *influx.Store, r fibremon.Result) fibremon.Result {
		t.Helper()
		if _, err := s.WriteResults(t.Context(), []fibremon.Result{r}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	latest := func(site string) *fibremon.Result {
		t.Helper()
		got, err := a.Latest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range got[site] {
			if r.Kind == fibremon.KindHTTP {
				return &r
			}
		}
		return nil
	}
	old := write(b, storetest.Result("municipio", fibremon.KindHTTP, now.Add(-48*time.Hour), true))
	// The full read happens within the first call: between these two
	// times, however long a loaded machine takes over it.
	before := time.Now()
	if r := latest("municipio"); r == nil || r.ID != old.ID { // first call: the whole history
		t.Fatalf("first Latest: %+v; want %s", r, old.ID)
	}
	rescanned := time.Now()
	mine := write(a, storetest.Result("bolzone", fibremon.KindHTTP, now.Add(-24*time.Hour), false))
	recent := write(b, storetest.Result("municipio", fibremon.KindHTTP, now.Add(-time.Minute), false))
	backlog := write(b, storetest.Result("zappello", fibremon.KindHTTP, now.Add(-5*time.Hour), true))
	if r := latest("bolzone"); r == nil || r.ID != mine.ID || r.Up {
		t.Errorf("Latest after a's own old result: %+v; want %s", r, mine.ID)
	}
	if r := latest("municipio"); r == nil || r.ID != recent.ID {
		t.Errorf("Latest after b's recent result: %+v; want %s", r, recent.ID)
	}
	if r := latest("zappello"); r != nil && time.Since(before) < rescan {
		t.Errorf("b's old backlog seen before a full read: %+v (the test assumes it is not)", r)
	}
	time.Sleep(time.Until(rescanned.Add(rescan)))
	if r := latest("zappello"); r == nil || r.ID != backlog.ID {
		t.Errorf("Latest after a full read: %+v; want b's backlog %s", r, backlog.ID)
	}
}

// TestLatestWhileWriting: writes go on while Latest reads (they do not wait
// for it), and what they wrote is in the next Latest, also when written
// during a full read that replaced what the store remembered.
func TestLatestWhileWriting(t *testing.T) {
	srv := influxtest.Shared(t)
	s := open(t, srv, srv.NewDatabase(t))
	s.SetLatestTimes(time.Minute, 0) // every read a full read
	now := time.Now().UTC()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			if _, err := s.Latest(context.Background()); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var last fibremon.Result
	for i := range 40 {
		// an old backlog: older than the window, so only the store's
		// memory of its own writes shows it
		last = storetest.Result("fonderia-allanconi", fibremon.KindTCP, now.Add(-2*time.Hour+time.Duration(i)*time.Second), true)
		if _, err := s.WriteResults(t.Context(), []fibremon.Result{last}); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	s.SetLatestTimes(time.Minute, time.Hour) // windowed from here on
	got, err := s.Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if l := got["fonderia-allanconi"]; len(l) != 1 || l[0].ID != last.ID {
		t.Fatalf("Latest after writes during reads = %v; want %s", l, last.ID)
	}
}

// TestOfSites: LatestOf and AvailabilityOf read only the sites asked for
// (the status tracker's configured sites); asking for other sites reads
// the whole history again, so a site added sees its old results.
func TestOfSites(t *testing.T) {
	srv := influxtest.Shared(t)
	for _, flux := range []bool{false, true} {
		s := openWith(t, srv, srv.NewDatabase(t), flux)
		s.SetLatestTimes(time.Hour, time.Hour)
		now := time.Now().UTC()
		batch := []fibremon.Result{
			storetest.Result("municipio", fibremon.KindHTTP, now.Add(-time.Minute), true),
			storetest.Result("bolzone", fibremon.KindHTTP, now.Add(-time.Minute), false),
			storetest.Result("zappello", fibremon.KindHTTP, now.Add(-48*time.Hour), true), // before the window
		}
		if _, err := s.WriteResults(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
		keys := func(m map[string][]fibremon.Result) []string {
			var out []string
			for k := range m {
				out = append(out, k)
			}
			slices.Sort(out)
			return out
		}
		for _, c := range []struct {
			sites []string
			want  []string
		}{
			{[]string{"municipio", "bolzone"}, []string{"bolzone", "municipio"}},
			{[]string{"municipio", "bolzone"}, []string{"bolzone", "municipio"}},   // windowed
			{[]string{"municipio", "zappello"}, []string{"municipio", "zappello"}}, // other sites: full again
			{[]string{}, nil},
			{nil, []string{"bolzone", "municipio", "zappello"}},
		} {
			got, err := s.LatestOf(t.Context(), c.sites)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(keys(got), c.want) {
				t.Errorf("flux %v: LatestOf(%v) has sites %v; want %v", flux, c.sites, keys(got), c.want)
			}
		}
		avail, err := s.AvailabilityOf(t.Context(), now.Add(-72*time.Hour), []string{"bolzone", "zappello"})
		if err != nil {
			t.Fatal(err)
		}
		if len(avail) != 2 || avail["bolzone"] != (fibremon.Tally{Total: 1}) || avail["zappello"] != (fibremon.Tally{Up: 1, Total: 1}) {
			t.Errorf("flux %v: AvailabilityOf(bolzone, zappello) = %v", flux, avail)
		}
	}
}

// TestStrings: free text (a target, an error message) reads back exactly
// as written, through Flux and InfluxQL: quotes, backslashes (a trailing
// one too), newlines, tabs, commas, equals signs, spaces, non-ASCII.
func TestStrings(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s := open(t, srv, bucket)
	r := storetest.Result("municipio", fibremon.KindHTTP, time.Now().UTC().Add(-time.Minute), false)
	r.Error = "Get \"https://x/\": dial tcp: lookup x on 127.0.0.53:53\nsecond line\twith a tab, a=b, città \\ and \\\\ \\"
	r.Target = `https://comune.example/a b?c=d,e\`
	r.Method = "http-get"
	if _, err := s.WriteResults(t.Context(), []fibremon.Result{r}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Results(t.Context(), fibremon.Query{SiteID: "municipio"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !same(got[0], r) {
		t.Fatalf("Results (Flux) = %+v; want %+v", got, r)
	}
	latest, err := openWith(t, srv, bucket, false).Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if l := latest["municipio"]; len(l) != 1 || !same(l[0], r) {
		t.Fatalf("Latest (InfluxQL) = %+v; want %+v", l, r)
	}
}

// TestGroupWriteRefused: batches written together, one of which InfluxDB
// refuses (a value whose field holds another type in the shard: a
// partial write), fail alone: the others are acknowledged and stored.
func TestGroupWriteRefused(t *testing.T) {
	srv := influxtest.Shared(t)
	bucket := srv.NewDatabase(t)
	s := open(t, srv, bucket)
	db, _, _ := strings.Cut(bucket, "/")
	now := time.Now().UTC()
	// http_status_code as a string in this shard: a float one is refused
	line := fmt.Sprintf("probe_result,kind=http,probe=other,site_id=other http_status_code=\"x\" %d", now.Add(-time.Hour).UnixNano())
	resp, err := http.Post(srv.URL+"/write?db="+db, "text/plain", strings.NewReader(line))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write of the conflicting point: %v %v", resp, err)
	}
	const batches = 12
	errs := make([]error, batches)
	var all []fibremon.Result
	var wg sync.WaitGroup
	for i := range batches {
		var batch []fibremon.Result
		for j := range 20 {
			kind := fibremon.KindTCP
			r := storetest.Result(fmt.Sprintf("site-%d", i), kind, now.Add(-time.Duration(j)*time.Second), true)
			if i == 5 && j == 3 {
				r.Kind, r.Values = fibremon.KindHTTP, map[string]float64{fibremon.HTTPStatusCode: 200}
			}
			batch = append(batch, r)
		}
		if i != 5 {
			all = append(all, batch...)
		}
		wg.Go(func() { _, errs[i] = s.WriteResults(context.Background(), batch) })
	}
	wg.Wait()
	for i, err := range errs {
		if i == 5 {
			if fibremon.KindOf(err) != fibremon.Internal {
				t.Errorf("batch 5 (the conflicting value): %v; want an Internal error", err)
			}
		} else if err != nil {
			t.Errorf("batch %d: %v; want it stored", i, err)
		}
	}
	got, err := s.Results(t.Context(), fibremon.Query{Kind: fibremon.KindTCP, Since: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	ids := ids(got)
	for _, r := range all {
		if !ids[r.ID] {
			t.Errorf("result %s of an acknowledged batch is not stored", r.ID)
		}
	}
}

func ids(rs []fibremon.Result) map[string]bool {
	m := map[string]bool{}
	for _, r := range rs {
		m[r.ID] = true
	}
	return m
}
