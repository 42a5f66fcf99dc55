package geo

import "fibremon"

// Class is a line's broadband class by the Italian and EU definitions:
// VHCN as in the BEREC guidelines on very high capacity networks used by
// the 2021 Infratel/AGCOM mapping, NGA as in the State-aid broadband
// guidelines, "adequate" as in AGCOM 309/23/CONS.
type Class string

const (
	// VHCN, very high capacity network (BEREC/AGCOM 2021 mapping): FTTH or
	// FTTB, or at least 1 Gbit/s down and 200 Mbit/s up.
	VHCN Class = "vhcn"
	// NGA, next-generation access: at least 30 Mbit/s down.
	NGA Class = "nga"
	// Adequate: at least 20 Mbit/s down, the "adequate broadband" speed of
	// the universal service (AGCOM 309/23/CONS).
	Adequate Class = "adequate"
	// Below: under 20 Mbit/s down, no line, or not served yet.
	Below Class = "below"
)

// Classes lists the classes, best first.
var Classes = []Class{VHCN, NGA, Adequate, Below}

// Valid reports whether c is a known class.
func (c Class) Valid() bool {
	for _, x := range Classes {
		if c == x {
			return true
		}
	}
	return false
}

// Download thresholds of the classes, Mbit/s.
const (
	VHCNDownMbps     = 1000
	VHCNUpMbps       = 200
	NGADownMbps      = 30
	AdequateDownMbps = 20
)

// Classify returns the class of a line of technology t with the given
// declared maximum speeds in Mbit/s. FTTH and FTTB are VHCN by technology,
// whatever speed is sold on them; any other technology is classed by its
// speeds (FWA or FTTC reaching 1000/200 would be VHCN too). The mapping's
// further VHCN condition, RTT ≤ 10 ms, is not part of declared coverage
// data and is not checked. NoLine is Below.
func Classify(t fibremon.Technology, downMbps, upMbps float64) Class {
	switch {
	case t == fibremon.NoLine:
		return Below
	case t == fibremon.FTTH || t == fibremon.FTTB:
		return VHCN
	case downMbps >= VHCNDownMbps && upMbps >= VHCNUpMbps:
		return VHCN
	case downMbps >= NGADownMbps:
		return NGA
	case downMbps >= AdequateDownMbps:
		return Adequate
	}
	return Below
}
