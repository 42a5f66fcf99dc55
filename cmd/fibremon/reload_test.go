package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"fibremon/data"
	"fibremon/internal/auth"
)

// TestReloadOnHangup: serve loads a civic register from --data.dir; after
// the register changes and serve gets SIGHUP, lookups answer from the new
// one, with no restart.
func TestReloadOnHangup(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel() // its own ports, files and processes
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
	tokensFile := filepath.Join(dir, "tokens.json")
	out, err := exec.Command(bin, "token", "add", "--auth.tokens-file", tokensFile, "--reader", "--name", "ufficio-tecnico").Output()
	if err != nil {
		t.Fatalf("token add --reader: %v", err)
	}
	reader := strings.TrimSpace(string(out))
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "db"),
		"--auth.tokens-file", tokensFile, "--data.dir", dir)
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
	deadline := time.Now().Add(waitLimit)
	for lookup() != 200 {
		if time.Now().After(deadline) {
			t.Fatal("serve did not answer the lookup of Via Pombioli 3")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Lower the town hall's guaranteed download from 500 to 400 Mbit/s.
	sitesPath := filepath.Join(comuneDir, "sites.csv")
	sb, _ := os.ReadFile(sitesPath)
	if !strings.Contains(string(sb), "FTTH,1000,300,500,150,20,false,true") {
		t.Fatal("sites.csv: the town hall's line is not FTTH 1000/300 guaranteeing 500/150")
	}
	os.WriteFile(sitesPath, []byte(strings.Replace(string(sb), "FTTH,1000,300,500,150,20,false,true", "FTTH,1000,300,400,150,20,false,true", 1)), 0o644)
	guaranteed := func() float64 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/api/v1/sites/municipio/contract", nil)
		req.Header.Set("Authorization", "Bearer "+reader) // contracts need a read token
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		defer resp.Body.Close()
		var e struct {
			Measures []struct {
				Measure    string   `json:"measure"`
				Guaranteed *float64 `json:"guaranteed"`
			} `json:"measures"`
		}
		if json.NewDecoder(resp.Body).Decode(&e) != nil {
			return 0
		}
		for _, m := range e.Measures {
			if m.Measure == "download" && m.Guaranteed != nil {
				return *m.Guaranteed
			}
		}
		return 0
	}
	if g := guaranteed(); g != 62.5e6 {
		t.Fatalf("guaranteed download before the reload = %v; want 62.5e6 (500 Mbit/s)", g)
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
	deadline = time.Now().Add(waitLimit)
	for lookup() == 200 {
		if time.Now().After(deadline) {
			t.Fatal("after SIGHUP the old register still answers")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if g := guaranteed(); g != 50e6 {
		t.Fatalf("guaranteed download after the reload = %v; want 50e6 (400 Mbit/s)", g)
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

// TestAdminAPIServe: with an admin token from 'fibremon token add --admin',
// the running service reloads its data set on POST /api/v1/admin/reload and
// revokes a probe's token on DELETE /api/v1/admin/tokens/{probe}: the file
// loses it and the probe is refused at once.
func TestAdminAPIServe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel() // its own ports, files and processes
	bin, _ := buildBinaries(t)
	dir := t.TempDir()
	tokensFile := filepath.Join(dir, "tokens.json")
	issue := func(args ...string) string {
		out, err := exec.Command(bin, append([]string{"token", "add", "--auth.tokens-file", tokensFile}, args...)...).Output()
		if err != nil {
			t.Fatalf("token add %q: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	admin := issue("--admin", "--name", "ufficio-tecnico")
	probe := issue("--probe", "probe-municipio", "--site", "municipio")
	// Another probe stays: with none left the service could not tell a
	// revoked token from a lost tokens file, and would answer 503.
	issue("--probe", "probe-valserio", "--site", "valserio")
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve", "--web.listen-address", addr, "--storage.path", filepath.Join(dir, "db"),
		"--auth.tokens-file", tokensFile)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	do := func(method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(waitLimit)
	for {
		if code, _ := do(http.MethodGet, "/readyz", ""); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve not ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := do(http.MethodPost, "/api/v1/admin/reload", probe); code != http.StatusForbidden {
		t.Fatalf("reload with a probe token = %d %s; want 403", code, body)
	}
	if code, body := do(http.MethodPost, "/api/v1/admin/reload", admin); code != http.StatusOK {
		t.Fatalf("reload = %d %s", code, body)
	}
	if code, body := do(http.MethodGet, "/api/v1/admin/tokens", admin); code != http.StatusOK ||
		!strings.Contains(body, `"probe":"probe-municipio"`) || strings.Contains(body, probe) {
		t.Fatalf("tokens = %d %s", code, body)
	}
	if code, body := do(http.MethodDelete, "/api/v1/admin/tokens/probe-municipio", admin); code != http.StatusOK {
		t.Fatalf("revoke = %d %s", code, body)
	}
	if code, body := do(http.MethodPost, "/api/v1/results", probe); code != http.StatusUnauthorized {
		t.Fatalf("revoked probe token posts: %d %s; want 401", code, body)
	}
	b, err := os.ReadFile(tokensFile)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "probe-municipio") || !strings.Contains(string(b), "ufficio-tecnico") {
		t.Fatalf("tokens file after revoke:\n%s", b)
	}
}

// TestAdminAPIComune: in the running service, a comune's admin reloads
// its own comune only (the other comuni keep the version they had, even
// when their files changed), may not reload another, issues probe tokens
// for its comune's sites into the tokens file, and cannot revoke another
// comune's probe.
func TestAdminAPIComune(t *testing.T) {
	dir := t.TempDir()
	for _, slug := range []string{"ripalta-cremasca", "ticengo"} {
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
	tokensFile := filepath.Join(t.TempDir(), "tokens.json")
	ts := auth.NewTokens()
	ts.Issue("p-municipio", []string{"municipio"}, time.Now())
	consortium, _, _ := ts.IssueAdmin("consorzio", time.Now())
	ripalta, _, _ := ts.IssueScoped(auth.RoleAdmin, "ufficio-ripalta", "ripalta-cremasca", time.Now())
	ticengo, _, _ := ts.IssueScoped(auth.RoleAdmin, "ufficio-ticengo", "ticengo", time.Now())
	if err := ts.Save(tokensFile); err != nil {
		t.Fatal(err)
	}
	p := startInProcess(t, []string{"--data.dir", dir, "--data.comune", "", "--auth.tokens-file", tokensFile}, nil)

	names := func() map[string]string {
		t.Helper()
		code, body := p.get(t, "/api/v1/comuni", "")
		var resp struct {
			Comuni []struct{ Slug, Name, Status string }
		}
		if err := json.Unmarshal([]byte(body), &resp); code != http.StatusOK || err != nil {
			t.Fatalf("comuni = %d %s", code, body)
		}
		out := map[string]string{}
		for _, c := range resp.Comuni {
			out[c.Slug] = c.Name + "/" + c.Status
		}
		return out
	}
	rename := func(slug, from, to string) {
		t.Helper()
		f := filepath.Join(dir, slug, "boundary.geojson")
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), from) {
			t.Fatalf("%s holds no %s", f, from)
		}
		if err := os.WriteFile(f, []byte(strings.Replace(string(b), from, to, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rename("ripalta-cremasca", `"name": "Ripalta Cremasca"`, `"name": "Ripalta Cremasca (nuova)"`)
	rename("ticengo", `"name":"Ticengo"`, `"name":"Ticengo (nuova)"`)

	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/reload", ripalta, ""); code != http.StatusOK || !strings.Contains(body, `"comune":"ripalta-cremasca"`) {
		t.Fatalf("Ripalta's admin reloads = %d %s", code, body)
	}
	want := map[string]string{"ripalta-cremasca": "Ripalta Cremasca (nuova)/ok", "ticengo": "Ticengo/ok"}
	if got := names(); !maps.Equal(got, want) {
		t.Errorf("after Ripalta's reload: %v; want %v", got, want)
	}
	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/reload?comune=ticengo", ripalta, ""); code != http.StatusForbidden {
		t.Errorf("Ripalta's admin reloads Ticengo = %d %s; want 403", code, body)
	}
	if got := names(); !maps.Equal(got, want) {
		t.Errorf("after the refused reload: %v; want %v", got, want)
	}
	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/reload", ticengo, ""); code != http.StatusOK {
		t.Fatalf("Ticengo's admin reloads = %d %s", code, body)
	}
	want["ticengo"] = "Ticengo (nuova)/ok"
	if got := names(); !maps.Equal(got, want) {
		t.Errorf("after Ticengo's reload: %v; want %v", got, want)
	}

	// A broken file: 400 naming it, the previous version served.
	hamlets := filepath.Join(dir, "ripalta-cremasca", "hamlets.geojson")
	saved, _ := os.ReadFile(hamlets)
	os.WriteFile(hamlets, []byte("{"), 0o644)
	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/reload", ripalta, ""); code != http.StatusBadRequest || !strings.Contains(body, "hamlets.geojson") {
		t.Errorf("reload of a broken Ripalta = %d %s; want 400 naming hamlets.geojson", code, body)
	}
	if code, body := p.get(t, "/api/v1/coverage?address=Via+Pombioli+3&comune=ripalta-cremasca", ""); code != http.StatusOK {
		t.Errorf("lookup after the refused reload = %d %s", code, body)
	}
	os.WriteFile(hamlets, saved, 0o644)
	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/reload?comune=ripalta-cremasca", consortium, ""); code != http.StatusOK {
		t.Errorf("the consortium reloads Ripalta = %d %s", code, body)
	}

	// Tokens: issued into the file by Ripalta's admin; Ticengo's may not
	// revoke Ripalta's probe, nor issue for its sites.
	code, body := p.do(t, http.MethodPost, "/api/v1/admin/tokens", ripalta, `{"probe": "p-scuola", "sites": ["scuola-primaria-pascoli"]}`)
	var it struct{ Token, Comune string }
	if err := json.Unmarshal([]byte(body), &it); code != http.StatusCreated || err != nil || it.Comune != "ripalta-cremasca" {
		t.Fatalf("Ripalta's admin issues a token = %d %s", code, body)
	}
	if code, body := p.get(t, "/api/v1/results?site_id=scuola-primaria-pascoli", it.Token); code != http.StatusOK {
		t.Errorf("the issued token reads its site's results: %d %s", code, body)
	}
	if code, body := p.do(t, http.MethodPost, "/api/v1/admin/tokens", ticengo, `{"probe": "p-x", "sites": ["municipio"]}`); code != http.StatusForbidden {
		t.Errorf("Ticengo's admin issues for Ripalta's town hall = %d %s; want 403", code, body)
	}
	if code, body := p.do(t, http.MethodDelete, "/api/v1/admin/tokens/p-municipio", ticengo, ""); code != http.StatusForbidden {
		t.Errorf("Ticengo's admin revokes p-municipio = %d %s; want 403", code, body)
	}
	if code, body := p.get(t, "/api/v1/admin/tokens", ticengo); code != http.StatusOK || strings.Contains(body, "p-municipio") || strings.Contains(body, "p-scuola") {
		t.Errorf("Ticengo's admin lists = %d %s; want no probe of Ripalta", code, body)
	}
	file, err := auth.Load(tokensFile)
	if err != nil {
		t.Fatal(err)
	}
	var probes []string
	for _, e := range file.Entries() {
		if e.RoleName() == auth.RoleProbe {
			probes = append(probes, e.Probe)
		}
	}
	if !slices.Equal(probes, []string{"p-municipio", "p-scuola"}) {
		t.Errorf("probe tokens in the file: %v; want p-municipio, p-scuola", probes)
	}
}
