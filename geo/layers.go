package geo

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"fibremon"

	"github.com/paulmach/orb"
	orbgeo "github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// Layer names added for the coverage model (see also LayerComune,
// LayerHamlets, LayerSites).
const (
	// LayerZones is the "layer" property of the hamlet zone polygons.
	// LayerQuery{Layer: LayerHamlets} returns them with the hamlet points;
	// LayerQuery{Layer: LayerZones} returns them alone.
	LayerZones      = "hamlet-zones"
	LayerAddresses  = "addresses"
	LayerWhiteAreas = "white-areas"
)

// Layers lists the values of LayerQuery.Layer, "" (the default map) first.
var Layers = []string{"", LayerComune, LayerHamlets, LayerZones, LayerAddresses, LayerWhiteAreas, LayerSites}

// Fill colours of the addresses layer by class, the "fill_color" property.
var classColors = map[Class]string{
	VHCN:     "#2e7d32", // green
	NGA:      "#1565c0", // blue
	Adequate: "#f9a825", // yellow
	Below:    "#c62828", // red
}

// ClassColor returns the "fill_color" of a civic of class cl.
func ClassColor(cl Class) string {
	if c, ok := classColors[cl]; ok {
		return c
	}
	return classColors[Below]
}

// LayerQuery selects one layer of the map and filters its features. Zero
// fields do not filter. A filter applies to the layers whose features have
// the property it names and is ignored by the others:
//
//   - Hamlet: hamlets, hamlet-zones, addresses, white-areas and sites (a
//     site without a hamlet is placed by its zone).
//   - Technology: addresses (declared technology) and sites (the line's).
//   - Class, State: addresses and white-areas, taken at BuildLayer's now.
type LayerQuery struct {
	// Layer is one of Layers: "" is the default map (comune, hamlet points
	// and sites, as Build returns it).
	Layer      string
	Hamlet     string
	Technology fibremon.Technology
	Class      Class
	State      fibremon.RolloutState

	// BBox limits the layer to an area, in lon/lat: the features meeting
	// it. Zoom is the map's zoom level (Web Mercator, as map tiles: 0 the
	// world in one 256-pixel tile, MaxZoom the finest) the layer is drawn
	// at; it sets the grid civics are grouped on when there are too many
	// to list (see BuildLayers). Nil: the whole data set, and the zoom at
	// which it fills 1024 pixels. Only BuildLayers reads them; BuildLayer
	// checks them and draws its whole comune.
	BBox *orb.Bound
	Zoom *int
}

// Validate checks the query's values. An unknown value is an Invalid error
// naming the query parameter: layer, hamlet, technology, class or state.
// Whether Hamlet names one of the comune's hamlets is checked by
// BuildLayer.
func (q LayerQuery) Validate() error {
	switch {
	case !slices.Contains(Layers, q.Layer):
		return fibremon.FieldErrorf("layer", "unknown layer %.40q (want one of %s)", q.Layer, strings.Join(Layers[1:], ", "))
	case !validText(q.Hamlet, maxTextLen, false):
		return fibremon.FieldErrorf("hamlet", "too long or not text")
	case q.Technology != fibremon.Unknown && !q.Technology.Valid():
		return fibremon.FieldErrorf("technology", "unknown technology %.40q (want one of %v)", string(q.Technology), fibremon.Technologies)
	case q.Class != "" && !q.Class.Valid():
		return fibremon.FieldErrorf("class", "unknown class %.40q (want one of %v)", string(q.Class), Classes)
	case q.State != "" && !validState(q.State):
		return fibremon.FieldErrorf("state", "unknown state %.40q (want one of %v)", string(q.State), fibremon.RolloutStates)
	case q.BBox != nil && !ValidBBox(*q.BBox):
		return fibremon.FieldErrorf("bbox", "want minLon,minLat,maxLon,maxLat with longitudes in [-180, 180], latitudes in [-90, 90], each min not above its max")
	case q.Zoom != nil && (*q.Zoom < 0 || *q.Zoom > MaxZoom):
		return fibremon.FieldErrorf("zoom", "want an integer zoom level in [0, %d]", MaxZoom)
	}
	return nil
}

