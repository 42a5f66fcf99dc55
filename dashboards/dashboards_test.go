package dashboards

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// stableUIDs names every dashboard file and its uid. The uid is the
// dashboard's address (/d/<uid>) and the key Grafana provisions it under:
// changing it breaks links and bookmarks, so it changes here, on purpose, or
// not at all. A new dashboard gets a line here.
var stableUIDs = map[string]string{
	"overview.json":     "fibremon-overview",
	"rollout.json":      "fibremon-rollout",
	"coverage-map.json": "fibremon-coverage-map",
	"probes.json":       "fibremon-probes",
	"site-detail.json":  "fibremon-site-detail",
	"consortium.json":   "fibremon-consortium",
}

const (
	dashboardsGlob  = "grafana/dashboards/*.json"
	datasourcesFile = "grafana/provisioning/datasources/fibremon.yaml"
	providersFile   = "grafana/provisioning/dashboards/fibremon.yaml"
	readmeFile      = "README.md"
	metricsReadme   = "../internal/metrics/README.md"
	geojsonDoc      = "../geo/GEOJSON.md"

	// providedUID is the uid of the provisioned Prometheus datasource, which
	// the Prometheus dashboards' datasource variable defaults to.
	providedUID = "fibremon-prometheus"
	// providedInfluxUID is the uid of the provisioned InfluxDB (Flux)
	// datasource, which the InfluxDB dashboards' datasource variable
	// defaults to, and influxDefaultBucket its bucket: fibremon's default
	// --storage.influx.bucket (database fibremon, retention policy autogen
	// on InfluxDB 1.8).
	providedInfluxUID   = "fibremon-influxdb"
	influxDefaultBucket = "fibremon/autogen"
	// datasourceRef is how panels, targets and query variables name their
	// datasource: through the dashboard's one datasource variable.
	datasourceRef = "${datasource}"
	gridColumns   = 24
	// minSchemaVersion is that of Grafana 10.0; the dashboards are written
	// for Grafana 10 and 11 (schemaVersion 39).
	minSchemaVersion = 38
)

// panelTypes are the panel types the dashboards may use: core panels of
// Grafana 10 and 11, no plugins and no deprecated Angular ones.
var panelTypes = map[string]bool{
	"row": true, "text": true, "stat": true, "gauge": true, "bargauge": true,
	"table": true, "timeseries": true, "state-timeline": true, "geomap": true,
}

// noQueryPanels have no datasource and no targets.
var noQueryPanels = map[string]bool{"row": true, "text": true}

// dashboard is the part of Grafana's dashboard JSON model that the test checks.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."} for Prometheus query variables
	Datasource json.RawMessage `json:"datasource"`
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"` // what All stands for; empty: every value, as a regex alternation
	Current    struct {
		Value json.RawMessage `json:"value"` // a string, or a list of strings for multi-value variables
	} `json:"current"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []target        `json:"targets"`
	GridPos    gridPos         `json:"gridPos"`
	Collapsed  bool            `json:"collapsed"`
	Panels     []panel         `json:"panels"` // a collapsed row's panels
	Repeat     string          `json:"repeat"` // a multi-value variable: one copy of the panel or row per value
	Options    json.RawMessage `json:"options"`
}

type target struct {
	RefID      string          `json:"refId"`
	Expr       string          `json:"expr"`  // PromQL (Prometheus targets)
	Query      string          `json:"query"` // Flux (InfluxDB targets)
	Range      bool            `json:"range"` // run as a range query (time series), not only instant
	Datasource json.RawMessage `json:"datasource"`
}

type gridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

func (g gridPos) overlaps(o gridPos) bool {
	return g.X < o.X+o.W && o.X < g.X+g.W && g.Y < o.Y+o.H && o.Y < g.Y+g.H
}

// text returns the query of a variable: Grafana stores it as a string
// (datasource and older query variables) or as an object with a query field.
func (v variable) text() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var q struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &q) == nil {
		return q.Query
	}
	return ""
}

// compact renders a raw JSON value on one line for messages.
func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// currentValue returns the variable's saved value when it is a single string.
func (v variable) currentValue() string {
	var s string
	_ = json.Unmarshal(v.Current.Value, &s)
	return s
}

// usesDatasourceVar reports whether a panel's, target's or variable's
// datasource is the datasource variable, as "${datasource}" or as
// {"type": typ, "uid": "${datasource}"}, typ being the type of datasource
// the variable lists.
func usesDatasourceVar(raw json.RawMessage, typ string) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s == datasourceRef
	}
	var ref struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	if json.Unmarshal(raw, &ref) != nil {
		return false
	}
	return ref.Type == typ && ref.UID == datasourceRef
}

// datasourceTypes are the types of datasource a dashboard's datasource
// variable may list, each with the query language of its targets.
var datasourceTypes = map[string]string{"prometheus": "PromQL", "influxdb": "Flux"}

// datasourceType returns the type of datasource d's datasource variable
// lists ("prometheus", "influxdb"), or "" if it has none.
func datasourceType(d dashboard) string {
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			return v.text()
		}
	}
	return ""
}

// comuneVar is the variable every Prometheus dashboard chooses comuni
// with.
const comuneVar = "comune"

// noComuneVariable are the dashboards without a comune variable, with the
// reason.
var noComuneVariable = map[string]string{
	"site-detail.json": "one site's results from InfluxDB, whose probe_result points carry no comune tag (internal/influx/SCHEMA.md): the Site variable lists every site",
}

// labelValuesOf parses a Prometheus query variable: label_values(metric..., label).
var labelValuesOf = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)[^,]*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`)

