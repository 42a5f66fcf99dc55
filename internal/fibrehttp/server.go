package fibrehttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/go-chi/httprate"
	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/geo"
	"fibremon/internal/auth"
)

// ResultStore is what the API calls on the result store.
type ResultStore interface {
	// WriteResults stores a validated batch all-or-nothing and returns the
	// number of results not stored before (the rest are duplicates).
	WriteResults(ctx context.Context, rs []fibremon.Result) (int, error)
	Results(ctx context.Context, q fibremon.Query) ([]fibremon.Result, error)
	Ping(ctx context.Context) error
}

// Authenticator resolves a bearer token.
type Authenticator interface {
	// Authenticate returns the principal of token: Unauthorized for an
	// unknown token, Transient when no probe token is loaded at all.
	Authenticate(token string) (auth.Principal, error)
	// Counts says how many tokens of each role are loaded.
	Counts() auth.Counts
}

// StatusSource gives the current site statuses and learns of new results.
type StatusSource interface {
	Statuses() []fibremon.SiteStatus
	// Observe is told of every batch just stored: rs, of which stored were
	// new. It must not block on the store (the ingest path never reads
	// it) and must not modify rs.
	Observe(rs []fibremon.Result, stored int)
}

// Deps are everything the handler needs; every field but NDT is required.
type Deps struct {
	Logger   *slog.Logger
	Registry prometheus.Registerer
	Metrics  http.Handler // serves /metrics
	Store    ResultStore
	Auth     Authenticator
	Status   StatusSource
	// Geo holds the comune's reference data and civic register.
	Geo *geo.Live
	// Web serves the public page at "/" and its static files; nil: none.
	Web http.Handler
	// NDTDownload and NDTUpload serve the ndt7 endpoints; nil disables them.
	NDTDownload, NDTUpload http.HandlerFunc
	// Middleware wraps every route (e.g. HTTP metrics); may be nil.
	Middleware func(http.Handler) http.Handler
	// RateLimit bounds each probe's POST /api/v1/results; zero: no limit.
	RateLimit RateLimit
	// MaxInflightBodyBytes bounds the bytes of POST /api/v1/results
	// bodies being read, decoded and stored at once, over all probes; a
	// POST beyond is answered 503 with Retry-After before its body is
	// read. A body counts its Content-Length (MaxBodyBytes when unknown);
	// one larger than the bound is taken when no other is in flight.
	// Zero: DefaultMaxInflightBodyBytes; negative: no bound.
	MaxInflightBodyBytes int64
	// Admin serves the admin API (/api/v1/admin/...); nil: 404.
	Admin AdminOps
	// Contract checks sites against their contracts; nil: 404.
	Contract ContractChecker
	// Access says who may read what; the zero value keeps raw data behind
	// a read token and /metrics open.
	Access Access
	Now    func() time.Time
}

// Server is the service's http.Handler. SetDraining makes /readyz fail so
// load balancers stop sending traffic before shutdown.
type Server struct {
	http.Handler
	d        Deps
	logger   *slog.Logger
	draining atomic.Bool
	ingest   *prometheus.CounterVec
	batches  *prometheus.CounterVec
	writeDur prometheus.Histogram
	limiter  *httprate.RateLimiter
	bodies   *bodyLimiter
}

// errRateLimited answers 429; the limiter has set Retry-After.
var errRateLimited = errors.New("too many requests from this probe; retry after the time in Retry-After")

// RateLimit is a number of requests per probe in a sliding window.
type RateLimit struct {
	Requests int
	Window   time.Duration
}

