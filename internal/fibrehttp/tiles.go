package fibrehttp

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/simplify"

	"fibremon"
	"fibremon/geo"
)

// PathTiles serves the coverage layers as Mapbox Vector Tiles:
// GET /api/v1/tiles/{layers}/{z}/{x}/{y}.mvt, for GIS tools (QGIS, GDAL,
// MapLibre) that draw tiles.
const PathTiles = "/api/v1/tiles"

// TileContentType is the media type of a vector tile.
const TileContentType = "application/vnd.mapbox-vector-tile"

// tileBuffer is the margin around a tile, as a fraction of its side, whose
// features a tile also carries, so that symbols on a tile's edge are drawn
// whole.
const tileBuffer = 1.0 / 16

// getTile serves GET /api/v1/tiles/{layers}/{z}/{x}/{y}.mvt with the query
// of GET /api/v1/coverage.geojson but bbox and zoom: layers is one layer
// name or several joined by commas, each an MVT layer of the same name, by
// area and zoom as the GeoJSON (clusters where civics are too many).
func (s *Server) getTile(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key, vals := range v {
		switch key {
		case "hamlet", "technology", "class", "state", "comune":
		default:
			return fibremon.FieldErrorf(key, "unknown parameter (want comune, hamlet, technology, class, state)")
		}
		if len(vals) > 1 || len(vals[0]) > MaxQueryParam {
			return fibremon.FieldErrorf(key, "give it once, at most %d bytes", MaxQueryParam)
		}
	}
	layers, tile, err := ParseTilePath(chi.URLParam(r, "layers"), chi.URLParam(r, "z"), chi.URLParam(r, "x"), chi.URLParam(r, "y"))
	if err != nil {
		return err
	}
	q, err := layerQuery(v)
	if err != nil {
		return err
	}
	_, comuni, err := s.scope(v)
	if err != nil {
		return err
	}
	b := tile.Bound(tileBuffer)
	b.Min[0], b.Max[0] = max(b.Min[0], -180), min(b.Max[0], 180)
	z := int(tile.Z)
	q.BBox, q.Zoom = &b, &z
	statuses, now, full := s.d.Status.Statuses(), s.d.Now(), s.fullView(r, slugsOf(comuni)...)
	var ls mvt.Layers
	for _, name := range layers {
		lq := q
		lq.Layer = name
		fc, err := geo.BuildLayers(comuni, lq, statuses, now)
		if err != nil {
			return err
		}
		if !full {
			publicGeoJSON(fc)
		}
		// Projecting to the tile rewrites coordinates in place, and a
		// layer's geometries may be the data set's own (the hamlet zones,
		// the white-area hulls): project copies.
		for _, f := range fc.Features {
			f.Geometry = orb.Clone(f.Geometry)
		}
		ls = append(ls, mvt.NewLayer(name, fc))
	}
	ls.ProjectToTile(tile)
	margin := float64(mvt.DefaultExtent) * tileBuffer
	ls.Clip(orb.Bound{Min: orb.Point{-margin, -margin}, Max: orb.Point{mvt.DefaultExtent + margin, mvt.DefaultExtent + margin}})
	ls.Simplify(simplify.DouglasPeucker(1))
	ls.RemoveEmpty(1, 1)
	body, err := mvt.Marshal(ls)
	if err != nil {
		return fibremon.Errorf(fibremon.Internal, "tile %d/%d/%d: %w", tile.Z, tile.X, tile.Y, err)
	}
	w.Header().Set("Content-Type", TileContentType)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(body)
	return nil
}

// ParseTilePath parses the path parameters of a tile: layers (one of
// geo.Layers but the default, or several joined by commas, each once), z
// (0 to geo.MaxZoom), x and y (0 to 2^z-1, y with the suffix ".mvt"). An
// error is Invalid, naming the parameter.
func ParseTilePath(layers, z, x, y string) ([]string, maptile.Tile, error) {
	var names []string
	for name := range strings.SplitSeq(layers, ",") {
		if name == "" || !slices.Contains(geo.Layers, name) {
			return nil, maptile.Tile{}, fibremon.FieldErrorf("layers", "%.40q is not a layer (want one or more of %s, joined by commas)", name, strings.Join(geo.Layers[1:], ", "))
		}
		if slices.Contains(names, name) {
			return nil, maptile.Tile{}, fibremon.FieldErrorf("layers", "layer %q given twice", name)
		}
		names = append(names, name)
	}
	zoom, err := parseLevel("z", z, geo.MaxZoom)
	if err != nil {
		return nil, maptile.Tile{}, err
	}
	last := uint64(1)<<zoom - 1
	col, err := parseTileIndex("x", x, last, zoom)
	if err != nil {
		return nil, maptile.Tile{}, err
	}
	row, ok := strings.CutSuffix(y, ".mvt")
	if !ok {
		return nil, maptile.Tile{}, fibremon.FieldErrorf("y", "%.20q: want the row and .mvt, e.g. 5.mvt", y)
	}
	rowN, err := parseTileIndex("y", row, last, zoom)
	if err != nil {
		return nil, maptile.Tile{}, err
	}
	return names, maptile.New(uint32(col), uint32(rowN), maptile.Zoom(zoom)), nil
}

func parseTileIndex(field, s string, last uint64, zoom int) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > last || len(s) > 10 {
		return 0, fibremon.FieldErrorf(field, "%s", fmt.Sprintf("%.20q: want an integer in [0, %d], a tile of zoom %d", s, last, zoom))
	}
	return n, nil
}
