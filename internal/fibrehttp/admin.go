package fibrehttp

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"fibremon"
	"fibremon/internal/auth"
)

// Admin API paths. Every request needs an admin token (see
// `fibremon token add --admin`).
const (
	PathAdminTokens = "/api/v1/admin/tokens"
	PathAdminReload = "/api/v1/admin/reload"
)

// AdminOps are the operations of the admin API.
type AdminOps interface {
	// Tokens lists the issued tokens (hashes only).
	Tokens() []auth.Entry
	// RevokeTokens removes the tokens of probe (only the one whose SHA-256
	// starts with sha256Prefix when it is not empty), persists the change
	// and returns how many were removed.
	RevokeTokens(probe, sha256Prefix string) (int, error)
	// Reload reads the data set and the tokens file again, as SIGHUP does.
	Reload() error
}

// TokenInfo is one token as the admin API lists it: never the token, and
// only a prefix of its hash.
type TokenInfo struct {
	Probe        string    `json:"probe"`
	Role         string    `json:"role"`
	Sites        []string  `json:"sites"`
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

func (s *Server) adminRoutes(r chi.Router) {
	r.Get(PathAdminTokens, s.handle(s.admin(s.getTokens)))
	r.Delete(PathAdminTokens+"/{probe}", s.handle(s.admin(s.deleteTokens)))
	r.Post(PathAdminReload, s.handle(s.admin(s.postReload)))
}

// admin wraps h so that it runs only for an admin token.
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
		s.logger.Info("admin request", "admin", p.Probe, "method", r.Method, "path", r.URL.Path)
		return h(w, r)
	}
}

func (s *Server) getTokens(w http.ResponseWriter, _ *http.Request) error {
	resp := TokensResponse{Tokens: []TokenInfo{}}
	for _, e := range s.d.Admin.Tokens() {
		role := e.Role
		if role == "" {
			role = "probe"
		}
		sites := e.Sites
		if sites == nil {
			sites = []string{}
		}
		resp.Tokens = append(resp.Tokens, TokenInfo{Probe: e.Probe, Role: role, Sites: sites,
			Created: e.Created, SHA256Prefix: e.SHA256[:min(12, len(e.SHA256))]})
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) deleteTokens(w http.ResponseWriter, r *http.Request) error {
	n, err := s.d.Admin.RevokeTokens(chi.URLParam(r, "probe"), r.URL.Query().Get("sha256"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RevokeResponse{Revoked: n})
	return nil
}

func (s *Server) postReload(w http.ResponseWriter, _ *http.Request) error {
	if err := s.d.Admin.Reload(); err != nil {
		if fibremon.KindOf(err) == fibremon.KindUnknown {
			err = fibremon.Errorf(fibremon.Invalid, "reload refused, previous data kept: %v", err)
		}
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	return nil
}
