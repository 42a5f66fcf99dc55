package fibrehttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"fibremon"
	"fibremon/internal/auth"
)

// Admin API paths. Every request needs an admin token (see
// `fibremon token add --admin`), and acts within the token's scope: one
// comune, or the consortium.
const (
	PathAdminTokens = "/api/v1/admin/tokens"
	PathAdminReload = "/api/v1/admin/reload"
)

// Limits of POST /api/v1/admin/tokens.
const (
	MaxTokenRequestBytes = 16 << 10
	MaxTokenSites        = 64
)

// AdminOps are the operations of the admin API. The HTTP layer decides who
// may do what; AdminOps does it.
type AdminOps interface {
	// Tokens lists the issued tokens (hashes only).
	Tokens() []auth.Entry
	// RevokeTokens removes the tokens of probe (only the one whose SHA-256
	// starts with sha256Prefix when it is not empty) for which may returns
	// true (nil: all), persists the change and returns how many were
	// removed: NotFound when none match, Forbidden when may refuses every
	// match (auth.Tokens.RevokeIf).
	RevokeTokens(probe, sha256Prefix string, may func(auth.Entry) bool) (int, error)
	// IssueProbeToken issues a token for probe bound to sites, persists it
	// and returns it in clear.
	IssueProbeToken(probe string, sites []string) (string, auth.Entry, error)
	// Reload reads the data set again, as SIGHUP does, and the tokens
	// file; with comune (a slug) set, only that comune's directory, the
	// other comuni kept as they are.
	Reload(comune string) error
}

// TokenInfo is one token as the admin API lists it: never the token, and
// only a prefix of its hash.
type TokenInfo struct {
	Probe string   `json:"probe"`
	Role  string   `json:"role"`
	Sites []string `json:"sites"`
	// Comune is the slug of the comune the token belongs to: a scoped
	// reader or admin token's, a probe token's sites'; absent for the
	// consortium's (and a probe token whose sites lie in several comuni).
	Comune       string    `json:"comune,omitempty"`
	Created      time.Time `json:"created"`
	SHA256Prefix string    `json:"sha256_prefix"`
}

// TokensResponse answers GET /api/v1/admin/tokens.
type TokensResponse struct {
	Tokens []TokenInfo `json:"tokens"`
}

// RevokeResponse answers DELETE /api/v1/admin/tokens/{probe}.
type RevokeResponse struct {
	Revoked int `json:"revoked"`
}

// TokenRequest is the body of POST /api/v1/admin/tokens: a probe token
// for the probe, bound to the sites.
type TokenRequest struct {
	Probe string   `json:"probe"`
	Sites []string `json:"sites"`
}

// IssuedToken answers POST /api/v1/admin/tokens: the token in clear, the
// only time it is shown, and what the listing shows of it.
type IssuedToken struct {
	Token string `json:"token"`
	TokenInfo
}

// ReloadResponse answers POST /api/v1/admin/reload.
type ReloadResponse struct {
	Status string `json:"status"`
	// Comune is the slug of the comune reloaded; absent when the whole
	// data set was.
	Comune string `json:"comune,omitempty"`
}

func (s *Server) adminRoutes(r chi.Router) {
	r.Get(PathAdminTokens, s.handle(s.admin(s.getTokens)))
	r.Post(PathAdminTokens, s.handle(s.admin(s.postToken)))
	r.Delete(PathAdminTokens+"/{probe}", s.handle(s.admin(s.deleteTokens)))
	r.Post(PathAdminReload, s.handle(s.admin(s.postReload)))
}

