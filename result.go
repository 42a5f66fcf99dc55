package fibremon

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Kind is what a Result measured.
type Kind string

// Result kinds. download and upload are line-speed tests (ndt7); latency is
// a round of several packets (ICMP, or TCP connect where ICMP is not
// permitted); http, tcp and dns are availability checks.
const (
	KindDownload Kind = "download"
	KindUpload   Kind = "upload"
	KindLatency  Kind = "latency"
	KindHTTP     Kind = "http"
	KindTCP      Kind = "tcp"
	KindDNS      Kind = "dns"
)

// Kinds lists every result kind, in a stable order.
var Kinds = []Kind{KindDownload, KindUpload, KindLatency, KindHTTP, KindTCP, KindDNS}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Availability reports whether results of this kind say whether the line
// is up (as opposed to how fast it is).
func (k Kind) Availability() bool {
	switch k {
	case KindLatency, KindHTTP, KindTCP, KindDNS:
		return true
	}
	return false
}

// Names of the values a Result may carry. Each names its unit; speeds are in
// bytes per second, times in seconds.
const (
	DownloadBytesPerSecond = "download_bytes_per_second"
	UploadBytesPerSecond   = "upload_bytes_per_second"
	TransferredBytes       = "transferred_bytes"
	MinRTTSeconds          = "rtt_min_seconds"
	AvgRTTSeconds          = "rtt_avg_seconds"
	MaxRTTSeconds          = "rtt_max_seconds"
	P95RTTSeconds          = "rtt_p95_seconds"
	JitterSeconds          = "jitter_seconds"
	LossRatio              = "loss_ratio"
	PacketsSent            = "packets_sent"
	PacketsReceived        = "packets_received"
	RetransmissionRatio    = "retransmission_ratio"
	HTTPStatusCode         = "http_status_code"
	DNSAnswers             = "dns_answers"
	// CrossTrafficRatio is, for a throughput test, the bytes other traffic
	// moved on the test's interface during the test over the test's own
	// bytes, from the interface counters.
	CrossTrafficRatio = "cross_traffic_ratio"
	// Void is 1 for a throughput test that does not count: other traffic
	// reached VoidCrossTrafficRatio of its bytes, as in AGCOM's
	// MisuraInternet. Such a result is not up; its error tells the speed
	// measured.
	Void = "void"
)

// VoidCrossTrafficRatio is the share of other traffic from which a
// throughput test is void (MisuraInternet: 10 %).
const VoidCrossTrafficRatio = 0.10

// valueMax bounds each known value; every value must also be finite and >= 0.
var valueMax = map[string]float64{
	DownloadBytesPerSecond: 1e12, // 8 Tbit/s: anything above is a bug
	UploadBytesPerSecond:   1e12,
	TransferredBytes:       1e15,
	MinRTTSeconds:          3600,
	AvgRTTSeconds:          3600,
	MaxRTTSeconds:          3600,
	P95RTTSeconds:          3600,
	JitterSeconds:          3600,
	LossRatio:              1,
	PacketsSent:            1e6,
	PacketsReceived:        1e6,
	RetransmissionRatio:    1,
	HTTPStatusCode:         599,
	DNSAnswers:             1e4,
	CrossTrafficRatio:      1e9,
	Void:                   1,
}

// IsVoid reports whether r is a test that does not count (see Void).
func (r *Result) IsVoid() bool { return r.Values[Void] > 0 }

