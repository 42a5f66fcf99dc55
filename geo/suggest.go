package geo

import (
	"cmp"
	"slices"
	"strings"
)

// SuggestStreets returns up to n streets of the comune whose names are
// closest to the street of query (by edit distance on the normalised
// names), as written in the register ("Via Roma"): what to offer when
// Lookup finds nothing. A query without letters gives none.
func (ix *Index) SuggestStreets(query string, n int) []string {
	q, err := ix.parseQuery(query, true)
	if err != nil || q.street == "" || n <= 0 {
		return nil
	}
	type cand struct {
		st *street
		d  int
	}
	const far = 64
	var cs []cand
	var buf []int
	qs, qn := []rune(q.street), []rune(q.name)
	for _, st := range ix.streets {
		var d1, d2 int
		d1, buf = editDistance(qs, []rune(st.full), far, buf)
		d2, buf = editDistance(qn, []rune(st.name), far, buf)
		d := min(d1, d2)
		if strings.Contains(st.name, q.name) || strings.Contains(q.name, st.name) {
			d = min(d, 1)
		}
		cs = append(cs, cand{st, d})
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return cmp.Compare(a.d, b.d) })
	out := make([]string, 0, min(n, len(cs)))
	for _, c := range cs[:min(n, len(cs))] {
		out = append(out, ix.c.Addresses[c.st.addrs[0]].Street())
	}
	return out
}
