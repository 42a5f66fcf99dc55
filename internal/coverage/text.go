package coverage

import (
	"fmt"
	"strings"
	"time"

	"fibremon"
	"fibremon/geo"
)

// Text renders the answer for people, in Italian ("it") or English.
func (a Answer) Text(lang string) string {
	it := lang == "it"
	tr := func(itText, enText string) string {
		if it {
			return itText
		}
		return enText
	}
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	switch a.Match {
	case MatchOutside:
		line("%s", tr("Fuori dall'area monitorata.", "Outside the monitored area."))
		return b.String()
	case MatchAmbiguous:
		line("%s", tr("Indirizzo ambiguo; forse intendevi:", "Ambiguous address; did you mean:"))
		for _, c := range a.Candidates {
			line("  - %s (%s)", c.Label, place(c.Hamlet, c.ComuneName))
		}
		a.syntheticNote(&b, tr)
		return b.String()
	}
	if a.Address == nil {
		line("%s", a.Message)
		return b.String()
	}
	where := a.Address.Label
	if p := place(a.Address.Hamlet, a.Address.ComuneName); p != "" {
		where += ", " + p
	}
	if a.DistanceM != nil {
		where += fmt.Sprintf(tr(" (civico più vicino, a %.0f m)", " (nearest civic, %.0f m away)"), *a.DistanceM)
	}
	line("%s", where)
	line("  %s", a.verdict(tr))
	line("  %s %s", tr("Classe:", "Class:"), className(a.Class, tr))
	if a.WhiteArea {
		line("  %s", tr("Area bianca del piano banda ultralarga.", "White area of the ultra-broadband plan."))
	} else if a.AreaClass != "" {
		names := map[geo.AreaClass]string{geo.Grey: tr("grigia", "grey"), geo.Black: tr("nera", "black")}
		line("  %s %s", tr("Area:", "Area:"), names[a.AreaClass])
	}
	if len(a.NearestProbes) > 0 {
		line("  %s", tr("Sonde più vicine:", "Nearest probes:"))
		for _, p := range a.NearestProbes {
			speeds := tr("nessuna misura", "no measurement")
			if p.DownloadMbps != nil {
				speeds = fmt.Sprintf("%.0f", *p.DownloadMbps)
				if p.UploadMbps != nil {
					speeds += fmt.Sprintf("/%.0f", *p.UploadMbps)
				}
				speeds += " Mbit/s"
				if p.RTTMs != nil {
					speeds += fmt.Sprintf(", %.1f ms", *p.RTTMs)
				}
			}
			if p.Emulated {
				speeds += tr(" [linea emulata: misure di un simulatore]", " [emulated line: measurements of a simulator]")
			}
			line("    %s (%s, %.0f m, %s): %s", p.Name, p.Technology, p.DistanceM, p.State, speeds)
		}
	}
	a.syntheticNote(&b, tr)
	return b.String()
}

func (a Answer) syntheticNote(b *strings.Builder, tr func(string, string) string) {
	if a.Synthetic {
		fmt.Fprintln(b, "  "+tr("Attenzione: dati sintetici, non il registro reale dei civici.",
			"Note: synthetic data, not the real civic register."))
	}
}

func (a Answer) verdict(tr func(string, string) string) string {
	since := a.StateSince
	if t, err := time.Parse(time.DateOnly, since); err == nil {
		since = t.Format(tr("02/01/2006", "2 January 2006"))
	}
	switch {
	case a.Technology == fibremon.Unknown || a.Technology == fibremon.NoLine:
		return tr("Non coperto dalla nuova rete.", "Not covered by the new network.")
	case !a.Served:
		return fmt.Sprintf(tr("Copertura %s prevista (fino a %.0f/%.0f Mbit/s), stato: %s dal %s.",
			"%s coverage planned (up to %.0f/%.0f Mbit/s), state: %s since %s."),
			a.Technology, a.MaxDownloadMbps, a.MaxUploadMbps, a.State, since)
	}
	return fmt.Sprintf(tr("Coperto in %s fino a %.0f/%.0f Mbit/s, %s dal %s.", "Covered by %s up to %.0f/%.0f Mbit/s, %s since %s."),
		a.Technology, a.MaxDownloadMbps, a.MaxUploadMbps, stateName(a.State, tr), since)
}

func stateName(s fibremon.RolloutState, tr func(string, string) string) string {
	switch s {
	case fibremon.RolloutActive:
		return tr("attivo", "active")
	case fibremon.RolloutReadyForSale:
		return tr("in commercializzazione", "ready for sale")
	}
	return string(s)
}

func className(c geo.Class, tr func(string, string) string) string {
	switch c {
	case geo.VHCN:
		return tr("VHCN (rete ad altissima capacità)", "VHCN (very high capacity network)")
	case geo.NGA:
		return tr("NGA (almeno 30 Mbit/s)", "NGA (at least 30 Mbit/s)")
	case geo.Adequate:
		return tr("adeguata (almeno 20 Mbit/s)", "adequate (at least 20 Mbit/s)")
	}
	return tr("sotto soglia (meno di 20 Mbit/s)", "below threshold (under 20 Mbit/s)")
}

// place names a civic's hamlet and comune: "Ripalta Nuova (Ripalta
// Cremasca)", or just "Crema" when the hamlet is the comune's namesake.
func place(hamlet, comune string) string {
	switch {
	case comune == "" || hamlet == comune:
		return hamlet
	case hamlet == "":
		return comune
	}
	return hamlet + " (" + comune + ")"
}
