package auth

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// watchWait bounds the waits for Watch below. Watch checks every 10 ms;
// the bound is far above that so a loaded machine, where the goroutine may
// not run for a while, does not fail the test. Only a Watch that never
// reloads reaches it.
const watchWait = 20 * time.Second

// startWatch runs live.Watch on path until the test ends and returns its log.
func startWatch(t *testing.T, live *Tokens, path string) *logBuffer {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- live.Watch(ctx, path, 10*time.Millisecond, slog.New(slog.NewTextHandler(logs, nil))) }()
	t.Cleanup(func() { cancel(); <-done })
	return logs
}

// waitAccepted waits until live accepts tok.
func waitAccepted(t *testing.T, live *Tokens, tok, what string) {
	t.Helper()
	deadline := time.Now().Add(watchWait)
	for {
		if _, err := live.Authenticate(tok); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: new token not accepted %v after the file changed", what, watchWait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logBuffer is an io.Writer for a slog handler that the test reads while
// Watch writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
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
	logs := startWatch(t, live, path)

	// as `fibremon token add` does while the service runs
	onDisk, _ := Load(path)
	tok2, _, _ := onDisk.Issue("p2", []string{"s2"}, time.Now())
	if err := onDisk.Save(path); err != nil {
		t.Fatal(err)
	}
	waitAccepted(t, live, tok2, "file rewritten while watched")
	if _, err := live.Authenticate(tok1); err != nil {
		t.Fatalf("old token lost on reload: %v", err)
	}
	// A broken file keeps the previous tokens: wait until Watch has tried
	// it (it logs the failure), then check.
	if err := os.WriteFile(path, []byte("{broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(watchWait)
	for !strings.Contains(logs.String(), "tokens file not reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload attempt logged %v after the file broke; log:\n%s", watchWait, logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := live.Authenticate(tok2); err != nil {
		t.Fatalf("tokens dropped after a broken file: %v", err)
	}
}

// TestWatchSeesChangeBeforeStart: the file is rewritten after Load and
// before Watch starts (the service loads the tokens, then starts its
// goroutines; `fibremon token add` may run in between). Watch must compare
// with what was loaded, not with what it first sees.
func TestWatchSeesChangeBeforeStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	first := NewTokens()
	if _, _, err := first.Issue("p1", []string{"s1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	live, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, err := first.Issue("p2", []string{"s2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Save(path); err != nil {
		t.Fatal(err)
	}
	startWatch(t, live, path)
	waitAccepted(t, live, tok2, "file rewritten between Load and Watch")
}

// TestWatchSeesSameSizeSameTime: a rewrite of the same size that keeps the
// modification time (two writes within the file system's timestamp
// granularity look like that) is still a change.
func TestWatchSeesSameSizeSameTime(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, b := NewTokens(), NewTokens()
	if _, _, err := a.Issue("p1", []string{"s1"}, created); err != nil {
		t.Fatal(err)
	}
	tokB, _, err := b.Issue("p2", []string{"s2"}, created)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	live, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	startWatch(t, live, path)
	// Prepare the new file aside and rename it in, so Watch never sees it
	// with another time.
	next := filepath.Join(dir, "next.json")
	if err := b.Save(next); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(next, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(next, path); err != nil {
		t.Fatal(err)
	}
	if fi2, err := os.Stat(path); err != nil || fi2.Size() != fi.Size() || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("rewritten file %v, %v; want the size %d and time %v of the first", fi2, err, fi.Size(), fi.ModTime())
	}
	waitAccepted(t, live, tokB, "same size, same time")
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
