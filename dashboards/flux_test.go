package dashboards

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The InfluxDB dashboards read the probe results fibremon stores in InfluxDB
// with Flux. internal/influx/SCHEMA.md is the contract between the store and
// every reader: one measurement, its tags (with the values of kind) and its
// fields. The lint holds every Flux query of a dashboard to it, to the
// dashboard's bucket variable and to Grafana's Flux macros, so that a
// misspelt field or tag, a hard-coded bucket or site, or a query that
// ignores the time picker fails here and not as an empty panel.

const influxSchemaDoc = "../internal/influx/SCHEMA.md"

// fluxBuiltinColumns are the columns of every Flux table read from InfluxDB.
var fluxBuiltinColumns = map[string]bool{
	"_measurement": true, "_field": true, "_value": true, "_time": true, "_start": true, "_stop": true,
}

// fluxMacros are the members of Grafana's Flux variable v that the
// dashboards use: its backend replaces them with the dashboard's time range
// and the panel's interval (pkg/tsdb/influxdb/flux/macros.go). v.bucket,
// v.defaultBucket and v.organization exist too, but the dashboards take the
// bucket from their own `bucket` variable, which the operator sees.
var fluxMacros = map[string]bool{"timeRangeStart": true, "timeRangeStop": true, "windowPeriod": true}

// grafanaFluxNames are the member names Grafana's backend replaces after
// any identifier, not only after v: `x.bucket` becomes `"<bucket>"` too.
var grafanaFluxNames = map[string]bool{
	"timeRangeStart": true, "timeRangeStop": true, "windowPeriod": true,
	"bucket": true, "defaultBucket": true, "organization": true,
}

// fluxImports are the Flux packages the dashboards may import: present in
// the Flux of InfluxDB 1.8 (v0.65) and of 2.x alike. Not
// influxdata/influxdb/schema: InfluxDB 1.8 lacks it ("unknown import path").
var fluxImports = map[string]bool{"strings": true, "math": true, "date": true}

// influxSchema is what SCHEMA.md documents.
type influxSchema struct {
	measurement string
	tags        map[string]bool
	fields      map[string]bool
	kinds       map[string]bool // values of the kind tag
}

// column reports whether name is a column of the measurement's tables:
// built in, a tag, or a field (a column of its own after pivot()).
func (s influxSchema) column(name string) bool {
	return fluxBuiltinColumns[name] || s.tags[name] || s.fields[name]
}

var measurementHeading = regexp.MustCompile("^## Measurement `([A-Za-z0-9_]+)`")

// loadInfluxSchema reads the measurement heading and the Tags and Fields
// tables of SCHEMA.md: the backticked names of each row's first cell, and
// the backticked values of the kind tag's row.
func loadInfluxSchema(file string) (influxSchema, error) {
	s := influxSchema{tags: map[string]bool{}, fields: map[string]bool{}, kinds: map[string]bool{}}
	b, err := os.ReadFile(file)
	if err != nil {
		return s, err
	}
	section := ""
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") {
			section = ""
			if m := measurementHeading.FindStringSubmatch(line); m != nil {
				s.measurement = m[1]
			}
			switch line {
			case "### Tags":
				section = "tags"
			case "### Fields":
				section = "fields"
			}
			continue
		}
		if section == "" || !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for _, name := range backtickedValues(cells[0]) {
			switch section {
			case "tags":
				s.tags[name] = true
				if name == "kind" && len(cells) > 1 {
					for _, k := range backtickedValues(cells[1]) {
						s.kinds[k] = true
					}
				}
			case "fields":
				s.fields[name] = true
			}
		}
	}
	if s.measurement == "" || !s.tags["site_id"] || !s.tags["kind"] || len(s.kinds) == 0 || !s.fields["up"] {
		return s, fmt.Errorf("%s: no measurement heading, or no site_id and kind tags with kind values, or no up field: %+v", file, s)
	}
	return s, nil
}

