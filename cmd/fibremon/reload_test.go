package main

import (
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon/data"
)

// TestReloadOnHangup: serve loads a civic register from --data.dir; after
// the register changes and serve gets SIGHUP, lookups answer from the new
// one, with no restart.
func TestReloadOnHangup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, _ := buildBinaries(t)
	dir := t.TempDir()
	comuneDir := filepath.Join(dir, "ripalta-cremasca")
	if err := os.MkdirAll(comuneDir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Glob(data.FS, "ripalta-cremasca/*")
	for _, f := range files {
		b, _ := data.FS.ReadFile(f)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "db"),
		"--auth.tokens-file", filepath.Join(dir, "tokens.json"), "--data.dir", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lookup := func() int {
		resp, err := http.Get("http://" + addr + "/api/v1/coverage?address=Via+Pombioli+3")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(20 * time.Second)
	for lookup() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("serve did not answer the lookup of Via Pombioli 3")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Rename the street in both files: "Via Pombioli" no longer exists.
	for _, name := range []string{"civics.csv", "coverage.csv"} {
		p := filepath.Join(comuneDir, name)
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), ",Pombioli,") {
			t.Fatalf("%s has no Via Pombioli", name)
		}
		os.WriteFile(p, []byte(strings.ReplaceAll(string(b), ",Pombioli,", ",dei Gelsi Nuovi,")), 0o644)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for lookup() == 200 {
		if time.Now().After(deadline) {
			t.Fatal("after SIGHUP the old register still answers")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.Get("http://" + addr + "/api/v1/coverage?address=Via+dei+Gelsi+Nuovi+3")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the renamed street: %d; want 200", resp.StatusCode)
	}
}
