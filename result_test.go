package fibremon

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func validResult(now time.Time) Result {
	return Result{
		ID: "0b6c3f2e-9d1a-4c5e-8f00-1234567890ab", SiteID: "municipio", Probe: "probe-municipio",
		Kind: KindDownload, Method: "ndt7", Target: "http://127.0.0.1:8080", Start: now.Add(-time.Minute),
		DurationSeconds: 10, Up: true, Values: map[string]float64{DownloadBytesPerSecond: 1.2e8},
	}
}

func TestResultValidate(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		edit  func(r *Result)
		field string // "" means valid
	}{
		{"valid", func(*Result) {}, ""},
		{"failed with reason", func(r *Result) { r.Up, r.Error, r.Values = false, "timeout", nil }, ""},
		{"missing id", func(r *Result) { r.ID = "" }, "id"},
		{"upper-case uuid", func(r *Result) { r.ID = strings.ToUpper(r.ID) }, "id"},
		{"missing site", func(r *Result) { r.SiteID = "" }, "site_id"},
		{"bad site", func(r *Result) { r.SiteID = "Town Hall" }, "site_id"},
		{"long site", func(r *Result) { r.SiteID = strings.Repeat("a", MaxIDLength+1) }, "site_id"},
		{"missing probe", func(r *Result) { r.Probe = "" }, "probe"},
		{"unknown kind", func(r *Result) { r.Kind = "speed" }, "kind"},
		{"zero start", func(r *Result) { r.Start = time.Time{} }, "start"},
		{"future start", func(r *Result) { r.Start = now.Add(time.Hour) }, "start"},
		{"ancient start", func(r *Result) { r.Start = now.AddDate(-2, 0, 0) }, "start"},
		{"NaN duration", func(r *Result) { r.DurationSeconds = math.NaN() }, "duration_seconds"},
		{"negative duration", func(r *Result) { r.DurationSeconds = -1 }, "duration_seconds"},
		{"failure without reason", func(r *Result) { r.Up = false }, "error"},
		{"unknown value", func(r *Result) { r.Values["speed_mbps"] = 1 }, "values.speed_mbps"},
		{"NaN value", func(r *Result) { r.Values[LossRatio] = math.NaN() }, "values.loss_ratio"},
		{"Inf value", func(r *Result) { r.Values[MinRTTSeconds] = math.Inf(1) }, "values.rtt_min_seconds"},
		{"negative value", func(r *Result) { r.Values[DownloadBytesPerSecond] = -5 }, "values.download_bytes_per_second"},
		{"loss above 1", func(r *Result) { r.Values[LossRatio] = 1.01 }, "values.loss_ratio"},
		{"long error", func(r *Result) { r.Up, r.Error = false, strings.Repeat("x", MaxTextLength+1) }, "error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := validResult(now)
			tc.edit(&r)
			err := r.Validate(now)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if KindOf(err) != Invalid || FieldOf(err) != tc.field {
				t.Fatalf("Validate() = %v (kind %v, field %q); want Invalid on %q", err, KindOf(err), FieldOf(err), tc.field)
			}
		})
	}
}

func TestValidateBatchDuplicates(t *testing.T) {
	now := time.Now()
	a, b := validResult(now), validResult(now)
	b.ID = "1b6c3f2e-9d1a-4c5e-8f00-1234567890ab"
	if err := ValidateBatch([]Result{a, b}, now); err != nil {
		t.Fatal(err)
	}
	err := ValidateBatch([]Result{a, b, a}, now)
	if FieldOf(err) != "results[2].id" {
		t.Fatalf("ValidateBatch(dup) = %v; want field results[2].id", err)
	}
	b.Kind = "x"
	if err := ValidateBatch([]Result{a, b}, now); FieldOf(err) != "results[1].kind" {
		t.Fatalf("ValidateBatch = %v; want field results[1].kind", err)
	}
}

