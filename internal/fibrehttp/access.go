package fibrehttp

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	"github.com/paulmach/orb/geojson"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/auth"
)

// Who may read what (SPEC.md, "Who may read what"):
//
//   - public, no token: the map page, coverage and rollout figures, the
//     address lookup, and site state in coarse form (the public view of
//     GET /api/v1/sites and of the sites layer of the coverage GeoJSON);
//   - a read token (role reader or admin): also raw results, contracts and
//     their evidence, and the full site statuses — of every comune for a
//     token of the consortium, of its own comune's sites for a token
//     scoped to one comune;
//   - a probe token: writes its sites' results, and reads its own sites'
//     raw results (what the probe measured itself); elsewhere it is as
//     anonymous;
//   - an admin token: also the admin API, within its scope (admin.go).
//
// Access.PublicRead opens everything a read token reads to anyone;
// Access.MetricsAuth guards /metrics on its own.

// Access configures who may read what.
type Access struct {
	// PublicRead serves everything a read token may read to anyone: raw
	// results, contracts and their evidence, full site statuses. For a
	// comune that publishes its monitoring data openly. It does not open
	// /metrics when MetricsAuth asks for a token.
	PublicRead bool
	// MetricsAuth is what GET /metrics needs: MetricsAuthNone ("" too) or
	// MetricsAuthReadToken.
	MetricsAuth string
}

// Values of Access.MetricsAuth.
const (
	// MetricsAuthNone serves /metrics to anyone, as Prometheus scrapes
	// without credentials by default. The metrics carry per-site state and
	// contract figures: bind the service to a private address, or guard
	// /metrics, when it faces the internet.
	MetricsAuthNone = "none"
	// MetricsAuthReadToken serves /metrics only with a reader or admin
	// token (Prometheus: authorization: {credentials_file: ...}).
	MetricsAuthReadToken = "read-token"
)

// MetricsAuths lists the values of Access.MetricsAuth.
var MetricsAuths = []string{MetricsAuthNone, MetricsAuthReadToken}

// Validate reports whether a can be used.
func (a Access) Validate() error {
	if a.MetricsAuth != "" && !slices.Contains(MetricsAuths, a.MetricsAuth) {
		return fibremon.FieldErrorf("metrics_auth", "unknown value %q (want one of %v)", a.MetricsAuth, MetricsAuths)
	}
	return nil
}

// Views of a site status: what a caller may see.
const (
	ViewPublic = "public" // coarse: no raw results, no contract figures, times rounded
	ViewFull   = "full"   // everything the service knows
)

// PublicTimeStep is the step public times (a site's last_seen) are
// truncated to: enough to tell a silent site from a live one, too coarse
// to date an outage of a business's line.
const PublicTimeStep = 15 * time.Minute

// PublicSiteStatus is what anyone may see of a site: where it is, what it
// is, and whether its line is up, down or silent. No raw results (they
// carry targets and error texts), no contract figures; last_seen is
// truncated to PublicTimeStep and availability_24h rounded to a hundredth.
type PublicSiteStatus struct {
	ID                     string               `json:"id"`
	Name                   string               `json:"name"`
	Kind                   fibremon.SiteKind    `json:"kind"`
	Hamlet                 string               `json:"hamlet"`
	Address                string               `json:"address,omitempty"`
	Lon                    float64              `json:"lon"`
	Lat                    float64              `json:"lat"`
	CoordStatus            fibremon.CoordStatus `json:"coord_status"`
	CoordUncertaintyMeters float64              `json:"coord_uncertainty_meters"`
	Technology             fibremon.Technology  `json:"technology"`
	Source                 string               `json:"source,omitempty"`
	Synthetic              bool                 `json:"synthetic"`
	LineSynthetic          bool                 `json:"line_synthetic"`
	LineEmulated           bool                 `json:"line_emulated"`
	Comune                 string               `json:"comune,omitempty"`
	State                  fibremon.State       `json:"state"`
	LastSeen               time.Time            `json:"last_seen,omitzero"`
	Availability24h        *float64             `json:"availability_24h"`
}

// PublicSitesResponse is the body of GET /api/v1/sites in the public view.
type PublicSitesResponse struct {
	GeneratedAt time.Time          `json:"generated_at"`
	View        string             `json:"view"`
	Sites       []PublicSiteStatus `json:"sites"`
}

