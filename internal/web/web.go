// Package web serves fibremon's public coverage page: a map drawn as SVG
// from the service's own GeoJSON (no tile server, no internet, no
// third-party code) and an "is my address covered?" search that asks
// GET /api/v1/coverage. The page opens on every comune of the data set,
// coloured by its figures (GET /api/v1/comuni), and drills into one: its
// hamlets, its civics by area and zoom (clusters where they are too many),
// its figures per hamlet and rollout (GET /api/v1/rollout). Its URL
// carries the comune, the address or point asked and the view
// (?comune=crema&address=Via+Roma+5&view=table), so an answer can be
// linked and the back button walks the steps.
//
// The page is one HTML file, one script and one stylesheet, embedded in the
// binary. The script talks only to the origin that served it, through
// relative URLs, so the page also works behind a reverse proxy that mounts
// the service under a path. Raster background tiles are optional: they are
// drawn under the SVG layers only when Options.TileURL names a tile server.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// Options configure the page.
type Options struct {
	// TileURL is the template of raster background tiles in Web Mercator,
	// with {z}, {x} and {y} and optionally {s} (a subdomain: a, b or c) and
	// {r} (dropped), e.g. "https://tile.openstreetmap.org/{z}/{x}/{y}.png".
	// Empty: no background tiles, the map is drawn from the GeoJSON alone.
	// The tile host is added to the page's Content-Security-Policy img-src.
	// A TileURL that Validate refuses is ignored.
	TileURL string
	// Attribution is the text the tile provider requires next to its tiles,
	// e.g. "© OpenStreetMap contributors". Shown only with TileURL.
	Attribution string
}

// Validate reports whether the options can be used as given.
func (o Options) Validate() error {
	if o.TileURL == "" {
		return nil
	}
	_, err := tileSource(o.TileURL)
	return err
}

// APIBase is the path of the API the page calls, relative to the page.
const APIBase = "api/v1"

// DefaultBoundaryAttribution is shown when the GeoJSON carries none.
const DefaultBoundaryAttribution = "Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0"

//go:embed index.html static
var files embed.FS

var indexTemplate = template.Must(template.ParseFS(files, "index.html"))

// pageConfig is the JSON the page reads from <script id="config">.
type pageConfig struct {
	APIBase             string `json:"apiBase"`
	TileURL             string `json:"tileURL,omitempty"`
	TileAttribution     string `json:"tileAttribution,omitempty"`
	BoundaryAttribution string `json:"boundaryAttribution"`
}

type asset struct {
	name        string
	body        []byte
	etag        string
	contentType string
}

// Content types of the embedded files, fixed here rather than taken from
// the system's mime.types, which differ between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	return &asset{name: name, body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, contentType: ct}
}

// handler serves the page. It is immutable once built, so safe for
// concurrent use.
type handler struct {
	csp    string
	index  *asset
	static map[string]*asset // by name under static/
}

// Handler returns the page's handler: GET / (and /index.html) is the page,
// GET /static/<file> its script, stylesheet and icon; every other path is
// 404 and every other method 405. Every answer carries a
// Content-Security-Policy that allows only the page's own origin (plus the
// tile host for images when tiles are configured) and
// X-Content-Type-Options: nosniff.
func Handler(opts Options) http.Handler {
	cfg := pageConfig{APIBase: APIBase, BoundaryAttribution: DefaultBoundaryAttribution}
	imgSrc := "'self'"
	if src, err := tileSource(opts.TileURL); err == nil && opts.TileURL != "" {
		cfg.TileURL = opts.TileURL
		cfg.TileAttribution = opts.Attribution
		imgSrc += " " + src
	}
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, struct {
		Config          pageConfig
		TileAttribution string
	}{cfg, cfg.TileAttribution}); err != nil {
		panic(fmt.Sprintf("web: index template: %v", err)) // a bug: the template and its data are fixed
	}
	h := &handler{
		csp: strings.Join([]string{
			"default-src 'self'",
			"script-src 'self'",
			"style-src 'self'",
			"img-src " + imgSrc,
			"connect-src 'self'",
			"object-src 'none'",
			"base-uri 'none'",
			"form-action 'self'",
			"frame-ancestors 'none'",
		}, "; "),
		index:  newAsset("index.html", buf.Bytes()),
		static: map[string]*asset{},
	}
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		h.static[name] = newAsset(name, b)
		return nil
	})
	if err != nil {
		panic(fmt.Sprintf("web: embedded files: %v", err))
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", h.csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "strict-origin-when-cross-origin") // tile servers such as OSM's want a Referer
	hd.Set("X-Frame-Options", "DENY")

	var a *asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		a = h.index
	case strings.HasPrefix(p, "/static/"):
		a = h.static[strings.TrimPrefix(p, "/static/")]
	}
	if a == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}

var hostRE = regexp.MustCompile(`^(\{s\}\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]{1,5})?$`)

// tileSource checks a tile URL template and returns the CSP source of its
// host: "https://tile.example.org", or "https://*.tile.example.org" for a
// template with an {s} subdomain.
func tileSource(raw string) (string, error) {
	if raw == "" {
		return "", nil
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return "", errors.New("web: tile URL: want an http or https URL")
	}
	host, _, _ := strings.Cut(rest, "/")
	if !hostRE.MatchString(host) {
		return "", fmt.Errorf("web: tile URL: bad host %q", host)
	}
	for _, p := range []string{"{z}", "{x}", "{y}"} {
		if !strings.Contains(raw, p) {
			return "", fmt.Errorf("web: tile URL: no %s placeholder", p)
		}
	}
	filled := strings.NewReplacer("{s}", "a", "{z}", "0", "{x}", "0", "{y}", "0", "{r}", "").Replace(raw)
	u, err := url.Parse(filled)
	if err != nil {
		return "", fmt.Errorf("web: tile URL: %w", err)
	}
	if u.User != nil || u.Fragment != "" || strings.ContainsAny(filled, "{}\"'<> \\`") {
		return "", errors.New("web: tile URL: unexpected user info, fragment, placeholder or character")
	}
	return scheme + "://" + strings.Replace(host, "{s}.", "*.", 1), nil
}
