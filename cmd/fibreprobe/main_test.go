package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fibremon/internal/agent"
)

func TestCheckConfig(t *testing.T) {
	env := func(string) string { return "" }
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"check", "--config.file", "../../examples/probe.yml"}, env, &out, &errOut); err != nil {
		t.Fatalf("check of the example config: %v", err)
	}
	for _, want := range []string{"ok (probe municipio-probe, site municipio, 6 measurements)",
		"once per 15m0s slot at a random offset", "random waits, exponential with mean 6h0m0s, within 36m0s–15h0m0s", "every 1m0s ±10 %"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("probe: p\nsite_id: s\nservice:\n  url: http://h:1\n  token: t\nspool:\n  dir: /tmp/x\nmeasurements:\n  - kind: http\n    target: ftp://h/\n"), 0o600)
	// the environment mirror names the file
	err := run(t.Context(), []string{"check"}, func(k string) string {
		if k == "FIBREPROBE_CONFIG_FILE" {
			return bad
		}
		return ""
	}, &out, &errOut)
	var ce *agent.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("check of a bad config = %v; want a *agent.ConfigError", err)
	}
	if want := bad + `:10: measurements[0].target: "ftp://h/": want an http(s) or ws(s) URL`; err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	if err := run(t.Context(), []string{"bogus"}, env, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
}
