package geo

// The lookup as it was before its indexes (places, byName, the bigram
// indexes): every query normalised the comune's and hamlets' names, and the
// typo tier measured every street. TestLookupMatchesReference checks that
// Lookup still answers exactly as this did.

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"unicode/utf8"

	"fibremon"
	"fibremon/data"

	"github.com/paulmach/orb"
)

func (ix *Index) refParseQuery(s string, stripPlaces bool) (query, error) {
	var q query
	toks := strings.Fields(NormaliseStreet(s))
	// Drop the comune, a hamlet, the postcode and province at either end:
	// "Via Roma 5, 26010 Ripalta Cremasca (CR)", "Bolzone, via roma 5".
	places := [][]string{strings.Fields(NormaliseStreet(ix.c.Name))}
	hamletOf := map[int]string{}
	for _, h := range ix.c.Hamlets {
		hamletOf[len(places)] = h.Name
		places = append(places, strings.Fields(NormaliseStreet(h.Name)))
	}
	for changed := true; changed && len(toks) > 0; {
		changed = false
		for i, pl := range places {
			if !stripPlaces {
				break
			}
			if len(pl) == 0 || len(pl) >= len(toks) {
				continue
			}
			if slices.Equal(toks[len(toks)-len(pl):], pl) {
				toks, changed = toks[:len(toks)-len(pl)], true
			} else if slices.Equal(toks[:len(pl)], pl) {
				toks, changed = toks[len(pl):], true
			} else {
				continue
			}
			if h, ok := hamletOf[i]; ok && q.hamlet == "" {
				q.hamlet = h
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

// streetExists reports whether q's street names a street exactly, with or
// without its type.
func (ix *Index) refStreetExists(q query) bool {
	if _, ok := ix.byFull[q.street]; ok {
		return true
	}
	if q.typ != "" {
		return false
	}
	for _, st := range ix.streets {
		if st.name == q.name {
			return true
		}
	}
	return false
}

func (ix *Index) refLookup(query string) (best []Match, err error) {
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
	q, err := ix.refParseQuery(query, true)
	if err != nil {
		return nil, err
	}
	// A place name may be part of the street: keep it when that names a
	// street and dropping it does not.
	if q0, err := ix.refParseQuery(query, false); err == nil && !ix.refStreetExists(q) && ix.refStreetExists(q0) {
		q = q0
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
		for _, st := range ix.streets {
			if st.name == q.name {
				matches = append(matches, streetMatch{st, 0.9})
			}
		}
	}
	if len(matches) == 0 {
		for _, st := range ix.streets {
			limit := 2
			if utf8.RuneCountInString(st.name) < 6 {
				limit = 1
			}
			d := levenshtein(q.street, st.full, limit)
			dn := levenshtein(q.name, st.name, limit)
			if q.typ != "" && q.typ != st.typ {
				dn++ // another street type costs one edit
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
			for _, i := range m.st.addrs {
				if ix.c.Addresses[i].Number == q.number {
					add(i, m.score)
					exact = true
				}
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

// levenshtein returns the edit distance between a and b (in runes), or
// max+1 as soon as it exceeds max.
func levenshtein(a, b string, max int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > max || -d > max {
		return max + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > max {
			return max + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// loadFixture loads the embedded boundary, hamlets and sites with the
// civics and coverage of testdata/.
func loadFixture(t *testing.T) *Comune {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{BoundaryFile, HamletsFile, SitesFile} {
		b, err := data.FS.ReadFile("ripalta-cremasca/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys["c/"+n] = &fstest.MapFile{Data: b}
	}
	for _, n := range []string{CivicsFile, CoverageFile} {
		b, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		fsys["c/"+n] = &fstest.MapFile{Data: b}
	}
	c, err := Load(fsys, "c")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomLookupComune returns a comune (not checked: only NewIndex reads
// it) whose street names and hamlet names share words, so that queries
// meet several streets within an edit or two and hamlet names inside
// street names.
func randomLookupComune(rng *rand.Rand) *Comune {
	words := []string{"Roma", "Rima", "Ruma", "Garibaldi", "Garibaldo", "Verdi", "Verde", "Dante", "Santa", "Maria", "San", "Michele",
		"Rocco", "dei", "Tigli", "Pioppi", "Olmo", "Olmi", "della", "Vittoria", "XXV", "Aprile", "4", "Novembre", "Bonzi", "Alta",
		"Alto", "Nuova", "Nuovo", "Vecchia", "Cà", "Nova", "Bolzone", "Zappello", "Ripalta", "Cremasca", "Po", "Re", "Oglio"}
	types := []string{"Via", "Viale", "Vicolo", "Piazza", "Strada", "Località", "Corso", "Largo", "Cascina"}
	phrase := func(n int) string {
		var w []string
		for range n {
			w = append(w, words[rng.IntN(len(words))])
		}
		return strings.Join(w, " ")
	}
	c := &Comune{Name: "Ripalta Cremasca"}
	seenH := map[string]bool{}
	for len(c.Hamlets) < 25 {
		h := phrase(1 + rng.IntN(2))
		if !seenH[NormaliseStreet(h)] {
			seenH[NormaliseStreet(h)] = true
			c.Hamlets = append(c.Hamlets, Hamlet{Name: h, Point: orb.Point{9.6 + rng.Float64()*0.1, 45.3 + rng.Float64()*0.05}})
		}
	}
	seenS := map[string]bool{}
	for len(seenS) < 400 {
		typ, name := types[rng.IntN(len(types))], phrase(1+rng.IntN(3))
		if seenS[NormaliseStreet(typ+" "+name)] {
			continue
		}
		seenS[NormaliseStreet(typ+" "+name)] = true
		nums := map[string]bool{}
		for range 1 + rng.IntN(8) {
			n := fmt.Sprint(1 + rng.IntN(60))
			if rng.IntN(8) == 0 {
				n += string(rune('A' + rng.IntN(3)))
			}
			if nums[n] {
				continue
			}
			nums[n] = true
			c.Addresses = append(c.Addresses, Address{ID: addressID("019081", typ, name, n), StreetType: typ, StreetName: name, Number: n,
				Hamlet: c.Hamlets[rng.IntN(len(c.Hamlets))].Name, Point: orb.Point{9.6 + rng.Float64()*0.1, 45.3 + rng.Float64()*0.05}})
		}
	}
	return c
}

// mutate makes up to k random edits (substitution, insertion, deletion,
// anywhere, the first letter too) to s.
func mutate(rng *rand.Rand, s string, k int) string {
	r := []rune(s)
	for range k {
		if len(r) == 0 {
			break
		}
		i := rng.IntN(len(r))
		c := rune('a' + rng.IntN(26))
		switch rng.IntN(3) {
		case 0:
			r[i] = c
		case 1:
			r = slices.Insert(r, i, c)
		default:
			r = slices.Delete(r, i, i+1)
		}
	}
	return string(r)
}

// lookupQueries returns queries about c's addresses as people write them,
// right and wrong.
func lookupQueries(rng *rand.Rand, c *Comune, n int) []string {
	var qs []string
	for range n {
		a := c.Addresses[rng.IntN(len(c.Addresses))]
		h := c.Hamlets[rng.IntN(len(c.Hamlets))].Name
		name, typ, num := a.StreetName, a.StreetType, a.Number
		switch rng.IntN(12) {
		case 0:
			qs = append(qs, a.Label())
		case 1:
			qs = append(qs, typ+" "+mutate(rng, name, 1)+" "+num)
		case 2:
			qs = append(qs, typ+" "+mutate(rng, name, 2)+" "+num)
		case 3:
			qs = append(qs, mutate(rng, typ+" "+name, 1+rng.IntN(3))+" "+num)
		case 4:
			qs = append(qs, name+" "+num) // no type
		case 5:
			qs = append(qs, mutate(rng, name, 1)) // no type, no number
		case 6:
			qs = append(qs, a.Label()+", "+h)
		case 7:
			qs = append(qs, h+", "+strings.ToLower(a.Label()))
		case 8:
			qs = append(qs, a.Label()+" - 26010 "+c.Name+" (CR)")
		case 9:
			qs = append(qs, "Viale "+name+" n. "+strings.ToLower(num)) // another type
		case 10:
			qs = append(qs, mutate(rng, h, 1)+" "+num)
		default:
			qs = append(qs, typ+" "+name+" "+fmt.Sprint(1+rng.IntN(70)))
		}
	}
	return qs
}

func matchesString(ms []Match, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s (%g)", m.Address.Label(), m.Score))
	}
	return strings.Join(s, "; ")
}

// TestLookupMatchesReference checks that Lookup ranks exactly as the
// lookup that normalised every place and measured every street did: on the
// fixture's queries and on thousands of random queries, typos included,
// against random comuni.
func TestLookupMatchesReference(t *testing.T) {
	ix := NewIndex(loadFixture(t))
	fixed := []string{"Via Roma 5", "v. roma, 5", "VIA ROMA 5 Ripalta Cremasca", "Via Roma, 5 - 26010 Ripalta Cremasca (CR)",
		"piazza dante 3/a", "Via Santa Maria 5 bis", "via santa maria 5/bis, Bolzone", "LOC. CA' NOVA 1", "Ripalta Cremasca, via dell'olmo 2",
		"str. zappello 6", "roma 5", "roma", "via roma 6", "Via San Michele", "via san michele 8, San Michele", "Strada Zappello",
		"via rima 5", "via garibladi 10", "viale garibaldi 10", "piazza roma 5", "roma 5 Ripalta Nuova", "santa maria 1, San Michele",
		"via inesistente 3", "Ripalta Cremasca", "r", "ro 5", "vi", "San Michele", "Bolzone 5", "12345", "snc", "via roma snc"}
	rng := rand.New(rand.NewPCG(1, 2))
	queries := append(fixed, lookupQueries(rng, ix.c, 500)...)
	for _, q := range queries {
		got, gerr := ix.Lookup(q)
		want, werr := ix.refLookup(q)
		if g, w := matchesString(got, gerr), matchesString(want, werr); g != w {
			t.Errorf("fixture: Lookup(%q) = %s; the reference gives %s", q, g, w)
		}
	}
	typos := 0
	for seed := range uint64(4) {
		rng := rand.New(rand.NewPCG(seed, 99))
		c := randomLookupComune(rng)
		ix := NewIndex(c)
		for _, q := range lookupQueries(rng, c, 1500) {
			got, gerr := ix.Lookup(q)
			want, werr := ix.refLookup(q)
			if g, w := matchesString(got, gerr), matchesString(want, werr); g != w {
				t.Fatalf("seed %d: Lookup(%q) = %s; the reference gives %s", seed, q, g, w)
			}
			if len(got) > 0 && got[0].Score < 0.8 {
				typos++
			}
		}
	}
	if typos < 500 {
		t.Errorf("only %d queries answered by the typo tier: the test does not test it much", typos)
	}
}

// TestTypoIndexCandidates checks the filter's promise: every string within
// edit distance 2 of a query is a candidate; and editDistance against the
// full table.
func TestTypoIndexCandidates(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var strs []string
	for range 800 {
		strs = append(strs, mutate(rng, "via garibaldi", rng.IntN(8)))
		strs = append(strs, mutate(rng, "roma", rng.IntN(3)))
		strs = append(strs, mutate(rng, "piazza càvour", rng.IntN(4))) // runes of two bytes
	}
	strs = append(strs, "", "a", "ab", "ba")
	ti := newTypoIndex(strs)
	var buf []int
	for range 600 {
		q := mutate(rng, strs[rng.IntN(len(strs))], rng.IntN(4))
		var cand [3]map[int32]bool
		for k := range cand {
			cand[k] = map[int32]bool{}
			for _, id := range ti.candidates(nil, []rune(q), k) {
				cand[k][id] = true
			}
		}
		for id, s := range strs {
			want := levenshtein(q, s, 2)
			for k := range cand {
				if want <= k && !cand[k][int32(id)] {
					t.Fatalf("candidates(%q, %d) misses %q", q, k, s)
				}
			}
			bp, ok := newBitPattern([]rune(q))
			for k := 0; k <= 3; k++ {
				var got int
				got, buf = editDistance([]rune(q), []rune(s), k, buf)
				if w := min(levenshtein(q, s, k), k+1); got != w {
					t.Fatalf("editDistance(%q, %q, %d) = %d; want %d", q, s, k, got, w)
				}
				if got := bp.distance([]rune(s), k); ok && got != min(levenshtein(q, s, k), k+1) {
					t.Fatalf("bitPattern(%q).distance(%q, %d) = %d; want %d", q, s, k, got, min(levenshtein(q, s, k), k+1))
				}
			}
		}
	}
}

// TestBitPatternDistance checks the bit-parallel edit distance against the
// table on random strings of every length up to 64 runes, ASCII and not.
func TestBitPatternDistance(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := []rune("abcàèéìòù ")
	word := func(n int) []rune {
		r := make([]rune, n)
		for i := range r {
			r[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return r
	}
	for range 3000 {
		a := word(rng.IntN(65))
		b := word(rng.IntN(70))
		if rng.IntN(2) == 0 {
			b = []rune(mutate(rng, string(a), rng.IntN(6)))
		}
		p, ok := newBitPattern(a)
		if !ok {
			t.Fatalf("newBitPattern(%d runes) refused", len(a))
		}
		want := levenshtein(string(a), string(b), 1000)
		if got := p.distance(b, 1000); got != want {
			t.Fatalf("distance(%q, %q) = %d; want %d", string(a), string(b), got, want)
		}
	}
	if _, ok := newBitPattern(make([]rune, 65)); ok {
		t.Error("newBitPattern(65 runes) accepted")
	}
}
