package main

import (
	"time"

	"github.com/paulmach/orb"
)

// The model: every number below is a modelling choice unless its comment
// names a source. data/README.md explains each one.

const (
	istatCode = "019081"
	// seed of the PCG streams; the ISTAT code of the comune, for lack of a
	// better reason.
	seed    = 19081
	version = "v1"

	// totalUnits is the number of real-estate units (unità immobiliari)
	// over all civics: the ESTIMATE of ripalta_cremasca_fibre_status.json
	// (~3,400 residents / ~2.3 persons per household + non-residential).
	totalUnits = 1700

	// The May 2022 figures (La Provincia di Cremona, "Io ti do l'antenna, tu
	// la fibra ottica a tutti"): 126 civic numbers still uncovered, then 78
	// served by FWA and 48 by FTTH.
	uncovered2022 = 126
	fwa2022       = 78
	ftth2022      = uncovered2022 - fwa2022

	// minSpacing is the least distance, in metres, between two civics.
	minSpacing = 10.0

	// Coverage columns. Open Fiber's public white-area network: FTTH 1 Gbit/s
	// down, up to 300 Mbit/s up; FWA 100/50 Mbit/s (Infratel, Piano BUL aree
	// bianche).
	ftthDown, ftthUp = 1000, 300
	fwaDown, fwaUp   = 100, 50
	operatorFTTH     = "Open Fiber"
	operatorFWA      = "Open Fiber (FWA)"
)

// source is the source column of every generated row.
var source = "synthetic: fibremon data/generate " + version + ", seed " + itoa(seed)

// refDate is the date the generated states describe: every date in the
// output is on or before it.
var refDate = day(2026, 11, 1)

// plannedDate is when every civic entered the white-area plan: the end of
// the month in which Infratel awarded BUL Gara 1 (Lombardia) to Open Fiber,
// June 2017 (fibre_rollout_timeline.csv). The day is a modelling choice.
var plannedDate = day(2017, 6, 30)

// Metres per degree at latitude 45.33° N (WGS84 ellipsoid series), fixed
// constants so that no trigonometry (which may differ between platforms)
// enters the output.
const (
	mPerDegLat = 111138.19
	mPerDegLon = 78392.97
)

// origin is the point that the generator's metric plane (x east, y north,
// metres) is centred on: near the middle of the comune.
var origin = orb.Point{9.68, 45.33}

// xy is a point in metres east (X) and north (Y) of a reference point.
type xy struct{ X, Y float64 }

// street is a synthetic street line. Its civics lie on both sides, odd
// numbers on the left and even on the right, counting from pts[0] (the
// Italian convention: numbering starts at the end nearest the centre). A
// oneSide street (a piazza drawn clockwise) has civics on its left only,
// numbered 1, 2, 3, ...
type street struct {
	typ, name string
	pts       []xy // metres from the zone's centre
	oneSide   bool
	real      bool // the name is sourced (see data/README.md)
}

// zone is a group of civics around a centre: a hamlet, or the small
// artisan zone in open country.
type zone struct {
	name   string // hamlet name, or "" outside the hamlets
	hamlet bool   // name is a hamlet of hamlets.geojson (its centre comes from there)
	centre orb.Point
	// units is the number of units the zone's civics add up to; 0 for the
	// seat, which takes what the others leave of totalUnits.
	units int
	// Condominiums (4-12 units) appear within condoRadius metres of the
	// centre with probability condoProb; houses are bigger within
	// coreRadius.
	condoProb, condoRadius, coreRadius float64
	business                           bool // units are workshops: 1 or 2 each
	design                             time.Time
	// late is how many of the zone's outermost civics were among the 48
	// that FTTH reached only in 2022.
	late    int
	streets []street
}

func s(typ, name string, real bool, pts ...xy) street {
	return street{typ: typ, name: name, pts: pts, real: real}
}