// ValueNames returns the names of every value a Result may carry, sorted.
func ValueNames() []string {
	names := make([]string, 0, len(valueMax))
	for n := range valueMax {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Result is one measurement attempt by a probe at a site. Its JSON form is
// the v1 wire format: fields are only ever added, never renamed or removed.
type Result struct {
	// ID is a UUID minted when the measurement was made. It is the
	// idempotency key from the probe's spool to every store.
	ID     string `json:"id"`
	SiteID string `json:"site_id"`
	Probe  string `json:"probe"` // the probe agent's name
	Kind   Kind   `json:"kind"`
	// Method says how the measurement was made: "ndt7", "icmp", "tcp-connect",
	// "http-get", "dns-udp" ...
	Method string `json:"method,omitempty"`
	Target string `json:"target,omitempty"` // what was measured against: URL, host:port, name

	Start           time.Time `json:"start"`
	DurationSeconds float64   `json:"duration_seconds"`

	// Up is true when the attempt succeeded: the check passed, the
	// throughput test completed, at least one latency packet came back.
	Up     bool               `json:"up"`
	Values map[string]float64 `json:"values,omitempty"`
	// Error says why the attempt failed; empty when Up.
	Error string `json:"error,omitempty"`
}

// Limits on results, shared by the API and the stores.
const (
	MaxIDLength     = 64
	MaxTextLength   = 1024 // target, error
	MaxClockSkew    = 10 * time.Minute
	MaxResultAge    = 400 * 24 * time.Hour
	MaxDurationSecs = 3600
)

// A Result's ID is a lower-case UUID of version 4 (random) or 7
// (time-ordered: what probes mint) with the RFC 9562 variant. The nil
// UUID and the other versions (1, 3, 5, 6, 8: MAC- or name-derived, or
// vendor-defined) are refused: no probe mints them, and an ID that is not
// random is not a safe idempotency key. Only ingestion validates: the
// stores never validate what they read back, so results stored before a
// rule was added stay readable.
//
// Both checks are loops rather than regular expressions (they run for
// every result ingested; result_test.go holds the expressions they match).

// isUUID reports whether s matches
// ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// ValidID reports whether s can name a site or a probe: lower-case letters,
// digits, '_', '.', '-', at most MaxIDLength bytes, starting with a letter
// or digit (^[a-z0-9][a-z0-9_.-]*$).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Validate checks r against the v1 contract, taking now as the present for
// the plausibility of Start. It returns an Invalid *Error naming the field.
func (r *Result) Validate(now time.Time) error {
	switch {
	case r.ID == "":
		return FieldErrorf("id", "missing")
	case !isUUID(r.ID):
		return FieldErrorf("id", "not a lower-case UUID: %.80q", r.ID)
	case r.ID[14] != '4' && r.ID[14] != '7':
		return FieldErrorf("id", "UUID %s is of version %c; want 4 (random) or 7 (time-ordered)", r.ID, r.ID[14])
	case strings.IndexByte("89ab", r.ID[19]) < 0:
		return FieldErrorf("id", "UUID %s is not of the RFC 9562 variant (10xx: 8, 9, a or b at position 20)", r.ID)
	case r.SiteID == "":
		return FieldErrorf("site_id", "missing")
	case !ValidID(r.SiteID):
		return FieldErrorf("site_id", "invalid site id %.80q", r.SiteID)
	case r.Probe == "":
		return FieldErrorf("probe", "missing")
	case !ValidID(r.Probe):
		return FieldErrorf("probe", "invalid probe name %.80q", r.Probe)
	case !r.Kind.Valid():
		return FieldErrorf("kind", "unknown kind %.40q (want one of %v)", string(r.Kind), Kinds)
	case len(r.Method) > MaxIDLength:
		return FieldErrorf("method", "longer than %d bytes", MaxIDLength)
	case len(r.Target) > MaxTextLength:
		return FieldErrorf("target", "longer than %d bytes", MaxTextLength)
	case len(r.Error) > MaxTextLength:
		return FieldErrorf("error", "longer than %d bytes", MaxTextLength)
	case r.Start.IsZero():
		return FieldErrorf("start", "missing")
	case r.Start.After(now.Add(MaxClockSkew)):
		return FieldErrorf("start", "%s is in the future", r.Start.Format(time.RFC3339))
	case r.Start.Before(now.Add(-MaxResultAge)):
		return FieldErrorf("start", "%s is older than %v", r.Start.Format(time.RFC3339), MaxResultAge)
	case math.IsNaN(r.DurationSeconds) || math.IsInf(r.DurationSeconds, 0):
		return FieldErrorf("duration_seconds", "not a finite number")
	case r.DurationSeconds < 0 || r.DurationSeconds > MaxDurationSecs:
		return FieldErrorf("duration_seconds", "%g out of range [0, %d]", r.DurationSeconds, MaxDurationSecs)
	case !r.Up && r.Error == "":
		return FieldErrorf("error", "missing: a failed result must say why")
	}
	for _, name := range sortedKeys(r.Values) {
		v := r.Values[name]
		max, ok := valueMax[name]
		field := "values." + name
		switch {
		case !ok:
			return FieldErrorf(field, "unknown value (want one of %v)", ValueNames())
		case math.IsNaN(v) || math.IsInf(v, 0):
			return FieldErrorf(field, "not a finite number")
		case v < 0:
			return FieldErrorf(field, "negative: %g", v)
		case v > max:
			return FieldErrorf(field, "%g above the maximum %g", v, max)
		}
	}
	if v, ok := r.Values[Void]; ok {
		return r.validateVoid(v)
	}
	return nil
}

// validateVoid checks a result carrying the value Void (v): a throughput
// test that does not count is not up, says so in its error, and carries
// only Void (1) and CrossTrafficRatio, so no speed of it is taken for a
// measurement of the line.
func (r *Result) validateVoid(v float64) error {
	switch {
	case v != 1:
		return FieldErrorf("values."+Void, "%g: a void test has %s 1 (absent when the test counts)", v, Void)
	case r.Kind != KindDownload && r.Kind != KindUpload:
		return FieldErrorf("values."+Void, "only a throughput test (download, upload) can be void, not %s", r.Kind)
	case r.Up:
		return FieldErrorf("up", "a void test is not up")
	case !strings.HasPrefix(r.Error, VoidErrorPrefix):
		return FieldErrorf("error", "a void test's error starts %q", VoidErrorPrefix)
	}
	for _, name := range sortedKeys(r.Values) {
		if name != Void && name != CrossTrafficRatio {
			return FieldErrorf("values."+name, "a void test carries only %s and %s", Void, CrossTrafficRatio)
		}
	}
	return nil
}

// VoidErrorPrefix starts the error of a void test.
const VoidErrorPrefix = "void: "

// ValidateBatch validates every result of a batch and rejects duplicate IDs
// within it. Fields are named "results[i].field".
func ValidateBatch(rs []Result, now time.Time) error {
	seen := make(map[string]int, len(rs))
	for i := range rs {
		prefix := fmt.Sprintf("results[%d]", i)
		if err := rs[i].Validate(now); err != nil {
			return withField(prefix, err)
		}
		if j, dup := seen[rs[i].ID]; dup {
			return FieldErrorf(prefix+".id", "duplicate of results[%d].id in the same batch", j)
		}
		seen[rs[i].ID] = i
	}
	return nil
}

// Value returns the named value and whether r carries it.
func (r *Result) Value(name string) (float64, bool) {
	v, ok := r.Values[name]
	return v, ok
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
