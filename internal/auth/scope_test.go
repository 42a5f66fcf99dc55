package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fibremon"
)

// TestScopedTokens: a reader or admin token scoped to one comune keeps its
// scope through the tokens file, and its principal may read and administer
// that comune only; a consortium token (no "comune") may every comune.
func TestScopedTokens(t *testing.T) {
	ts := NewTokens()
	crema, e, err := ts.IssueScoped(RoleAdmin, "ufficio-crema", "crema", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if e.Comune != "crema" || e.Role != RoleAdmin {
		t.Fatalf("entry %+v; want an admin of crema", e)
	}
	readerCrema, _, err := ts.IssueScoped(RoleReader, "grafana-crema", "crema", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	consortium, _, _ := ts.IssueAdmin("consorzio", time.Now())
	probe, _, _ := ts.Issue("p-municipio", []string{"municipio"}, time.Now())
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := ts.Save(path); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if n := strings.Count(string(raw), `"comune": "crema"`); n != 2 {
		t.Errorf("tokens file holds %d scoped entries; want 2:\n%s", n, raw)
	}
	loaded, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tok            string
		readCrema, readRipa  bool
		adminCrema, adminAll bool
		consortium           bool
	}{
		{"crema admin", crema, true, false, true, false, false},
		{"crema reader", readerCrema, true, false, false, false, false},
		{"consortium admin", consortium, true, true, true, true, true},
		{"probe", probe, false, false, false, false, false},
	} {
		p, err := loaded.Authenticate(tc.tok)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := [5]bool{p.MayReadComune("crema"), p.MayReadComune("ripalta-cremasca"), p.MayAdminComune("crema"), p.MayAdminComune(""), p.Consortium()}; got != [5]bool{tc.readCrema, tc.readRipa, tc.adminCrema, tc.adminAll, tc.consortium} {
			t.Errorf("%s: principal %+v: read crema, read ripalta, admin crema, admin all, consortium = %v; want %v", tc.name, p, got,
				[5]bool{tc.readCrema, tc.readRipa, tc.adminCrema, tc.adminAll, tc.consortium})
		}
	}
	if p, _ := loaded.Authenticate(crema); p.Scope() != "comune crema" {
		t.Errorf("Scope() = %q; want comune crema", p.Scope())
	}
	for _, bad := range []struct{ role, comune string }{{RoleProbe, "crema"}, {"", "crema"}, {RoleAdmin, "Crema!"}} {
		if _, _, err := ts.IssueScoped(bad.role, "x", bad.comune, time.Now()); err == nil {
			t.Errorf("IssueScoped(%q, %q) succeeded", bad.role, bad.comune)
		}
	}
}

// TestScopedTokensFile: a tokens file written before scopes existed loads
// as consortium tokens; a probe entry with a comune, or a comune that is
// not a slug, is refused with the entry named.
func TestScopedTokensFile(t *testing.T) {
	dir := t.TempDir()
	hash := strings.Repeat("ab", 32)
	old := filepath.Join(dir, "old.json")
	if err := writeFile(old, `[{"probe":"ufficio-tecnico","sites":null,"role":"admin","sha256":"`+hash+`","created":"2026-01-01T00:00:00Z"}]`); err != nil {
		t.Fatal(err)
	}
	ts, err := Load(old)
	if err != nil {
		t.Fatal(err)
	}
	if e := ts.Entries()[0]; e.Comune != "" || e.ComuneOf(nil) != "" {
		t.Errorf("old admin entry %+v; want the consortium's", e)
	}
	for _, tc := range []struct{ entry, want string }{
		{`{"probe":"p","sites":["s"],"comune":"crema","sha256":"` + hash + `"}`, "a probe token has no comune"},
		{`{"probe":"a","sites":[],"role":"admin","comune":"Crema ","sha256":"` + hash + `"}`, "invalid comune slug"},
		{`{"probe":"a","role":"reader","comune":"crema","scope":"x","sha256":"` + hash + `"}`, "unknown field"},
	} {
		f := filepath.Join(dir, "bad.json")
		if err := writeFile(f, "["+tc.entry+"]"); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v; want an error saying %q", tc.entry, err, tc.want)
		}
	}
}

func TestEntryComuneOf(t *testing.T) {
	sites := map[string]string{"municipio": "ripalta-cremasca", "valserio": "ripalta-cremasca", "duomo": "crema"}
	of := func(s string) (string, bool) { c, ok := sites[s]; return c, ok }
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Probe: "p", Sites: []string{"municipio"}}, "ripalta-cremasca"},
		{Entry{Probe: "p", Sites: []string{"municipio", "valserio"}}, "ripalta-cremasca"},
		{Entry{Probe: "p", Sites: []string{"municipio", "duomo"}}, ""}, // two comuni: the consortium's
		{Entry{Probe: "p", Sites: []string{"nowhere"}}, ""},            // unknown site: the consortium's
		{Entry{Probe: "a", Role: RoleAdmin, Comune: "crema"}, "crema"},
		{Entry{Probe: "a", Role: RoleReader}, ""},
	} {
		if got := tc.e.ComuneOf(of); got != tc.want {
			t.Errorf("ComuneOf(%+v) = %q; want %q", tc.e, got, tc.want)
		}
	}
}

// TestRevokeIf: a scoped revocation removes only the matching entries it
// may; when it may none, Forbidden; when none match, NotFound.
func TestRevokeIf(t *testing.T) {
	ts := NewTokens()
	ts.IssueScoped(RoleReader, "grafana", "crema", time.Now())
	keep, _, _ := ts.IssueReader("grafana", time.Now())
	ts.Issue("p-municipio", []string{"municipio"}, time.Now())
	inCrema := func(e Entry) bool { return e.Comune == "crema" }
	if n, err := ts.RevokeIf("grafana", "", inCrema); err != nil || n != 1 {
		t.Fatalf("RevokeIf(grafana, crema) = %d, %v; want 1 removed", n, err)
	}
	if _, err := ts.Authenticate(keep); err != nil {
		t.Errorf("the consortium's grafana token was revoked too: %v", err)
	}
	if _, err := ts.RevokeIf("grafana", "", inCrema); fibremon.KindOf(err) != fibremon.Forbidden {
		t.Errorf("RevokeIf(the consortium's grafana, crema) = %v; want Forbidden", err)
	}
	if _, err := ts.RevokeIf("p-municipio", "", inCrema); fibremon.KindOf(err) != fibremon.Forbidden || !strings.Contains(err.Error(), "p-municipio") {
		t.Errorf("RevokeIf(ripalta's probe, crema) = %v; want Forbidden naming it", err)
	}
	if _, err := ts.RevokeIf("nobody", "", inCrema); fibremon.KindOf(err) != fibremon.NotFound {
		t.Errorf("RevokeIf(nobody) = %v; want NotFound", err)
	}
	if got := ts.Counts(); got != (Counts{Probe: 1, Reader: 1}) {
		t.Errorf("after the refusals: %+v; want the probe and the consortium's reader", got)
	}
}
