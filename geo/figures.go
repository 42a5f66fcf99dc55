package geo

import (
	"time"

	"fibremon"
)

// ScopeComune is the Scope of the Figures of the whole comune.
const ScopeComune = "comune"

// Count is a number of civics and of the real-estate units at them.
type Count struct {
	Addresses int `json:"addresses"`
	Units     int `json:"units"`
}

func (c *Count) add(a *Address) {
	c.Addresses++
	c.Units += a.Units
}

// Figures are the coverage counts of the comune or of one hamlet at a time,
// the numbers the service exports as gauges. Every map holds every key, so
// a gauge per key always exists:
//
//   - ByTechnology counts the declared technology of the new network,
//     whatever its state; key fibremon.Unknown ("") counts civics without
//     coverage data.
//   - ByState counts the state each civic was in at the time (by its
//     StateDates); key "" counts civics with no state reached by then.
//   - ByClass counts Address.ClassAt: a civic not served at the time is
//     Below, whatever is planned for it.
//
// The maps of a scope each sum to Addresses and Units.
type Figures struct {
	Scope        string                          `json:"scope"` // ScopeComune or a hamlet's name
	Addresses    int                             `json:"addresses"`
	Units        int                             `json:"units"`
	ByTechnology map[fibremon.Technology]Count   `json:"by_technology"`
	ByState      map[fibremon.RolloutState]Count `json:"by_state"`
	ByClass      map[Class]Count                 `json:"by_class"`
	// WhiteAreaUnits are the units at civics classed white (AreaClass);
	// WhiteAreaShare is their share of Units (0 when Units is 0).
	WhiteAreaUnits int     `json:"white_area_units"`
	WhiteAreaShare float64 `json:"white_area_share"`
	// Synthetic is true when any civic counted is synthetic: the figures
	// then describe invented data and must say so.
	Synthetic bool `json:"synthetic"`
}

func newFigures(scope string) Figures {
	f := Figures{
		Scope:        scope,
		ByTechnology: map[fibremon.Technology]Count{fibremon.Unknown: {}},
		ByState:      map[fibremon.RolloutState]Count{"": {}},
		ByClass:      map[Class]Count{},
	}
	for _, t := range fibremon.Technologies {
		f.ByTechnology[t] = Count{}
	}
	for _, s := range fibremon.RolloutStates {
		f.ByState[s] = Count{}
	}
	for _, c := range Classes {
		f.ByClass[c] = Count{}
	}
	return f
}

func (f *Figures) add(a *Address, at time.Time) {
	f.Addresses++
	f.Units += a.Units
	add := func(c Count) Count { c.add(a); return c }
	f.ByTechnology[a.Technology] = add(f.ByTechnology[a.Technology])
	s, _, _ := a.StateAt(at)
	f.ByState[s] = add(f.ByState[s])
	cl := a.ClassAt(at)
	f.ByClass[cl] = add(f.ByClass[cl])
	if a.AreaClass == White {
		f.WhiteAreaUnits += a.Units
	}
	f.Synthetic = f.Synthetic || a.Synthetic
}

// Figures returns the coverage figures at time at: the comune first, then
// each hamlet in c.Hamlets order (a civic counts in the hamlet its Hamlet
// field names). A comune without addresses gives zero figures.
func (c *Comune) Figures(at time.Time) []Figures {
	out := make([]Figures, 0, 1+len(c.Hamlets))
	out = append(out, newFigures(ScopeComune))
	pos := make(map[string]int, len(c.Hamlets))
	for _, h := range c.Hamlets {
		pos[h.Name] = len(out)
		out = append(out, newFigures(h.Name))
	}
	for i := range c.Addresses {
		a := &c.Addresses[i]
		out[0].add(a, at)
		if j, ok := pos[a.Hamlet]; ok {
			out[j].add(a, at)
		}
	}
	for i := range out {
		if out[i].Units > 0 {
			out[i].WhiteAreaShare = float64(out[i].WhiteAreaUnits) / float64(out[i].Units)
		}
	}
	return out
}

// TimelinePoint is the rollout at the end of one month.
type TimelinePoint struct {
	Month string `json:"month"` // "2021-03"
	// ByState counts the state of each civic at the month's end; key ""
	// counts civics with no state reached yet. Every key is present.
	ByState map[fibremon.RolloutState]Count `json:"by_state"`
	// FTTHReadyUnits are the units at civics with declared technology FTTH
	// that are served (ready_for_sale or active) at the month's end;
	// FTTHReadyShare is their share of all units in scope.
	FTTHReadyUnits int     `json:"ftth_ready_units"`
	FTTHReadyShare float64 `json:"ftth_ready_share"`
	// ServedShare is the share of units served by any technology.
	ServedShare float64 `json:"served_share"`
}

// Timeline returns the rollout month by month, from the month of the
// earliest date in any civic's StateDates to the month of the latest, for
// the whole comune (hamlet "") or one hamlet. Each point is the state at
// the end of its month (UTC). It returns nil for an unknown hamlet or when
// no civic has a date.
func (c *Comune) Timeline(hamlet string) []TimelinePoint {
	var scope []*Address
	found := hamlet == ""
	for _, h := range c.Hamlets {
		found = found || h.Name == hamlet
	}
	if !found {
		return nil
	}
	var first, last time.Time
	units := 0
	for i := range c.Addresses {
		a := &c.Addresses[i]
		if hamlet != "" && a.Hamlet != hamlet {
			continue
		}
		scope = append(scope, a)
		units += a.Units
		for _, d := range a.StateDates {
			if first.IsZero() || d.Before(first) {
				first = d
			}
			if d.After(last) {
				last = d
			}
		}
	}
	if first.IsZero() {
		return nil
	}
	share := func(n int) float64 {
		if units == 0 {
			return 0
		}
		return float64(n) / float64(units)
	}
	var out []TimelinePoint
	month := time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	for !month.After(last) {
		next := month.AddDate(0, 1, 0)
		end := next.Add(-time.Nanosecond)
		p := TimelinePoint{Month: month.Format("2006-01"), ByState: map[fibremon.RolloutState]Count{"": {}}}
		for _, s := range fibremon.RolloutStates {
			p.ByState[s] = Count{}
		}
		served := 0
		for _, a := range scope {
			s, _, _ := a.StateAt(end)
			cnt := p.ByState[s]
			cnt.add(a)
			p.ByState[s] = cnt
			if servedState(s) {
				served += a.Units
				if a.Technology == fibremon.FTTH {
					p.FTTHReadyUnits += a.Units
				}
			}
		}
		p.FTTHReadyShare, p.ServedShare = share(p.FTTHReadyUnits), share(served)
		out = append(out, p)
		month = next
	}
	return out
}
