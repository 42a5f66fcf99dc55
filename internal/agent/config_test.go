package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := LoadConfig("../../examples/probe.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Measurements) != 6 || c.Measurements[2].Count != 20 || c.Measurements[0].Duration != 10*time.Second {
		t.Fatalf("example config decoded as %+v", c.Measurements)
	}
}

func TestInvalidConfigs(t *testing.T) {
	want := map[string]string{
		"invalid-unknown-field.yml":        "testdata/invalid-unknown-field.yml:6: field upload_intervall not found in type agent.ServiceConfig",
		"invalid-wrong-type.yml":           "testdata/invalid-wrong-type.yml:11: cannot unmarshal !!str `many` into int",
		"invalid-kind.yml":                 `testdata/invalid-kind.yml:11: measurements[1].kind: "speedtest": want one of [download upload latency http tcp dns]`,
		"invalid-option-of-other-kind.yml": "testdata/invalid-option-of-other-kind.yml:11: measurements[0].count: not an option of kind http",
		"invalid-no-url.yml":               "testdata/invalid-no-url.yml:3: service.url: missing",
		"invalid-bad-duration.yml":         "testdata/invalid-bad-duration.yml:11: measurements[0].duration: 1m0s out of range [1s, 15s] (ndt7)",
		"invalid-syntax.yml":               "testdata/invalid-syntax.yml:5: mapping values are not allowed in this context",
		"invalid-site-id.yml":              `testdata/invalid-site-id.yml:2: site_id: "Town Hall": use lower-case letters, digits, '.', '_', '-'`,
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
