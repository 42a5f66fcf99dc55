package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/agent"
	"fibremon/internal/spool"
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
	if want := bad + `:10: measurements[0].target: "ftp://h/": want an http(s) URL`; err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	if err := run(t.Context(), []string{"bogus"}, env, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
}

// TestSpoolRequeue: `spool status` lists a dead letter with its reason,
// `spool requeue` refuses a spool held by a running agent, then queues the
// dead letter again.
func TestSpoolRequeue(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	cfgFile := filepath.Join(dir, "probe.yml")
	cfg := "probe: p\nsite_id: s\nservice:\n  url: http://127.0.0.1:1\n  token: t\nspool:\n  dir: " + spoolDir +
		"\nmeasurements:\n  - kind: tcp\n    target: 127.0.0.1:1\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	q, err := spool.Open(spoolDir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rs := make([]fibremon.Result, 3)
	for i := range rs {
		rs[i] = fibremon.Result{ID: uuid.Must(uuid.NewV7()).String(), SiteID: "s", Probe: "p", Kind: fibremon.KindTCP,
			Start: time.Now().UTC(), Up: false, Error: "connection refused"}
	}
	if err := q.Put(rs); err != nil {
		t.Fatal(err)
	}
	b, err := q.Peek(10)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Reject(b, "post results: 401 unknown token"); err != nil {
		t.Fatal(err)
	}

	env := func(string) string { return "" }
	spoolCmd := func(sub string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(t.Context(), []string{"spool", sub, "--config.file", cfgFile}, env, &out, &errOut)
		return out.String(), err
	}
	if _, err := spoolCmd("requeue"); err == nil || !strings.Contains(err.Error(), "stop the fibreprobe") {
		t.Fatalf("requeue of a spool in use = %v; want an error saying to stop the agent", err)
	}
	q.Close()
	out, err := spoolCmd("status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0 results in 0 files", "1 dead letters", "3 results", "401 unknown token"} {
		if !strings.Contains(out, want) {
			t.Errorf("spool status lacks %q:\n%s", want, out)
		}
	}
	out, err = spoolCmd("requeue")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1 dead letters (3 results) queued again", "3 results in 1 files", "0 dead letters"} {
		if !strings.Contains(out, want) {
			t.Errorf("spool requeue output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("spool requeue:\n%s", out)
	if _, err := spoolCmd("bogus"); err == nil {
		t.Error("spool bogus accepted")
	}
}

// TestLinksNoServerCode: the probe agent links the wire contract, not the
// service: no router, no geometry, no server package.
func TestLinksNoServerCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/go-chi/", "github.com/paulmach/orb", "fibremon/geo",
			"fibremon/internal/fibrehttp", "fibremon/internal/auth", "fibremon/internal/sqlite", "fibremon/internal/influx",
			"fibremon/internal/testing/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("fibreprobe links %s", dep)
			}
		}
	}
}
