package main

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"fibremon"
)

// appendRequest appends the JSON body of POST /api/v1/results holding rs,
// as json.Marshal(fibrehttp.ResultsRequest{rs}) would encode it (values
// in the shortest form that reads back exactly), without its reflection:
// the generator shares the machine with the service it measures.
func appendRequest(b []byte, rs []fibremon.Result) []byte {
	b = append(b, `{"results":[`...)
	for i := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResult(b, &rs[i])
	}
	return append(b, "]}"...)
}

func appendResult(b []byte, r *fibremon.Result) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, r.ID)
	b = append(b, `,"site_id":`...)
	b = appendString(b, r.SiteID)
	b = append(b, `,"probe":`...)
	b = appendString(b, r.Probe)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(r.Kind))
	if r.Method != "" {
		b = append(b, `,"method":`...)
		b = appendString(b, r.Method)
	}
	if r.Target != "" {
		b = append(b, `,"target":`...)
		b = appendString(b, r.Target)
	}
	b = append(b, `,"start":"`...)
	b = r.Start.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","duration_seconds":`...)
	b = strconv.AppendFloat(b, r.DurationSeconds, 'g', -1, 64)
	b = append(b, `,"up":`...)
	b = strconv.AppendBool(b, r.Up)
	if len(r.Values) > 0 {
		b = append(b, `,"values":{`...)
		names := make([]string, 0, len(r.Values))
		for k := range r.Values {
			names = append(names, k)
		}
		slices.Sort(names)
		for i, k := range names {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = strconv.AppendFloat(b, r.Values[k], 'g', -1, 64)
		}
		b = append(b, '}')
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, r.Error)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string; s must be valid UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, c)
		default:
			_, n := utf8.DecodeRuneInString(s[i:])
			b = append(b, s[i:i+n]...)
			i += n
			continue
		}
		i++
	}
	return append(b, '"')
}
