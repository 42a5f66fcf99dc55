package fibrehttp

import (
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/coverage"

	"github.com/paulmach/orb"
)

// Paths of the coverage API.
const (
	PathCoverageLookup = "/api/v1/coverage"
	PathRollout        = "/api/v1/rollout"
	PathGaps           = "/api/v1/gaps"
)

// MaxQueryParam bounds every query-string value of the coverage API.
const MaxQueryParam = 200

func (s *Server) set() (*geo.Set, error) {
	set := s.d.Geo.Load()
	if set == nil {
		return nil, fibremon.Errorf(fibremon.Transient, "coverage data not loaded yet")
	}
	return set, nil
}

// scope returns the comuni a request is about: the one its "comune"
// parameter names (a slug, an ISTAT code or a name; an unknown one is a
// 404 naming it), or every comune of the data set.
func (s *Server) scope(v url.Values) (*geo.Set, []*geo.Index, error) {
	set, err := s.set()
	if err != nil {
		return nil, nil, err
	}
	if vals, ok := v["comune"]; ok {
		if len(vals) != 1 || len(vals[0]) > MaxQueryParam {
			return nil, nil, fibremon.FieldErrorf("comune", "give it once, at most %d bytes", MaxQueryParam)
		}
		ix, err := set.Comune(vals[0])
		if err != nil {
			return nil, nil, err
		}
		return set, []*geo.Index{ix}, nil
	}
	return set, set.Comuni(), nil
}

// MaxComuneList bounds the comune parameter of the coverage GeoJSON: a
// comma-separated list of comuni (a Grafana multi-value variable, as
// ${comune:csv}), a few hundred of them.
const MaxComuneList = 16 << 10

// maxParam is the most bytes the coverage GeoJSON takes in parameter key.
func maxParam(key string) int {
	if key == "comune" {
		return MaxComuneList
	}
	return MaxQueryParam
}

// scopeList returns the comuni the comune parameter of v names, a
// comma-separated list of slugs, ISTAT codes or names (each once, in the
// data set's order), or every comune of the data set without it. An
// unknown one is a 404 naming it.
func (s *Server) scopeList(v url.Values) ([]*geo.Index, error) {
	set, err := s.set()
	if err != nil {
		return nil, err
	}
	if !v.Has("comune") {
		return set.Comuni(), nil
	}
	want := map[*geo.Index]bool{}
	for _, key := range strings.Split(v.Get("comune"), ",") {
		if len(key) > MaxQueryParam {
			return nil, fibremon.FieldErrorf("comune", "a comune of at most %d bytes", MaxQueryParam)
		}
		ix, err := set.Comune(strings.TrimSpace(key))
		if err != nil {
			return nil, err
		}
		want[ix] = true
	}
	var out []*geo.Index
	for _, ix := range set.Comuni() {
		if want[ix] {
			out = append(out, ix)
		}
	}
	return out, nil
}

// getCoverageGeoJSON serves GET
// /api/v1/coverage.geojson?comune=&layer=&hamlet=&technology=&class=&state=&bbox=&zoom=.
func (s *Server) getCoverageGeoJSON(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key, vals := range v {
		switch key {
		case "layer", "hamlet", "technology", "class", "state", "comune", "bbox", "zoom":
		default:
			return fibremon.FieldErrorf(key, "unknown parameter (want comune, layer, hamlet, technology, class, state, bbox, zoom)")
		}
		if max := maxParam(key); len(vals) > 1 || len(vals[0]) > max {
			return fibremon.FieldErrorf(key, "give it once, at most %d bytes", max)
		}
	}
	q, err := layerQuery(v)
	if err != nil {
		return err
	}
	q.Layer = v.Get("layer")
	if v.Has("bbox") {
		b, err := ParseBBox(v.Get("bbox"))
		if err != nil {
			return err
		}
		q.BBox = &b
	}
	if v.Has("zoom") {
		z, err := parseLevel("zoom", v.Get("zoom"), geo.MaxZoom)
		if err != nil {
			return err
		}
		q.Zoom = &z
	}
	if err := q.Validate(); err != nil {
		return err
	}
	comuni, err := s.scopeList(v)
	if err != nil {
		return err
	}
	fc, err := geo.BuildLayers(comuni, q, s.d.Status.Statuses(), s.d.Now())
	if err != nil {
		return err
	}
	if !s.fullView(r, slugsOf(comuni)...) {
		publicGeoJSON(fc)
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		return fibremon.Errorf(fibremon.Internal, "coverage geojson: %w", err)
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("Access-Control-Allow-Origin", "*") // Grafana's Geomap fetches it from the browser
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
	return nil
}

// layerQuery returns the filters of a layer request: hamlet, technology,
// class, state.
func layerQuery(v url.Values) (geo.LayerQuery, error) {
	q := geo.LayerQuery{Hamlet: v.Get("hamlet"), Technology: fibremon.Technology(v.Get("technology")),
		Class: geo.Class(v.Get("class")), State: fibremon.RolloutState(v.Get("state"))}
	return q, q.Validate()
}

// ParseBBox parses "minLon,minLat,maxLon,maxLat" in degrees (WGS84), as
// the bbox of OGC API Features: an Invalid error on field "bbox" unless
// there are four finite numbers, longitudes in [-180, 180], latitudes in
// [-90, 90], each minimum not above its maximum.
func ParseBBox(s string) (orb.Bound, error) {
	bad := func(why string) (orb.Bound, error) {
		return orb.Bound{}, fibremon.FieldErrorf("bbox", "%.80q: %s (want minLon,minLat,maxLon,maxLat in degrees)", s, why)
	}
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return bad(fmt.Sprintf("%d numbers", len(parts)))
	}
	var f [4]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return bad(fmt.Sprintf("%.20q is not a number", p))
		}
		f[i] = v
	}
	b := orb.Bound{Min: orb.Point{f[0], f[1]}, Max: orb.Point{f[2], f[3]}}
	switch {
	case f[0] < -180 || f[2] > 180 || f[0] > 180 || f[2] < -180:
		return bad("a longitude out of [-180, 180]")
	case f[1] < -90 || f[3] > 90 || f[1] > 90 || f[3] < -90:
		return bad("a latitude out of [-90, 90]")
	case f[0] > f[2]:
		return bad("minLon above maxLon")
	case f[1] > f[3]:
		return bad("minLat above maxLat")
	case !geo.ValidBBox(b):
		return bad("not a bounding box")
	}
	return b, nil
}