// fluxSource is a Flux query with its comments removed and each string
// literal replaced by "#<index>", so that patterns on code never match
// inside a string; strs holds the literals' contents.
type fluxSource struct {
	code string
	strs []string
}

// scanFlux splits a Flux query into code and string literals, and checks
// that strings end and brackets balance.
func scanFlux(q string) (fluxSource, error) {
	var code strings.Builder
	var src fluxSource
	var open []byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '"':
			j := i + 1
			for ; j < len(q) && q[j] != '"'; j++ {
				if q[j] == '\\' {
					j++
				}
			}
			if j >= len(q) {
				return src, fmt.Errorf("unterminated string at offset %d", i)
			}
			fmt.Fprintf(&code, `"#%d"`, len(src.strs))
			src.strs = append(src.strs, q[i+1:j])
			i = j
		case c == '/' && i+1 < len(q) && q[i+1] == '/':
			for i < len(q) && q[i] != '\n' {
				i++
			}
			code.WriteByte('\n')
		default:
			switch c {
			case '(', '[', '{':
				open = append(open, c)
			case ')', ']', '}':
				want := map[byte]byte{')': '(', ']': '[', '}': '{'}[c]
				if len(open) == 0 || open[len(open)-1] != want {
					return src, fmt.Errorf("unbalanced %q at offset %d", c, i)
				}
				open = open[:len(open)-1]
			}
			code.WriteByte(c)
		}
	}
	if len(open) > 0 {
		return src, fmt.Errorf("unclosed %q", open[len(open)-1])
	}
	src.code = code.String()
	return src, nil
}

// lit returns the string literal that code refers to as "#<n>".
func (f fluxSource) lit(n string) string {
	i, err := strconv.Atoi(n)
	if err != nil || i >= len(f.strs) {
		return ""
	}
	return f.strs[i]
}