// metric is one row of the metrics reference.
type metric struct {
	Type   string
	Labels []string
}

var (
	tableName    = regexp.MustCompile("^`(fibre[a-z0-9_]+)`$")
	backticked   = regexp.MustCompile("`([^`]+)`")
	siteFilter   = regexp.MustCompile(`(^|[\s,])site_id\s*=~\s*"\$site"`)
	comuneFilter = regexp.MustCompile(`(^|[\s,])comune\s*=~\s*"\$comune"`)
	variableRefs = regexp.MustCompile(`\$(?:\{([A-Za-z0-9_]+)(?::[^}]*)?\}|([A-Za-z0-9_]+))`)
)

// loadMetrics reads the metrics reference: every table row whose first cell
// is a backticked fibre... name, with its type and backticked labels. A
// histogram also gives its _bucket (with le), _sum and _count series.
func loadMetrics(file string) (map[string]metric, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	ms := make(map[string]metric)
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) < 3 {
			continue
		}
		m := tableName.FindStringSubmatch(strings.TrimSpace(cells[0]))
		if m == nil {
			continue
		}
		var labels []string
		for _, l := range backticked.FindAllStringSubmatch(cells[2], -1) {
			labels = append(labels, l[1])
		}
		name, typ := m[1], strings.TrimSpace(cells[1])
		ms[name] = metric{Type: typ, Labels: labels}
		if typ == "histogram" {
			ms[name+"_bucket"] = metric{Type: "counter", Labels: append(slices.Clone(labels), "le")}
			ms[name+"_sum"] = metric{Type: "counter", Labels: labels}
			ms[name+"_count"] = metric{Type: "counter", Labels: labels}
		}
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("%s: no metric table rows", file)
	}
	return ms, nil
}

// PromQL tokens, as far as the checks need them.
type tokenKind int

const (
	tIdent  tokenKind = iota // metric, function, keyword or label name
	tNumber                  // number or duration
	tString                  // quoted string, quotes included
	tBraces                  // {label matchers}, text between the braces
	tRange                   // [range], text between the brackets
	tVar                     // Grafana variable outside strings and brackets, e.g. $__interval
	tPunct                   // one character of punctuation or operator
)

type token struct {
	kind tokenKind
	text string
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// endOfString returns the index just past the string literal starting at i.
func endOfString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d", i)
}

// lex splits a PromQL expression into tokens. Label matchers and ranges stay
// whole, strings inside them included, so a regex such as "[45].." never
// looks like a range. Parentheses must balance.
func lex(s string) ([]token, error) {
	var toks []token
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#': // comment to the end of the line
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			j, err := endOfString(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s[i:j]})
			i = j
		case c == '{' || c == '[':
			kind, closer := tBraces, byte('}')
			if c == '[' {
				kind, closer = tRange, ']'
			}
			j := i + 1
			for ; j < len(s) && s[j] != closer; j++ {
				if s[j] == '"' || s[j] == '\'' || s[j] == '`' {
					end, err := endOfString(s, j)
					if err != nil {
						return nil, err
					}
					j = end - 1
				}
			}
			if j == len(s) {
				return nil, fmt.Errorf("unclosed %q at offset %d", c, i)
			}
			toks = append(toks, token{kind, s[i+1 : j]})
			i = j + 1
		case c == '}' || c == ']':
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		case c == '$':
			j := i + 1
			if j < len(s) && s[j] == '{' {
				k := strings.IndexByte(s[j:], '}')
				if k < 0 {
					return nil, fmt.Errorf("unclosed ${ at offset %d", i)
				}
				j += k + 1
			} else {
				for j < len(s) && isIdentChar(s[j]) {
					j++
				}
			}
			toks = append(toks, token{tVar, s[i:j]})
			i = j
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			toks = append(toks, token{tIdent, s[i:j]})
			i = j
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (isIdentChar(s[j]) || s[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, s[i:j]})
			i = j
		default:
			switch c {
			case '(':
				depth++
			case ')':
				depth--
				if depth < 0 {
					return nil, fmt.Errorf("unbalanced ) at offset %d", i)
				}
			}
			toks = append(toks, token{tPunct, string(c)})
			i++
		}
	}
	if depth != 0 {
		return nil, errors.New("unbalanced parentheses")
	}
	return toks, nil
}