// NewHandler builds the router with every route of the service.
func NewHandler(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Server{
		d:      d,
		logger: d.Logger.With("component", "http"),
		ingest: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fibremon_ingest_results_total",
			Help: "Results received on POST /api/v1/results, by outcome: stored, duplicate, rejected (in a refused batch).",
		}, []string{"outcome"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fibremon_ingest_batches_total",
			Help: "Batches received on POST /api/v1/results, by HTTP status code.",
		}, []string{"code"}),
		writeDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "fibremon_store_write_duration_seconds",
			Help:    "Time to commit one batch of results to the store.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
	}
	for _, o := range []string{"stored", "duplicate", "rejected"} {
		s.ingest.WithLabelValues(o)
	}
	d.Registry.MustRegister(s.ingest, s.batches, s.writeDur)
	if d.RateLimit.Requests > 0 && d.RateLimit.Window > 0 {
		s.limiter = httprate.NewRateLimiter(d.RateLimit.Requests, d.RateLimit.Window)
	}
	s.bodies = newBodyLimiter(d.MaxInflightBodyBytes)

	r := chi.NewRouter()
	if d.Middleware != nil {
		r.Use(d.Middleware)
	}
	r.Use(middleware.Recoverer)
	r.Use(s.refuseRepeatedHeaders)
	r.Get(PathHealthz, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	r.Get(PathReadyz, s.handle(s.readyz))
	r.Method(http.MethodGet, PathMetrics, s.metricsAuth(d.Metrics))
	r.Post(PathResults, s.handle(s.postResults))
	// Public whoever asks: the map's coverage and rollout data.
	r.Get(PathCoverageLookup, s.handle(s.getCoverage))
	r.Get(PathRollout, s.handle(s.getRollout))
	r.Get(PathGaps, s.handle(s.getGaps))
	// Answers that depend on who asks (access.go, SPEC.md "Who may read
	// what").
	r.Group(func(r chi.Router) {
		r.Use(s.identify)
		r.Get(PathResults, s.handle(s.needResultsRead(s.getResults)))
		r.Get(PathSites, s.handle(s.getSites))
		r.Get(PathComuni, s.handle(s.getComuni))
		r.Get(PathSites+"/{id}", s.handle(s.getSite))
		r.Get(PathCoverage, s.handle(s.getCoverageGeoJSON))
		r.Get(PathTiles+"/{layers}/{z}/{x}/{y}", s.handle(s.getTile))
		s.contractRoutes(r)
	})
	s.adminRoutes(r)
	if d.Web != nil {
		r.Method(http.MethodGet, "/", d.Web)
		r.Method(http.MethodGet, "/static/*", d.Web)
	}
	if d.NDTDownload != nil {
		r.Get(PathDownload, d.NDTDownload)
	}
	if d.NDTUpload != nil {
		r.Get(PathUpload, d.NDTUpload)
	}
	r.NotFound(s.handle(func(http.ResponseWriter, *http.Request) error {
		return fibremon.Errorf(fibremon.NotFound, "no such endpoint")
	}))
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, ErrorResponse{Error: "method " + r.Method + " not allowed"})
	})
	s.Handler = r
	return s
}

