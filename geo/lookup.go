package geo

import (
	"cmp"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"fibremon"
)

// Limits of Lookup.
const (
	MaxQueryLength = 200 // bytes
	MaxMatches     = 10
)

// Match is a candidate address for a Lookup query, with a score in (0, 1]:
// 1 for the exact street and number.
type Match struct {
	Address *Address
	Score   float64
}

// street is a street of the index: its normalised full name ("via roma"),
// type ("via") and name ("roma"), and its civics sorted by number.
type street struct {
	full, typ, name string
	addrs           []int32 // into Comune.Addresses
}

func (ix *Index) buildStreets() {
	norm := streetNorm{}
	for i := range ix.c.Addresses {
		a := &ix.c.Addresses[i]
		full := norm.full(a.StreetType, a.StreetName)
		st, ok := ix.byFull[full]
		if !ok {
			st = &street{full: full, typ: NormaliseStreet(a.StreetType), name: NormaliseStreet(a.StreetName)}
			ix.byFull[full] = st
			ix.streets = append(ix.streets, st)
		}
		st.addrs = append(st.addrs, int32(i))
	}
	slices.SortFunc(ix.streets, func(a, b *street) int { return strings.Compare(a.full, b.full) })
	names, fulls := make([]string, len(ix.streets)), make([]string, len(ix.streets))
	ix.byName = make(map[string][]*street)
	for k, st := range ix.streets {
		st.addrs = slices.Clip(st.addrs)
		slices.SortStableFunc(st.addrs, func(i, j int32) int {
			return compareNumbers(ix.c.Addresses[i].Number, ix.c.Addresses[j].Number)
		})
		ix.byName[st.name] = append(ix.byName[st.name], st)
		names[k], fulls[k] = st.name, st.full
		if st.full != st.typ+" "+st.name {
			ix.irregular = append(ix.irregular, int32(k))
		}
	}
	ix.names, ix.fulls = newTypoIndex(names), newTypoIndex(fulls)

	// The places a query may name around the address: the comune, then
	// each hamlet, normalised once here rather than on every query.
	ix.places = [][]string{strings.Fields(NormaliseStreet(ix.c.Name))}
	for _, h := range ix.c.Hamlets {
		ix.places = append(ix.places, strings.Fields(NormaliseStreet(h.Name)))
	}
	ix.placeByFirst, ix.placeByLast = map[string][]int32{}, map[string][]int32{}
	for i, pl := range ix.places {
		if len(pl) > 0 {
			ix.placeByFirst[pl[0]] = append(ix.placeByFirst[pl[0]], int32(i))
			ix.placeByLast[pl[len(pl)-1]] = append(ix.placeByLast[pl[len(pl)-1]], int32(i))
		}
	}
}