// closing returns the index of the ")" matching the "(" at toks[open].
// lex has checked that parentheses balance.
func closing(toks []token, open int) int {
	depth := 0
	for i := open; i < len(toks); i++ {
		if toks[i].kind != tPunct {
			continue
		}
		switch toks[i].text {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(toks) - 1
}

func isPunct(toks []token, i int, p string) bool {
	return i < len(toks) && toks[i].kind == tPunct && toks[i].text == p
}

var (
	// grouping keywords take a list of label names in parentheses.
	grouping = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}
	// keywords are identifiers that are neither metrics nor calls.
	keywords = map[string]bool{"bool": true, "and": true, "or": true, "unless": true, "atan2": true, "offset": true, "inf": true, "nan": true}
	// aggregations may be followed by by/without before their parentheses.
	aggregations = map[string]bool{
		"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
		"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
		"limitk": true, "limit_ratio": true,
	}
	// rangeFunctions must be given [$__rate_interval].
	rangeFunctions = map[string]bool{"rate": true, "irate": true, "increase": true}
)

// selector is a metric name with its label matchers, if any.
type selector struct {
	Metric   string
	Matchers string
}

// selectors returns every metric selector of a tokenized expression: an
// identifier that is not a function or aggregation being called, not a
// keyword, not a label name in a by/without/on/ignoring/group_left/
// group_right list, and not the label argument of Grafana's label_values().
func selectors(toks []token) []selector {
	var out []selector
	labelName := make(map[int]bool)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind != tIdent || labelName[i] {
			continue
		}
		name := strings.ToLower(t.text)
		switch {
		case grouping[name]:
			if isPunct(toks, i+1, "(") {
				i = closing(toks, i+1)
			}
			continue
		case keywords[name]:
			continue
		case isPunct(toks, i+1, "("):
			if t.text == "label_values" {
				// label_values(label) or label_values(selector, label): the
				// last argument is a label name.
				end, start := closing(toks, i+1), i+2
				depth := 0
				for k := i + 2; k < end; k++ {
					switch {
					case isPunct(toks, k, "("):
						depth++
					case isPunct(toks, k, ")"):
						depth--
					case isPunct(toks, k, ",") && depth == 0:
						start = k + 1
					}
				}
				for k := start; k < end; k++ {
					labelName[k] = true
				}
			}
			continue
		case aggregations[name] && i+1 < len(toks) && toks[i+1].kind == tIdent && grouping[strings.ToLower(toks[i+1].text)]:
			continue
		}
		s := selector{Metric: t.text}
		if i+1 < len(toks) && toks[i+1].kind == tBraces {
			s.Matchers = toks[i+1].text
		}
		out = append(out, s)
	}
	return out
}

// metricNames returns the metric names an expression reads, in order.
func metricNames(expr string) ([]string, error) {
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range selectors(toks) {
		names = append(names, s.Metric)
	}
	return names, nil
}

// rangeProblems checks that every rate(), irate() and increase() is given
// [$__rate_interval], which Grafana keeps at least four scrape intervals
// long whatever the zoom. increase() may also be given [$__range]: the
// increase over the whole time range, for a stat.
func rangeProblems(toks []token) []string {
	var out []string
	for i, t := range toks {
		if t.kind != tIdent || !rangeFunctions[t.text] || !isPunct(toks, i+1, "(") {
			continue
		}
		end := closing(toks, i+1)
		n := 0
		for _, r := range toks[i+2 : end] {
			if r.kind != tRange {
				continue
			}
			n++
			rng := strings.TrimSpace(r.text)
			if rng != "$__rate_interval" && !(t.text == "increase" && rng == "$__range") {
				out = append(out, fmt.Sprintf("%s() over [%s], want [$__rate_interval]", t.text, r.text))
			}
		}
		if n == 0 {
			out = append(out, fmt.Sprintf("%s() without a [$__rate_interval] range", t.text))
		}
	}
	return out
}

// linter checks dashboards against the metrics reference and the
// provisioned datasources.
type linter struct {
	metrics     map[string]metric
	datasources map[string]provisionedDS // the provisioned datasources by uid
	geo         geoDoc                   // the GeoJSON layers, properties and parameters fibremon documents
	schema      influxSchema             // the InfluxDB measurement, tags and fields fibremon documents
}

