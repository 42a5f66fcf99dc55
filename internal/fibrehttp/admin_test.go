package fibrehttp_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/auth"
	"fibremon/internal/fibrehttp"
)

// fileAdmin is the admin API over a real tokens file, as the service has.
type fileAdmin struct {
	tokens  *auth.Tokens
	path    string
	reloads atomic.Int32
	mu      sync.Mutex
	comuni  []string // the comune of each reload, "" for the whole data set
	fail    bool
}

func (a *fileAdmin) Tokens() []auth.Entry { return a.tokens.Entries() }
func (a *fileAdmin) RevokeTokens(probe, prefix string, may func(auth.Entry) bool) (int, error) {
	n, err := a.tokens.RevokeIf(probe, prefix, may)
	if err != nil {
		return 0, err
	}
	return n, a.tokens.Save(a.path)
}
func (a *fileAdmin) IssueProbeToken(probe string, sites []string) (string, auth.Entry, error) {
	tok, e, err := a.tokens.Issue(probe, sites, time.Now())
	if err != nil {
		return "", auth.Entry{}, err
	}
	return tok, e, a.tokens.Save(a.path)
}
func (a *fileAdmin) Reload(comune string) error {
	if a.fail {
		return errors.New("data/civics.csv: line 3: bad number")
	}
	a.reloads.Add(1)
	a.mu.Lock()
	a.comuni = append(a.comuni, comune)
	a.mu.Unlock()
	return nil
}