var (
	fluxFrom       = regexp.MustCompile(`\bfrom\s*\(`)
	fluxFromBucket = regexp.MustCompile(`\bfrom\s*\(\s*bucket\s*:\s*"#(\d+)"\s*\)`)
	fluxImport     = regexp.MustCompile(`(?m)^\s*import\s+"#(\d+)"`)
	fluxMember     = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)`)
	fluxIndex      = regexp.MustCompile(`\br\s*\[\s*"#(\d+)"\s*\]`)
	fluxParam      = regexp.MustCompile(`\bfn\s*:\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)`)
	fluxCompare    = regexp.MustCompile(`\br\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*"#(\d+)"\s*\])\s*(==|!=)\s*"#(\d+)"`)
	fluxColList    = regexp.MustCompile(`\b(columns|rowKey|columnKey)\s*:\s*\[([^\]]*)\]`)
	fluxColParam   = regexp.MustCompile(`\b(column|valueColumn|timeColumn|tag|key)\s*:\s*"#(\d+)"`)
	fluxLitRef     = regexp.MustCompile(`"#(\d+)"`)
	fluxRange      = regexp.MustCompile(`\brange\s*\(([^)]*)\)`)
	fluxDashRange  = regexp.MustCompile(`^\s*start\s*:\s*v\.timeRangeStart\s*,\s*stop\s*:\s*v\.timeRangeStop\s*$`)
	fluxAggWindow  = regexp.MustCompile(`\baggregateWindow\s*\(([^)]*)`)
	fluxEvery      = regexp.MustCompile(`\bevery\s*:\s*v\.windowPeriod\b`)
)

// fluxProblems checks one Flux query of an InfluxDB dashboard: it reads
// from(bucket: "${bucket}") only, filters _measurement == the documented
// measurement, names only documented tags, fields and kinds, uses only the
// v.timeRangeStart, v.timeRangeStop and v.windowPeriod macros and dashboard
// variables inside string literals, and never names a site but "${site}".
// A panel's query (panel) must also read the dashboard's time range
// (range(start: v.timeRangeStart, stop: v.timeRangeStop)), aggregate
// windows of v.windowPeriod, and, when the dashboard has a site variable
// (siteVar), filter r.site_id == "${site}".
func (l linter) fluxProblems(q string, panel, siteVar bool) []string {
	if strings.TrimSpace(q) == "" {
		return []string{"empty Flux query"}
	}
	src, err := scanFlux(q)
	if err != nil {
		return []string{fmt.Sprintf("%q: %v", q, err)}
	}
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	s := l.schema
	code := src.code

	// Where the data comes from.
	froms := len(fluxFrom.FindAllStringIndex(code, -1))
	buckets := fluxFromBucket.FindAllStringSubmatch(code, -1)
	if froms == 0 {
		add("reads no data: no from(bucket: \"${bucket}\")")
	}
	if len(buckets) != froms {
		add("from() without a literal bucket: want from(bucket: \"${bucket}\")")
	}
	for _, m := range buckets {
		if b := src.lit(m[1]); b != "${bucket}" {
			add("from(bucket: %q): want the dashboard's \"${bucket}\"", b)
		}
	}
	for _, m := range fluxImport.FindAllStringSubmatch(code, -1) {
		if p := src.lit(m[1]); !fluxImports[p] {
			add("import %q: not a package the Flux of both InfluxDB 1.8 and 2.x has (fluxImports)", p)
		}
	}

	// Grafana's variables: dashboard variables inside string literals,
	// its Flux macros, not its $__ globals.
	if strings.Contains(code, "$") {
		add("a dashboard variable outside a string literal: Grafana substitutes it as text, write \"${name}\"")
	}
	for _, str := range src.strs {
		for _, ref := range variableRefs.FindAllStringSubmatch(str, -1) {
			if name := ref[1] + ref[2]; strings.HasPrefix(name, "__") {
				add("%s in a Flux query: use v.timeRangeStart, v.timeRangeStop and v.windowPeriod", ref[0])
			}
		}
	}
	for _, m := range fluxParam.FindAllStringSubmatch(code, -1) {
		if m[1] != "r" {
			add("fn: (%s) => ...: name the row r, as the checks of its columns expect", m[1])
		}
	}
	for _, m := range fluxMember.FindAllStringSubmatch(code, -1) {
		obj, member := m[1], m[2]
		switch {
		case obj == "v" && !fluxMacros[member]:
			add("v.%s: the dashboards use only v.timeRangeStart, v.timeRangeStop and v.windowPeriod (the bucket is \"${bucket}\")", member)
		case obj == "r" && !s.column(member):
			add("r.%s: no tag or field %s documents", member, influxSchemaDoc)
		case obj != "v" && obj != "r" && grafanaFluxNames[member]:
			add("%s.%s: Grafana replaces any <name>.%s in a Flux query", obj, member, member)
		}
	}
	for _, m := range fluxIndex.FindAllStringSubmatch(code, -1) {
		if c := src.lit(m[1]); !s.column(c) {
			add("r[%q]: no tag or field %s documents", c, influxSchemaDoc)
		}
	}

	// Comparisons of a column with a string: the measurement, fields,
	// kinds and the site must be the documented ones.
	measured, siteFiltered := false, false
	for _, m := range fluxCompare.FindAllStringSubmatch(code, -1) {
		col := m[1]
		if col == "" {
			col = src.lit(m[2])
		}
		val := src.lit(m[4])
		switch col {
		case "_measurement":
			measured = true
			if val != s.measurement {
				add("_measurement %s %q: the results are in %q", m[3], val, s.measurement)
			}
		case "_field":
			if !s.fields[val] {
				add("_field %s %q: not a field %s documents", m[3], val, influxSchemaDoc)
			}
		case "kind":
			if !s.kinds[val] {
				add("kind %s %q: not a kind %s documents", m[3], val, influxSchemaDoc)
			}
		case "site_id":
			if val != "${site}" {
				add("site_id %s %q: a dashboard names no site, it filters the chosen \"${site}\"", m[3], val)
			} else if m[3] == "==" {
				siteFiltered = true
			}
		}
	}
	if froms > 0 && !measured {
		add("does not filter r._measurement == %q", s.measurement)
	}
	if panel && siteVar && !siteFiltered {
		add("does not filter r.site_id == \"${site}\"")
	}

	// Column names given as parameters.
	for _, m := range fluxColList.FindAllStringSubmatch(code, -1) {
		for _, c := range fluxLitRef.FindAllStringSubmatch(m[2], -1) {
			if name := src.lit(c[1]); !s.column(name) {
				add("%s: [%q]: no column of that name (%s)", m[1], name, influxSchemaDoc)
			}
		}
	}
	for _, m := range fluxColParam.FindAllStringSubmatch(code, -1) {
		if name := src.lit(m[2]); !s.column(name) {
			add("%s: %q: no column of that name (%s)", m[1], name, influxSchemaDoc)
		}
	}

	// The time picker and the panel's resolution.
	if panel {
		ranges := fluxRange.FindAllStringSubmatch(code, -1)
		if len(ranges) < froms {
			add("from() without range(start: v.timeRangeStart, stop: v.timeRangeStop)")
		}
		for _, m := range ranges {
			if !fluxDashRange.MatchString(m[1]) {
				add("range(%s): want range(start: v.timeRangeStart, stop: v.timeRangeStop), the dashboard's time range", strings.TrimSpace(m[1]))
			}
		}
		for _, m := range fluxAggWindow.FindAllStringSubmatch(code, -1) {
			if !fluxEvery.MatchString(m[1]) {
				add("aggregateWindow(%s...): want every: v.windowPeriod, the panel's resolution", strings.TrimSpace(m[1]))
			}
		}
	}
	return out
}

func TestInfluxSchemaDoc(t *testing.T) {
	s, err := loadInfluxSchema(influxSchemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	if s.measurement != "probe_result" {
		t.Errorf("measurement %q, want probe_result", s.measurement)
	}
	for _, tag := range []string{"site_id", "probe", "kind"} {
		if !s.tags[tag] {
			t.Errorf("no tag %s in %v", tag, s.tags)
		}
	}
	for _, k := range []string{"download", "upload", "latency", "http", "tcp", "dns"} {
		if !s.kinds[k] {
			t.Errorf("no kind %s in %v", k, s.kinds)
		}
	}
	// rtt_avg_seconds and rtt_p95_seconds share a row with rtt_max_seconds.
	for _, f := range []string{"up", "error", "download_bytes_per_second", "rtt_min_seconds", "rtt_avg_seconds", "rtt_p95_seconds", "jitter_seconds", "loss_ratio", "start_offset_ns"} {
		if !s.fields[f] {
			t.Errorf("no field %s in %v", f, s.fields)
		}
	}
	for _, notField := range []string{"field", "string", "site_id"} {
		if s.fields[notField] {
			t.Errorf("%q taken for a field", notField)
		}
	}
}

// TestFluxProblems runs the Flux checks on queries that keep to the rules
// and on queries that break one each.
func TestFluxProblems(t *testing.T) {
	l := newLinter(t)
	const good = `from(bucket: "${bucket}")
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "probe_result" and r.site_id == "${site}" and r.kind == "latency")
  |> filter(fn: (r) => r["_field"] == "rtt_avg_seconds" or r._field == "loss_ratio") // a comment naming r.nonsense
  |> group(columns: ["_field"])
  |> aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)
  |> map(fn: (r) => ({r with _value: r._value * 8.0 / 1000000.0}))`
	if p := l.fluxProblems(good, true, true); len(p) > 0 {
		t.Fatalf("a good query: %q", p)
	}
	const pivoted = `from(bucket: "${bucket}")
  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)
  |> filter(fn: (r) => r._measurement == "probe_result" and r.site_id == "${site}")
  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")
  |> filter(fn: (r) => r.up == false and exists r.error)
  |> keep(columns: ["_time", "kind", "error", "target"])`
	if p := l.fluxProblems(pivoted, true, true); len(p) > 0 {
		t.Fatalf("a pivoted query: %q", p)
	}
	const variable = `from(bucket: "${bucket}")
  |> range(start: -30d)
  |> filter(fn: (r) => r._measurement == "probe_result" and r._field == "up")
  |> keep(columns: ["site_id"])
  |> group()
  |> distinct(column: "site_id")`
	if p := l.fluxProblems(variable, false, true); len(p) > 0 {
		t.Fatalf("a variable query: %q", p)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"hard-coded bucket", `"${bucket}"`, `"fibremon/autogen"`, `want the dashboard's "${bucket}"`},
		{"bucket macro", `bucket: "${bucket}"`, `bucket: v.defaultBucket`, "v.defaultBucket"},
		{"other measurement", `"probe_result"`, `"probe_results"`, `the results are in "probe_result"`},
		{"no measurement", `r._measurement == "probe_result" and `, ``, "does not filter r._measurement"},
		{"unknown field", `"rtt_avg_seconds"`, `"rtt_mean_seconds"`, `"rtt_mean_seconds": not a field`},
		{"unknown kind", `"latency"`, `"ping"`, `"ping": not a kind`},
		{"unknown tag", `r.kind ==`, `r.check ==`, "r.check: no tag or field"},
		{"unknown column", `columns: ["_field"]`, `columns: ["field"]`, `["field"]: no column`},
		{"hard-coded site", `"${site}"`, `"municipio"`, "names no site"},
		{"no site filter", `r.site_id == "${site}" and `, ``, `does not filter r.site_id == "${site}"`},
		{"fixed range", `range(start: v.timeRangeStart, stop: v.timeRangeStop)`, `range(start: -1h)`, "the dashboard's time range"},
		{"no range", "\n  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)", ``, "from() without range"},
		{"fixed window", `every: v.windowPeriod`, `every: 1m`, "every: v.windowPeriod"},
		{"unknown macro", `v.windowPeriod`, `v.interval`, "v.interval"},
		{"Grafana global", `every: v.windowPeriod`, `every: duration(v: "$__interval")`, "$__interval in a Flux query"},
		{"unquoted variable", `"${site}"`, `${site}`, "outside a string literal"},
		{"row not named r", `fn: (r) => r._measurement`, `fn: (row) => row._measurement`, "name the row r"},
		{"unbalanced", `createEmpty: false)`, `createEmpty: false`, "unclosed"},
		{"unterminated string", `"_field"]`, `"_field]`, "unterminated"},
		{"schema import", `from(bucket:`, "import \"influxdata/influxdb/schema\"\nfrom(bucket:", "influxdata/influxdb/schema"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("the good query has no %q", tc.old)
			}
			broken := strings.Replace(good, tc.old, tc.new, 1)
			problems := l.fluxProblems(broken, true, true)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q\n%s", tc.want, problems, broken)
			}
		})
	}
	if p := l.fluxProblems(good, false, false); len(p) > 0 {
		t.Errorf("as a variable query without a site variable: %q", p)
	}
	if p := l.fluxProblems(strings.Replace(good, `r.site_id == "${site}" and `, ``, 1), true, false); len(p) > 0 {
		t.Errorf("no site filter in a dashboard without a site variable: %q", p)
	}
}

