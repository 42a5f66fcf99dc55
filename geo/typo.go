package geo

import (
	"cmp"
	"slices"
)

// gramIndex finds, among a fixed list of strings, those within a small
// edit distance of a query without comparing the query with each: an
// inverted index of the strings' padded bigrams and the q-gram lemma.
//
// A string of n runes has n+1 padded bigrams ("roma": ^r ro om ma a$). An
// edit changes at most two of them, so strings within edit distance k of a
// query of n runes share at least n+1-2k of its bigrams (counted with
// multiplicity). Hence any such string holds at least one of the query's
// 2k+1 rarest bigram occurrences: the union of those bigrams' postings is
// a superset of the answer, and usually a small one. Queries too short for
// the lemma (n < 2k) take the strings whose length is within k of theirs.
type gramIndex struct {
	runes [][]rune           // the strings, by id
	post  map[uint64][]int32 // bigram -> ids of the strings holding it, ascending
	byLen [][]int32          // rune length -> ids, ascending (for short queries)
}

const (
	gramStart = '\x02' // padding before a string's first rune
	gramEnd   = '\x03' // and after its last
)

func bigram(a, b rune) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bigrams calls f for each padded bigram of r, in order.
func bigrams(r []rune, f func(uint64)) {
	prev := rune(gramStart)
	for _, c := range r {
		f(bigram(prev, c))
		prev = c
	}
	f(bigram(prev, gramEnd))
}

func newGramIndex(strs []string) *gramIndex {
	g := &gramIndex{runes: make([][]rune, len(strs)), post: make(map[uint64][]int32)}
	for id, s := range strs {
		r := []rune(s)
		g.runes[id] = r
		bigrams(r, func(b uint64) {
			p := g.post[b]
			if len(p) == 0 || p[len(p)-1] != int32(id) {
				g.post[b] = append(p, int32(id))
			}
		})
		for len(g.byLen) <= len(r) {
			g.byLen = append(g.byLen, nil)
		}
		g.byLen[len(r)] = append(g.byLen[len(r)], int32(id))
	}
	for b, p := range g.post {
		g.post[b] = slices.Clip(p)
	}
	return g
}

// candidates appends to dst the ids of a superset of the strings within
// edit distance k of q (in runes) and returns it, unsorted, possibly with
// repeats.
func (g *gramIndex) candidates(dst []int32, q []rune, k int) []int32 {
	if len(q) < 2*k {
		for n := max(0, len(q)-k); n <= len(q)+k && n < len(g.byLen); n++ {
			dst = append(dst, g.byLen[n]...)
		}
		return dst
	}
	var grams [maxQueryRunes + 1]uint64
	n := 0
	bigrams(q, func(b uint64) {
		if n < len(grams) {
			grams[n] = b
			n++
		}
	})
	qs := grams[:n]
	slices.SortFunc(qs, func(a, b uint64) int { return cmp.Compare(len(g.post[a]), len(g.post[b])) })
	for _, b := range qs[:min(len(qs), 2*k+1)] {
		dst = append(dst, g.post[b]...)
	}
	return dst
}

// maxQueryRunes bounds the bigrams a query is split into; a Lookup query
// is at most MaxQueryLength bytes.
const maxQueryRunes = MaxQueryLength

// levenshteinRunes is levenshtein on rune slices, with the rows in buf
// (grown as needed and returned).
func levenshteinRunes(ra, rb []rune, max int, buf []int) (int, []int) {
	if d := len(ra) - len(rb); d > max || -d > max {
		return max + 1, buf
	}
	if cap(buf) < 2*(len(rb)+1) {
		buf = make([]int, 2*(len(rb)+1))
	}
	prev, cur := buf[:len(rb)+1], buf[len(rb)+1:2*(len(rb)+1)]
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
			return max + 1, buf
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)], buf
}