func request(t *testing.T, method, url, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

func TestAdminAPI(t *testing.T) {
	admin := &fileAdmin{path: filepath.Join(t.TempDir(), "tokens.json")}
	f := newFixture(t, func(d *fibrehttp.Deps, ts *auth.Tokens) {
		admin.tokens = ts
		d.Admin = admin
	})
	tokensURL := f.srv.URL + fibrehttp.PathAdminTokens

	// Who may call it.
	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", auth.TokenPrefix + "nope", http.StatusUnauthorized},
		{"probe token", f.token, http.StatusForbidden},
	} {
		for _, m := range []struct{ method, url string }{
			{http.MethodGet, tokensURL},
			{http.MethodDelete, tokensURL + "/p-valserio"},
			{http.MethodPost, tokensURL},
			{http.MethodPost, f.srv.URL + fibrehttp.PathAdminReload},
		} {
			code, _, body := request(t, m.method, m.url, c.token, "")
			if code != c.want {
				t.Errorf("%s: %s %s = %d %s; want %d", c.name, m.method, m.url, code, body, c.want)
			}
			var er fibrehttp.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || er.Error == "" {
				t.Errorf("%s: %s %s: body %q is not a JSON error", c.name, m.method, m.url, body)
			}
		}
	}
	if got := admin.reloads.Load(); got != 0 {
		t.Fatalf("reload ran %d times for refused requests", got)
	}

	// Listing shows hash prefixes, never tokens.
	code, _, body := request(t, http.MethodGet, tokensURL, f.admin, "")
	if code != http.StatusOK {
		t.Fatalf("list = %d %s", code, body)
	}
	for _, secret := range []string{f.token, f.token2, f.admin} {
		if strings.Contains(string(body), secret) {
			t.Fatal("token list contains a token in clear")
		}
	}
	var list fibrehttp.TokensResponse
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	roles := map[string]string{}
	for _, ti := range list.Tokens {
		roles[ti.Probe] = ti.Role
		if len(ti.SHA256Prefix) != 12 {
			t.Errorf("token of %s listed with hash prefix %q", ti.Probe, ti.SHA256Prefix)
		}
	}
	if roles["p-municipio"] != "probe" || roles["p-valserio"] != "probe" || roles["ufficio-tecnico"] != "admin" {
		t.Fatalf("listed roles %v", roles)
	}

	// Revocation takes effect at once and is persisted.
	code, _, body = request(t, http.MethodDelete, tokensURL+"/p-valserio", f.admin, "")
	if code != http.StatusOK || !strings.Contains(string(body), `"revoked":1`) {
		t.Fatalf("revoke = %d %s", code, body)
	}
	r := good(time.Now())
	r.SiteID, r.Probe = "valserio", "p-valserio"
	if code, er := f.post(t, f.token2, batchJSON(t, r)); code != http.StatusUnauthorized {
		t.Fatalf("revoked token posts: %d %+v; want 401", code, er)
	}
	saved, err := auth.Load(admin.path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range saved.Entries() {
		if e.Probe == "p-valserio" {
			t.Fatal("revoked token still in the saved tokens file")
		}
	}
	if code, _, body := request(t, http.MethodDelete, tokensURL+"/p-valserio", f.admin, ""); code != http.StatusNotFound {
		t.Fatalf("revoke again = %d %s; want 404", code, body)
	}
	if code, _, body := request(t, http.MethodDelete, tokensURL+"/p-municipio?sha256=abc", f.admin, ""); code != http.StatusBadRequest {
		t.Fatalf("revoke with a 3-digit hash prefix = %d %s; want 400", code, body)
	}

	// Reload.
	if code, _, body := request(t, http.MethodPost, f.srv.URL+fibrehttp.PathAdminReload, f.admin, ""); code != http.StatusOK || admin.reloads.Load() != 1 || admin.comuni[0] != "" {
		t.Fatalf("reload = %d %s, reloads %d of %q; want the whole data set reloaded once", code, body, admin.reloads.Load(), admin.comuni)
	}
	if code, _, body := request(t, http.MethodPost, f.srv.URL+fibrehttp.PathAdminReload+"?comune=ripalta-cremasca", f.admin, ""); code != http.StatusOK || admin.comuni[1] != "ripalta-cremasca" {
		t.Fatalf("reload of one comune = %d %s, reloads of %q", code, body, admin.comuni)
	}
	admin.fail = true
	code, _, body = request(t, http.MethodPost, f.srv.URL+fibrehttp.PathAdminReload, f.admin, "")
	if code != http.StatusBadRequest || !strings.Contains(string(body), "line 3") {
		t.Fatalf("failing reload = %d %s; want 400 naming the bad line", code, body)
	}

	// Issuing a probe token: shown once, in clear, and working at once.
	code, _, body = request(t, http.MethodPost, tokensURL, f.admin, `{"probe": "p-scuola", "sites": ["scuola-primaria-pascoli"]}`)
	var it fibrehttp.IssuedToken
	if err := json.Unmarshal(body, &it); code != http.StatusCreated || err != nil || it.Probe != "p-scuola" || it.Comune != "ripalta-cremasca" {
		t.Fatalf("issue = %d %s", code, body)
	}
	r = good(time.Now())
	r.SiteID, r.Probe = "scuola-primaria-pascoli", "p-scuola"
	if code, er := f.post(t, it.Token, batchJSON(t, r)); code != http.StatusOK {
		t.Fatalf("issued token posts: %d %+v; want 200", code, er)
	}

	// An admin token writes no results.
	if code, er := f.post(t, f.admin, batchJSON(t, good(time.Now()))); code != http.StatusForbidden {
		t.Fatalf("admin token posts results: %d %+v; want 403", code, er)
	}
}

func TestAdminAPIDisabled(t *testing.T) {
	f := newFixture(t)
	if code, _, body := request(t, http.MethodGet, f.srv.URL+fibrehttp.PathAdminTokens, f.admin, ""); code != http.StatusNotFound {
		t.Fatalf("admin API without AdminOps = %d %s; want 404", code, body)
	}
}

func TestRateLimitPerProbe(t *testing.T) {
	const limit = 5
	f := newFixture(t, func(d *fibrehttp.Deps, _ *auth.Tokens) {
		d.RateLimit = fibrehttp.RateLimit{Requests: limit, Window: time.Minute}
	})
	now := time.Now()
	accepted := 0
	for i := range limit + 3 {
		code, hdr, body := request(t, http.MethodPost, f.srv.URL+fibrehttp.PathResults, f.token, batchJSON(t, good(now)))
		switch {
		case i < limit && code != http.StatusOK:
			t.Fatalf("request %d = %d %s; want 200 within the limit", i, code, body)
		case i >= limit:
			if code != http.StatusTooManyRequests {
				t.Fatalf("request %d = %d %s; want 429 past the limit", i, code, body)
			}
			if secs, err := strconv.Atoi(hdr.Get("Retry-After")); err != nil || secs <= 0 {
				t.Fatalf("429 with Retry-After %q", hdr.Get("Retry-After"))
			}
			var er fibrehttp.ErrorResponse
			if err := json.Unmarshal(body, &er); err != nil || er.Error == "" {
				t.Fatalf("429 body %q is not a JSON error", body)
			}
		default:
			accepted++
		}
	}
	if got := f.count(t); got != accepted {
		t.Fatalf("stored %d results; want the %d accepted", got, accepted)
	}
	// The limit is per probe: another probe is not affected.
	r := good(now)
	r.SiteID, r.Probe = "valserio", "p-valserio"
	if code, er := f.post(t, f.token2, batchJSON(t, r)); code != http.StatusOK {
		t.Fatalf("other probe = %d %+v; want 200", code, er)
	}
}

// FuzzDecodeTokenRequest: any body gets a request that passes every check
// or an Invalid error, never a panic; a valid request round-trips.
func FuzzDecodeTokenRequest(f *testing.F) {
	for _, seed := range []string{
		`{"probe": "p-scuola", "sites": ["scuola-primaria-pascoli"]}`,
		`{"probe": "p", "sites": ["a", "a"]}`,
		`{"probe": "p", "sites": []}`,
		`{"probe": "P", "sites": ["a"]}`,
		`{"probe": "p", "sites": "a"}`,
		`{"probe": "p", "sites": ["a"], "role": "admin"}`,
		`{"probe": "p", "sites": ["a"]} x`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := fibrehttp.DecodeTokenRequest(body)
		if err != nil {
			if fibremon.KindOf(err) != fibremon.Invalid {
				t.Fatalf("DecodeTokenRequest(%q) = %v; want an Invalid error", body, err)
			}
			return
		}
		if !fibremon.ValidID(req.Probe) || len(req.Sites) == 0 || len(req.Sites) > fibrehttp.MaxTokenSites {
			t.Fatalf("DecodeTokenRequest(%q) = %+v, accepted", body, req)
		}
		b, _ := json.Marshal(req)
		again, err := fibrehttp.DecodeTokenRequest(b)
		if err != nil || !slices.Equal(again.Sites, req.Sites) || again.Probe != req.Probe {
			t.Fatalf("round trip of %+v: %+v, %v", req, again, err)
		}
	})
}