// admin wraps h so that it runs only for an admin token, whose principal
// it puts in the request's context.
func (s *Server) admin(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.d.Admin == nil {
			return fibremon.Errorf(fibremon.NotFound, "the admin API is not enabled")
		}
		tok, ok := bearer(r)
		if !ok {
			return fibremon.Errorf(fibremon.Unauthorized, "missing bearer token")
		}
		p, err := s.d.Auth.Authenticate(tok)
		if err != nil {
			return err
		}
		if !p.Admin {
			return fibremon.Errorf(fibremon.Forbidden, "%s token of %q may not use the admin API", p.Role, p.Probe)
		}
		s.logger.Info("admin request", "admin", p.Probe, "scope", p.Scope(), "method", r.Method, "path", r.URL.Path, "query", r.URL.RawQuery)
		return h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, &p)))
	}
}

// entryComune returns the comune an entry belongs to in the current data
// set (auth.Entry.ComuneOf).
func (s *Server) entryComune(e auth.Entry) string {
	return e.ComuneOf(s.siteComune)
}

// mayManage returns the filter of the entries the admin p may manage: nil
// (all) for the consortium's admin; a comune's admin, the tokens of its
// comune.
func (s *Server) mayManage(p *auth.Principal) func(auth.Entry) bool {
	if p.Comune == "" {
		return nil
	}
	return func(e auth.Entry) bool { return s.entryComune(e) == p.Comune }
}

func (s *Server) tokenInfo(e auth.Entry) TokenInfo {
	sites := e.Sites
	if sites == nil {
		sites = []string{}
	}
	return TokenInfo{Probe: e.Probe, Role: e.RoleName(), Sites: sites, Comune: s.entryComune(e),
		Created: e.Created, SHA256Prefix: e.SHA256[:min(12, len(e.SHA256))]}
}

// getTokens lists the tokens the caller may manage: every token for the
// consortium's admin; a comune's admin, its comune's (its probes' tokens,
// and the reader and admin tokens scoped to it).
func (s *Server) getTokens(w http.ResponseWriter, r *http.Request) error {
	may := s.mayManage(principal(r))
	resp := TokensResponse{Tokens: []TokenInfo{}}
	for _, e := range s.d.Admin.Tokens() {
		if may == nil || may(e) {
			resp.Tokens = append(resp.Tokens, s.tokenInfo(e))
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// deleteTokens revokes a probe's tokens within the caller's scope. The
// tokens of another comune are a 403, not a 404: probe names are no
// secret (a probe's sites are public, and so is which comune they lie
// in), and an operator told "not yours" knows to ask the consortium,
// where "not found" would send them looking for a typo.
func (s *Server) deleteTokens(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key := range v {
		if key != "sha256" {
			return fibremon.FieldErrorf(key, "unknown parameter (want sha256)")
		}
	}
	n, err := s.d.Admin.RevokeTokens(chi.URLParam(r, "probe"), v.Get("sha256"), s.mayManage(principal(r)))
	if err != nil {
		if fibremon.KindOf(err) == fibremon.Forbidden {
			p := principal(r)
			err = &fibremon.Error{Kind: fibremon.Forbidden, Field: "probe",
				Msg: fmt.Sprintf("admin token of %q is scoped to %s: %v", p.Probe, p.Scope(), err)}
		}
		return err
	}
	writeJSON(w, http.StatusOK, RevokeResponse{Revoked: n})
	return nil
}

// postToken issues a probe token. Every site must be a site of the data
// set and, for a comune's admin, of its comune; a probe name that has
// tokens outside the caller's scope is a 409, so that one comune cannot
// issue tokens under another's probe names.
func (s *Server) postToken(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) > 0 {
		return fibremon.FieldErrorf("", "POST %s takes no parameters", PathAdminTokens)
	}
	if err := checkJSONBody(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxTokenRequestBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		return fibremon.FieldErrorf("", "reading the body: %v", err)
	}
	req, err := DecodeTokenRequest(body)
	if err != nil {
		return err
	}
	p := principal(r)
	for i, site := range req.Sites {
		c, ok := s.siteComune(site)
		switch {
		case !ok:
			return fibremon.FieldErrorf(fmt.Sprintf("sites[%d]", i), "no site %q in the data set (GET %s lists them)", site, PathSites)
		case !p.MayAdminComune(c):
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: fmt.Sprintf("sites[%d]", i),
				Msg: fmt.Sprintf("admin token of %q is scoped to %s; site %q is of comune %s", p.Probe, p.Scope(), site, c)}
		}
	}
	if may := s.mayManage(p); may != nil {
		for _, e := range s.d.Admin.Tokens() {
			if e.Probe == req.Probe && !may(e) {
				return &fibremon.Error{Kind: fibremon.Conflict, Field: "probe",
					Msg: fmt.Sprintf("probe name %q has tokens outside %s; choose another name", req.Probe, p.Scope())}
			}
		}
	}
	tok, e, err := s.d.Admin.IssueProbeToken(req.Probe, req.Sites)
	if err != nil {
		return err
	}
	s.logger.Info("probe token issued", "admin", p.Probe, "probe", e.Probe, "sites", strings.Join(e.Sites, ","))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, IssuedToken{Token: tok, TokenInfo: s.tokenInfo(e)})
	return nil
}