// lint returns every problem of the dashboard read from file.
func (l linter) lint(file string, d dashboard) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	switch want, ok := stableUIDs[file]; {
	case d.UID == "":
		add("no uid")
	case !ok:
		add("%s is not in stableUIDs: add it with its uid %q", file, d.UID)
	case d.UID != want:
		add("uid %q, want the stable %q", d.UID, want)
	}
	if strings.TrimSpace(d.Title) == "" {
		add("no title")
	}
	if d.SchemaVersion < minSchemaVersion {
		add("schemaVersion %d, want at least %d (Grafana 10+)", d.SchemaVersion, minSchemaVersion)
	}

	// Variables. The one datasource variable says what the dashboard reads:
	// Prometheus (PromQL) or InfluxDB (Flux).
	dsType := datasourceType(d)
	if datasourceTypes[dsType] == "" {
		dsType = "prometheus" // reported below; check the queries as PromQL
	}
	defined := make(map[string]bool)
	vars := make(map[string]variable)
	var datasourceVars []variable
	for _, v := range d.Templating.List {
		if v.Name == "" || defined[v.Name] {
			add("variable %q: empty or duplicate name", v.Name)
		}
		defined[v.Name] = true
		vars[v.Name] = v
		switch v.Type {
		case "datasource":
			datasourceVars = append(datasourceVars, v)
		case "query":
			if !usesDatasourceVar(v.Datasource, dsType) {
				add("variable %q: datasource %s, want %s of type %s", v.Name, compact(v.Datasource), datasourceRef, dsType)
			}
			// Every variable but comune itself lists what the chosen
			// comuni hold.
			problems := l.exprProblems(v.text(), filters{comune: v.Name != comuneVar})
			if dsType == "influxdb" {
				problems = l.fluxProblems(v.text(), false, false)
			}
			for _, p := range problems {
				add("variable %q: %s", v.Name, p)
			}
		}
	}
	if len(datasourceVars) != 1 {
		add("%d datasource variables, want exactly one", len(datasourceVars))
	}
	// The comune variable: every dashboard of Prometheus chooses comuni
	// (multi-value, with All) from the comune label of a metric.
	if _, exempt := noComuneVariable[file]; !exempt {
		v, ok := vars[comuneVar]
		m := labelValuesOf.FindStringSubmatch(v.text())
		switch {
		case !ok:
			add("no variable %q: every dashboard chooses comuni", comuneVar)
		case v.Type != "query" || !v.Multi || !v.IncludeAll:
			add("variable %q: type %q, multi %v, includeAll %v; want a multi-value query variable with All", comuneVar, v.Type, v.Multi, v.IncludeAll)
		case m == nil || m[2] != "comune" || !slices.Contains(l.metrics[m[1]].Labels, "comune"):
			add("variable %q: query %q; want label_values(<a metric with a comune label>, comune)", comuneVar, v.text())
		}
	}
	for _, v := range datasourceVars {
		if v.Name != "datasource" || datasourceTypes[v.text()] == "" {
			add("datasource variable %q of %q, want \"datasource\" of \"prometheus\" or \"influxdb\"", v.Name, v.text())
		}
		cur := v.currentValue()
		switch ds, ok := l.datasources[cur]; {
		case !ok:
			add("datasource variable defaults to %q, which is not a provisioned datasource uid (%s)", cur, datasourcesFile)
		case ds.Type != v.text():
			add("datasource variable of %q defaults to %q, a provisioned %s datasource", v.text(), cur, ds.Type)
		case ds.Type == "influxdb":
			// The queries read the bucket from the bucket variable: by
			// default the provisioned datasource's, which is fibremon's.
			b, ok := vars["bucket"]
			if !ok || (b.Type != "textbox" && b.Type != "constant") || b.text() != ds.DefaultBucket || b.currentValue() != ds.DefaultBucket {
				add("no textbox or constant variable \"bucket\" defaulting to %q, the bucket of the provisioned datasource %q", ds.DefaultBucket, cur)
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, ref := range variableRefs.FindAllStringSubmatch(v.text(), -1) {
			if name := ref[1] + ref[2]; !strings.HasPrefix(name, "__") && !defined[name] {
				add("variable %q: undefined variable $%s", v.Name, name)
			}
		}
	}

	// Panels.
	ids := make(map[int]bool)
	var checkPanel func(p panel)
	checkPanel = func(p panel) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			add("%s: duplicate id", where)
		}
		ids[p.ID] = true
		if strings.TrimSpace(p.Title) == "" {
			add("%s: no title", where)
		}
		if !panelTypes[p.Type] {
			add("%s: unknown type %q", where, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > gridColumns {
			add("%s: gridPos %+v outside the %d-column grid", where, g, gridColumns)
		}
		if p.Repeat != "" {
			if v, ok := vars[p.Repeat]; !ok || !v.Multi {
				add("%s: repeats over $%s, which is not a multi-value variable of the dashboard", where, p.Repeat)
			}
		}
		switch {
		case noQueryPanels[p.Type]:
			if len(p.Targets) > 0 {
				add("%s: a %s has no targets", where, p.Type)
			}
		case p.Type == "geomap":
			// A geomap whose layers are all GeoJSON URLs reads no query
			// data; one with a markers or heatmap layer needs its targets.
			if l.checkGeomap(p, where, vars, add) || len(p.Targets) > 0 {
				l.checkQueries(p, where, dsType, defined, add)
			} else if len(p.Datasource) > 0 && !usesDatasourceVar(p.Datasource, dsType) {
				add("%s: datasource %s, want %s", where, compact(p.Datasource), datasourceRef)
			}
		default:
			l.checkQueries(p, where, dsType, defined, add)
		}
		if p.Type != "row" {
			if len(p.Panels) > 0 {
				add("%s: only rows hold panels", where)
			}
			return
		}
		if !p.Collapsed && len(p.Panels) > 0 {
			add("%s: an expanded row keeps its panels at the top level", where)
		}
		for _, c := range p.Panels {
			if c.GridPos.Y <= p.GridPos.Y {
				add("%s: panel %q is above its row", where, c.Title)
			}
			checkPanel(c)
		}
		overlaps(p.Panels, add)
	}
	if len(d.Panels) == 0 {
		add("no panels")
	}
	for _, p := range d.Panels {
		checkPanel(p)
	}
	overlaps(d.Panels, add)
	return out
}

// overlaps reports panels of one layer (the top level, or a collapsed row)
// that cover the same grid cells.
func overlaps(ps []panel, add func(string, ...any)) {
	for i := range ps {
		for j := i + 1; j < len(ps); j++ {
			if ps[i].GridPos.overlaps(ps[j].GridPos) {
				add("panels %q %+v and %q %+v overlap", ps[i].Title, ps[i].GridPos, ps[j].Title, ps[j].GridPos)
			}
		}
	}
}

// checkQueries checks the targets of a panel of a dashboard reading dsType
// datasources: PromQL expressions for Prometheus, Flux queries for InfluxDB.
func (l linter) checkQueries(p panel, where, dsType string, defined map[string]bool, add func(string, ...any)) {
	if !usesDatasourceVar(p.Datasource, dsType) {
		add("%s: datasource %s, want %s of type %s", where, compact(p.Datasource), datasourceRef, dsType)
	}
	if len(p.Targets) == 0 {
		add("%s: no targets", where)
	}
	refIDs := make(map[string]bool)
	for _, t := range p.Targets {
		if t.RefID == "" || refIDs[t.RefID] {
			add("%s: empty or duplicate refId %q", where, t.RefID)
		}
		refIDs[t.RefID] = true
		if len(t.Datasource) > 0 && !usesDatasourceVar(t.Datasource, dsType) {
			add("%s, target %s: datasource %s, want %s of type %s", where, t.RefID, compact(t.Datasource), datasourceRef, dsType)
		}
		var problems []string
		switch dsType {
		case "influxdb":
			if t.Expr != "" {
				problems = append(problems, "a PromQL expr in a dashboard of InfluxDB: want a Flux query")
			}
			problems = append(problems, l.fluxProblems(t.Query, true, defined["site"])...)
		default:
			if t.Query != "" {
				problems = append(problems, "a query (Flux?) in a dashboard of Prometheus: want a PromQL expr")
			}
			problems = append(problems, l.exprProblems(t.Expr, filters{site: defined["site"], comune: defined[comuneVar]})...)
		}
		for _, problem := range problems {
			add("%s, target %s: %s", where, t.RefID, problem)
		}
		for _, ref := range variableRefs.FindAllStringSubmatch(t.Expr+"\n"+t.Query, -1) {
			if name := ref[1] + ref[2]; !strings.HasPrefix(name, "__") && !defined[name] {
				add("%s, target %s: undefined variable $%s", where, t.RefID, name)
			}
		}
	}
}

// filters says which variables a PromQL expression must filter on.
type filters struct {
	site   bool // site_id=~"$site" on every per-site metric (panels)
	comune bool // comune=~"$comune" on every metric with a comune label
}

// exprProblems checks one PromQL expression: it reads at least one metric,
// only metrics of the reference, every selector of a metric with a site_id
// label (or of a fibreprobe_ metric, labelled by the scrape job) filters
// site_id=~"$site" (when f.site), every selector of a metric with a comune
// label (or of a fibreprobe_ metric) filters comune=~"$comune" (when
// f.comune), and every rate-like function uses [$__rate_interval].
func (l linter) exprProblems(expr string, f filters) []string {
	if strings.TrimSpace(expr) == "" {
		return []string{"empty expression"}
	}
	toks, err := lex(expr)
	if err != nil {
		return []string{fmt.Sprintf("%q: %v", expr, err)}
	}
	var out []string
	sels := selectors(toks)
	if len(sels) == 0 {
		out = append(out, fmt.Sprintf("%q reads no metric", expr))
	}
	for _, s := range sels {
		m, ok := l.metrics[s.Metric]
		if !ok {
			out = append(out, fmt.Sprintf("metric %s is not in %s", s.Metric, metricsReadme))
			continue
		}
		// A fibreprobe_ metric gets its site_id and comune from the
		// scrape job's target labels (README.md), not from the probe.
		probe := strings.HasPrefix(s.Metric, "fibreprobe_")
		perSite := slices.Contains(m.Labels, "site_id") || probe
		if f.site && perSite && !siteFilter.MatchString(s.Matchers) {
			out = append(out, fmt.Sprintf(`%s{%s} does not filter site_id=~"$site"`, s.Metric, s.Matchers))
		}
		if f.comune && (slices.Contains(m.Labels, "comune") || probe) && !comuneFilter.MatchString(s.Matchers) {
			out = append(out, fmt.Sprintf(`%s{%s} does not filter comune=~"$comune"`, s.Metric, s.Matchers))
		}
	}
	return append(out, rangeProblems(toks)...)
}

// Provisioning files, with every key Grafana reads that they may use:
// unknown keys (typos Grafana would ignore) fail the decoding.
type datasourcesConfig struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name           string            `yaml:"name"`
		Type           string            `yaml:"type"`
		UID            string            `yaml:"uid"`
		Access         string            `yaml:"access"`
		URL            string            `yaml:"url"`
		OrgID          int               `yaml:"orgId"`
		IsDefault      bool              `yaml:"isDefault"`
		Editable       bool              `yaml:"editable"`
		Version        int               `yaml:"version"`
		BasicAuth      bool              `yaml:"basicAuth"`
		BasicAuthUser  string            `yaml:"basicAuthUser"`
		JSONData       map[string]any    `yaml:"jsonData"`
		SecureJSONData map[string]string `yaml:"secureJsonData"`
	} `yaml:"datasources"`
}

