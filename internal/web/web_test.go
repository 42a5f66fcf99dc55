package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"fibremon/internal/web"
)

func get(t *testing.T, h http.Handler, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var inlineHandlerRE = regexp.MustCompile(`\son[a-z]+=`)

var configRE = regexp.MustCompile(`(?s)<script type="application/json" id="config">(.*?)</script>`)

// pageConfig extracts and decodes the inline JSON configuration of the page.
func pageConfig(t *testing.T, body string) map[string]string {
	t.Helper()
	m := configRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page has no <script id=config>:\n%s", body)
	}
	var cfg map[string]string
	if err := json.Unmarshal([]byte(m[1]), &cfg); err != nil {
		t.Fatalf("config %q is not JSON: %v", m[1], err)
	}
	return cfg
}

func TestIndex(t *testing.T) {
	h := web.Handler(web.Options{})
	for _, path := range []string{"/", "/index.html"} {
		resp, body := get(t, h, http.MethodGet, path)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d; want 200", path, resp.StatusCode)
		}
		if got, want := resp.Header.Get("Content-Type"), "text/html; charset=utf-8"; got != want {
			t.Errorf("GET %s Content-Type = %q; want %q", path, got, want)
		}
		for _, want := range []string{
			`<html lang="it">`,
			"fibremon — copertura in fibra",
			`id="comune-select"`, `id="back-consortium"`, `id="tab-map"`, `id="tab-table"`, `id="table-view"`,
			`data-layer="comune-labels"`, `id="choropleth-measure"`,
			`<p id="map-attribution">Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0</p>`,
			`id="search-input"`, `id="search-button"`, `id="answer"`, `id="answer-verdict"`, `id="lang-toggle"`,
			`role="region" aria-live="polite"`,
			`id="layer-comune"`, `id="layer-hamlets"`, `id="layer-addresses"`, `id="layer-white-areas"`, `id="layer-sites"`,
			`data-layer="comune"`, `data-layer="sites"`,
			"Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0",
			`<script src="static/app.js" defer></script>`,
			`<link rel="stylesheet" href="static/style.css">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: page lacks %s", path, want)
			}
		}
		cfg := pageConfig(t, body)
		if cfg["apiBase"] != "api/v1" || cfg["tileURL"] != "" || cfg["tileAttribution"] != "" {
			t.Errorf("config = %v; want apiBase api/v1 and no tiles", cfg)
		}
		// Nothing that the CSP would block or that leaves the origin: no
		// inline script or style, no absolute URL but the SVG namespace.
		rest := strings.ReplaceAll(body, `xmlns="http://www.w3.org/2000/svg"`, "")
		for _, bad := range []string{"<script>", "<style", " style=", "http://", "https://"} {
			if strings.Contains(rest, bad) {
				t.Errorf("GET %s: page contains %q", path, bad)
			}
		}
		if m := inlineHandlerRE.FindString(body); m != "" {
			t.Errorf("GET %s: inline event handler %q", path, m)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := web.Handler(web.Options{})
	for _, path := range []string{"/", "/static/app.js", "/static/style.css", "/static/nope.js", "/nope"} {
		resp, _ := get(t, h, http.MethodGet, path)
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self';", "connect-src 'self'", "object-src 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp+";", want) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe") || strings.Contains(csp, "*") || strings.Contains(csp, "http") {
			t.Errorf("GET %s: Content-Security-Policy %q allows more than 'self'", path, csp)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options = %q; want nosniff", path, got)
		}
	}
}

func TestStatic(t *testing.T) {
	h := web.Handler(web.Options{})
	tests := []struct {
		path, wantType, wantBody string
	}{
		{"/static/app.js", "text/javascript; charset=utf-8", "use strict"},
		{"/static/style.css", "text/css; charset=utf-8", ".sym"},
		{"/static/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		resp, body := get(t, h, http.MethodGet, tt.path)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d; want 200", tt.path, resp.StatusCode)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tt.wantType {
			t.Errorf("GET %s Content-Type = %q; want %q", tt.path, got, tt.wantType)
		}
		if !strings.Contains(body, tt.wantBody) {
			t.Errorf("GET %s: body lacks %q", tt.path, tt.wantBody)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Errorf("GET %s: no ETag", tt.path)
			continue
		}
		resp, _ = get(t, h, http.MethodGet, tt.path, "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %d; want 304", tt.path, resp.StatusCode)
		}
		resp, body = get(t, h, http.MethodHead, tt.path)
		if resp.StatusCode != 200 || body != "" {
			t.Errorf("HEAD %s = %d with %d body bytes; want 200 and none", tt.path, resp.StatusCode, len(body))
		}
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := web.Handler(web.Options{})
	for _, path := range []string{"/static/nope.js", "/static/", "/static", "/static/../index.html", "/static/index.html", "/index.htm", "/api/v1/sites"} {
		resp, _ := get(t, h, http.MethodGet, path)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 404", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/", "/static/app.js"} {
		resp, _ := get(t, h, http.MethodPost, path)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST %s = %d, Allow %q; want 405, GET, HEAD", path, resp.StatusCode, resp.Header.Get("Allow"))
		}
	}
}

func TestTiles(t *testing.T) {
	tests := []struct {
		name, url, attribution string
		wantSource             string // in img-src; "" means tiles are off
	}{
		{"osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors", "https://tile.openstreetmap.org"},
		{"subdomains and port", "http://{s}.tiles.example.org:8080/v1/{z}/{x}/{y}{r}.png", "", "http://*.tiles.example.org:8080"},
		{"query with ampersand", "https://tiles.example.org/{z}/{x}/{y}.png?key=a1&style=light", `<b>"Tiles" & co</b>`, "https://tiles.example.org"},
		{"script in URL", `https://tiles.example.org/{z}/{x}/{y}.png?</script><script>alert(1)</script>`, "", ""},
		{"javascript scheme", "javascript:alert('{z}{x}{y}')", "", ""},
		{"no placeholders", "https://tiles.example.org/tile.png", "", ""},
		{"bad host", "https://tiles.example.org;img-src *{z}/{x}/{y}", "", ""},
		{"user info", "https://u:p@tiles.example.org/{z}/{x}/{y}.png", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := web.Options{TileURL: tt.url, Attribution: tt.attribution}
			if err := opts.Validate(); (err == nil) != (tt.wantSource != "") {
				t.Errorf("Validate() = %v; want error: %v", err, tt.wantSource == "")
			}
			h := web.Handler(opts)
			resp, body := get(t, h, http.MethodGet, "/")
			csp := resp.Header.Get("Content-Security-Policy")
			cfg := pageConfig(t, body)
			if tt.wantSource == "" {
				if !strings.Contains(csp, "img-src 'self';") || cfg["tileURL"] != "" || cfg["tileAttribution"] != "" {
					t.Errorf("refused tile URL reached the page: CSP %q, config %v", csp, cfg)
				}
				if strings.Contains(body, "alert(1)") {
					t.Errorf("page contains the refused URL")
				}
				return
			}
			if want := "img-src 'self' " + tt.wantSource + ";"; !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
			if cfg["tileURL"] != tt.url || cfg["tileAttribution"] != tt.attribution {
				t.Errorf("config = %v; want tileURL %q and attribution %q", cfg, tt.url, tt.attribution)
			}
			// Escaped: neither the raw ampersand nor the markup of the
			// attribution appears as such in the page.
			if strings.Contains(tt.url, "&") && strings.Contains(body, "a1&style") {
				t.Errorf("tile URL not escaped in the page")
			}
			if strings.Contains(tt.attribution, "<b>") {
				if strings.Contains(body, "<b>") {
					t.Errorf("attribution markup not escaped in the page")
				}
				if !strings.Contains(body, "&lt;b&gt;&#34;Tiles&#34; &amp; co&lt;/b&gt;") {
					t.Errorf("attribution not shown escaped in the page")
				}
			}
		})
	}
}