// publicSite is the public view of st.
func publicSite(st fibremon.SiteStatus) PublicSiteStatus {
	p := PublicSiteStatus{
		ID: st.ID, Name: st.Name, Kind: st.Kind, Hamlet: st.Hamlet, Address: st.Address,
		Lon: st.Lon, Lat: st.Lat, CoordStatus: st.CoordStatus, CoordUncertaintyMeters: st.CoordUncertaintyMeters,
		Technology: st.Technology, Source: st.Source, Synthetic: st.Synthetic, LineSynthetic: st.LineSynthetic,
		LineEmulated: st.LineEmulated, Comune: st.Comune, State: st.State,
	}
	if !st.LastSeen.IsZero() {
		p.LastSeen = st.LastSeen.UTC().Truncate(PublicTimeStep)
	}
	if a := st.Availability24h; a != nil {
		v := math.Round(*a*100) / 100
		p.Availability24h = &v
	}
	return p
}

// publicSiteProps are the properties of a sites-layer feature of the
// coverage GeoJSON that anyone may see; the rest (contract figures) need a
// read token. An allowlist, so that a property geo adds later stays behind
// the token until it is listed here.
var publicSiteProps = map[string]bool{
	"layer": true, "site_id": true, "name": true, "kind": true, "hamlet": true, "address": true,
	"technology": true, "coord_status": true, "coord_uncertainty_m": true, "synthetic": true,
	"line_synthetic": true, "line_emulated": true, "comune": true, "state": true, "marker_color": true, "last_seen": true, "availability_24h": true,
	// The newest measured speeds and delay, rounded, as the address lookup
	// shows them for the probes nearest an address: how well lines near me
	// deliver is what the public map is for.
	"download_mbps": true, "upload_mbps": true, "rtt_ms": true, "loss_ratio": true,
}

// publicGeoJSON turns the sites-layer features of fc into their public
// view, in place.
func publicGeoJSON(fc *geojson.FeatureCollection) {
	for _, f := range fc.Features {
		if f.Properties["layer"] != geo.LayerSites {
			continue
		}
		for k := range f.Properties {
			if !publicSiteProps[k] {
				delete(f.Properties, k)
			}
		}
		if s, ok := f.Properties["last_seen"].(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				f.Properties["last_seen"] = t.UTC().Truncate(PublicTimeStep).Format(time.RFC3339)
			} else {
				delete(f.Properties, "last_seen")
			}
		}
		if a, ok := f.Properties["availability_24h"].(float64); ok {
			f.Properties["availability_24h"] = math.Round(a*100) / 100
		}
	}
}

type principalKey struct{}

// identify resolves the caller's bearer token, if any, for the handlers
// behind it. A request without one (or with another scheme, such as the
// Basic credentials of a proxy in front) is anonymous; a bearer token the
// service does not know is refused with 401, never quietly served the
// public view, so that a client learns its token is wrong.
func (s *Server) identify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on the caller: caches must key on it.
		w.Header().Add("Vary", "Authorization")
		tok, ok := bearer(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		s.handle(func(w http.ResponseWriter, r *http.Request) error {
			p, err := s.d.Auth.Authenticate(tok)
			if err != nil {
				return err
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, &p)))
			return nil
		})(w, r)
	})
}

// principal returns the caller identified by identify, nil if anonymous.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	return p
}

// fullView reports whether the caller sees in full the site statuses of
// the comuni with the given slugs: with a read token that covers every one
// of them (a consortium token covers all), or Access.PublicRead. An answer
// that spans comuni the caller may not read in full is the public view.
func (s *Server) fullView(r *http.Request, slugs ...string) bool {
	if s.d.Access.PublicRead {
		return true
	}
	p := principal(r)
	if p == nil || !p.MayRead() {
		return false
	}
	for _, slug := range slugs {
		if !p.MayReadComune(slug) {
			return false
		}
	}
	return true
}

// slugsOf returns the slugs of comuni.
func slugsOf(comuni []*geo.Index) []string {
	out := make([]string, len(comuni))
	for i, ix := range comuni {
		out[i] = ix.Comune().Slug
	}
	return out
}

