package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"fibremon"
	"fibremon/probes"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := LoadConfig("../../examples/probe.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Measurements) != 6 || c.Measurements[2].Latency.Count != 20 || c.Measurements[0].Throughput.Duration != 10*time.Second {
		t.Fatalf("example config decoded as %+v", c.Measurements)
	}
	if d, u := c.Measurements[0], c.Measurements[1]; d.Schedule.Mode != ModeSlots || d.Schedule.Slot != 15*time.Minute ||
		u.Schedule.Mode != ModeRandom || u.Schedule.Mean != 6*time.Hour || !u.Throughput.EarlyStop {
		t.Errorf("example throughput jobs: %+v, %+v; want 15m slots and a random 6h schedule with early stop", d, u)
	}
}

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"invalid-unknown-field.yml":                 "testdata/invalid-unknown-field.yml:6: field upload_intervall not found in type agent.ServiceConfig",
		"invalid-wrong-type.yml":                    "testdata/invalid-wrong-type.yml:11: measurements[0].count: cannot unmarshal !!str `many` into int",
		"invalid-kind.yml":                          `testdata/invalid-kind.yml:11: measurements[1].kind: "speedtest": want one of [download upload latency http tcp dns]`,
		"invalid-option-of-other-kind.yml":          "testdata/invalid-option-of-other-kind.yml:11: measurements[0].count: not an option of kind http (its options: expect_status)",
		"invalid-option-of-tcp.yml":                 "testdata/invalid-option-of-tcp.yml:11: measurements[0].server: not an option of kind tcp (kind tcp has no options)",
		"invalid-unknown-measurement-field.yml":     "testdata/invalid-unknown-measurement-field.yml:12: measurements[0].intervall: unknown field (a measurement has name, kind, target, interval, timeout, schedule; kind latency also method, count, packet_interval)",
		"invalid-no-url.yml":                        "testdata/invalid-no-url.yml:3: service.url: missing",
		"invalid-url-and-urls.yml":                  "testdata/invalid-url-and-urls.yml:5: service.urls: set url or urls, not both",
		"invalid-urls-scheme.yml":                   `testdata/invalid-urls-scheme.yml:6: service.urls[1]: "ftp://fibremon-b": want an http(s) or ws(s) URL`,
		"invalid-bad-duration.yml":                  "testdata/invalid-bad-duration.yml:11: measurements[0].duration: 1m0s out of range [1s, 15s] (ndt7)",
		"invalid-syntax.yml":                        "testdata/invalid-syntax.yml:5: mapping values are not allowed in this context",
		"invalid-site-id.yml":                       `testdata/invalid-site-id.yml:2: site_id: "Town Hall": use lower-case letters, digits, '.', '_', '-'`,
		"invalid-schedule-mode.yml":                 `testdata/invalid-schedule-mode.yml:12: measurements[0].schedule.mode: "hourly": want interval, slots or random`,
		"invalid-schedule-interval-with-slots.yml":  "testdata/invalid-schedule-interval-with-slots.yml:11: measurements[0].interval: not used by schedule mode slots",
		"invalid-schedule-random-bounds.yml":        "testdata/invalid-schedule-random-bounds.yml:15: measurements[0].schedule.max: 2h0m0s is below mean 6h0m0s",
		"invalid-schedule-option-of-other-mode.yml": "testdata/invalid-schedule-option-of-other-mode.yml:13: measurements[0].schedule.mean: not an option of schedule mode slots",
		"invalid-schedule-slot-too-short.yml":       "testdata/invalid-schedule-slot-too-short.yml:14: measurements[0].schedule.slot: 3m0s: at least twice the timeout 2m0s, so that a test ends inside its slot",
		"invalid-other-traffic-ratio.yml":           "testdata/invalid-other-traffic-ratio.yml:11: measurements[0].max_other_traffic_ratio: 1.5 out of range (0, 1]",
		"invalid-early-stop-on-latency.yml":         "testdata/invalid-early-stop-on-latency.yml:11: measurements[0].early_stop: not an option of kind latency (its options: method, count, packet_interval)",
	}
	files, _ := filepath.Glob("testdata/invalid-*.yml")
	if len(files) != len(want) {
		t.Fatalf("%d invalid-*.yml files; the table has %d", len(files), len(want))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := LoadConfig(f)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if got := err.Error(); got != want[filepath.Base(f)] {
				t.Errorf("error\n got %s\nwant %s", got, want[filepath.Base(f)])
			}
		})
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tf := filepath.Join(dir, "token")
	os.WriteFile(tf, []byte("fmp_secret\n"), 0o600)
	c, err := ParseConfig("x.yml", []byte("probe: p\nsite_id: s\nservice:\n  url: http://h:1\n  token_file: "+tf+
		"\nspool:\n  dir: "+dir+"\nmeasurements:\n  - kind: tcp\n    target: h:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := c.Token(); err != nil || tok != "fmp_secret" {
		t.Fatalf("Token() = %q, %v", tok, err)
	}
}

func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yml")
	files = append(files, "../../examples/probe.yml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig("fuzz.yml", data)
		if err == nil && (c.Probe == "" || len(c.Measurements) == 0) {
			t.Fatalf("accepted a config without probe or measurements: %+v", c)
		}
	})
}