// addressOK reports whether civic a passes q's hamlet, technology, class
// and state filters at now.
func (q LayerQuery) addressOK(a *Address, now time.Time) bool {
	if (q.Hamlet != "" && a.Hamlet != q.Hamlet) || (q.Technology != "" && a.Technology != q.Technology) {
		return false
	}
	if q.Class != "" && a.ClassAt(now) != q.Class {
		return false
	}
	if st, _, _ := a.StateAt(now); q.State != "" && st != q.State {
		return false
	}
	return true
}

// BuildLayer returns one layer of the map of c, filtered by q, as an RFC
// 7946 FeatureCollection with the members of Build. Every feature carries
// "layer" and "synthetic"; GEOJSON.md lists each layer's properties.
//
//   - "" (default): as Build: comune, hamlet points, sites.
//   - comune: the boundary.
//   - hamlets: the zone polygons (layer "hamlet-zones") then the centre
//     points (layer "hamlets", as in Build).
//   - hamlet-zones: the zone polygons alone.
//   - addresses: one Point per civic, state and class at now.
//   - white-areas: per hamlet, the civics classed white as one MultiPoint
//     and, when there are three or more not in a line, their convex hull
//     clipped to the comune (see GEOJSON.md).
//   - sites: the sites with their statuses, as in Build.
//
// It returns an Invalid error for an invalid query (LayerQuery.Validate)
// or a hamlet c does not have (field "hamlet"). A nil c gives a collection
// without features. BuildLayer is pure, like Build.
func BuildLayer(c *Comune, q LayerQuery, statuses []fibremon.SiteStatus, now time.Time) (*geojson.FeatureCollection, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	fc := newCollection(c, now)
	if c == nil {
		return fc, nil
	}
	if q.Hamlet != "" && !slices.ContainsFunc(c.Hamlets, func(h Hamlet) bool { return h.Name == q.Hamlet }) {
		names := make([]string, len(c.Hamlets))
		for i, h := range c.Hamlets {
			names[i] = h.Name
		}
		return nil, fibremon.FieldErrorf("hamlet", "%.60q is not a hamlet of %s (want one of %s)", q.Hamlet, c.Name, strings.Join(names, ", "))
	}
	hamletOK := func(name string) bool { return q.Hamlet == "" || name == q.Hamlet }

	points := func() {
		for _, h := range c.Hamlets {
			if hamletOK(h.Name) {
				fc.Append(hamletFeature(h))
			}
		}
	}
	zones := func() {
		for i, z := range c.Zones() {
			if hamletOK(z.Hamlet) {
				fc.Append(zoneFeature(c, c.Hamlets[i], z, now))
			}
		}
	}
	sites := func() {
		byID := make(map[string]*fibremon.SiteStatus, len(statuses))
		for i := range statuses {
			if _, dup := byID[statuses[i].ID]; !dup {
				byID[statuses[i].ID] = &statuses[i]
			}
		}
		for i := range c.Sites {
			s := &c.Sites[i]
			h := s.Hamlet
			if h == "" {
				h, _ = c.HamletAt(orb.Point{s.Lon, s.Lat})
			}
			if !hamletOK(h) || (q.Technology != "" && s.Technology != q.Technology) {
				continue
			}
			fc.Append(siteFeature(s, byID[s.ID]))
		}
	}
	addrOK := func(a *Address) bool { return q.addressOK(a, now) }

	switch q.Layer {
	case "":
		fc.Append(comuneFeature(c))
		points()
		sites()
	case LayerComune:
		fc.Append(comuneFeature(c))
	case LayerHamlets:
		zones()
		points()
	case LayerZones:
		zones()
	case LayerSites:
		sites()
	case LayerAddresses:
		for i := range c.Addresses {
			if a := &c.Addresses[i]; addrOK(a) {
				fc.Append(addressFeature(a, now))
			}
		}
	case LayerWhiteAreas:
		for _, f := range whiteAreaFeatures(c, addrOK) {
			fc.Append(f)
		}
	}
	for _, f := range fc.Features {
		f.Properties["comune"] = c.Slug
	}
	return fc, nil
}