func TestSiteState(t *testing.T) {
	now := time.Now()
	at := func(k Kind, ago time.Duration, up bool) Result {
		return Result{Kind: k, Start: now.Add(-ago), DurationSeconds: 1, Up: up}
	}
	stale := 5 * time.Minute
	tests := []struct {
		name     string
		latest   []Result
		lastSeen time.Time
		want     State
	}{
		{"never", nil, time.Time{}, StateUnknown},
		{"silent", []Result{at(KindHTTP, time.Hour, true)}, now.Add(-time.Hour), StateSilent},
		{"up", []Result{at(KindHTTP, 10*time.Second, true), at(KindTCP, 11*time.Second, false)}, now, StateUp},
		{"down", []Result{at(KindHTTP, 10*time.Second, false), at(KindTCP, 11*time.Second, false)}, now, StateDown},
		{"old success ignored", []Result{at(KindHTTP, 10*time.Second, false), at(KindTCP, 3*time.Minute, true)}, now, StateDown},
		{"only speed tests", []Result{at(KindDownload, 10*time.Second, true)}, now, StateUnknown},
	}
	for _, tc := range tests {
		if got := SiteState(tc.latest, tc.lastSeen, now, stale); got != tc.want {
			t.Errorf("%s: SiteState = %s; want %s", tc.name, got, tc.want)
		}
	}
}

func TestQueryTimes(t *testing.T) {
	inside := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		q     Query
		field string
	}{
		{Query{}, ""},
		{Query{Since: MinTime, Until: MaxTime}, ""},
		{Query{Since: MinTime.Add(-time.Nanosecond)}, "since"},
		{Query{Until: MaxTime.Add(time.Nanosecond)}, "until"},
		{Query{Since: inside, Until: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, "until"},
		{Query{Since: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, "since"},
		{Query{Limit: -1}, "limit"},
	} {
		if err := tc.q.Validate(); FieldOf(err) != tc.field || (tc.field != "" && KindOf(err) != Invalid) {
			t.Errorf("%+v.Validate() = %v; want field %q", tc.q, err, tc.field)
		}
	}
	for _, tc := range []struct {
		q      Query
		lo, hi int64
		ok     bool
	}{
		{Query{}, math.MinInt64, math.MaxInt64, true},
		{Query{Since: inside}, inside.UnixNano(), math.MaxInt64, true},
		{Query{Until: inside}, math.MinInt64, inside.UnixNano(), true},
		{Query{Since: inside, Until: inside}, inside.UnixNano(), inside.UnixNano(), false},
		{Query{Since: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, math.MinInt64, math.MaxInt64, true},
		{Query{Since: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, 0, 0, false},
		{Query{Until: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, 0, 0, false},
	} {
		lo, hi, ok := tc.q.NanoRange()
		if ok != tc.ok || (ok && (lo != tc.lo || hi != tc.hi)) {
			t.Errorf("%+v.NanoRange() = %d, %d, %v; want %d, %d, %v", tc.q, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

// The expressions isUUID and ValidID check, as loops.
var (
	uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	idRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)
)

func TestIDChecksMatchTheirExpressions(t *testing.T) {
	for _, s := range []string{"", "a", "-", "a-", "-a", "_a", ".a", "a.b_c-d", "A", "é", "a b", "a\n",
		"0190a6f2-7c3e-7b1a-9c4d-5e6f708192a3", "0190A6F2-7c3e-7b1a-9c4d-5e6f708192a3", "0190a6f2-7c3e-7b1a-9c4d-5e6f708192a",
		"0190a6f2-7c3e-7b1a-9c4d-5e6f708192a3x", "0190a6f2x7c3e-7b1a-9c4d-5e6f708192a3", "0190a6f27c3e-7b1a-9c4d-5e6f708192a3-",
		strings.Repeat("a", 64), strings.Repeat("a", 65)} {
		if got, want := isUUID(s), uuidRE.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v; the expression says %v", s, got, want)
		}
		if got, want := ValidID(s), len(s) <= MaxIDLength && idRE.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v; the expression says %v", s, got, want)
		}
	}
}

func FuzzIDChecks(f *testing.F) {
	f.Add("0190a6f2-7c3e-7b1a-9c4d-5e6f708192a3")
	f.Add("probe-municipio")
	f.Add("-x")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isUUID(s), uuidRE.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v; the expression says %v", s, got, want)
		}
		if got, want := ValidID(s), len(s) <= MaxIDLength && idRE.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v; the expression says %v", s, got, want)
		}
	})
}