// parseLevel parses a decimal integer in [0, max] for field.
func parseLevel(field, s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > max || len(s) > 10 {
		return 0, fibremon.FieldErrorf(field, "%.20q: want an integer in [0, %d]", s, max)
	}
	return n, nil
}

// getCoverage serves GET /api/v1/coverage?address=...[&comune=] or
// ?lat=..&lon=...
func (s *Server) getCoverage(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key, vals := range v {
		switch key {
		case "address", "lat", "lon", "comune":
		default:
			return fibremon.FieldErrorf(key, "unknown parameter (want address and comune, or lat and lon)")
		}
		if len(vals) > 1 {
			return fibremon.FieldErrorf(key, "give it once")
		}
	}
	set, err := s.set()
	if err != nil {
		return err
	}
	if v.Has("comune") && !v.Has("address") {
		return fibremon.FieldErrorf("comune", "goes with address= (a point finds its comune itself)")
	}
	now := s.d.Now()
	var ans coverage.Answer
	switch {
	case v.Has("address") && (v.Has("lat") || v.Has("lon")):
		return fibremon.FieldErrorf("address", "give an address or lat and lon, not both")
	case v.Has("address"):
		ans, err = coverage.ByAddress(set, v.Get("comune"), s.d.Status.Statuses(), v.Get("address"), now)
	case v.Has("lat") || v.Has("lon"):
		lat, err1 := parseCoord(v, "lat")
		if err1 != nil {
			return err1
		}
		lon, err2 := parseCoord(v, "lon")
		if err2 != nil {
			return err2
		}
		ans, err = coverage.ByPoint(set, s.d.Status.Statuses(), lat, lon, now)
	default:
		return fibremon.FieldErrorf("address", "missing: give address=..., or lat=...&lon=...")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func parseCoord(v map[string][]string, key string) (float64, error) {
	vals := v[key]
	if len(vals) == 0 || vals[0] == "" {
		return 0, fibremon.FieldErrorf(key, "missing")
	}
	s := vals[0]
	if len(s) > 32 {
		return 0, fibremon.FieldErrorf(key, "not a number")
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, fibremon.FieldErrorf(key, "%.32q is not a number", s)
	}
	return f, nil
}

// RolloutResponse is the JSON body of GET /api/v1/rollout.
type RolloutResponse struct {
	GeneratedAt time.Time           `json:"generated_at"`
	Comune      string              `json:"comune"`         // name, or geo.ConsortiumName
	Slug        string              `json:"slug,omitempty"` // absent for the consortium
	Hamlet      string              `json:"hamlet,omitempty"`
	Synthetic   bool                `json:"synthetic"`
	Figures     []geo.Figures       `json:"figures"`
	Timeline    []geo.TimelinePoint `json:"timeline"`
}

// getRollout serves GET /api/v1/rollout[?comune=][&hamlet=][&format=csv]:
// coverage figures of the comune and its hamlets, and the monthly rollout
// timeline; without comune, of the whole data set (the consortium), whose
// figures are the totals (scope "comune") then each comune's (scope its
// slug).
func (s *Server) getRollout(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key := range v {
		if key != "hamlet" && key != "format" && key != "comune" {
			return fibremon.FieldErrorf(key, "unknown parameter (want comune, hamlet, format)")
		}
	}
	set, comuni, err := s.scope(v)
	if err != nil {
		return err
	}
	c := comuni[0].Comune()
	consortium := len(comuni) > 1
	if consortium {
		if v.Has("hamlet") {
			return fibremon.FieldErrorf("hamlet", "goes with comune= (hamlets are a comune's)")
		}
		c = set.Union()
	}
	hamlet := v.Get("hamlet")
	if hamlet != "" {
		known := false
		for _, h := range c.Hamlets {
			known = known || h.Name == hamlet
		}
		if !known {
			return fibremon.FieldErrorf("hamlet", "unknown hamlet %.80q", hamlet)
		}
	}
	now := s.d.Now()
	figures := c.Figures(now)
	if consortium {
		for _, ix := range comuni {
			f := ix.Comune().Figures(now)[0]
			f.Scope = ix.Comune().Slug
			figures = append(figures, f)
		}
	}
	timeline := c.Timeline(hamlet)
	synthetic := false
	for _, f := range figures {
		synthetic = synthetic || f.Synthetic
	}
	switch v.Get("format") {
	case "", "json":
		writeJSON(w, http.StatusOK, RolloutResponse{GeneratedAt: now.UTC(), Comune: c.Name, Slug: c.Slug, Hamlet: hamlet,
			Synthetic: synthetic, Figures: figures, Timeline: timeline})
		return nil
	case "csv":
		return writeTimelineCSV(w, c.Name, hamlet, synthetic, timeline)
	}
	return fibremon.FieldErrorf("format", "%.20q: want json or csv", v.Get("format"))
}

func writeTimelineCSV(w http.ResponseWriter, comune, hamlet string, synthetic bool, tl []geo.TimelinePoint) error {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rollout.csv"`)
	cw := csv.NewWriter(w)
	header := []string{"month", "comune", "hamlet", "synthetic", "ftth_ready_units", "ftth_ready_share", "served_share"}
	states := append([]fibremon.RolloutState{""}, fibremon.RolloutStates...)
	for _, st := range states {
		name := string(st)
		if name == "" {
			name = "none"
		}
		header = append(header, "units_"+name)
	}
	cw.Write(header)
	for _, p := range tl {
		row := []string{p.Month, comune, hamlet, strconv.FormatBool(synthetic), strconv.Itoa(p.FTTHReadyUnits),
			strconv.FormatFloat(p.FTTHReadyShare, 'f', 4, 64), strconv.FormatFloat(p.ServedShare, 'f', 4, 64)}
		for _, st := range states {
			row = append(row, strconv.Itoa(p.ByState[st].Units))
		}
		cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fibremon.Errorf(fibremon.Internal, "rollout csv: %w", err)
	}
	return nil
}

// GapsResponse is the body of GET /api/v1/gaps.
type GapsResponse struct {
	GeneratedAt     time.Time `json:"generated_at"`
	Gaps            []geo.Gap `json:"gaps"`
	UnprobedHamlets []string  `json:"unprobed_hamlets"`
	TestsPerSite    int       `json:"tests_per_site"`
}

// ContractTests is how many recent download tests of a site are weighed
// against what is declared for it, as the regulator's 96-test certificate.
const ContractTests = 96

// getGaps serves GET /api/v1/gaps: sites whose measured 5th-percentile
// download is below the class declared for their address, and hamlets with
// no probe at all.
func (s *Server) getGaps(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key := range v {
		if key != "comune" {
			return fibremon.FieldErrorf(key, "unknown parameter (want comune)")
		}
	}
	_, comuni, err := s.scope(v)
	if err != nil {
		return err
	}
	gaps, unprobed := []geo.Gap{}, []string{}
	for _, ix := range comuni {
		g, u, err := s.gaps(r, ix)
		if err != nil {
			return err
		}
		gaps, unprobed = append(gaps, g...), append(unprobed, u...)
	}
	writeJSON(w, http.StatusOK, GapsResponse{GeneratedAt: s.d.Now().UTC(), Gaps: gaps, UnprobedHamlets: unprobed, TestsPerSite: ContractTests})
	return nil
}

// gaps returns one comune's gaps and its hamlets without a probe.
func (s *Server) gaps(r *http.Request, ix *geo.Index) ([]geo.Gap, []string, error) {
	c := ix.Comune()
	downloads := make(map[string][]float64, len(c.Sites))
	for _, site := range c.Sites {
		rs, err := s.d.Store.Results(r.Context(), fibremon.Query{SiteID: site.ID, Kind: fibremon.KindDownload,
			Since: s.d.Now().Add(-fibremon.MaxResultAge), Limit: ContractTests})
		if err != nil {
			return nil, nil, err
		}
		for _, res := range rs {
			if v, ok := res.Values[fibremon.DownloadBytesPerSecond]; ok && res.Up {
				downloads[site.ID] = append(downloads[site.ID], fibremon.ToMbitPerSecond(v))
			}
		}
	}
	return geo.DeclaredVsMeasured(ix, c.Sites, downloads), geo.UnprobedZones(c), nil
}
