package fibrehttp

import (
	"net/http"
	"time"

	"fibremon"
	"fibremon/geo"
)

// PathComuni lists the comuni of the data set with their figures.
const PathComuni = "/api/v1/comuni"

// ComuneFigures is one comune (or the consortium's totals) in GET
// /api/v1/comuni.
type ComuneFigures struct {
	Slug      string `json:"slug,omitempty"` // absent for the totals
	Name      string `json:"name"`
	ISTATCode string `json:"istat_code,omitempty"`
	// Status is "ok", or "stale" when the comune's files failed to load
	// at the last (re)load and its previous version is served, or
	// "failed" when it could not be loaded at all (then only Dir and
	// LoadError are set).
	Status    string `json:"status"`
	Dir       string `json:"dir,omitempty"`
	LoadError string `json:"load_error,omitempty"` // full view only

	Hamlets        int     `json:"hamlets"`
	Civics         int     `json:"civics"`
	Units          int     `json:"units"`
	ServedUnits    int     `json:"served_units"` // ready_for_sale or active now
	ServedShare    float64 `json:"served_share"`
	FTTHReadyUnits int     `json:"ftth_ready_units"`
	FTTHReadyShare float64 `json:"ftth_ready_share"`
	WhiteAreaUnits int     `json:"white_area_units"`
	// WhiteAreaLeftUnits are units in white areas not served yet: what
	// the BUL plan still has to reach.
	WhiteAreaLeftUnits int  `json:"white_area_left_units"`
	Synthetic          bool `json:"synthetic"` // figures from synthetic registers

	Sites       int `json:"sites"`
	SitesUp     int `json:"sites_up"`
	SitesDown   int `json:"sites_down"`
	SitesSilent int `json:"sites_silent"`
}

// ComuniResponse is the body of GET /api/v1/comuni.
type ComuniResponse struct {
	GeneratedAt time.Time       `json:"generated_at"`
	Attribution string          `json:"attribution"`
	Consortium  ComuneFigures   `json:"consortium"`
	Comuni      []ComuneFigures `json:"comuni"`
}

// getComuni serves GET /api/v1/comuni.
func (s *Server) getComuni(w http.ResponseWriter, r *http.Request) error {
	if len(r.URL.Query()) > 0 {
		return fibremon.FieldErrorf("", "GET %s takes no parameters", PathComuni)
	}
	set, err := s.set()
	if err != nil {
		return err
	}
	now := s.d.Now()
	sts := s.d.Status.Statuses()
	resp := ComuniResponse{GeneratedAt: now.UTC(), Comuni: []ComuneFigures{}}
	total := ComuneFigures{Name: geo.ConsortiumName, Status: "ok"}
	bySlug := map[string]int{}
	for _, ix := range set.Comuni() {
		c := ix.Comune()
		if resp.Attribution == "" {
			resp.Attribution = c.Attribution
		}
		cf := comuneFigures(c, now)
		for _, st := range sts {
			if st.Comune == c.Slug {
				cf.countSite(st.State)
			}
		}
		bySlug[c.Slug] = len(resp.Comuni)
		resp.Comuni = append(resp.Comuni, cf)
		total.add(cf)
	}
	for _, rep := range set.Reports() {
		if rep.Err == nil {
			continue
		}
		msg := ""
		// A comune's token reads its own load errors; one that never
		// loaded has no slug, and only the consortium's read it.
		if s.fullView(r, rep.Slug) {
			msg = rep.Err.Error()
		}
		if i, ok := bySlug[rep.Slug]; ok && rep.Kept {
			resp.Comuni[i].Status, resp.Comuni[i].Dir, resp.Comuni[i].LoadError = "stale", rep.Dir, msg
			continue
		}
		resp.Comuni = append(resp.Comuni, ComuneFigures{Name: rep.Dir, Dir: rep.Dir, Status: "failed", LoadError: msg})
	}
	total.shares()
	resp.Consortium = total
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func comuneFigures(c *geo.Comune, now time.Time) ComuneFigures {
	cf := ComuneFigures{Slug: c.Slug, Name: c.Name, ISTATCode: c.ISTATCode, Status: "ok",
		Hamlets: len(c.Hamlets), Sites: len(c.Sites)}
	for i := range c.Addresses {
		a := &c.Addresses[i]
		cf.Civics++
		cf.Units += a.Units
		served := a.Served(now)
		if served {
			cf.ServedUnits += a.Units
			if a.Technology == fibremon.FTTH {
				cf.FTTHReadyUnits += a.Units
			}
		}
		if a.AreaClass == geo.White {
			cf.WhiteAreaUnits += a.Units
			if !served {
				cf.WhiteAreaLeftUnits += a.Units
			}
		}
		cf.Synthetic = cf.Synthetic || a.Synthetic
	}
	cf.shares()
	return cf
}

func (cf *ComuneFigures) countSite(st fibremon.State) {
	switch st {
	case fibremon.StateUp:
		cf.SitesUp++
	case fibremon.StateDown:
		cf.SitesDown++
	case fibremon.StateSilent:
		cf.SitesSilent++
	}
}

func (cf *ComuneFigures) add(o ComuneFigures) {
	cf.Hamlets += o.Hamlets
	cf.Civics += o.Civics
	cf.Units += o.Units
	cf.ServedUnits += o.ServedUnits
	cf.FTTHReadyUnits += o.FTTHReadyUnits
	cf.WhiteAreaUnits += o.WhiteAreaUnits
	cf.WhiteAreaLeftUnits += o.WhiteAreaLeftUnits
	cf.Synthetic = cf.Synthetic || o.Synthetic
	cf.Sites += o.Sites
	cf.SitesUp += o.SitesUp
	cf.SitesDown += o.SitesDown
	cf.SitesSilent += o.SitesSilent
}

func (cf *ComuneFigures) shares() {
	if cf.Units > 0 {
		cf.ServedShare = round4(float64(cf.ServedUnits) / float64(cf.Units))
		cf.FTTHReadyShare = round4(float64(cf.FTTHReadyUnits) / float64(cf.Units))
	}
}

func round4(v float64) float64 { return float64(int64(v*10000+0.5)) / 10000 }
