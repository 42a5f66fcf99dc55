package fibrehttp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"fibremon"
	"fibremon/internal/contract"
)

// PathContracts lists the latest contract check of every site;
// PathSites + "/{id}/contract" checks one site afresh.
const PathContracts = "/api/v1/contracts"

// ContractChecker checks sites' lines against their contracts.
type ContractChecker interface {
	// Site evaluates one site afresh; NotFound for an unknown site.
	Site(ctx context.Context, id string) (contract.Evaluation, error)
	// Evaluations returns the latest evaluation of every site.
	Evaluations() []contract.Evaluation
}

// ContractsResponse answers GET /api/v1/contracts.
type ContractsResponse struct {
	Window    int                   `json:"window"`
	Contracts []contract.Evaluation `json:"contracts"`
}

func (s *Server) contractRoutes(r chi.Router) {
	// Contract figures and the tests that missed them are a business's
	// own: a read token, unless the comune publishes everything.
	const what = "contracts and their evidence"
	r.Get(PathContracts, s.handle(s.needRead(what, s.getContracts)))
	r.Get(PathSites+"/{id}/contract", s.handle(s.needRead(what, s.getSiteContract)))
}

// getContracts serves GET /api/v1/contracts[?comune=]: the latest
// evaluation of every site the caller may read (a token scoped to a comune:
// its comune's sites), or of one comune's sites.
func (s *Server) getContracts(w http.ResponseWriter, r *http.Request) error {
	if s.d.Contract == nil {
		return fibremon.Errorf(fibremon.NotFound, "contract checks are not enabled")
	}
	v := r.URL.Query()
	for key := range v {
		if key != "comune" {
			return fibremon.FieldErrorf(key, "unknown parameter (want comune)")
		}
	}
	p := principal(r)
	only := "" // every comune
	if v.Has("comune") {
		_, comuni, err := s.scope(v)
		if err != nil {
			return err
		}
		only = comuni[0].Comune().Slug
		if !s.fullView(r, only) {
			return errOtherComune(p, "comune", "the contracts of comune "+only)
		}
	} else if !s.d.Access.PublicRead && p != nil {
		only = p.Comune
	}
	resp := ContractsResponse{Window: contract.Window, Contracts: []contract.Evaluation{}}
	for _, e := range s.d.Contract.Evaluations() {
		if c, _ := s.siteComune(e.SiteID); only == "" || c == only {
			resp.Contracts = append(resp.Contracts, e)
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getSiteContract(w http.ResponseWriter, r *http.Request) error {
	if s.d.Contract == nil {
		return fibremon.Errorf(fibremon.NotFound, "contract checks are not enabled")
	}
	id := chi.URLParam(r, "id")
	// The checker knows the data set's sites only: one it does not place
	// is a 404 below.
	if c, ok := s.siteComune(id); ok && !s.fullView(r, c) {
		return errOtherComune(principal(r), "id", fmt.Sprintf("the contract of site %.80q of comune %s", id, c))
	}
	e, err := s.d.Contract.Site(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