// zones returns the zones in output order. Hamlet centres are filled in
// from hamlets.geojson.
func zones() []*zone {
	return []*zone{
		{
			name: "Ripalta Nuova", hamlet: true,
			condoProb: 0.12, condoRadius: 350, coreRadius: 300,
			design: day(2019, 6, 3), late: 20,
			streets: []street{
				// Via Roma: main street (ilnuovotorrazzo.it 2018), town hall at
				// no. 5 (pagoPA IO), leads north to the roundabout on the
				// provincial road (crema-news.it 2025-07-03).
				s("Via", "Roma", true, xy{55, 210}, xy{90, 330}, xy{130, 640}),
				// Piazza Dante: main square (ilnuovotorrazzo.it 2018), drawn
				// clockwise so that its civics face outwards.
				{typ: "Piazza", name: "Dante", real: true, oneSide: true,
					pts: []xy{{-30, 140}, {-30, 205}, {60, 205}, {60, 140}, {-25, 140}}},
				// Via Borghetto runs along the south side of the church of San
				// Cristoforo (comune website; cremaonline.it 2014-07-15).
				s("Via", "Borghetto", true, xy{-250, 40}, xy{330, 25}),
				// Via Guglielmo Marconi leaves via Borghetto for the fields;
				// its last stretch (strada del Borlengo) leads to Moscazzano
				// (cremaonline.it 2014-07-15; ilnuovotorrazzo.it 2020-06-13).
				s("Via", "Guglielmo Marconi", true, xy{110, 30}, xy{135, -300}, xy{180, -750}),
				// via 24 Maggio "a Ripalta" (ilnuovotorrazzo.it 2020-02-22).
				s("Via", "24 Maggio", true, xy{-450, 420}, xy{90, 405}),
				// via Pombioli, "alle porte di Ripalta Nuova" (crema-news.it
				// 2024-07-16).
				s("Via", "Pombioli", true, xy{-255, 45}, xy{-750, 95}),
				s("Via", "dei Tigli", false, xy{-140, 60}, xy{-165, 530}),
				s("Via", "dei Platani", false, xy{-620, -80}, xy{-630, 560}),
				s("Via", "delle Rose", false, xy{-400, -90}, xy{-410, 600}),
				s("Via", "dei Pioppi", false, xy{-600, -250}, xy{100, -235}),
				s("Via", "dei Salici", false, xy{-450, -480}, xy{140, -470}),
				s("Via", "degli Olmi", false, xy{-250, 35}, xy{-260, -720}),
				s("Via", "dei Ciliegi", false, xy{135, -150}, xy{560, -160}),
				// The road east to the Serio bridge (name synthetic).
				s("Via", "del Serio", false, xy{330, 25}, xy{640, 115}),
				s("Via", "delle Viole", false, xy{150, 160}, xy{470, 300}),
				s("Via", "dei Noci", false, xy{150, -420}, xy{600, -430}),
				s("Via", "delle Querce", false, xy{100, 480}, xy{300, 560}),
			},
		},
		{
			name: "Bolzone", hamlet: true, units: 320,
			condoProb: 0.06, condoRadius: 200, coreRadius: 200,
			design: day(2019, 7, 1), late: 12,
			streets: []street{
				s("Via", "dei Mandorli", false, xy{-450, 10}, xy{460, -30}),
				s("Via", "degli Aceri", false, xy{10, -420}, xy{-10, 430}),
				s("Via", "delle Acacie", false, xy{-235, -260}, xy{-205, 390}),
				s("Via", "dei Frassini", false, xy{100, -125}, xy{420, -125}),
				s("Via", "delle Betulle", false, xy{-420, 210}, xy{320, 230}),
				s("Via", "dei Castagni", false, xy{-420, -210}, xy{360, -260}),
				s("Via", "dei Larici", false, xy{260, -420}, xy{250, 380}),
			},
		},
		{
			name: "San Michele", hamlet: true, units: 160,
			condoProb: 0.05, condoRadius: 150, coreRadius: 150,
			design: day(2019, 7, 29), late: 8,
			streets: []street{
				// The church of San Michele Arcangelo is at "V. Bonzi, 1"
				// (diciamocisi.it).
				s("Via", "Bonzi", true, xy{5, -5}, xy{-350, 70}),
				// via Partigiani, from San Michele to the Ripalta-Capergnanica
				// road (crema-news.it 2019-12-11).
				s("Via", "Partigiani", true, xy{20, -20}, xy{60, -650}),
				s("Via", "delle Camelie", false, xy{-260, -125}, xy{360, -105}),
				s("Via", "delle Magnolie", false, xy{-220, 190}, xy{320, 210}),
				s("Via", "delle Ortensie", false, xy{-300, -300}, xy{250, -320}),
			},
		},
		{
			name: "Zappello", hamlet: true, units: 180,
			condoProb: 0.04, condoRadius: 150, coreRadius: 150,
			design: day(2019, 9, 16), late: 8,
			streets: []street{
				// via Alchina, along the roggia and the cycle path to Bolzone
				// (ilnuovotorrazzo.it 2022-10-24).
				s("Via", "Alchina", true, xy{0, 0}, xy{-110, 420}),
				// The Credera-Crema road through Zappello (name synthetic).
				s("Via", "dei Girasoli", false, xy{-30, -100}, xy{0, 0}, xy{160, 460}),
				s("Via", "dei Tulipani", false, xy{10, -40}, xy{470, -90}),
				s("Via", "delle Margherite", false, xy{60, 115}, xy{460, 95}),
				s("Via", "dei Gerani", false, xy{-40, 300}, xy{320, 380}),
			},
		},
		{
			// A few workshops in open country, around the point sites.csv
			// gives Valserio (itself an estimate); no hamlet.
			name: "", centre: orb.Point{9.684, 45.3265}, units: 14, business: true,
			design: day(2019, 6, 17),
			streets: []street{
				s("Via", "dell'Artigianato", false, xy{-150, 30}, xy{200, -20}),
			},
		},
	}
}

