package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/paulmach/orb"

	"fibremon/internal/cli"
)

type lookupConfig struct {
	civics, areas int
	seed          uint64
	queries       int
	passes        int
	postgis       string // auto, on, off
	pgBin         string
	fibremon      string
	httpRequests  int
	dir           string
}

func (c *lookupConfig) register(fs *flag.FlagSet) {
	fs.IntVar(&c.civics, "civics", 1000000, "civic numbers in the synthetic register")
	fs.IntVar(&c.areas, "areas", 10000, "hamlets (areas) of the synthetic register; each gets a zone")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the synthetic register and of the queries")
	fs.IntVar(&c.queries, "queries", 10000, "queries of each kind, timed one by one")
	fs.IntVar(&c.passes, "passes", 3, "passes over each kind's queries; a query's time is its best pass")
	fs.StringVar(&c.postgis, "postgis", "auto", "run the same lookups on PostGIS: on, off, or auto (when initdb, pg_ctl and the postgis extension are installed)")
	fs.StringVar(&c.pgBin, "postgis.bin", "", "directory holding initdb, pg_ctl and postgres (default: found on PATH or under /usr/lib/postgresql)")
	fs.StringVar(&c.fibremon, "fibremon", "", "fibremon binary to time over HTTP (fibremon serve --data.dir on the generated set); empty skips HTTP")
	fs.IntVar(&c.httpRequests, "http.requests", 20000, "HTTP requests of each kind at each concurrency")
	fs.StringVar(&c.dir, "dir", "", "directory for the generated data set (default: a temporary directory, removed at the end)")
}