// SetDraining marks the server as shutting down: /readyz answers 503.
func (s *Server) SetDraining() { s.draining.Store(true) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle maps an error's kind to a status code and a JSON body. Internal
// details are logged, never sent.
func (s *Server) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code, body := errorResponse(err)
		switch code {
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSecs))
			s.logger.Warn("request failed", "route", r.URL.Path, "err", err)
		case http.StatusInternalServerError:
			s.logger.Error("request failed", "route", r.URL.Path, "err", err)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="fibremon"`)
		}
		writeJSON(w, code, body)
	}
}

// sitesOf returns the statuses of the sites of one comune.
func sitesOf(sts []fibremon.SiteStatus, slug string) []fibremon.SiteStatus {
	out := []fibremon.SiteStatus{}
	for _, st := range sts {
		if st.Comune == slug {
			out = append(out, st)
		}
	}
	return out
}

func errorResponse(err error) (int, ErrorResponse) {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return http.StatusRequestEntityTooLarge, ErrorResponse{Error: fmt.Sprintf("body larger than %d bytes", maxErr.Limit)}
	}
	if errors.Is(err, errRateLimited) {
		return http.StatusTooManyRequests, ErrorResponse{Error: errRateLimited.Error()}
	}
	if errors.Is(err, errBusy) {
		return http.StatusServiceUnavailable, ErrorResponse{Error: errBusy.Error()}
	}
	var mediaErr *mediaError
	if errors.As(err, &mediaErr) {
		return http.StatusUnsupportedMediaType, ErrorResponse{Error: mediaErr.msg, Field: mediaErr.header}
	}
	var e *fibremon.Error
	if !errors.As(err, &e) {
		return http.StatusInternalServerError, ErrorResponse{Error: "internal error"}
	}
	switch e.Kind {
	case fibremon.Invalid:
		return http.StatusBadRequest, ErrorResponse{Error: e.Msg, Field: e.Field}
	case fibremon.Unauthorized:
		return http.StatusUnauthorized, ErrorResponse{Error: e.Msg}
	case fibremon.Forbidden:
		return http.StatusForbidden, ErrorResponse{Error: e.Msg, Field: e.Field}
	case fibremon.NotFound:
		var sg interface{ Suggestions() []string }
		if errors.As(err, &sg) {
			return http.StatusNotFound, ErrorResponse{Error: e.Msg, Field: e.Field, Suggestions: sg.Suggestions()}
		}
		return http.StatusNotFound, ErrorResponse{Error: e.Msg, Field: e.Field}
	case fibremon.Conflict:
		return http.StatusConflict, ErrorResponse{Error: e.Msg, Field: e.Field}
	case fibremon.Transient:
		return http.StatusServiceUnavailable, ErrorResponse{Error: "temporarily unavailable, retry later"}
	}
	return http.StatusInternalServerError, ErrorResponse{Error: "internal error"}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return fibremon.Errorf(fibremon.Transient, "shutting down")
	}
	if c := s.d.Auth.Counts(); c.Probe == 0 {
		// Every upload would be refused. Written here rather than through
		// handle, whose 503 body is generic, and not logged per request:
		// the service logs the change of count once, at WARN.
		w.Header().Set("Retry-After", strconv.Itoa(RetryAfterSecs))
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Error: fmt.Sprintf(
			"not ready: 0 probe tokens loaded (%d reader, %d admin), so every upload of results is refused; restore the tokens file or issue tokens with 'fibremon token add'",
			c.Reader, c.Admin)})
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.d.Store.Ping(ctx); err != nil {
		return fibremon.Errorf(fibremon.Transient, "store not ready: %w", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ready\n")
	return nil
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

func (s *Server) postResults(w http.ResponseWriter, r *http.Request) (err error) {
	n := 0
	defer func() {
		code := http.StatusOK
		if err != nil {
			code, _ = errorResponse(err)
			s.ingest.WithLabelValues("rejected").Add(float64(n))
		}
		s.batches.WithLabelValues(strconv.Itoa(code)).Inc()
	}()
	tok, ok := bearer(r)
	if !ok {
		return fibremon.Errorf(fibremon.Unauthorized, "missing bearer token")
	}
	principal, err := s.d.Auth.Authenticate(tok)
	if err != nil {
		return err
	}
	if principal.Role != auth.RoleProbe {
		return fibremon.Errorf(fibremon.Forbidden, "%s token of %q writes no results; use the probe's token", principal.Role, principal.Probe)
	}
	if s.limiter != nil && s.limiter.OnLimit(w, r, principal.Probe) {
		return errRateLimited
	}
	if err := checkJSONBody(r); err != nil {
		return err
	}
	release, err := s.bodies.admit(r)
	if err != nil {
		return err
	}
	defer release()
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	rs, err := DecodeResults(body, s.d.Now())
	if err != nil {
		return err
	}
	n = len(rs)
	for i := range rs {
		if !principal.MaySite(rs[i].SiteID) {
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: fmt.Sprintf("results[%d].site_id", i),
				Msg: fmt.Sprintf("probe %q may not write results for site %q", principal.Probe, rs[i].SiteID)}
		}
		if rs[i].Probe != principal.Probe {
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: fmt.Sprintf("results[%d].probe", i),
				Msg: fmt.Sprintf("token of probe %q used for probe %q", principal.Probe, rs[i].Probe)}
		}
	}
	start := time.Now()
	stored, err := s.d.Store.WriteResults(r.Context(), rs)
	if err != nil {
		if fibremon.KindOf(err) == fibremon.KindUnknown {
			err = fibremon.Errorf(fibremon.Transient, "store: %w", err)
		}
		return err
	}
	s.writeDur.Observe(time.Since(start).Seconds())
	s.ingest.WithLabelValues("stored").Add(float64(stored))
	s.ingest.WithLabelValues("duplicate").Add(float64(len(rs) - stored))
	s.d.Status.Observe(rs, stored)
	s.logger.Debug("results stored", "probe", principal.Probe, "stored", stored, "duplicates", len(rs)-stored)
	writeJSON(w, http.StatusOK, ResultsResponse{Stored: stored, Duplicates: len(rs) - stored})
	return nil
}

// getResults serves GET /api/v1/results?site_id=&comune=&kind=&since=&until=&limit=.
// comune narrows the answer to the sites of one comune; a token scoped to
// a comune is narrowed to its own without it (needResultsRead has checked
// that the caller may read what it names).
func (s *Server) getResults(w http.ResponseWriter, r *http.Request) error {
	q, err := parseQuery(r, s.d.Now())
	if err != nil {
		return err
	}
	comune := ""
	if v := r.URL.Query(); v.Has("comune") {
		_, comuni, err := s.scope(v)
		if err != nil {
			return err
		}
		comune = comuni[0].Comune().Slug
	} else if p := principal(r); p != nil && !s.d.Access.PublicRead && p.MayRead() {
		comune = p.Comune
	}
	var rs []fibremon.Result
	switch {
	case comune != "" && q.SiteID != "":
		if c, _ := s.siteComune(q.SiteID); c != comune {
			return &fibremon.Error{Kind: fibremon.Invalid, Field: "site_id", Msg: fmt.Sprintf("site %.80q is not a site of comune %s", q.SiteID, comune)}
		}
		rs, err = s.d.Store.Results(r.Context(), q)
	case comune != "":
		rs, err = s.comuneResults(r.Context(), q, comune)
	default:
		rs, err = s.d.Store.Results(r.Context(), q)
	}
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []fibremon.Result{}
	}
	writeJSON(w, http.StatusOK, struct {
		Results []fibremon.Result `json:"results"`
	}{rs})
	return nil
}

// comuneResults returns the results of q at the sites of one comune,
// newest first as the store gives them: one query per site, merged and cut
// to q's limit.
func (s *Server) comuneResults(ctx context.Context, q fibremon.Query, slug string) ([]fibremon.Result, error) {
	ix, err := s.d.Geo.Load().Comune(slug)
	if err != nil {
		return nil, err
	}
	var out []fibremon.Result
	for _, site := range ix.Comune().Sites {
		q.SiteID = site.ID
		rs, err := s.d.Store.Results(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	slices.SortStableFunc(out, func(a, b fibremon.Result) int {
		if c := b.Start.Compare(a.Start); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out[:min(len(out), q.Limit)], nil
}

func parseQuery(r *http.Request, now time.Time) (fibremon.Query, error) {
	v := r.URL.Query()
	q := fibremon.Query{SiteID: v.Get("site_id"), Kind: fibremon.Kind(v.Get("kind")), Since: now.Add(-24 * time.Hour)}
	if q.SiteID != "" && !fibremon.ValidID(q.SiteID) {
		return q, fibremon.FieldErrorf("site_id", "invalid site id")
	}
	if q.Kind != "" && !q.Kind.Valid() {
		return q, fibremon.FieldErrorf("kind", "unknown kind %.40q (want one of %v)", string(q.Kind), fibremon.Kinds)
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if _, offset := t.Zone(); err != nil || offset <= -24*3600 || offset >= 24*3600 {
				// time.Parse takes an offset of 24 hours; RFC 3339 does not.
				return q, fibremon.FieldErrorf(p.name, "not an RFC 3339 time: %.40q", s)
			}
			*p.dst = t
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > fibremon.DefaultQueryLimit {
			return q, fibremon.FieldErrorf("limit", "want an integer in [1, %d]", fibremon.DefaultQueryLimit)
		}
		q.Limit = n
	} else {
		q.Limit = 1000
	}
	// A time the stores cannot hold (after 2262, before 1677) is refused:
	// converted, it would wrap around and select the wrong results.
	return q, q.Validate()
}

// SitesResponse is the body of GET /api/v1/sites in the full view (a read
// token, or Access.PublicRead); PublicSitesResponse is the public view.
type SitesResponse struct {
	GeneratedAt time.Time             `json:"generated_at"`
	View        string                `json:"view"`
	Sites       []fibremon.SiteStatus `json:"sites"`
}

func (s *Server) getSites(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key := range v {
		if key != "comune" {
			return fibremon.FieldErrorf(key, "unknown parameter (want comune)")
		}
	}
	sts := s.d.Status.Statuses()
	_, comuni, err := s.scope(v)
	if err != nil {
		return err
	}
	if v.Has("comune") {
		sts = sitesOf(sts, comuni[0].Comune().Slug)
	}
	if s.fullView(r, slugsOf(comuni)...) {
		writeJSON(w, http.StatusOK, SitesResponse{GeneratedAt: s.d.Now().UTC(), View: ViewFull, Sites: sts})
		return nil
	}
	resp := PublicSitesResponse{GeneratedAt: s.d.Now().UTC(), View: ViewPublic, Sites: make([]PublicSiteStatus, len(sts))}
	for i := range sts {
		resp.Sites[i] = publicSite(sts[i])
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getSite(w http.ResponseWriter, r *http.Request) error {
	id := chi.URLParam(r, "id")
	for _, st := range s.d.Status.Statuses() {
		if st.ID == id {
			if !s.fullView(r, st.Comune) {
				writeJSON(w, http.StatusOK, publicSite(st))
				return nil
			}
			writeJSON(w, http.StatusOK, st)
			return nil
		}
	}
	return &fibremon.Error{Kind: fibremon.NotFound, Field: "id", Msg: fmt.Sprintf("no site %.80q", id)}
}
