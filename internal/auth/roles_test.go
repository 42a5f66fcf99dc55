package auth

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"fibremon"
)

func TestReaderToken(t *testing.T) {
	ts := NewTokens()
	tok, e, err := ts.IssueReader("grafana", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e.Role != RoleReader || len(e.Sites) != 0 {
		t.Fatalf("reader entry %+v; want role reader, no sites", e)
	}
	if _, _, err := ts.Issue("p-municipio", []string{"municipio"}, time.Now()); err != nil {
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
	if err != nil {
		t.Fatal(err)
	}
	if p.Role != RoleReader || p.Admin || !p.MayRead() || p.MaySite("municipio") {
		t.Fatalf("reader principal %+v; want role reader, may read, may write no site", p)
	}
	if _, _, err := ts.IssueReader("Bad Name", time.Now()); err == nil {
		t.Error("IssueReader(invalid name) succeeded")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := writeFile(bad, `[{"probe":"g","sites":["s"],"role":"reader","sha256":"`+strings.Repeat("0", 64)+`"}]`); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "has no sites") {
		t.Errorf("Load(reader entry with sites) = %v; want an error saying it has no sites", err)
	}
}

func TestPrincipalRoles(t *testing.T) {
	ts := NewTokens()
	probe, _, _ := ts.Issue("p", []string{"s"}, time.Now())
	reader, _, _ := ts.IssueReader("r", time.Now())
	admin, _, _ := ts.IssueAdmin("a", time.Now())
	for _, tc := range []struct {
		tok, role string
		read      bool
	}{{probe, RoleProbe, false}, {reader, RoleReader, true}, {admin, RoleAdmin, true}} {
		p, err := ts.Authenticate(tc.tok)
		if err != nil {
			t.Fatal(err)
		}
		if p.Role != tc.role || p.MayRead() != tc.read || p.Admin != (tc.role == RoleAdmin) {
			t.Errorf("principal %+v; want role %s, MayRead %v", p, tc.role, tc.read)
		}
	}
	if got, want := ts.Counts(), (Counts{Probe: 1, Reader: 1, Admin: 1}); got != want || got.Total() != 3 {
		t.Errorf("Counts() = %+v; want %+v", got, want)
	}
}

// With no probe token loaded an unknown token is the service's fault (the
// tokens file is gone or empty), not the caller's: Transient, so a probe
// keeps its results and retries.
func TestAuthenticateWithoutProbeTokens(t *testing.T) {
	ts := NewTokens()
	stranger, _ := Generate()
	for _, tok := range []string{stranger, "", "nope"} {
		if _, err := ts.Authenticate(tok); !errors.Is(err, ErrNoProbeTokens) || fibremon.KindOf(err) != fibremon.Transient {
			t.Errorf("empty set: Authenticate(%.12q) = %v; want ErrNoProbeTokens (Transient)", tok, err)
		}
	}
	admin, _, _ := ts.IssueAdmin("a", time.Now())
	if p, err := ts.Authenticate(admin); err != nil || !p.Admin {
		t.Errorf("admin token with no probe tokens = %+v, %v; want the admin", p, err)
	}
	if _, err := ts.Authenticate(stranger); !errors.Is(err, ErrNoProbeTokens) {
		t.Errorf("admin-only set: Authenticate(unknown) = %v; want ErrNoProbeTokens", err)
	}
	if _, _, err := ts.Issue("p", []string{"s"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Authenticate(stranger); fibremon.KindOf(err) != fibremon.Unauthorized {
		t.Errorf("with a probe token: Authenticate(unknown) = %v; want Unauthorized", err)
	}
}

func TestOnChange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.json")
	ts := NewTokens()
	tok, _, _ := ts.Issue("p", []string{"s"}, time.Now())
	ts.IssueReader("r", time.Now())
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Counts
	ts.OnChange(func(c Counts) { mu.Lock(); got = append(got, c); mu.Unlock() })

	if _, err := ts.Reload(filepath.Join(dir, "moved-away.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Reload(path); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Revoke("p", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Revoke("p", ""); err == nil {
		t.Fatal("second revoke succeeded")
	}
	if _, err := ts.Authenticate(tok); !errors.Is(err, ErrNoProbeTokens) {
		t.Errorf("after revoking the only probe token: %v; want ErrNoProbeTokens", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []Counts{{}, {Probe: 1, Reader: 1}, {Reader: 1}} // a failed revoke changes nothing
	if len(got) != len(want) {
		t.Fatalf("OnChange calls %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("OnChange call %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

func TestCollector(t *testing.T) {
	ts := NewTokens()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewCollector(ts))
	want := func(probe, reader, admin int) string {
		return fmt.Sprintf(`
# HELP fibremon_auth_tokens Tokens the service holds now, by role (probe, reader, admin). 0 probe tokens: every upload of results is refused.
# TYPE fibremon_auth_tokens gauge
fibremon_auth_tokens{role="admin"} %d
fibremon_auth_tokens{role="probe"} %d
fibremon_auth_tokens{role="reader"} %d
`, admin, probe, reader)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(0, 0, 0))); err != nil {
		t.Error(err)
	}
	ts.Issue("p1", []string{"s"}, time.Now())
	ts.Issue("p2", []string{"s"}, time.Now())
	ts.IssueAdmin("a", time.Now())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want(2, 0, 1))); err != nil {
		t.Error(err)
	}
	if probs, err := testutil.GatherAndLint(reg); err != nil || len(probs) > 0 {
		t.Errorf("lint: %v %+v", err, probs)
	}
}