// DecodeTokenRequest decodes and checks the body of POST
// /api/v1/admin/tokens: one JSON object with a valid probe name and 1 to
// MaxTokenSites distinct valid site ids, nothing else.
func DecodeTokenRequest(body []byte) (TokenRequest, error) {
	var req TokenRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &typeErr):
			return req, fibremon.FieldErrorf(typeErr.Field, "want %s", typeErr.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return req, fibremon.FieldErrorf(field, "unknown field (want probe, sites)")
		}
		return req, fibremon.FieldErrorf("", "not a JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fibremon.FieldErrorf("", "data after the JSON object")
	}
	switch {
	case req.Probe == "":
		return req, fibremon.FieldErrorf("probe", "missing")
	case !fibremon.ValidID(req.Probe):
		return req, fibremon.FieldErrorf("probe", "invalid probe name %.80q (lower-case letters, digits, '_', '.', '-')", req.Probe)
	case len(req.Sites) == 0:
		return req, fibremon.FieldErrorf("sites", "missing: a probe token needs at least one site")
	case len(req.Sites) > MaxTokenSites:
		return req, fibremon.FieldErrorf("sites", "%d sites; at most %d", len(req.Sites), MaxTokenSites)
	}
	for i, site := range req.Sites {
		if !fibremon.ValidID(site) {
			return req, fibremon.FieldErrorf(fmt.Sprintf("sites[%d]", i), "invalid site id %.80q", site)
		}
		if slices.Contains(req.Sites[:i], site) {
			return req, fibremon.FieldErrorf(fmt.Sprintf("sites[%d]", i), "site %q given twice", site)
		}
	}
	return req, nil
}

// postReload reloads the data set: ?comune= names one comune (a slug, an
// ISTAT code or a name); without it, a comune's admin reloads its own
// comune and the consortium's admin the whole data set and the tokens
// file.
func (s *Server) postReload(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	for key := range v {
		if key != "comune" {
			return fibremon.FieldErrorf(key, "unknown parameter (want comune)")
		}
	}
	p := principal(r)
	slug := p.Comune
	if v.Has("comune") {
		_, comuni, err := s.scope(v)
		if err != nil {
			return err
		}
		slug = comuni[0].Comune().Slug
		if !p.MayAdminComune(slug) {
			return &fibremon.Error{Kind: fibremon.Forbidden, Field: "comune",
				Msg: fmt.Sprintf("admin token of %q is scoped to %s; it may not reload comune %s", p.Probe, p.Scope(), slug)}
		}
	}
	if err := s.d.Admin.Reload(slug); err != nil {
		if fibremon.KindOf(err) == fibremon.KindUnknown {
			err = fibremon.Errorf(fibremon.Invalid, "reload refused, previous data kept: %v", err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, ReloadResponse{Status: "reloaded", Comune: slug})
	return nil
}
