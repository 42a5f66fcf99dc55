package auth

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fibremon"
)

func TestIssueAuthenticateSaveLoad(t *testing.T) {
	ts := NewTokens()
	tok, e, err := ts.Issue("municipio", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, TokenPrefix) || strings.Contains(e.SHA256, tok) {
		t.Fatalf("token %q / entry %+v", tok, e)
	}
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loaded.Authenticate(tok)
	if err != nil {
		t.Fatalf("Authenticate(issued token) = %v", err)
	}
	if p.Probe != "municipio" || !p.MaySite("municipio") || p.MaySite("valserio") {
		t.Fatalf("principal %+v", p)
	}
	for _, bad := range []string{"", "fmp_", tok + "x", tok[:len(tok)-1], "Bearer " + tok, strings.Repeat("a", 1000)} {
		if _, err := loaded.Authenticate(bad); fibremon.KindOf(err) != fibremon.Unauthorized {
			t.Errorf("Authenticate(%.20q) = %v; want Unauthorized", bad, err)
		}
	}
}

func TestIssueRejectsBadInput(t *testing.T) {
	ts := NewTokens()
	for _, tc := range []struct {
		probe string
		sites []string
	}{{"", []string{"a"}}, {"Bad Name", []string{"a"}}, {"p", nil}, {"p", []string{"a b"}}} {
		if _, _, err := ts.Issue(tc.probe, tc.sites, time.Now()); err == nil {
			t.Errorf("Issue(%q, %q) succeeded; want error", tc.probe, tc.sites)
		}
	}
}

func TestAdminToken(t *testing.T) {
	ts := NewTokens()
	tok, e, err := ts.IssueAdmin("ufficio-tecnico", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e.Role != RoleAdmin || len(e.Sites) != 0 {
		t.Fatalf("admin entry %+v", e)
	}
	probeTok, _, err := ts.Issue("municipio", []string{"municipio"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := loaded.Authenticate(tok)
	if err != nil || !p.Admin || p.MaySite("municipio") {
		t.Fatalf("admin principal %+v, %v; want admin with no sites", p, err)
	}
	p, err = loaded.Authenticate(probeTok)
	if err != nil || p.Admin {
		t.Fatalf("probe principal %+v, %v; want not admin", p, err)
	}
	if _, _, err := ts.IssueAdmin("Bad Name", time.Now()); err == nil {
		t.Error("IssueAdmin(invalid name) succeeded")
	}
}

func TestLoadMissingAndMalformed(t *testing.T) {
	dir := t.TempDir()
	ts, err := Load(filepath.Join(dir, "none.json"))
	if err != nil || len(ts.Entries()) != 0 {
		t.Fatalf("Load(missing) = %v, %v", ts, err)
	}
	path := filepath.Join(dir, "bad.json")
	for _, content := range []string{`{`, `[{"probe":"p","sites":["s"],"sha256":"zz"}]`, `[{"probe":"p","sites":["s"],"sha256":"` + strings.Repeat("0", 64) + `","extra":1}]`,
		`[{"probe":"p","sites":[],"sha256":"` + strings.Repeat("0", 64) + `"}]`,
		`[{"probe":"p","sites":["s"],"role":"admin","sha256":"` + strings.Repeat("0", 64) + `"}]`,
		`[{"probe":"p","sites":["s"],"role":"root","sha256":"` + strings.Repeat("0", 64) + `"}]`} {
		if err := writeFile(path, content); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Errorf("Load(%q) succeeded; want error", content)
		}
	}
}

func TestWatchReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	first := NewTokens()
	tok1, _, _ := first.Issue("p1", []string{"s1"}, time.Now())
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	live, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- live.Watch(ctx, path, 10*time.Millisecond, slog.New(slog.DiscardHandler)) }()
	defer func() { cancel(); <-done }()

	// as `fibremon token add` does while the service runs
	onDisk, _ := Load(path)
	tok2, _, _ := onDisk.Issue("p2", []string{"s2"}, time.Now())
	if err := onDisk.Save(path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := live.Authenticate(tok2); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new token not accepted 5 s after the file changed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := live.Authenticate(tok1); err != nil {
		t.Fatalf("old token lost on reload: %v", err)
	}
	// a broken file keeps the previous tokens
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := live.Authenticate(tok2); err != nil {
		t.Fatalf("tokens dropped after a broken file: %v", err)
	}
}

func TestRevoke(t *testing.T) {
	ts := NewTokens()
	a1, _, _ := ts.Issue("p1", []string{"s1"}, time.Now())
	a2, e2, _ := ts.Issue("p1", []string{"s1"}, time.Now())
	b, _, _ := ts.Issue("p2", []string{"s2"}, time.Now())
	if _, err := ts.Revoke("p1", "abc"); err == nil {
		t.Error("a 3-digit hash prefix was accepted")
	}
	if n, err := ts.Revoke("p1", e2.SHA256[:10]); err != nil || n != 1 {
		t.Fatalf("Revoke(p1, prefix) = %d, %v", n, err)
	}
	if _, err := ts.Authenticate(a2); err == nil {
		t.Error("revoked token still authenticates")
	}
	for _, tok := range []string{a1, b} {
		if _, err := ts.Authenticate(tok); err != nil {
			t.Errorf("a token not revoked no longer authenticates: %v", err)
		}
	}
	if n, err := ts.Revoke("p1", ""); err != nil || n != 1 {
		t.Fatalf("Revoke(p1) = %d, %v", n, err)
	}
	if _, err := ts.Revoke("p1", ""); fibremon.KindOf(err) != fibremon.NotFound {
		t.Errorf("revoking again = %v; want NotFound", err)
	}
	if _, err := ts.Authenticate(b); err != nil {
		t.Errorf("p2's token lost: %v", err)
	}
}
