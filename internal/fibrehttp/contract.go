package fibrehttp

import (
	"context"
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

// getContracts serves GET /api/v1/contracts[?comune=].
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
	resp := ContractsResponse{Window: contract.Window, Contracts: []contract.Evaluation{}}
	evs := s.d.Contract.Evaluations()
	if v.Has("comune") {
		set, comuni, err := s.scope(v)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if ix, ok := set.SiteComune(e.SiteID); ok && ix == comuni[0] {
				resp.Contracts = append(resp.Contracts, e)
			}
		}
	} else if evs != nil {
		resp.Contracts = evs
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) getSiteContract(w http.ResponseWriter, r *http.Request) error {
	if s.d.Contract == nil {
		return fibremon.Errorf(fibremon.NotFound, "contract checks are not enabled")
	}
	e, err := s.d.Contract.Site(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, e)
	return nil
}