// dedupe sorts ids and drops repeats.
func dedupe(ids []int32) []int32 {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// numberBase returns the numeric part of a canonical civic number (0 for SNC).
func numberBase(n string) int {
	end := 0
	for end < len(n) && n[end] >= '0' && n[end] <= '9' {
		end++
	}
	v, _ := strconv.Atoi(n[:end])
	return v
}

func compareNumbers(a, b string) int {
	return cmp.Or(cmp.Compare(numberBase(a), numberBase(b)), strings.Compare(a, b))
}

// query is a parsed Lookup query.
type query struct {
	street, typ, name string // normalised: "via roma", "via", "roma"
	number            string // canonical, "" when not given
	hamlet            string // a hamlet named in the query, "" if none
}

var (
	digitsRE      = regexp.MustCompile(`^[0-9]{1,5}$`)
	numberTokenRE = regexp.MustCompile(`^[0-9]{1,5}[a-z]{0,6}$`)
	suffixWords   = map[string]bool{"bis": true, "ter": true, "quater": true}
	numberWords   = map[string]bool{"n": true, "nr": true, "num": true, "numero": true, "civico": true}
	contextWords  = map[string]bool{"cr": true, "cremona": true, "italia": true, "italy": true, "it": true}
)

// parseQuery splits a free-text address into street, number and hamlet.
// With stripPlaces, the comune's and hamlets' names at either end are
// dropped (a hamlet is remembered); without, they stay part of the street
// ("Strada Zappello", "Via San Michele").
func (ix *Index) parseQuery(s string, stripPlaces bool) (query, error) {
	var q query
	toks := strings.Fields(NormaliseStreet(s))
	// Drop the comune, a hamlet, the postcode and province at either end:
	// "Via Roma 5, 26010 Ripalta Cremasca (CR)", "Bolzone, via roma 5".
	// Places are tried in order (the comune, then the hamlets), each once
	// per pass, against what is left of the query.
	for changed := true; changed && len(toks) > 0; {
		changed = false
		for i := ix.nextPlace(toks, -1, stripPlaces); i >= 0; i = ix.nextPlace(toks, i, stripPlaces) {
			pl := ix.places[i]
			if slices.Equal(toks[len(toks)-len(pl):], pl) {
				toks = toks[:len(toks)-len(pl)]
			} else {
				toks = toks[len(pl):]
			}
			changed = true
			if i > 0 && q.hamlet == "" {
				q.hamlet = ix.c.Hamlets[i-1].Name
			}
		}
		if n := len(toks); n > 1 && contextWords[toks[n-1]] {
			toks, changed = toks[:n-1], true
		}
		// A postcode: five digits after the civic number.
		if n := len(toks); n > 2 && len(toks[n-1]) == 5 && digitsRE.MatchString(toks[n-1]) && numberTokenRE.MatchString(toks[n-2]) {
			toks, changed = toks[:n-1], true
		}
	}
	n := len(toks)
	switch {
	case n >= 3 && (len(toks[n-1]) == 1 && toks[n-1] >= "a" && toks[n-1] <= "z" || suffixWords[toks[n-1]]) && digitsRE.MatchString(toks[n-2]):
		q.number, toks = toks[n-2]+toks[n-1], toks[:n-2]
	case n >= 2 && numberTokenRE.MatchString(toks[n-1]):
		q.number, toks = toks[n-1], toks[:n-1]
	case n >= 2 && toks[n-1] == "snc":
		q.number, toks = "snc", toks[:n-1]
	}
	if q.number != "" {
		num, err := canonicalNumber(q.number)
		if err != nil {
			return q, fibremon.FieldErrorf("address", "%v", err)
		}
		q.number = num
		if n := len(toks); n > 1 && numberWords[toks[n-1]] {
			toks = toks[:n-1]
		}
	}
	if len(toks) == 0 || !hasLetter(strings.Join(toks, "")) {
		return q, fibremon.FieldErrorf("address", "no street name in %.60q", s)
	}
	q.street = strings.Join(toks, " ")
	q.name = q.street
	if len(toks) > 1 && streetTypes[toks[0]] {
		q.typ, q.name = toks[0], strings.Join(toks[1:], " ")
	}
	return q, nil
}

// nextPlace returns the first place after place after that toks (with
// fewer tokens than it) begins or ends with, or -1. Only the places whose
// first token is toks' first or whose last is toks' last can match, and
// those are looked up, not scanned.
func (ix *Index) nextPlace(toks []string, after int, stripPlaces bool) int {
	if !stripPlaces || len(toks) == 0 {
		return -1
	}
	best := -1
	for _, list := range [][]int32{ix.placeByLast[toks[len(toks)-1]], ix.placeByFirst[toks[0]]} {
		k, _ := slices.BinarySearch(list, int32(after+1))
		for ; k < len(list) && (best < 0 || int(list[k]) < best); k++ {
			pl := ix.places[list[k]]
			if len(pl) < len(toks) && (slices.Equal(toks[len(toks)-len(pl):], pl) || slices.Equal(toks[:len(pl)], pl)) {
				best = int(list[k])
				break
			}
		}
	}
	return best
}

// streetExists reports whether q's street names a street exactly, with or
// without its type.
func (ix *Index) streetExists(q query) bool {
	if _, ok := ix.byFull[q.street]; ok {
		return true
	}
	return q.typ == "" && len(ix.byName[q.name]) > 0
}

func hasLetter(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// Lookup finds the civics that a free-text address names, best first, at
// most MaxMatches. It understands "Via Roma 5", "v. roma, 5", "VIA ROMA 5
// Ripalta Cremasca", "piazza dante 3/a", "5 bis", "roma 5" (no street type)
// and a hamlet or postcode around the address.
//
// Streets are compared after NormaliseStreet. An exact street and number
// gives that civic alone (Score 1; a name without its type, "roma 5",
// scores 0.9 and may match several streets, "Via Roma 5" and "Vicolo Roma
// 5"). A matching street without that number gives its civics with the
// nearest numbers; without a number, the street's civics in order. Only
// when no street matches exactly are typos tolerated: streets within an
// edit distance of 2 (1 for names under 6 letters), or with another street
// type, score lower. A civic in a hamlet the query names ranks first among
// equals. No match is an empty result, not an error.
//
// An empty or over-long (MaxQueryLength) query, or one without a street
// name (no letters), is an Invalid error on field "address".
func (ix *Index) Lookup(query string) (best []Match, err error) {
	switch {
	case strings.TrimSpace(query) == "":
		return nil, fibremon.FieldErrorf("address", "empty")
	case len(query) > MaxQueryLength:
		return nil, fibremon.FieldErrorf("address", "longer than %d bytes", MaxQueryLength)
	case !utf8.ValidString(query):
		return nil, fibremon.FieldErrorf("address", "not UTF-8 text")
	case !hasLetter(query):
		return nil, fibremon.FieldErrorf("address", "no street name in %.60q", query)
	}
	q, err := ix.parseQuery(query, true)
	if err != nil {
		return nil, err
	}
	// A place name may be part of the street: keep it when that names a
	// street and dropping it does not.
	if !ix.streetExists(q) {
		if q0, err := ix.parseQuery(query, false); err == nil && ix.streetExists(q0) {
			q = q0
		}
	}

	// Streets, by tier: exact, name without type, near (typos).
	type streetMatch struct {
		st    *street
		score float64
	}
	var matches []streetMatch
	if st, ok := ix.byFull[q.street]; ok {
		matches = append(matches, streetMatch{st, 1})
	}
	if len(matches) == 0 && q.typ == "" {
		for _, st := range ix.byName[q.name] {
			matches = append(matches, streetMatch{st, 0.9})
		}
	}
	if len(matches) == 0 {
		// Typos: streets within an edit distance of 2 of the query, by
		// full name or by name, found through the typo indexes and then
		// measured, in street order. A street within the limit by name
		// with the query's type is as near by full name, which the full
		// names' index finds; one of another type pays an edit for it,
		// so the names' index need look only one edit away for a query
		// with a type (and two without, when there is nothing to pay).
		kName := 2
		if q.typ != "" {
			kName = 1
		}
		qStreet, qName := []rune(q.street), []rune(q.name)
		byFull := dedupe(ix.fulls.candidates(nil, qStreet, 2))
		byName := dedupe(ix.names.candidates(append([]int32(nil), ix.irregular...), qName, kName))
		var buf []int
		var pStreet, pName bitPattern
		okStreet, okName := pStreet.init(qStreet), pName.init(qName)
		dist := func(p *bitPattern, ok bool, q, s []rune, limit int) int {
			if ok {
				return p.distance(s, limit)
			}
			var d int
			d, buf = editDistance(q, s, limit, buf)
			return d
		}
		for len(byFull) > 0 || len(byName) > 0 {
			id := int32(math.MaxInt32)
			if len(byFull) > 0 {
				id = byFull[0]
			}
			if len(byName) > 0 {
				id = min(id, byName[0])
			}
			st := ix.streets[id]
			limit := 2
			if len(ix.names.runes(id)) < 6 {
				limit = 1
			}
			d, dn := limit+1, limit+1
			if len(byFull) > 0 && byFull[0] == id {
				d = dist(&pStreet, okStreet, qStreet, ix.fulls.runes(id), limit)
				byFull = byFull[1:]
			}
			if len(byName) > 0 && byName[0] == id {
				dn = dist(&pName, okName, qName, ix.names.runes(id), limit)
				if q.typ != "" && q.typ != st.typ {
					dn++ // another street type costs one edit
				}
				byName = byName[1:]
			}
			if d = min(d, dn); d <= limit {
				matches = append(matches, streetMatch{st, 0.8 - 0.1*float64(d)})
			}
		}
	}

	var out []Match
	add := func(i int32, score float64) {
		a := &ix.c.Addresses[i]
		if q.hamlet != "" && a.Hamlet != q.hamlet {
			score *= 0.95
		}
		out = append(out, Match{Address: a, Score: math.Round(score*1000) / 1000})
	}
	exact := false
	if q.number != "" {
		for _, m := range matches {
			// The street's civics are sorted by number: look it up.
			k, _ := slices.BinarySearchFunc(m.st.addrs, q.number, func(i int32, n string) int {
				return compareNumbers(ix.c.Addresses[i].Number, n)
			})
			for ; k < len(m.st.addrs) && ix.c.Addresses[m.st.addrs[k]].Number == q.number; k++ {
				add(m.st.addrs[k], m.score)
				exact = true
			}
		}
	}
	if !exact {
		qn := numberBase(q.number)
		for _, m := range matches {
			for _, i := range m.st.addrs {
				s := 0.8 // no number asked: the street's civics in order
				if q.number != "" {
					s = 0.9 / (1 + math.Abs(float64(numberBase(ix.c.Addresses[i].Number)-qn))/10)
				}
				add(i, m.score*s)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Match) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score),
			strings.Compare(a.Address.Street(), b.Address.Street()),
			compareNumbers(a.Address.Number, b.Address.Number))
	})
	if len(out) > MaxMatches {
		out = out[:MaxMatches]
	}
	return out, nil
}
