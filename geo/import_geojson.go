package geo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"fibremon"
)

// geoJSONFeature is what ImportGeoJSON reads of a feature.
type geoJSONFeature struct {
	Type     string `json:"type"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
	Properties map[string]any `json:"properties"`
}

// ImportGeoJSON reads civics from an RFC 7946 FeatureCollection of Point
// features (lon, lat). Each feature's properties carry the civic columns
// (CivicColumns but lon and lat, which come from the geometry) and,
// optionally, the coverage columns (CoverageColumns): when "technology" is
// present and not empty, every coverage property is read and checked as in
// ImportCoverage. Values may be JSON strings, numbers, booleans or null
// (null is empty); other properties are ignored.
//
// A bad feature is a RowError on the line where the feature starts, and the
// other features are imported. Input that is not a FeatureCollection or not
// valid JSON, or that is over MaxImportBytes or MaxImportRows features, is
// refused as a whole.
func ImportGeoJSON(r io.Reader) ([]Address, []RowError) {
	b, rerr := readInput(r)
	if rerr != nil {
		return nil, []RowError{*rerr}
	}
	feats, lines, ferr := splitFeatures(b)
	if ferr != nil {
		return nil, []RowError{*ferr}
	}
	var addrs []Address
	var bad errorList
	seen := map[string]int{}
	for i, raw := range feats {
		line := lines[i]
		a, err := parseFeature(raw)
		if err != nil {
			bad.add(rowError(line, err))
			continue
		}
		if prev, dup := seen[a.ID]; dup {
			bad.add(RowError{Line: line, Field: "number", Msg: fmt.Sprintf("duplicate civic %s (line %d)", a.Label(), prev)})
			continue
		}
		seen[a.ID] = line
		addrs = append(addrs, a)
	}
	return addrs, bad.list()
}

// splitFeatures returns the raw features of a FeatureCollection and the
// line each starts on.
func splitFeatures(b []byte) (feats []json.RawMessage, lines []int, rerr *RowError) {
	dec := json.NewDecoder(bytes.NewReader(b))
	fail := func(err error) *RowError {
		off := dec.InputOffset()
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = se.Offset
		}
		return &RowError{Line: lineAt(b, off), Msg: "JSON: " + err.Error()}
	}
	if tok, err := dec.Token(); err != nil {
		return nil, nil, fail(err)
	} else if tok != json.Delim('{') {
		return nil, nil, &RowError{Line: lineAt(b, dec.InputOffset()), Msg: "not a GeoJSON object"}
	}
	sawType, sawFeatures := false, false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fail(err)
		}
		key, _ := tok.(string)
		switch key {
		case "type":
			var t any
			if err := dec.Decode(&t); err != nil {
				return nil, nil, fail(err)
			}
			if t != "FeatureCollection" {
				return nil, nil, &RowError{Line: lineAt(b, dec.InputOffset()), Field: "type", Msg: "want \"FeatureCollection\""}
			}
			sawType = true
		case "features":
			if sawFeatures {
				return nil, nil, &RowError{Line: lineAt(b, dec.InputOffset()), Field: "features", Msg: "given twice"}
			}
			sawFeatures = true
			if tok, err := dec.Token(); err != nil {
				return nil, nil, fail(err)
			} else if tok != json.Delim('[') {
				return nil, nil, &RowError{Line: lineAt(b, dec.InputOffset()), Field: "features", Msg: "want an array"}
			}
			for dec.More() {
				start := lineAt(b, skipSeparators(b, dec.InputOffset()))
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return nil, nil, fail(err)
				}
				if len(feats) == MaxImportRows {
					return nil, nil, &RowError{Line: start, Msg: fmt.Sprintf("more than %d features: refused", MaxImportRows)}
				}
				feats = append(feats, raw)
				lines = append(lines, start)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return nil, nil, fail(err)
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, nil, fail(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, fail(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, &RowError{Line: lineAt(b, dec.InputOffset()), Msg: "data after the FeatureCollection"}
	}
	switch {
	case !sawType:
		return nil, nil, &RowError{Line: 1, Field: "type", Msg: "missing: want \"FeatureCollection\""}
	case !sawFeatures:
		return nil, nil, &RowError{Line: 1, Field: "features", Msg: "missing"}
	}
	return feats, lines, nil
}

// skipSeparators returns the offset of the first byte at or after off that
// is not JSON whitespace or a comma.
func skipSeparators(b []byte, off int64) int64 {
	for off < int64(len(b)) {
		switch b[off] {
		case ' ', '\t', '\r', '\n', ',':
			off++
			continue
		}
		break
	}
	return off
}

// lineAt returns the 1-based line of byte offset off in b.
func lineAt(b []byte, off int64) int {
	off = min(max(off, 0), int64(len(b)))
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}

// parseFeature reads one civic from a raw feature.
func parseFeature(raw json.RawMessage) (Address, error) {
	var f geoJSONFeature
	if err := json.Unmarshal(raw, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Address{}, fibremon.FieldErrorf(te.Field, "want a %s", te.Type)
		}
		return Address{}, fibremon.FieldErrorf("", "not a GeoJSON feature: %v", err)
	}
	switch {
	case f.Type != "Feature":
		return Address{}, fibremon.FieldErrorf("type", "want \"Feature\", got %.40q", f.Type)
	case f.Geometry == nil || f.Geometry.Type != "Point":
		return Address{}, fibremon.FieldErrorf("geometry", "want a Point")
	}
	var coords []float64
	if err := json.Unmarshal(f.Geometry.Coordinates, &coords); err != nil || (len(coords) != 2 && len(coords) != 3) {
		return Address{}, fibremon.FieldErrorf("geometry", "want coordinates [lon, lat], got %.40s", f.Geometry.Coordinates)
	}
	props := make(map[string]string, len(f.Properties)+2)
	for k, v := range f.Properties {
		switch v := v.(type) {
		case nil:
			props[k] = ""
		case string:
			props[k] = v
		case bool:
			props[k] = strconv.FormatBool(v)
		case float64:
			props[k] = strconv.FormatFloat(v, 'f', -1, 64)
			if math.Abs(v) >= 1e21 {
				props[k] = strconv.FormatFloat(v, 'g', -1, 64)
			}
		default:
			return Address{}, fibremon.FieldErrorf(k, "want a string, number, boolean or null")
		}
	}
	props["lon"] = strconv.FormatFloat(coords[0], 'g', -1, 64)
	props["lat"] = strconv.FormatFloat(coords[1], 'g', -1, 64)
	get := func(name string) string { return strings.TrimSpace(props[name]) }
	a, err := parseCivic(get, nil)
	if err != nil {
		return a, err
	}
	if get("technology") == "" {
		return a, nil
	}
	c, err := parseCoverage(get)
	if err != nil {
		return a, err
	}
	c.Source = "" // one source for both: the civic's
	merged, _ := MergeCoverage([]Address{a}, []CoverageRow{c})
	return merged[0], merged[0].Validate()
}