type providersConfig struct {
	APIVersion int `yaml:"apiVersion"`
	Providers  []struct {
		Name                  string `yaml:"name"`
		OrgID                 int    `yaml:"orgId"`
		Type                  string `yaml:"type"`
		Folder                string `yaml:"folder"`
		FolderUID             string `yaml:"folderUid"`
		AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
		DisableDeletion       bool   `yaml:"disableDeletion"`
		UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
		Options               struct {
			Path                      string `yaml:"path"`
			FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
		} `yaml:"options"`
	} `yaml:"providers"`
}

func decodeYAML(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// provisionedDS is a datasource of the provisioning file, as far as the
// dashboards need it.
type provisionedDS struct {
	Type          string // "prometheus" or "influxdb"
	Flux          bool   // an influxdb datasource queried with Flux (jsonData.version)
	DefaultBucket string // jsonData.defaultBucket of a Flux datasource
}

// envRef is how a provisioning file names a secret kept in Grafana's
// environment: $NAME or ${NAME}, which Grafana expands when it reads the file.
var envRef = regexp.MustCompile(`^\$(?:\{[A-Za-z_][A-Za-z0-9_]*\}|[A-Za-z_][A-Za-z0-9_]*)$`)

// provisionedDatasources returns the datasources of the datasource
// provisioning file by uid, and its problems.
func provisionedDatasources(file string) (map[string]provisionedDS, []string, error) {
	var c datasourcesConfig
	if err := decodeYAML(file, &c); err != nil {
		return nil, nil, err
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.APIVersion != 1 {
		add("apiVersion %d, want 1", c.APIVersion)
	}
	dss := make(map[string]provisionedDS)
	for _, ds := range c.Datasources {
		if ds.Name == "" || ds.UID == "" || ds.URL == "" {
			add("datasource %q: name, uid and url are required", ds.Name)
		}
		if ds.Access != "proxy" {
			add("datasource %q: access %q, want proxy", ds.Name, ds.Access)
		}
		if _, dup := dss[ds.UID]; dup {
			add("datasource %q: uid %q defined twice", ds.Name, ds.UID)
		}
		p := provisionedDS{Type: ds.Type}
		switch ds.Type {
		case "prometheus":
		case "influxdb":
			// The dashboards' InfluxDB queries are Flux: InfluxQL would
			// need another datasource (and cannot average booleans).
			version, _ := ds.JSONData["version"].(string)
			org, _ := ds.JSONData["organization"].(string)
			bucket, _ := ds.JSONData["defaultBucket"].(string)
			p.Flux, p.DefaultBucket = version == "Flux", bucket
			if !p.Flux {
				add("datasource %q: jsonData.version %q, want Flux", ds.Name, version)
			}
			if org == "" || bucket == "" {
				add("datasource %q: jsonData.organization %q and defaultBucket %q, want both set (any organisation for InfluxDB 1.8, database/retention-policy as its bucket)", ds.Name, org, bucket)
			}
			if tok, ok := ds.SecureJSONData["token"]; !ok || !envRef.MatchString(tok) {
				add("datasource %q: secureJsonData.token %q, want a reference to Grafana's environment ($NAME), not a secret in the file", ds.Name, tok)
			}
		default:
			add("datasource %q: type %q; the dashboards read prometheus and influxdb", ds.Name, ds.Type)
		}
		dss[ds.UID] = p
	}
	return dss, problems, nil
}

func readDashboard(file string) (dashboard, error) {
	var d dashboard
	b, err := os.ReadFile(file)
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w", file, err)
	}
	return d, nil
}

func newLinter(t *testing.T) linter {
	t.Helper()
	ms, err := loadMetrics(metricsReadme)
	if err != nil {
		t.Fatal(err)
	}
	dss, _, err := provisionedDatasources(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	geo, err := loadGeoDoc(geojsonDoc)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := loadInfluxSchema(influxSchemaDoc)
	if err != nil {
		t.Fatal(err)
	}
	return linter{metrics: ms, datasources: dss, geo: geo, schema: schema}
}

func TestDashboards(t *testing.T) {
	l := newLinter(t)
	files, err := filepath.Glob(dashboardsGlob)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]string) // uid → file
	for _, file := range files {
		base := filepath.Base(file)
		t.Run(base, func(t *testing.T) {
			d, err := readDashboard(file)
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := seen[d.UID]; ok {
				t.Errorf("uid %q also used by %s", d.UID, other)
			}
			seen[d.UID] = base
			for _, p := range l.lint(base, d) {
				t.Error(p)
			}
		})
	}
	for base := range stableUIDs {
		if _, err := os.Stat(path.Join("grafana/dashboards", base)); err != nil {
			t.Errorf("stableUIDs names %s: %v", base, err)
		}
	}
}