// siteComune returns the slug of the comune of the site with the given id
// in the current data set.
func (s *Server) siteComune(id string) (string, bool) {
	ix, ok := s.d.Geo.Load().SiteComune(id)
	if !ok {
		return "", false
	}
	return ix.Comune().Slug, true
}

// errOtherComune is the refusal of a comune's token reading another's
// restricted data.
func errOtherComune(p *auth.Principal, field, what string) error {
	return &fibremon.Error{Kind: fibremon.Forbidden, Field: field,
		Msg: fmt.Sprintf("%s token of %q is scoped to %s: it may not read %s", p.Role, p.Probe, p.Scope(), what)}
}

// errReadToken is the refusal of an anonymous read of restricted data.
func errReadToken(what string) error {
	return fibremon.Errorf(fibremon.Unauthorized, "%s needs a read token (Authorization: Bearer <token>; see 'fibremon token add --reader')", what)
}

// needRead wraps h so that it runs only for a reader or admin token, or
// for anyone with Access.PublicRead.
func (s *Server) needRead(what string, h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.d.Access.PublicRead {
			return h(w, r)
		}
		p := principal(r)
		switch {
		case p == nil:
			return errReadToken(what)
		case !p.MayRead():
			return fibremon.Errorf(fibremon.Forbidden, "%s token of %q may not read %s; use a reader token", p.Role, p.Probe, what)
		}
		return h(w, r)
	}
}

// needResultsRead wraps GET /api/v1/results: a read token of the
// consortium reads every site's results, one scoped to a comune those of
// its comune's sites (getResults narrows a query without site_id or
// comune to them); a probe token only those of its own sites, named with
// site_id.
func (s *Server) needResultsRead(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.d.Access.PublicRead {
			return h(w, r)
		}
		p := principal(r)
		switch {
		case p == nil:
			return errReadToken("raw results")
		case p.Consortium():
			return h(w, r)
		case p.MayRead():
			v := r.URL.Query()
			if site := v.Get("site_id"); site != "" {
				if c, ok := s.siteComune(site); !ok || !p.MayReadComune(c) {
					return errOtherComune(p, "site_id", fmt.Sprintf("results of site %.80q, which is not a site of %s", site, p.Comune))
				}
			}
			if c := v.Get("comune"); c != "" {
				ix, err := s.d.Geo.Load().Comune(c)
				if err != nil {
					return err
				}
				if !p.MayReadComune(ix.Comune().Slug) {
					return errOtherComune(p, "comune", "results of comune "+ix.Comune().Slug)
				}
			}
			return h(w, r)
		case p.Role != auth.RoleProbe:
			return fibremon.Errorf(fibremon.Forbidden, "%s token of %q may not read results", p.Role, p.Probe)
		}
		site := r.URL.Query().Get("site_id")
		if site == "" {
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: "site_id",
				Msg: fmt.Sprintf("probe token of %q reads only its own sites' results: give site_id (one of %v)", p.Probe, p.Sites)}
		}
		if !p.MaySite(site) {
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: "site_id",
				Msg: fmt.Sprintf("probe token of %q may not read results of site %.80q", p.Probe, site)}
		}
		return h(w, r)
	}
}

// metricsAuth guards /metrics as Access.MetricsAuth says. Access.PublicRead
// does not open it: an operator who asks for a token on /metrics means it.
func (s *Server) metricsAuth(next http.Handler) http.Handler {
	if a := s.d.Access.MetricsAuth; a == "" || a == MetricsAuthNone {
		return next
	}
	// read-token, or a value Validate refuses: closed rather than open.
	return s.identify(s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r)
		switch {
		case p == nil:
			return errReadToken("/metrics")
		case !p.MayRead():
			return fibremon.Errorf(fibremon.Forbidden, "%s token of %q may not read /metrics; use a reader token", p.Role, p.Probe)
		case !p.Consortium():
			// The exposition carries every comune's sites and contracts.
			return fibremon.Errorf(fibremon.Forbidden, "%s token of %q is scoped to %s; /metrics carries every comune's figures: use a reader token of the consortium", p.Role, p.Probe, p.Scope())
		}
		next.ServeHTTP(w, r)
		return nil
	}))
}
