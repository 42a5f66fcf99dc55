package influx

import (
	"strconv"

	"fibremon"
)

// appendPoint appends the point of r at the timestamp ts (PointTime) to b,
// in InfluxDB's line protocol, newline included: the measurement, the
// tags kind, probe and site_id (sorted by key, as InfluxDB keeps them),
// the fields, the time in nanoseconds.
//
// String fields escape only '"' and '\': a newline or a tab in an error
// message is stored as it is (the client library's encoder wrote them as
// the two characters '\' 'n', which InfluxDB keeps, so they did not read
// back). Tag values are IDs (validated on ingestion: [a-z0-9_.-]) and
// kinds; names are fixed or validated value names; all are escaped as line
// protocol wants anyway (',', '=', ' ').
func appendPoint(b []byte, r *fibremon.Result, ts int64) []byte {
	b = append(b, Measurement...)
	b = appendTag(b, TagKind, string(r.Kind))
	b = appendTag(b, TagProbe, r.Probe)
	b = appendTag(b, TagSiteID, r.SiteID)
	b = append(b, ' ')
	b = appendName(b, FieldDurationSeconds)
	b = append(b, '=')
	b = strconv.AppendFloat(b, r.DurationSeconds, 'f', -1, 64)
	b = appendString(b, FieldResultID, r.ID)
	b = append(b, ',')
	b = appendName(b, FieldStartOffsetNS)
	b = append(b, '=')
	b = strconv.AppendInt(b, ts-r.Start.UnixNano(), 10)
	b = append(b, 'i', ',')
	b = appendName(b, FieldUp)
	b = append(b, '=')
	b = strconv.AppendBool(b, r.Up)
	if r.Method != "" {
		b = appendString(b, FieldMethod, r.Method)
	}
	if r.Target != "" {
		b = appendString(b, FieldTarget, r.Target)
	}
	if r.Error != "" {
		b = appendString(b, FieldError, r.Error)
	}
	for name, v := range r.Values {
		b = append(b, ',')
		b = appendName(b, name)
		b = append(b, '=')
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, ts, 10)
	return append(b, '\n')
}

// appendTag appends ",key=value".
func appendTag(b []byte, key, value string) []byte {
	b = append(b, ',')
	b = appendName(b, key)
	b = append(b, '=')
	return appendName(b, value)
}

// appendString appends ",key=\"value\"", the value's '"' and '\' escaped.
func appendString(b []byte, key, value string) []byte {
	b = append(b, ',')
	b = appendName(b, key)
	b = append(b, '=', '"')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, value[i])
	}
	return append(b, '"')
}

// appendName appends a tag key or value or a field key, its ',', '=' and
// ' ' escaped.
func appendName(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '=', ' ':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return b
}
