package dashboards

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The coverage map's GeoJSON layers are URLs of fibremon's
// /api/v1/coverage.geojson, which the browser fetches: the base URL is the
// dashboard's fibremon_url variable, and the layer, the filters and the
// feature properties the style rules read must be those geo/GEOJSON.md
// documents (its tables are the contract between the service and the
// dashboards).

const (
	fibremonURLVar = "fibremon_url"
	geojsonPrefix  = "${" + fibremonURLVar + "}/api/v1/coverage.geojson?"
)

// comuneParam is how a GeoJSON URL asks for the comuni of the comune
// variable: all chosen, comma-separated.
const comuneParam = "comune=${" + comuneVar + ":csv}"

// geomapLayerTypes are the Geomap layer types the dashboards may use; the
// ones that plot query data need the panel's targets.
var geomapLayerTypes = map[string]bool{"geojson": false, "markers": true, "heatmap": true}

// styleOperations are the comparisons of a Geomap style rule.
var styleOperations = map[string]bool{"eq": true, "neq": true, "lt": true, "lte": true, "gt": true, "gte": true}

// geoDoc is what geo/GEOJSON.md documents: the properties of every feature
// and of each layer, and the query parameters, each with its table row.
type geoDoc struct {
	params map[string]string            // query parameter → its "values" cell
	common map[string]string            // property of every feature → its row
	layers map[string]map[string]string // layer → property → its row
}

var (
	layerHeading = regexp.MustCompile("^## Layer `([a-z-]+)`")
	// The first cell of a row names a parameter or property, perhaps
	// followed by a note: "| `comune` (HTTP only) | ...".
	firstCell = regexp.MustCompile("^\\|\\s*`([a-z_0-9]+)`[^|`]*\\|(.*)$")
)

// loadGeoDoc reads the tables of geo/GEOJSON.md.
func loadGeoDoc(file string) (geoDoc, error) {
	g := geoDoc{params: map[string]string{}, common: map[string]string{}, layers: map[string]map[string]string{}}
	b, err := os.ReadFile(file)
	if err != nil {
		return g, err
	}
	var section map[string]string
	params := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "## ") {
			section, params = nil, false
			switch m := layerHeading.FindStringSubmatch(line); {
			case m != nil:
				section = map[string]string{}
				g.layers[m[1]] = section
			case strings.HasPrefix(line, "## Every feature"):
				section = g.common
			case strings.HasPrefix(line, "## Choosing a layer"):
				section, params = g.params, true
			}
			continue
		}
		m := firstCell.FindStringSubmatch(line)
		if section == nil || m == nil {
			continue
		}
		rest := m[2]
		if params {
			// | `param` | values | filters the layers |: keep the values cell.
			rest, _, _ = strings.Cut(rest, "|")
		}
		section[m[1]] = rest
	}
	if len(g.params) == 0 || len(g.common) == 0 || len(g.layers) == 0 {
		return g, fmt.Errorf("%s: found %d parameters, %d common properties, %d layers; did the tables move?",
			file, len(g.params), len(g.common), len(g.layers))
	}
	return g, nil
}

// backtickedValues returns the backticked words of a table cell or row.
func backtickedValues(s string) []string {
	var out []string
	for _, m := range backticked.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// checkURL checks a GeoJSON layer URL and returns the layer it asks for.
func (g geoDoc) checkURL(src string) (string, []string) {
	var out []string
	rest, ok := strings.CutPrefix(src, geojsonPrefix)
	if !ok {
		return "", []string{fmt.Sprintf("GeoJSON URL %q does not start with %q: fibremon's base URL must be the $%s variable", src, geojsonPrefix, fibremonURLVar)}
	}
	q, err := url.ParseQuery(rest)
	if err != nil {
		return "", []string{fmt.Sprintf("GeoJSON URL %q: %v", src, err)}
	}
	for k, vs := range q {
		cell, ok := g.params[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("GeoJSON URL %q: parameter %q is not in %s", src, k, geojsonDoc))
		case len(vs) != 1:
			out = append(out, fmt.Sprintf("GeoJSON URL %q: parameter %q given %d times", src, k, len(vs)))
		case k == "layer" || k == "hamlet" || strings.Contains(vs[0], "$"):
			// layer is checked below; hamlet takes any name; a variable is
			// known only when the dashboard runs.
		case !slices.Contains(backtickedValues(cell), vs[0]):
			out = append(out, fmt.Sprintf("GeoJSON URL %q: %s=%q is not a value %s documents (%s)", src, k, vs[0], geojsonDoc, strings.TrimSpace(cell)))
		}
	}
	layer := q.Get("layer")
	if _, ok := g.layers[layer]; !ok {
		out = append(out, fmt.Sprintf("GeoJSON URL %q: layer=%q is not a layer of %s (want one of %q)", src, layer, geojsonDoc, mapKeys(g.layers)))
		return "", out
	}
	return layer, out
}

// property returns the documentation row of a feature property of layer.
func (g geoDoc) property(layer, prop string) (string, bool) {
	if row, ok := g.layers[layer][prop]; ok {
		return row, true
	}
	row, ok := g.common[prop]
	return row, ok
}

func mapKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// geomapLayer is the part of a Geomap layer that the checks read.
type geomapLayer struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Config struct {
		Src   string `json:"src"`
		Rules []struct {
			Check struct {
				Property  string `json:"property"`
				Operation string `json:"operation"`
				Value     any    `json:"value"`
			} `json:"check"`
		} `json:"rules"`
	} `json:"config"`
}

// geomapLayers returns the data layers of a geomap panel.
func geomapLayers(p panel) ([]geomapLayer, error) {
	var opts struct {
		Layers []geomapLayer `json:"layers"`
	}
	if len(p.Options) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(p.Options, &opts); err != nil {
		return nil, err
	}
	return opts.Layers, nil
}

// checkGeomap checks a geomap panel's layers and reports whether one of
// them plots query data (so the panel needs targets).
func (l linter) checkGeomap(p panel, where string, vars map[string]variable, add func(string, ...any)) (needsData bool) {
	layers, err := geomapLayers(p)
	if err != nil {
		add("%s: options.layers: %v", where, err)
		return false
	}
	if len(layers) == 0 {
		add("%s: a geomap without data layers", where)
	}
	for _, ly := range layers {
		lw := fmt.Sprintf("%s, layer %q", where, ly.Name)
		plotsData, known := geomapLayerTypes[ly.Type]
		if !known {
			add("%s: layer type %q, want one of %q", lw, ly.Type, mapKeys(geomapLayerTypes))
		}
		needsData = needsData || plotsData
		if ly.Type != "geojson" {
			continue
		}
		layer, problems := l.geo.checkURL(ly.Config.Src)
		for _, pr := range problems {
			add("%s: %s", lw, pr)
		}
		// The map follows the comune variable: every comune chosen, as
		// a comma-separated list.
		if _, ok := vars[comuneVar]; ok && !strings.Contains(ly.Config.Src, "&"+comuneParam) && !strings.Contains(ly.Config.Src, "?"+comuneParam) {
			add("%s: GeoJSON URL %q does not follow the comune variable: add %s", lw, ly.Config.Src, comuneParam)
		}
		if v, ok := vars[fibremonURLVar]; !ok || (v.Type != "textbox" && v.Type != "constant") ||
			!(strings.HasPrefix(v.text(), "http://") || strings.HasPrefix(v.text(), "https://")) {
			add("%s: the dashboard needs a textbox or constant variable %s defaulting to an http(s) URL", lw, fibremonURLVar)
		}
		if layer == "" {
			continue
		}
		for _, r := range ly.Config.Rules {
			c := r.Check
			row, ok := l.geo.property(layer, c.Property)
			if !ok {
				add("%s: style rule on %q, which is not a property of layer %s in %s", lw, c.Property, layer, geojsonDoc)
				continue
			}
			if !styleOperations[c.Operation] {
				add("%s: style rule on %q: operation %q", lw, c.Property, c.Operation)
			}
			// When the row lists the values (`vhcn`, `nga` ...), an
			// equality rule must test one of them.
			_, cell, _ := strings.Cut(row, "|") // drop the type cell
			values := backtickedValues(cell)
			if s, isString := c.Value.(string); isString && (c.Operation == "eq" || c.Operation == "neq") &&
				len(values) > 0 && !slices.Contains(values, s) {
				add("%s: style rule %s %s %q: %s documents %q", lw, c.Property, c.Operation, s, geojsonDoc, values)
			}
		}
	}
	return needsData
}

// lintMutated lints file after mutate has changed its JSON.
func lintMutated(t *testing.T, l linter, file string, mutate func(m map[string]any)) []string {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join("grafana/dashboards", file))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(orig, &m); err != nil {
		t.Fatal(err)
	}
	mutate(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var broken dashboard
	if err := json.Unmarshal(b, &broken); err != nil {
		t.Fatal(err)
	}
	return l.lint(file, broken)
}