// TestThroughputConfig: schedule modes with their defaults, the ndt7
// options, and an ndt7 server given as a bare host.
func TestThroughputConfig(t *testing.T) {
	c, err := ParseConfig("x.yml", []byte(`probe: p
site_id: s
service: {url: "http://h:1", token: t}
spool: {dir: /tmp/x}
measurements:
  - name: misura-download
    kind: download
    target: ndt.example.org
    duration: 7s
    early_stop: true
    schedule: {mode: slots}
  - name: ndt7-upload
    kind: upload
    target: wss://ndt.example.org:4443/ndt/v7/upload?access_token=x
    interface: eth0
    max_other_traffic_ratio: 0.2
    schedule: {mode: random}
  - kind: tcp
    target: h:1
`))
	if err != nil {
		t.Fatal(err)
	}
	d, u, tcp := c.Measurements[0], c.Measurements[1], c.Measurements[2]
	if d.Schedule != (ScheduleConfig{Mode: ModeSlots, Slot: 15 * time.Minute}) || d.Interval != 0 {
		t.Errorf("slots schedule = %+v, interval %v; want 15m slots and no interval", d.Schedule, d.Interval)
	}
	if d.Target != "wss://ndt.example.org" || d.Throughput.Duration != 7*time.Second || !d.Throughput.EarlyStop ||
		d.Throughput.Interface != "auto" || d.Throughput.MaxOtherTrafficRatio != 0.10 {
		t.Errorf("download = %+v; want wss://ndt.example.org, 7s, early stop, interface auto, ratio 0.1", d)
	}
	if u.Schedule != (ScheduleConfig{Mode: ModeRandom, Mean: 6 * time.Hour, Min: 36 * time.Minute, Max: 15 * time.Hour}) {
		t.Errorf("random schedule = %+v; want the ndt7 defaults", u.Schedule)
	}
	if u.Target != "wss://ndt.example.org:4443/ndt/v7/upload?access_token=x" || u.Throughput.Interface != "eth0" ||
		u.Throughput.MaxOtherTrafficRatio != 0.2 || u.Throughput.Duration != 10*time.Second {
		t.Errorf("upload = %+v", u)
	}
	if tcp.Schedule.Mode != ModeInterval || tcp.Interval != time.Minute {
		t.Errorf("tcp check schedule %+v every %v; want interval mode, 1m", tcp.Schedule, tcp.Interval)
	}
}

// TestMeasurementOptions: a Config built in code gets its options checked
// and defaulted by the probes package as a file's are; options of another
// kind are refused there too.
func TestMeasurementOptions(t *testing.T) {
	base := func(ms ...MeasurementConfig) *Config {
		return &Config{Probe: "p", SiteID: "s", Service: DefaultService, Spool: DefaultSpool, Web: DefaultWeb, Measurements: ms}
	}
	c := base(MeasurementConfig{Kind: fibremon.KindLatency, Target: "127.0.0.1", Options: probes.Options{Latency: probes.LatencyOptions{Count: 3}}},
		MeasurementConfig{Kind: fibremon.KindUpload, Target: "ndt.example.org"})
	c.Service.URL, c.Service.Token, c.Spool.Dir = "http://h:1", "t", t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	lat, up := c.Measurements[0], c.Measurements[1]
	if want := (probes.LatencyOptions{Method: "auto", Count: 3, PacketInterval: probes.DefaultLatencyOptions.PacketInterval}); lat.Latency != want ||
		lat.Timeout != probes.DefaultTimeout(fibremon.KindLatency) || lat.Interval != time.Minute {
		t.Errorf("latency = %+v; want options %+v, the probe's default timeout, 1m", lat, want)
	}
	if up.Throughput != probes.DefaultThroughputOptions || up.Target != "wss://ndt.example.org" || up.Interval != time.Hour {
		t.Errorf("upload = %+v; want the default throughput options, wss://ndt.example.org, 1h", up)
	}

	tests := []struct {
		m    MeasurementConfig
		want string
	}{
		{MeasurementConfig{Kind: fibremon.KindHTTP, Target: "http://h/", Options: probes.Options{Latency: probes.LatencyOptions{Count: 5}}},
			"config: measurements[0]: latency options given to the http probe"},
		{MeasurementConfig{Kind: fibremon.KindLatency, Target: "h:http"}, `config: measurements[0].target: "h:http": bad port "http"`},
		{MeasurementConfig{Kind: fibremon.KindLatency, Target: "h", Timeout: time.Second}, "config: measurements[0].timeout: 1s is shorter than count × packet_interval = 2s"},
		{MeasurementConfig{Kind: fibremon.KindDNS, Target: "h", Options: probes.Options{DNS: probes.DNSOptions{Server: "h"}}}, `config: measurements[0].server: "h": want host:port`},
	}
	for _, tt := range tests {
		c := base(tt.m)
		c.Service.URL, c.Service.Token, c.Spool.Dir = "http://h:1", "t", t.TempDir()
		if err := c.Validate(); err == nil || err.Error() != tt.want {
			t.Errorf("Validate(%+v) = %v; want %s", tt.m, err, tt.want)
		}
	}
}

// TestOptionNames: the options of each kind, as the file names them, are
// the fields of its probes options struct. Renaming one breaks the files
// in use.
func TestOptionNames(t *testing.T) {
	want := map[fibremon.Kind][]string{
		fibremon.KindDownload: {"duration", "early_stop", "interface", "max_other_traffic_ratio"},
		fibremon.KindUpload:   {"duration", "early_stop", "interface", "max_other_traffic_ratio"},
		fibremon.KindLatency:  {"method", "count", "packet_interval"},
		fibremon.KindHTTP:     {"expect_status"},
		fibremon.KindTCP:      nil,
		fibremon.KindDNS:      {"server"},
	}
	var o probes.Options
	for _, k := range fibremon.Kinds {
		if got := optionNames(o.OptionsOf(k)); !slices.Equal(got, want[k]) {
			t.Errorf("options of %s = %q; want %q", k, got, want[k])
		}
	}
	if got, want := optionNames(&MeasurementConfig{}), []string{"name", "kind", "target", "interval", "timeout", "schedule"}; !slices.Equal(got, want) {
		t.Errorf("fields of a measurement = %q; want %q", got, want)
	}
}
