package main

import (
	"encoding/json"
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
	"fibremon/internal/fibrehttp"
)

// TestReloadKeepsBrokenComune: serve loads three comuni from --data.dir;
// one comune's register then breaks while another's changes. After SIGHUP
// the changed comune answers from its new files, the broken one keeps its
// previous version and is reported (log with file and line, "stale" in
// GET /api/v1/comuni), and nothing else is disturbed.
func TestReloadKeepsBrokenComune(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel() // its own ports, files and processes
	bin, _ := buildBinaries(t)
	dir := t.TempDir()
	for _, slug := range []string{"ripalta-cremasca", "ticengo", "castel-gabbiano"} {
		if err := os.MkdirAll(filepath.Join(dir, slug), 0o755); err != nil {
			t.Fatal(err)
		}
		files, _ := fs.Glob(data.FS, slug+"/*")
		for _, f := range files {
			b, _ := data.FS.ReadFile(f)
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	addr := freeAddr(t)
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "db"),
		"--auth.tokens-file", filepath.Join(dir, "tokens.json"), "--data.dir", dir)
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	comuni := func() map[string]fibrehttp.ComuneFigures {
		resp, err := http.Get("http://" + addr + fibrehttp.PathComuni)
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var cr fibrehttp.ComuniResponse
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&cr) != nil {
			return nil
		}
		out := map[string]fibrehttp.ComuneFigures{}
		for _, c := range cr.Comuni {
			out[c.Slug] = c
		}
		return out
	}
	deadline := time.Now().Add(waitLimit)
	var before map[string]fibrehttp.ComuneFigures
	for before = comuni(); len(before) != 3; before = comuni() {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not list 3 comuni: %v", before)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Ticengo gets a site outside its boundary at line 2 of sites.csv
	// (sites must be clean; bad rows of a civic register from outside are
	// skipped and logged instead); Castel Gabbiano loses the last civic of
	// its register.
	sitesPath := filepath.Join(dir, "ticengo", "sites.csv")
	sb, _ := os.ReadFile(sitesPath)
	sb = append(sb, "municipio-ticengo,Municipio di Ticengo,town_hall,Ticengo,,12.5,41.9,approximate,100,FTTH,1000,300,500,150,20,false,true,test,\n"...)
	os.WriteFile(sitesPath, sb, 0o644)
	for _, name := range []string{"civics.csv", "coverage.csv"} {
		gunzip(t, filepath.Join(dir, "castel-gabbiano", name+".gz"))
		p := filepath.Join(dir, "castel-gabbiano", name)
		b, _ := os.ReadFile(p)
		lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
		os.WriteFile(p, []byte(strings.Join(lines[:len(lines)-1], "")), 0o644)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(waitLimit)
	var after map[string]fibrehttp.ComuneFigures
	for after = comuni(); after["ticengo"].Status != "stale"; after = comuni() {
		if time.Now().After(deadline) {
			t.Fatalf("after SIGHUP Ticengo is not reported stale: %+v", after["ticengo"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after["ticengo"].Civics != before["ticengo"].Civics {
		t.Errorf("Ticengo serves %d civics; its previous version had %d", after["ticengo"].Civics, before["ticengo"].Civics)
	}
	if got, want := after["castel-gabbiano"].Civics, before["castel-gabbiano"].Civics-1; got != want || after["castel-gabbiano"].Status != "ok" {
		t.Errorf("Castel Gabbiano after the reload: %d civics, %s; want %d, ok", got, after["castel-gabbiano"].Status, want)
	}
	if after["ripalta-cremasca"] != before["ripalta-cremasca"] {
		t.Errorf("Ripalta Cremasca changed: %+v", after["ripalta-cremasca"])
	}
	logText, _ := os.ReadFile(logPath)
	if !strings.Contains(string(logText), "ticengo/sites.csv") || !strings.Contains(string(logText), "line 2") ||
		!strings.Contains(string(logText), "previous version is served") {
		t.Errorf("the log does not report Ticengo's file and line:\n%s", logText)
	}
}

// gunzip replaces name (X.csv.gz) with X.csv.
func gunzip(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("gunzip", name).CombinedOutput()
	if err != nil {
		t.Fatalf("gunzip %s: %v %s", name, err, out)
	}
}