// zoneFeature returns the polygon of zone z of hamlet h.
func zoneFeature(c *Comune, h Hamlet, z Zone, now time.Time) *geojson.Feature {
	var g orb.Geometry = z.Polygon
	if len(z.Parts) > 1 {
		g = z.Parts
	}
	f := geojson.NewFeature(g)
	f.ID = "zone:" + z.Hamlet
	p := geojson.Properties{
		"layer":        LayerZones,
		"name":         z.Hamlet,
		"label":        hamletLabel(h),
		"derived":      z.Derived,
		"method":       "voronoi",
		"coord_status": string(h.CoordStatus),
		"synthetic":    false,
	}
	setFinite(p, "coord_uncertainty_m", round(h.UncertaintyMeters, 1))
	setFinite(p, "area_km2", round(orbgeo.Area(z.Parts)/1e6, 3))
	var n, units, served int
	synthetic := false
	for i := range c.Addresses {
		a := &c.Addresses[i]
		if a.Hamlet != z.Hamlet {
			continue
		}
		n++
		units += a.Units
		if a.Served(now) {
			served += a.Units
		}
		synthetic = synthetic || a.Synthetic
	}
	p["addresses"], p["units"], p["synthetic_addresses"] = n, units, synthetic
	if units > 0 {
		setFinite(p, "served_share", round(float64(served)/float64(units), 4))
	}
	f.Properties = p
	return f
}

// addressFeature returns the point of civic a, its state and class at now.
func addressFeature(a *Address, now time.Time) *geojson.Feature {
	f := geojson.NewFeature(a.Point)
	f.ID = "civic:" + a.ID
	class := a.ClassAt(now)
	tech := string(a.Technology)
	if a.Technology == fibremon.Unknown {
		tech = "unknown"
	}
	p := geojson.Properties{
		"layer":      LayerAddresses,
		"address_id": a.ID,
		"label":      a.Label(),
		"street":     a.Street(),
		"number":     a.Number,
		"hamlet":     a.Hamlet,
		"units":      a.Units,
		"technology": tech,
		"class":      string(class),
		"served":     a.Served(now),
		"white_area": a.AreaClass == White,
		"cluster":    false,
		"synthetic":  a.Synthetic,
		"fill_color": ClassColor(class),
	}
	if a.Technology != fibremon.Unknown {
		setFinite(p, "max_down_mbps", round(a.MaxDownMbps, 3))
		setFinite(p, "max_up_mbps", round(a.MaxUpMbps, 3))
	}
	p["state"] = "none"
	if st, since, ok := a.StateAt(now); ok {
		p["state"] = string(st)
		p["state_since"] = since.UTC().Format(time.DateOnly)
	}
	if a.AreaClass != "" {
		p["area_class"] = string(a.AreaClass)
	}
	if a.Operator != "" {
		p["operator"] = a.Operator
	}
	f.Properties = p
	return f
}