// TestLintCatchesGeomapBreakage breaks the coverage map, rollout and probes
// dashboards in the ways the geomap, repeat and probe-metric checks exist
// for, and checks that the lint reports each.
func TestLintCatchesGeomapBreakage(t *testing.T) {
	l := newLinter(t)
	type obj = map[string]any
	panelOf := func(t *testing.T, m obj, typ string) obj {
		for _, p := range m["panels"].([]any) {
			if p.(obj)["type"] == typ {
				return p.(obj)
			}
		}
		t.Fatalf("no %s panel", typ)
		return nil
	}
	layer := func(t *testing.T, m obj, name string) obj {
		for _, ly := range panelOf(t, m, "geomap")["options"].(obj)["layers"].([]any) {
			if ly.(obj)["name"] == name {
				return ly.(obj)
			}
		}
		t.Fatalf("no layer %s", name)
		return nil
	}
	firstRule := func(t *testing.T, m obj, name string) obj {
		return layer(t, m, name)["config"].(obj)["rules"].([]any)[0].(obj)["check"].(obj)
	}
	setSrc := func(t *testing.T, m obj, name, src string) { layer(t, m, name)["config"].(obj)["src"] = src }
	vars := func(m obj) []any { return m["templating"].(obj)["list"].([]any) }
	dropVar := func(m obj, name string) {
		var kept []any
		for _, v := range vars(m) {
			if v.(obj)["name"] != name {
				kept = append(kept, v)
			}
		}
		m["templating"].(obj)["list"] = kept
	}

	for _, file := range []string{"coverage-map.json", "rollout.json", "probes.json"} {
		d, err := readDashboard(filepath.Join("grafana/dashboards", file))
		if err != nil {
			t.Fatal(err)
		}
		if p := l.lint(file, d); len(p) > 0 {
			t.Fatalf("%s does not pass to begin with: %q", file, p)
		}
	}
	for _, tc := range []struct {
		name, file string
		mutate     func(t *testing.T, m obj)
		want       string
	}{
		{"map ignores the comune variable", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Sites", "${fibremon_url}/api/v1/coverage.geojson?layer=sites")
		}, "does not follow the comune variable"},
		{"map takes one comune of many", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Sites", "${fibremon_url}/api/v1/coverage.geojson?layer=sites&comune=${comune}")
		}, "does not follow the comune variable"},
		{"hard-coded base URL", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Addresses", "http://localhost:8080/api/v1/coverage.geojson?layer=addresses")
		}, "$fibremon_url"},
		{"undocumented layer", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Addresses", "${fibremon_url}/api/v1/coverage.geojson?layer=civics")
		}, `layer="civics" is not a layer`},
		{"no layer", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Sites", "${fibremon_url}/api/v1/coverage.geojson?hamlet=Bolzone")
		}, `layer="" is not a layer`},
		{"undocumented parameter", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Addresses", "${fibremon_url}/api/v1/coverage.geojson?layer=addresses&colour=red")
		}, `parameter "colour"`},
		{"undocumented filter value", "coverage-map.json", func(t *testing.T, m obj) {
			setSrc(t, m, "Addresses", "${fibremon_url}/api/v1/coverage.geojson?layer=addresses&class=gold")
		}, `class="gold"`},
		{"rule on a property of another layer", "coverage-map.json", func(t *testing.T, m obj) {
			firstRule(t, m, "Sites")["property"] = "class"
		}, `style rule on "class", which is not a property of layer sites`},
		{"rule on an undocumented value", "coverage-map.json", func(t *testing.T, m obj) {
			firstRule(t, m, "Addresses")["value"] = "gigabit"
		}, `class eq "gigabit"`},
		{"no fibremon_url variable", "coverage-map.json", func(t *testing.T, m obj) { dropVar(m, fibremonURLVar) }, "variable fibremon_url"},
		{"unknown layer type", "coverage-map.json", func(t *testing.T, m obj) { layer(t, m, "Comune")["type"] = "photos" }, `layer type "photos"`},
		{"markers layer without targets", "coverage-map.json", func(t *testing.T, m obj) { layer(t, m, "Sites")["type"] = "markers" }, "no targets"},
		{"repeat over an undefined variable", "rollout.json", func(t *testing.T, m obj) {
			for _, p := range m["panels"].([]any) {
				if p.(obj)["repeat"] != nil {
					p.(obj)["repeat"] = "frazione"
				}
			}
		}, "repeats over $frazione"},
		{"probe metric without site filter", "probes.json", func(t *testing.T, m obj) {
			panelOf(t, m, "timeseries")["targets"].([]any)[0].(obj)["expr"] = "fibreprobe_spool_results"
		}, `fibreprobe_spool_results{} does not filter site_id=~"$site"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := lintMutated(t, l, tc.file, func(m obj) { tc.mutate(t, m) })
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tc.want) }) {
				t.Errorf("no problem mentioning %q; got %q", tc.want, problems)
			}
		})
	}
}

// TestGeoDoc: the parts of geo/GEOJSON.md that the lint reads are there.
func TestGeoDoc(t *testing.T) {
	g, err := loadGeoDoc(geojsonDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, layer := range []string{"comune", "hamlets", "hamlet-zones", "addresses", "white-areas", "sites"} {
		if _, ok := g.layers[layer]; !ok {
			t.Errorf("layer %s not found; got %q", layer, mapKeys(g.layers))
		}
	}
	for _, tc := range []struct{ layer, prop, value string }{
		{"addresses", "class", "vhcn"}, {"addresses", "fill_color", ""}, {"sites", "state", "silent"},
		{"sites", "marker_color", ""}, {"white-areas", "shape", "hull"}, {"sites", "layer", "sites"},
	} {
		row, ok := g.property(tc.layer, tc.prop)
		if !ok {
			t.Errorf("%s.%s not found", tc.layer, tc.prop)
			continue
		}
		if tc.value != "" {
			_, cell, _ := strings.Cut(row, "|")
			if !slices.Contains(backtickedValues(cell), tc.value) {
				t.Errorf("%s.%s: %q not among %q", tc.layer, tc.prop, tc.value, backtickedValues(cell))
			}
		}
	}
	if v := backtickedValues(g.params["class"]); !slices.Equal(v, []string{"vhcn", "nga", "adequate", "below"}) {
		t.Errorf("class values %q", v)
	}
}