func TestProvisioning(t *testing.T) {
	dss, problems, err := provisionedDatasources(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", datasourcesFile, p)
	}
	if dss[providedUID].Type != "prometheus" {
		t.Errorf("%s: no Prometheus datasource with uid %q, which the dashboards default to", datasourcesFile, providedUID)
	}
	// The InfluxDB datasource's bucket is the one fibremon writes to by
	// default (serve's --storage.influx.bucket): influx_test.go runs the
	// demo without that flag and queries the bucket named here.
	if ds := dss[providedInfluxUID]; ds.Type != "influxdb" || !ds.Flux || ds.DefaultBucket != influxDefaultBucket {
		t.Errorf("%s: datasource %q is %+v; want a Flux influxdb datasource with defaultBucket %q, which the site-detail dashboard defaults to",
			datasourcesFile, providedInfluxUID, ds, influxDefaultBucket)
	}

	var c providersConfig
	if err := decodeYAML(providersFile, &c); err != nil {
		t.Fatal(err)
	}
	if c.APIVersion != 1 || len(c.Providers) == 0 {
		t.Errorf("%s: apiVersion %d with %d providers, want 1 with at least one", providersFile, c.APIVersion, len(c.Providers))
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Providers {
		if p.Name == "" || p.Type != "file" || p.Folder == "" {
			t.Errorf("%s: provider %q of type %q in folder %q, want a named file provider with a folder", providersFile, p.Name, p.Type, p.Folder)
		}
		if !path.IsAbs(p.Options.Path) {
			t.Errorf("%s: provider %q: options.path %q is not absolute", providersFile, p.Name, p.Options.Path)
		}
		if !bytes.Contains(readme, []byte(p.Options.Path)) {
			t.Errorf("%s does not tell operators where the dashboards go: %s", readmeFile, p.Options.Path)
		}
	}
}

// TestProvisioningCatchesBreakage breaks the datasource provisioning file
// in one way at a time and checks that the lint reports it.
func TestProvisioningCatchesBreakage(t *testing.T) {
	orig, err := os.ReadFile(datasourcesFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"InfluxQL", "version: Flux", "version: InfluxQL", "want Flux"},
		{"token in the file", "token: ${FIBREMON_INFLUXDB_TOKEN}", "token: admin:secret", "not a secret in the file"},
		{"no bucket", "defaultBucket: fibremon/autogen", "defaultBucket: \"\"", "defaultBucket"},
		{"unknown key", "isDefault: false", "isDefault: false\n    defaultt: true", "not found"},
		{"unknown type", "type: influxdb", "type: loki", "type \"loki\""},
		{"duplicate uid", "uid: fibremon-influxdb", "uid: fibremon-prometheus", "defined twice"},
		{"direct access", "access: proxy\n    # CHANGE THIS: the InfluxDB", "access: direct\n    # CHANGE THIS: the InfluxDB", "want proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(orig, []byte(tc.old)) {
				t.Fatalf("%s has no %q to change", datasourcesFile, tc.old)
			}
			file := filepath.Join(t.TempDir(), "fibremon.yaml")
			if err := os.WriteFile(file, bytes.Replace(orig, []byte(tc.old), []byte(tc.new), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			_, problems, err := provisionedDatasources(file)
			if err != nil {
				problems = append(problems, err.Error())
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tc.want, problems)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`fibremon_site_up`, []string{"fibremon_site_up"}},
		{`fibremon_site_up{site_id=~"$site"}`, []string{"fibremon_site_up"}},
		{`sum(fibremon_site_state{site_id=~"$site", state="up"})`, []string{"fibremon_site_state"}},
		{`sum by (outcome) (rate(fibremon_ingest_results_total[$__rate_interval]))`, []string{"fibremon_ingest_results_total"}},
		{`sum(rate(a_total[5m])) by (job)`, []string{"a_total"}},
		{`max without (stat) (b)`, []string{"b"}},
		{`(fibremon_site_state{site_id=~"$site"} == 1) * on(site_id) group_left(name, hamlet, technology) fibremon_site_info{site_id=~"$site"}`,
			[]string{"fibremon_site_state", "fibremon_site_info"}},
		{`a / ignoring(direction) group_right b`, []string{"a", "b"}},
		{`time() - max by (site_id) (fibremon_site_last_result_timestamp_seconds{site_id=~"$site"})`,
			[]string{"fibremon_site_last_result_timestamp_seconds"}},
		{`8 * (fibremon_site_contract_bytes_per_second{direction="download"} > 0)`, []string{"fibremon_site_contract_bytes_per_second"}},
		{`a > bool 0 and b unless c or d`, []string{"a", "b", "c", "d"}},
		{`histogram_quantile(0.95, sum by (le, route) (rate(h_bucket[$__rate_interval])))`, []string{"h_bucket"}},
		{`rate(x{code=~"[45].."}[$__rate_interval])`, []string{"x"}},
		{`x{a="}", b='{'} offset 5m`, []string{"x"}},
		{`label_values(fibremon_site_info, hamlet)`, []string{"fibremon_site_info"}},
		{`label_values(fibremon_site_info{hamlet=~"$hamlet"}, site_id)`, []string{"fibremon_site_info"}},
		{`label_values(site_id)`, nil},
		{`vector(1) + 1e6 * .5`, nil},
		{`{__name__="x"}`, nil},
		{"a # a comment naming b\n+ c", []string{"a", "c"}},
		{`topk(3, x:recorded:rate5m)`, []string{"x:recorded:rate5m"}},
	} {
		got, err := metricNames(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: metrics %q, want %q", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{`sum(x`, `x)`, `x{a="b}`, `x[5m`, `"open`, `x}`} {
		if _, err := lex(bad); err == nil {
			t.Errorf("lex(%s): no error", bad)
		}
	}
}

func TestRangeProblems(t *testing.T) {
	for _, tc := range []struct {
		expr string
		ok   bool
	}{
		{`rate(x[$__rate_interval])`, true},
		{`sum(increase(x[ $__rate_interval ]))`, true},
		{`irate(x[$__rate_interval])`, true},
		{`rate(x[5m])`, false},
		{`increase(x[1h])`, false},
		{`rate(x[$__interval])`, false},
		{`rate(x)`, false},
		{`avg_over_time(x[24h])`, true}, // not a rate: left to the author
		{`sum(increase(x[$__range]))`, true},
		{`rate(x[$__range])`, false},
	} {
		toks, err := lex(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := rangeProblems(toks); (len(got) == 0) != tc.ok {
			t.Errorf("%s: problems %q, want ok=%v", tc.expr, got, tc.ok)
		}
	}
}

func TestMetricsReference(t *testing.T) {
	ms, err := loadMetrics(metricsReadme)
	if err != nil {
		t.Fatal(err)
	}
	for name, labels := range map[string][]string{
		"fibremon_site_info":                            {"comune", "site_id", "name", "kind", "hamlet", "technology", "coord_status", "synthetic"},
		"fibremon_comune_info":                          {"comune", "name", "istat_code"},
		"fibremon_coverage_units":                       {"comune", "scope"},
		"fibremon_ingest_results_total":                 {"outcome"},
		"fibremon_ndt7_tests_total":                     {"test", "outcome"},
		"fibremon_http_request_duration_seconds_bucket": {"route", "le"},
		"fibreprobe_spool_results":                      nil,
	} {
		if m, ok := ms[name]; !ok || !slices.Equal(m.Labels, labels) {
			t.Errorf("%s: %+v (present %v), want labels %q", name, m, ok, labels)
		}
	}
	if _, ok := ms["fibremon_site_up_bucket"]; ok {
		t.Error("a gauge got histogram series")
	}
}

// TestLintCatchesBreakage breaks the overview dashboard in one way at a time
// and checks that the lint reports it, so a check cannot silently stop working.
func TestLintCatchesBreakage(t *testing.T) {
	l := newLinter(t)
	const file = "overview.json"
	orig, err := os.ReadFile(filepath.Join("grafana/dashboards", file))
	if err != nil {
		t.Fatal(err)
	}
	d, err := readDashboard(filepath.Join("grafana/dashboards", file))
	if err != nil {
		t.Fatal(err)
	}
	if p := l.lint(file, d); len(p) > 0 {
		t.Fatalf("%s does not pass to begin with: %q", file, p)
	}

	type obj = map[string]any
	panels := func(m obj) []any { return m["panels"].([]any) }
	find := func(m obj, typ string) obj {
		for _, p := range panels(m) {
			if p.(obj)["type"] == typ {
				return p.(obj)
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	firstTarget := func(p obj) obj { return p["targets"].([]any)[0].(obj) }
	vars := func(m obj) []any { return m["templating"].(obj)["list"].([]any) }
	findVar := func(m obj, name string) obj {
		for _, v := range vars(m) {
			if v.(obj)["name"] == name {
				return v.(obj)
			}
		}
		t.Fatalf("no variable %s", name)
		return nil
	}
	collapsed := func(m obj) obj {
		for _, p := range panels(m) {
			if p.(obj)["type"] == "row" && p.(obj)["collapsed"] == true {
				return p.(obj)["panels"].([]any)[0].(obj)
			}
		}
		t.Fatal("no collapsed row")
		return nil
	}

	for _, tc := range []struct {
		name   string
		mutate func(m obj)
		want   string
	}{
		{"no uid", func(m obj) { delete(m, "uid") }, "no uid"},
		{"changed uid", func(m obj) { m["uid"] = "fibremon-overview-2" }, "stable"},
		{"old schema", func(m obj) { m["schemaVersion"] = 27 }, "schemaVersion"},
		{"second datasource variable", func(m obj) {
			m["templating"].(obj)["list"] = append(vars(m), obj{"name": "ds2", "type": "datasource", "query": "prometheus"})
		}, "2 datasource variables"},
		{"no datasource variable", func(m obj) { findVar(m, "datasource")["type"] = "custom" }, "0 datasource variables"},
		{"unprovisioned default", func(m obj) { findVar(m, "datasource")["current"] = obj{"value": "P1809F7CD0C75ACF3"} }, "provisioned"},
		{"variable reads unknown metric", func(m obj) {
			findVar(m, "hamlet")["query"] = obj{"query": "label_values(fibremon_sites, hamlet)"}
		}, "not in"},
		{"hard-coded panel datasource", func(m obj) { find(m, "stat")["datasource"] = obj{"type": "prometheus", "uid": "P1809F7CD0C75ACF3"} }, "datasource"},
		{"hard-coded target datasource", func(m obj) { firstTarget(find(m, "table"))["datasource"] = "Prometheus" }, "datasource"},
		{"untitled panel", func(m obj) { find(m, "timeseries")["title"] = " " }, "no title"},
		{"unknown panel type", func(m obj) { find(m, "timeseries")["type"] = "graph" }, "unknown type"},
		{"duplicate id", func(m obj) { find(m, "table")["id"] = find(m, "stat")["id"] }, "duplicate id"},
		{"wider than the grid", func(m obj) { find(m, "table")["gridPos"].(obj)["w"] = 25 }, "grid"},
		{"overlap", func(m obj) { panels(m)[1].(obj)["gridPos"] = panels(m)[0].(obj)["gridPos"] }, "overlap"},
		{"unknown metric", func(m obj) { firstTarget(find(m, "state-timeline"))["expr"] = `fibremon_site_upp{site_id=~"$site"}` }, "not in"},
		{"fixed rate range", func(m obj) {
			firstTarget(collapsed(m))["expr"] = "sum by (outcome) (rate(fibremon_ingest_results_total[5m]))"
		}, "$__rate_interval"},
		{"no site filter", func(m obj) { firstTarget(find(m, "state-timeline"))["expr"] = "fibremon_site_up" }, `site_id=~"$site"`},
		{"no comune filter", func(m obj) { firstTarget(find(m, "state-timeline"))["expr"] = `fibremon_site_up{site_id=~"$site"}` }, `comune=~"$comune"`},
		{"no comune variable", func(m obj) { findVar(m, "comune")["name"] = "municipality" }, `no variable "comune"`},
		{"single-valued comune", func(m obj) { findVar(m, "comune")["multi"] = false }, "multi-value query variable with All"},
		{"comune from a metric without comune", func(m obj) {
			findVar(m, "comune")["query"] = obj{"query": "label_values(fibremon_ingest_results_total, comune)"}
		}, "a metric with a comune label"},
		{"hamlet of every comune", func(m obj) {
			findVar(m, "hamlet")["query"] = obj{"query": "label_values(fibremon_site_info, hamlet)"}
		}, `does not filter comune=~"$comune"`},
		{"undefined variable", func(m obj) {
			firstTarget(find(m, "state-timeline"))["expr"] = `fibremon_site_up{site_id=~"$site", region="$region"}`
		}, "undefined variable $region"},
		{"unbalanced expression", func(m obj) { firstTarget(find(m, "stat"))["expr"] = "sum(fibremon_site_up" }, "unbalanced"},
		{"nested panel overlaps", func(m obj) {
			for _, p := range panels(m) {
				if p.(obj)["collapsed"] == true {
					nested := p.(obj)["panels"].([]any)
					nested[1].(obj)["gridPos"] = nested[0].(obj)["gridPos"]
				}
			}
		}, "overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m obj
			if err := json.Unmarshal(orig, &m); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var broken dashboard
			if err := json.Unmarshal(b, &broken); err != nil {
				t.Fatal(err)
			}
			problems := l.lint(file, broken)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tc.want, problems)
			}
		})
	}
}