func runLookup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg lookupConfig
	fs := flag.NewFlagSet("fibrebench lookup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.register(fs)
	if err := cli.Parse(fs, args, getenv, "FIBREBENCH_"); err != nil {
		return err
	}
	switch {
	case cfg.postgis != "auto" && cfg.postgis != "on" && cfg.postgis != "off":
		return cli.UsageError("--postgis: want on, off or auto")
	case cfg.queries < 100 || cfg.httpRequests < 100:
		return cli.UsageError("--queries and --http.requests: want at least 100")
	case cfg.passes < 1:
		return cli.UsageError("--passes: want at least 1")
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	dir := cfg.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "fibrebench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}

	loadStart := loadAvg()
	logf("generating %d civics around %d hamlets (seed %d) in %s", cfg.civics, cfg.areas, cfg.seed, dir)
	t0 := time.Now()
	syn, err := newSynth(cfg.civics, cfg.areas, cfg.seed)
	if err != nil {
		return cli.UsageError(err.Error())
	}
	if err := syn.writeDir(dir); err != nil {
		return err
	}
	genTime := time.Since(t0)
	qs := syn.queries(cfg.queries, cfg.seed)

	logf("in process: loading, indexing, timing")
	m := meter{passes: cfg.passes}
	in, err := benchInProcess(ctx, m, dir, syn, qs, logf)
	if err != nil {
		return err
	}
	noise := calibrate(m, cfg.queries)

	var pg *engineTimes
	pgNote := ""
	switch bin, err := findPostgres(cfg.pgBin); {
	case cfg.postgis == "off":
		pgNote = "PostGIS: not run (--postgis=off)"
	case err != nil && cfg.postgis == "auto":
		pgNote = "PostGIS: not run (" + err.Error() + ")"
	case err != nil:
		return err
	default:
		logf("PostGIS: starting a throwaway cluster, loading the same data")
		pg, err = benchPostGIS(ctx, m, bin, syn, in.zones, qs, logf)
		if err != nil {
			return fmt.Errorf("postgis: %w", err)
		}
	}
	agreeArea, agreeNearest := 0.0, 0.0
	if pg != nil {
		agreeArea, agreeNearest = agreement(in.areaIDs, pg.areaIDs), agreement(in.nearestIDs, pg.nearestIDs)
	}
	in.areaIDs, in.nearestIDs = nil, nil

	var web *httpTimes
	if cfg.fibremon != "" {
		logf("HTTP: starting fibremon serve on the generated data set")
		web, err = benchHTTP(ctx, cfg.fibremon, dir, qs, cfg.httpRequests, logf)
		if err != nil {
			return fmt.Errorf("http: %w", err)
		}
	}

	// The report.
	w := tabwriter.NewWriter(stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(w, "Lookup at national scale: %d civics, %d areas (hamlet zones), synthetic, seed %d; %s, %d CPUs (%s), load average %s at the start, %s at the end\n\n",
		cfg.civics, cfg.areas, cfg.seed, runtime.Version(), runtime.NumCPU(), cpuModel(), loadStart, loadAvg())
	fmt.Fprintf(w, "| build | time |\n|---|---|\n")
	fmt.Fprintf(w, "| generate the register (CSV, gzip) | %s |\n", secs(genTime))
	fmt.Fprintf(w, "| geo.Load: stream-import %d civics + coverage, %d zones, place civics | %s |\n", cfg.civics, cfg.areas, secs(in.load))
	fmt.Fprintf(w, "| of which the %d hamlet zones (computed again alone) | %s |\n", cfg.areas, secs(in.zonesTime))
	fmt.Fprintf(w, "| geo.NewAreaIndex over the zones | %s |\n", secs(in.areaIndexTime))
	fmt.Fprintf(w, "| geo.NewIndex (civics, streets, sites) | %s |\n", secs(in.index))
	if pg != nil {
		fmt.Fprintf(w, "| PostgreSQL %s: COPY and CREATE INDEX (GiST, trigram) | %s |\n", pg.version, secs(pg.load))
	}
	fmt.Fprintf(w, "\n| memory (Go heap after GC) | total | per civic |\n|---|---|---|\n")
	fmt.Fprintf(w, "| the comune (addresses, zones) | %s | %d B |\n", mib(in.heapComune), in.heapComune/int64(cfg.civics))
	fmt.Fprintf(w, "| the index (quadtree, streets, bigrams) | %s | %d B |\n", mib(in.heapIndex), in.heapIndex/int64(cfg.civics))
	fmt.Fprintf(w, "| both | %s | %d B |\n", mib(in.heapComune+in.heapIndex), (in.heapComune+in.heapIndex)/int64(cfg.civics))
	fmt.Fprintf(w, "\n| lookup (%d queries each, best of %d passes) | fibremon p50 | p99 | p99 of every call | PostGIS p50 | p99 | p99 of every call | PostGIS/fibremon p50 | p99 |\n|---|---|---|---|---|---|---|---|---|\n", cfg.queries, cfg.passes)
	row := func(name string, ours timing, theirs *timing) {
		if theirs == nil {
			fmt.Fprintf(w, "| %s | %s | %s | %s | – | – | – | – | – |\n", name, us(ours.p50), us(ours.p99), us(ours.p99all))
			return
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %.0f× | %.0f× |\n", name, us(ours.p50), us(ours.p99), us(ours.p99all),
			us(theirs.p50), us(theirs.p99), us(theirs.p99all), ratio(theirs.p50, ours.p50), ratio(theirs.p99, ours.p99))
	}
	pick := func(f func(*engineTimes) timing) *timing {
		if pg == nil {
			return nil
		}
		t := f(pg)
		return &t
	}
	row("point in area: AreaIndex.Find vs ST_Contains", in.area, pick(func(e *engineTimes) timing { return e.area }))
	row("point in area: Comune.HamletAt (boundary test + zone)", in.hamlet, pick(func(e *engineTimes) timing { return e.area }))
	row("nearest civic: Index.Nearest vs KNN <->", in.nearest, pick(func(e *engineTimes) timing { return e.nearest }))
	row("address text, exact: Index.Lookup vs pg_trgm", in.exact, pick(func(e *engineTimes) timing { return e.exact }))
	row("address text, one typo: Index.Lookup vs pg_trgm", in.typo, pick(func(e *engineTimes) timing { return e.typo }))
	fmt.Fprintf(w, "| calibration: a fixed loop of pure computation, timed alike | %s | %s | %s | | | | | |\n", us(noise.p50), us(noise.p99), us(noise.p99all))
	fmt.Fprintf(w, "\nWall-clock times of one call at a time. A query's time is its best over the passes (its cost with the least interference from the rest of the machine); "+
		"\"p99 of every call\" keeps every pass, interference included. The calibration row shows that interference: work that never varies measures its p99 of every call at %.1f× its p50 here.\n",
		ratio(noise.p99all, noise.p50))
	fmt.Fprintf(w, "\nAnswers: Lookup finds the civic asked for in %.1f %% of exact queries and its street first in %.1f %% of typo queries; "+
		"the nearest civic lies within 50 m in %.1f %% of point queries (each point is a civic moved by up to 50 m).\n",
		100*in.exactHits, 100*in.typoHits, 100*in.nearHits)
	if pg != nil {
		fmt.Fprintf(w, "PostGIS agrees on the area in %.2f %% of points and on the nearest civic in %.2f %% (KNN there is planar in degrees, ours great-circle); "+
			"pg_trgm finds the civic in %.1f %% of exact and %.1f %% of typo queries.\n", 100*agreeArea, 100*agreeNearest, 100*pg.exactHits, 100*pg.typoHits)
	} else {
		fmt.Fprintln(w, pgNote)
	}
	if web != nil {
		fmt.Fprintf(w, "\nHTTP: fibremon serve --data.dir on the generated set, ready %s after start, resident memory %s after the runs.\n\n", secs(web.ready), mib(web.rss))
		fmt.Fprintf(w, "| GET | concurrency | requests | p50 | p99 | requests/s |\n|---|---|---|---|---|---|\n")
		for _, r := range web.rows {
			fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %.0f |\n", r.name, r.concurrency, r.requests, us(r.t.p50), us(r.t.p99), r.rate)
		}
	} else {
		fmt.Fprintln(w, "\nHTTP: not run (no --fibremon)")
	}
	return w.Flush()
}

// queries are the lookups both engines answer.
type queries struct {
	points      []orb.Point // near civics: a civic's position moved by up to 50 m
	pointCivics []int       // the civic each point was made from
	exact       []addrQuery
	typo        []addrQuery
}

// addrQuery is an address as typed, with the parts PostGIS is given (the
// street normalised, the number) and the civic meant.
type addrQuery struct {
	text           string
	street, number string
	civic          int
}

func (s *synth) queries(n int, seed uint64) queries {
	rng := rand.New(rand.NewPCG(seed, 0x9e))
	var q queries
	const mPerDeg = 111195.0
	for len(q.points) < n {
		c := s.civic(rng.IntN(s.civics))
		r, a := 50*math.Sqrt(rng.Float64()), 2*math.Pi*rng.Float64()
		p := orb.Point{c.p[0] + r*math.Cos(a)/(mPerDeg*math.Cos(c.p[1]*math.Pi/180)), c.p[1] + r*math.Sin(a)/mPerDeg}
		if s.inside(p) {
			q.points = append(q.points, p)
			q.pointCivics = append(q.pointCivics, c.id)
		}
	}
	for range n {
		c := s.civic(rng.IntN(s.civics))
		st := &s.streets[c.street]
		num := fmt.Sprint(c.number)
		q.exact = append(q.exact, addrQuery{text: s.label(c), street: normStreet(st.typ + " " + st.name), number: num, civic: c.id})
		// One substitution in the street name (not its type), on a letter.
		name := []rune(st.name)
		var letters []int
		for i, r := range name {
			if unicode.IsLetter(r) {
				letters = append(letters, i)
			}
		}
		i := letters[rng.IntN(len(letters))]
		for {
			r := rune('a' + rng.IntN(26))
			if unicode.ToLower(name[i]) != r {
				name[i] = r
				break
			}
		}
		typo := st.typ + " " + string(name)
		q.typo = append(q.typo, addrQuery{text: typo + " " + num, street: normStreet(typo), number: num, civic: c.id})
	}
	return q
}

// calibrate times n runs of a fixed computation of about 10 µs: what the
// machine's scheduling and other load make of work that never varies.
func calibrate(m meter, n int) timing {
	var sink uint64
	t := m.measure(n, func(int) {
		x := uint64(1)
		for range 8000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		sink += x
	})
	if sink == 42 {
		fmt.Print("")
	}
	return t
}

// timing is a latency distribution: the p50 and p99 of each query's best
// time over the passes, and the p99 of every call.
type timing struct{ p50, p99, p99all time.Duration }

// meter times series of calls.
type meter struct{ passes int }

// measure calls f(i) for i in [0, n), m.passes times over, and times each
// call; a first pass over min(n/10, 1000) calls warms up and is not
// counted. Each query's best time over the passes is its cost with the
// least interference from the rest of the machine; the p99 of every call
// keeps that interference in. A garbage collection first finishes with
// the benchmark's own garbage (the data set's generation, the previous
// series), so that a series pays only for the collections its own
// allocations cause.
func (m meter) measure(n int, f func(i int)) timing {
	runtime.GC()
	warm := min(n/10, 1000)
	for i := range warm {
		f(i)
	}
	best := make([]time.Duration, n)
	all := make([]time.Duration, 0, n*m.passes)
	for pass := range m.passes {
		for i := range n {
			t := time.Now()
			f(i)
			d := time.Since(t)
			all = append(all, d)
			if pass == 0 || d < best[i] {
				best[i] = d
			}
		}
	}
	slices.Sort(best)
	slices.Sort(all)
	return timing{p50: rank(best, 0.50), p99: rank(best, 0.99), p99all: rank(all, 0.99)}
}

// rank returns the p-quantile of sorted ds by nearest rank.
func rank(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[max(0, int(math.Ceil(p*float64(len(ds))))-1)]
}

func agreement(a, b []int) float64 {
	same := 0
	for i := range min(len(a), len(b)) {
		if a[i] == b[i] {
			same++
		}
	}
	return float64(same) / float64(max(1, min(len(a), len(b))))
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(max(b, 1)) }

func us(d time.Duration) string {
	v := float64(d) / float64(time.Microsecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f µs", v)
	case v < 1000:
		return fmt.Sprintf("%.1f µs", v)
	}
	return fmt.Sprintf("%.2f ms", v/1000)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// loadAvg is the 1-minute load average (/proc/loadavg), or "?".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