// whiteAreaFeatures aggregates the white civics that pass ok, per hamlet in
// c.Hamlets order (civics without a hamlet last): a MultiPoint of the
// civics, and their convex hull clipped to the boundary when it has area.
func whiteAreaFeatures(c *Comune, ok func(*Address) bool) []*geojson.Feature {
	type group struct {
		white             []*Address
		units, totalUnits int
		synthetic         bool
	}
	groups := map[string]*group{}
	order := []string{}
	for _, h := range c.Hamlets {
		order = append(order, h.Name)
	}
	order = append(order, "")
	for i := range c.Addresses {
		a := &c.Addresses[i]
		g := groups[a.Hamlet]
		if g == nil {
			g = &group{}
			groups[a.Hamlet] = g
			if !slices.Contains(order, a.Hamlet) {
				order = append(order, a.Hamlet)
			}
		}
		g.totalUnits += a.Units
		if a.AreaClass == White && ok(a) {
			g.white = append(g.white, a)
			g.units += a.Units
			g.synthetic = g.synthetic || a.Synthetic
		}
	}
	pr := newProjection(c.Boundary.Bound())
	var out []*geojson.Feature
	for _, name := range order {
		g := groups[name]
		if g == nil || len(g.white) == 0 {
			continue
		}
		props := func(shape string) geojson.Properties {
			p := geojson.Properties{
				"layer":      LayerWhiteAreas,
				"shape":      shape,
				"hamlet":     name,
				"area_class": string(White),
				"derived":    true,
				"method":     "per-civic",
				"addresses":  len(g.white),
				"units":      g.units,
				"synthetic":  g.synthetic,
			}
			if g.totalUnits > 0 {
				setFinite(p, "units_share", round(float64(g.units)/float64(g.totalUnits), 4))
			}
			return p
		}
		mp := make(orb.MultiPoint, len(g.white))
		for i, a := range g.white {
			mp[i] = a.Point
		}
		f := geojson.NewFeature(mp)
		f.ID = "white:" + name + ":civics"
		f.Properties = props("civics")
		out = append(out, f)

		hull := whiteHull(c, pr, mp)
		if len(hull) == 0 {
			continue
		}
		var geom orb.Geometry = hull[0]
		if len(hull) > 1 {
			geom = hull
		}
		inside := 0
		for i := range c.Addresses {
			a := &c.Addresses[i]
			if a.AreaClass != White && planar.MultiPolygonContains(hull, a.Point) {
				inside++
			}
		}
		f = geojson.NewFeature(geom)
		f.ID = "white:" + name + ":hull"
		f.Properties = props("hull")
		f.Properties["other_civics_inside"] = inside
		setFinite(f.Properties, "area_km2", round(orbgeo.Area(hull)/1e6, 3))
		out = append(out, f)
	}
	return out
}

// whiteHull returns the convex hull of pts clipped to c's boundary, in
// lon/lat with RFC 7946 orientation; nil when the hull has no area.
func whiteHull(c *Comune, pr projection, pts orb.MultiPoint) orb.MultiPolygon {
	proj := make([]orb.Point, len(pts))
	for i, p := range pts {
		proj[i] = pr.forward(p)
	}
	hull := convexHull(proj)
	if len(hull) < 3 {
		return nil
	}
	var hs []halfPlane
	for i := range hull {
		a, b := hull[i], hull[(i+1)%len(hull)]
		hs = append(hs, halfPlane{origin: a, normal: orb.Point{b[1] - a[1], -(b[0] - a[0])}})
	}
	var out orb.MultiPolygon
	for _, p := range Rewind(c.Boundary) {
		var q orb.Polygon
		for _, r := range p {
			q = append(q, projectRing(pr, r))
		}
		for _, part := range clipPolygon(q, hs) {
			out = append(out, unprojectPolygon(pr, part))
		}
	}
	return Rewind(out)
}

// convexHull returns the convex hull of pts counter-clockwise, without
// collinear points and without repeating the first (Andrew's monotone
// chain).
func convexHull(pts []orb.Point) []orb.Point {
	ps := slices.Clone(pts)
	slices.SortFunc(ps, func(a, b orb.Point) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	ps = slices.Compact(ps)
	if len(ps) < 3 {
		return nil
	}
	cross := func(o, a, b orb.Point) float64 {
		return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
	}
	var lower, upper []orb.Point
	for _, p := range ps {
		for len(lower) >= 2 && cross(lower[len(lower)-2], lower[len(lower)-1], p) <= 0 {
			lower = lower[:len(lower)-1]
		}
		lower = append(lower, p)
	}
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		for len(upper) >= 2 && cross(upper[len(upper)-2], upper[len(upper)-1], p) <= 0 {
			upper = upper[:len(upper)-1]
		}
		upper = append(upper, p)
	}
	hull := append(lower[:len(lower)-1], upper[:len(upper)-1]...)
	if len(hull) < 3 {
		return nil // all in a line
	}
	return hull
}