// fixedCivics are civics with a sourced street and number, placed at a
// point chosen here (metres from the zone's centre) when no site gives one.
var fixedCivics = []struct {
	zone, typ, name, number string
	at                      xy
}{
	// Church of San Michele Arcangelo, "V. Bonzi, 1" (diciamocisi.it); the
	// point is the hamlet's point moved 20 m, not a geocoded address.
	{"San Michele", "Via", "Bonzi", "1", xy{-15, -15}},
}

// Farmsteads (cascine) in open country: each is its own odonym ("Cascina
// <name>") with one or two civics. All names are generic and synthetic.
var cascinaNames = []string{
	"Alta", "Bassa", "Bianca", "Boschetto", "Brolo", "Campagna", "Cerreto",
	"Chiosa", "Colombara", "Dosso", "Fontana", "Fornace", "Gelso", "Nuova",
	"Olmo", "Palazzina", "Pioppa", "Prato", "Roggia", "Ronco", "Rossa",
	"Vecchia", "Vigna",
}

const (
	cascine = 22 // farmsteads besides those that sites.csv needs
	// cascinaClearance: metres a farmstead keeps from the centre of each
	// zone, from every hamlet civic, and from other farmsteads.
	cascinaFromCivic = 150.0
	cascinaFromOther = 350.0
	// zappelloFWA: of the 78 FWA civics, how many are the outermost of
	// Zappello; the farmsteads are all FWA; the rest are the easternmost
	// civics of Ripalta Nuova, towards the Serio bridge.
	zappelloFWA = 26
)

// cascinaClearance is how far a farmstead keeps from each zone's centre.
var cascinaClearance = map[string]float64{
	"Ripalta Nuova": 950, "Bolzone": 600, "San Michele": 700, "Zappello": 600, "": 350,
}

// greyCentre and greyRadius: civics of Ripalta Nuova this close to Piazza
// Dante are classed grey (a private FTTC network), the rest white. A
// modelling choice: no per-civic classification was found.
var (
	greyCentre = xy{15, 170} // metres from Ripalta Nuova's point
	greyRadius = 150.0
)
