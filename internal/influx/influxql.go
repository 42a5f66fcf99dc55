package influx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"fibremon"
)

// InfluxQL, where the server speaks it (InfluxDB 1.x; 2.x when the bucket
// has a database/retention-policy mapping), reads each series' newest
// points by walking it backwards from its end: a cost that grows with the
// number of series, where Flux's tail() on InfluxDB 1.8 reads every point
// in the range (on a million points, some 50 ms against 1 to 2.5 s). Only
// Latest uses it; the store falls back to Flux when New finds /query
// unusable.

// qlRow is one row of an InfluxQL answer: its series' tags, and its
// columns by name.
type qlRow struct {
	tags map[string]string
	cols map[string]any // json.Number for numbers
}

// influxQL runs a query on the bucket's database and retention policy
// and calls fn with every row, times in nanoseconds.
func (s *Store) influxQL(ctx context.Context, op, q string, fn func(qlRow)) error {
	db, rp, _ := strings.Cut(s.cfg.Bucket, "/")
	v := url.Values{"db": {db}, "q": {q}, "epoch": {"ns"}}
	if rp != "" {
		v.Set("rp", rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(s.cfg.URL, "/")+"/query",
		strings.NewReader(v.Encode()))
	if err != nil {
		return fibremon.Errorf(fibremon.Internal, "influx %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+s.cfg.Token)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := s.http.Do(req.WithContext(ctx))
	if err != nil {
		return fibremon.Errorf(fibremon.Transient, "influx %s: InfluxDB at %s does not answer: %w", op, s.cfg.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fibremon.Errorf(fibremon.Transient, "influx %s: InfluxDB at %s: %w", op, s.cfg.URL, err)
	}
	if resp.StatusCode/100 != 2 {
		return s.statusError(op, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var ans struct {
		Results []struct {
			Error  string `json:"error"`
			Series []struct {
				Tags    map[string]string `json:"tags"`
				Columns []string          `json:"columns"`
				Values  [][]any           `json:"values"`
			} `json:"series"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil {
		return fibremon.Errorf(fibremon.Internal, "influx %s: InfluxDB at %s answered %.200q: %w", op, s.cfg.URL, body, err)
	}
	if ans.Error != "" {
		return fibremon.Errorf(fibremon.Internal, "influx %s: InfluxDB at %s: %s", op, s.cfg.URL, ans.Error)
	}
	for _, res := range ans.Results {
		if res.Error != "" {
			return fibremon.Errorf(fibremon.Internal, "influx %s: InfluxDB at %s: %s", op, s.cfg.URL, res.Error)
		}
		for _, ser := range res.Series {
			for _, vals := range ser.Values {
				row := qlRow{tags: ser.Tags, cols: make(map[string]any, len(vals))}
				for i, c := range ser.Columns {
					if i < len(vals) && vals[i] != nil {
						row.cols[c] = vals[i]
					}
				}
				fn(row)
			}
		}
	}
	return nil
}

// qlDecode makes a Result of a row of whole points; ok is false without a
// result_id or a time. ts is the point's timestamp.
func qlDecode(row qlRow) (r fibremon.Result, ts int64, ok bool) {
	c := row.cols
	if r.ID, ok = c[FieldResultID].(string); !ok {
		return r, 0, false
	}
	n, isNum := c["time"].(json.Number)
	if !isNum {
		return r, 0, false
	}
	ts, err := n.Int64()
	if err != nil {
		return r, 0, false
	}
	r.SiteID, r.Probe, r.Kind = row.tags[TagSiteID], row.tags[TagProbe], fibremon.Kind(row.tags[TagKind])
	r.Method, _ = c[FieldMethod].(string)
	r.Target, _ = c[FieldTarget].(string)
	r.Error, _ = c[FieldError].(string)
	r.Up, _ = c[FieldUp].(bool)
	if d, isNum := c[FieldDurationSeconds].(json.Number); isNum {
		r.DurationSeconds, _ = d.Float64()
	}
	var offset int64
	if o, isNum := c[FieldStartOffsetNS].(json.Number); isNum {
		offset, _ = o.Int64()
	}
	r.Start = time.Unix(0, ts-offset).UTC()
	for name, x := range c {
		if n, isNum := x.(json.Number); isNum && valueNames[name] {
			if f, err := n.Float64(); err == nil {
				if r.Values == nil {
					r.Values = make(map[string]float64)
				}
				r.Values[name] = f
			}
		}
	}
	return r, ts, true
}

// qlTime formats a time as an InfluxQL time literal (nanoseconds).
func qlTime(t time.Time) string { return fmt.Sprintf("%d", t.UnixNano()) }

// checkInfluxQL reports whether /query answers for the bucket.
func (s *Store) checkInfluxQL(ctx context.Context) bool {
	err := s.influxQL(ctx, "influxql check", fmt.Sprintf(`SELECT "%s" FROM "%s" LIMIT 1`, FieldResultID, Measurement), func(qlRow) {})
	return err == nil
}

// qlString quotes s as an InfluxQL string literal.
func qlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