// TestLintCatchesFluxBreakage breaks the site-detail dashboard, an InfluxDB
// one, in one way at a time and checks that the lint reports it.
func TestLintCatchesFluxBreakage(t *testing.T) {
	l := newLinter(t)
	const file = "site-detail.json"
	if p := lintMutated(t, l, file, func(map[string]any) {}); len(p) > 0 {
		t.Fatalf("%s does not pass to begin with: %q", file, p)
	}
	type obj = map[string]any
	panels := func(m obj) []any { return m["panels"].([]any) }
	byTitle := func(m obj, title string) obj {
		for _, p := range panels(m) {
			if p.(obj)["title"] == title {
				return p.(obj)
			}
		}
		t.Fatalf("no panel %q", title)
		return nil
	}
	firstTarget := func(p obj) obj { return p["targets"].([]any)[0].(obj) }
	edit := func(title, old, new string) func(m obj) {
		return func(m obj) {
			tg := firstTarget(byTitle(m, title))
			q := tg["query"].(string)
			if !strings.Contains(q, old) {
				t.Fatalf("%q: no %q in %s", title, old, q)
			}
			tg["query"] = strings.Replace(q, old, new, 1)
		}
	}
	findVar := func(m obj, name string) obj {
		for _, v := range m["templating"].(obj)["list"].([]any) {
			if v.(obj)["name"] == name {
				return v.(obj)
			}
		}
		t.Fatalf("no variable %s", name)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(m obj)
		want   string
	}{
		{"unknown field", edit("Round-trip time and jitter", `"rtt_p95_seconds"`, `"rtt_p99_seconds"`), `"rtt_p99_seconds": not a field`},
		{"unknown kind", edit("Availability", `"dns"`, `"icmp"`), `"icmp": not a kind`},
		{"other measurement", edit("Packet loss", `"probe_result"`, `"latency"`), `the results are in "probe_result"`},
		{"hard-coded bucket", edit("Latest failures", `"${bucket}"`, `"fibremon/autogen"`), `want the dashboard's "${bucket}"`},
		{"hard-coded site", edit("Newest download", `"${site}"`, `"municipio"`), "names no site"},
		{"ignores the time picker", edit("Results per kind", "start: v.timeRangeStart, stop: v.timeRangeStop", "start: -7d"), "the dashboard's time range"},
		{"fixed window", edit("Download and upload", "every: v.windowPeriod", "every: 5m"), "every: v.windowPeriod"},
		{"undefined variable", edit("Failed results", `"${site}"`, `"${probe}"`), "undefined variable $probe"},
		{"PromQL target", func(m obj) { firstTarget(byTitle(m, "Packet loss"))["expr"] = "fibremon_site_up" }, "a PromQL expr in a dashboard of InfluxDB"},
		{"Prometheus panel datasource", func(m obj) {
			byTitle(m, "Packet loss")["datasource"] = obj{"type": "prometheus", "uid": "${datasource}"}
		}, "want ${datasource} of type influxdb"},
		{"unprovisioned datasource", func(m obj) {
			firstTarget(byTitle(m, "Packet loss"))["datasource"] = obj{"type": "influxdb", "uid": "P951FEA4DE68E13C5"}
		}, "want ${datasource} of type influxdb"},
		{"datasource variable of an unprovisioned uid", func(m obj) {
			findVar(m, "datasource")["current"] = obj{"value": "influx-somewhere"}
		}, "not a provisioned datasource uid"},
		{"datasource variable of the Prometheus uid", func(m obj) {
			findVar(m, "datasource")["current"] = obj{"value": providedUID}
		}, "a provisioned prometheus datasource"},
		{"datasource variable of loki", func(m obj) { findVar(m, "datasource")["query"] = "loki" }, `want "datasource" of "prometheus" or "influxdb"`},
		{"other default bucket", func(m obj) { findVar(m, "bucket")["query"] = "fibremon/r400d" }, `no textbox or constant variable "bucket"`},
		{"site variable of another measurement", func(m obj) {
			v := findVar(m, "site")
			v["query"] = strings.Replace(v["query"].(string), `"probe_result"`, `"probes"`, 1)
		}, `variable "site": _measurement == "probes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := lintMutated(t, l, file, tc.mutate)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tc.want, problems)
			}
		})
	}
}
