package geo

import (
	"math/bits"
	"slices"
)

// typoIndex finds, among a fixed list of strings, those within edit
// distance k <= typoMaxEdits of a query without comparing the query with
// each. Two filters narrow the list to a few strings before the edit
// distance is measured:
//
// The partition filter of Pass-Join (Li, Deng, Wang and Feng, VLDB 2011),
// with more segments than edits and the rarest ones probed: each string of
// n runes is cut into m = segmentCount(n) consecutive segments of lengths
// fixed by n. Edits touch at most k of them, so a string within k edits of
// a query keeps m-k segments intact, each found in the query shifted by at
// most k runes, and any k+1 of its segments hold an intact one. The index
// maps a hash of (n, segment, text) to the strings (a collision only adds
// a candidate). A query looks up, for each length n within k of its own,
// each segment's text at each shift, and takes the strings of the k+1
// segments with the fewest: a common segment ("via ", a common first
// name) is passed over when rarer ones decide. Strings too short to cut
// are always candidates.
//
// A bigram signature: each string's padded bigrams hashed to one bit of
// 128. An edit takes at most two distinct bigrams from a string and adds
// at most two, so each of two strings within k edits has at most 2k bits
// the other lacks; strings that share a segment but little else (two
// streets named after the same person) have more.
type typoIndex struct {
	flat  []rune      // the strings' runes, one after the other
	ends  []int32     // where string id's runes end in flat
	sigs  []signature // their bigram signatures, by id
	segs  segTable    // segment hash -> ids
	short []int32     // strings of fewer than typoMaxEdits+1 runes
}

// runes returns string id.
func (t *typoIndex) runes(id int32) []rune {
	start := int32(0)
	if id > 0 {
		start = t.ends[id-1]
	}
	return t.flat[start:t.ends[id]:t.ends[id]]
}

const (
	typoMaxEdits   = 2
	typoMaxSegment = 2*typoMaxEdits + 1 // most segments a string is cut into
	typoShifts     = 2*typoMaxEdits + 1 // positions a segment is looked for at
)

// segmentCount is how many segments a string of n runes is cut into: one
// per two runes, at least typoMaxEdits+1 and at most typoMaxSegment.
// (More, shorter segments leave more to choose the rarest from, and fewer
// strings to check on a street name with a common word in it; this count
// checked the fewest on the benchmark's register.)
func segmentCount(n int) int {
	return min(max(n/2, typoMaxEdits+1), typoMaxSegment)
}

// segment returns where segment i of the m segments of a string of n runes
// starts and how long it is: the first ones are n/m long, the last n%m of
// them one rune longer.
func segment(n, m, i int) (start, length int) {
	base, longer := n/m, n%m
	short := m - longer
	start = i*base + max(0, i-short)
	length = base
	if i >= short {
		length++
	}
	return start, length
}

// segHash hashes segment i, text, of a string of n runes (FNV-1a).
func segHash(n, i int, text []rune) uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
	}
	mix(uint64(n))
	mix(uint64(i))
	for _, r := range text {
		mix(uint64(r))
	}
	return h
}

// signature is a set of hashed bigrams, a bit each.
type signature [2]uint64

// signatureOf returns the bigram signature of r: a bit per hashed padded
// bigram ("roma": ^r ro om ma a$).
func signatureOf(r []rune) signature {
	var sig signature
	prev := rune(-1)
	for k := 0; k <= len(r); k++ {
		c := rune(-2)
		if k < len(r) {
			c = r[k]
		}
		h := (uint64(uint32(prev))*31 + uint64(uint32(c))) * 0x9e3779b97f4a7c15 >> 57 // 7 bits
		sig[h>>6] |= 1 << (h & 63)
		prev = c
	}
	return sig
}

// near reports whether strings with signatures a and b may be within k
// edits: each holds at most 2k bits the other lacks. (An edit takes at
// most two distinct bigrams from a string; a bit one string lacks stands
// for at least one bigram that it lacks.)
func (a signature) near(b signature, k int) bool {
	return bits.OnesCount64(a[0]&^b[0])+bits.OnesCount64(a[1]&^b[1]) <= 2*k &&
		bits.OnesCount64(b[0]&^a[0])+bits.OnesCount64(b[1]&^a[1]) <= 2*k
}

// segTable maps segment hashes to the strings holding them: open
// addressing over a power-of-two table, the entries of all segments in one
// array. An entry carries its string's signature, so that filtering a
// segment's strings reads that array in order rather than looking each
// string up.
type segTable struct {
	keys    []uint64 // 0: empty (a hash of 0 is stored as 1)
	spans   []uint32 // per slot: where its entries start in entries
	ends    []uint32 // and end
	entries []segEntry
}

type segEntry struct {
	sig signature
	id  int32
}

func newSegTable(segs map[uint64][]int32, sigs []signature) segTable {
	size := 1
	for size < 2*len(segs) {
		size *= 2
	}
	t := segTable{keys: make([]uint64, size), spans: make([]uint32, size), ends: make([]uint32, size)}
	for h, ids := range segs {
		h = max(h, 1)
		slot := h & uint64(size-1)
		for t.keys[slot] != 0 {
			slot = (slot + 1) & uint64(size-1)
		}
		t.keys[slot] = h
		t.spans[slot] = uint32(len(t.entries))
		for _, id := range ids {
			t.entries = append(t.entries, segEntry{sigs[id], id})
		}
		t.ends[slot] = uint32(len(t.entries))
	}
	return t
}

func (t *segTable) get(h uint64) []segEntry {
	if len(t.keys) == 0 {
		return nil
	}
	h = max(h, 1)
	mask := uint64(len(t.keys) - 1)
	for slot := h & mask; ; slot = (slot + 1) & mask {
		switch t.keys[slot] {
		case h:
			return t.entries[t.spans[slot]:t.ends[slot]]
		case 0:
			return nil
		}
	}
}

func newTypoIndex(strs []string) *typoIndex {
	t := &typoIndex{ends: make([]int32, len(strs)), sigs: make([]signature, len(strs))}
	segs := make(map[uint64][]int32, 4*len(strs))
	for id, s := range strs {
		start := len(t.flat)
		t.flat = append(t.flat, []rune(s)...)
		t.ends[id] = int32(len(t.flat))
		r := t.flat[start:]
		t.sigs[id] = signatureOf(r)
		n := len(r)
		if n < typoMaxEdits+1 {
			t.short = append(t.short, int32(id))
			continue
		}
		m := segmentCount(n)
		for i := range m {
			st, l := segment(n, m, i)
			h := segHash(n, i, r[st:st+l])
			if ids := segs[h]; len(ids) == 0 || ids[len(ids)-1] != int32(id) {
				segs[h] = append(ids, int32(id))
			}
		}
	}
	t.segs = newSegTable(segs, t.sigs)
	return t
}

// candidates appends to dst the ids of a superset of the strings within
// edit distance k (at most typoMaxEdits) of q and returns it, unsorted,
// possibly with repeats.
func (t *typoIndex) candidates(dst []int32, q []rune, k int) []int32 {
	qn := len(q)
	qsig := signatureOf(q)
	keep := func(id int32) bool { return t.sigs[id].near(qsig, k) }
	for _, id := range t.short {
		if d := len(t.runes(id)) - qn; -k <= d && d <= k && keep(id) {
			dst = append(dst, id)
		}
	}
	var found [typoMaxSegment][typoShifts][]segEntry
	var order [typoMaxSegment]int
	var size [typoMaxSegment]int
	for n := max(typoMaxEdits+1, qn-k); n <= qn+k; n++ {
		m := segmentCount(n)
		for i := range m {
			found[i], size[i], order[i] = [typoShifts][]segEntry{}, 0, i
			st, l := segment(n, m, i)
			for pos := max(0, st-k); pos <= st+k && pos+l <= qn; pos++ {
				ids := t.segs.get(segHash(n, i, q[pos:pos+l]))
				found[i][pos-st+k] = ids
				size[i] += len(ids)
			}
		}
		// m-k segments are intact: any k+1 of them hold one.
		slices.SortFunc(order[:m], func(a, b int) int { return size[a] - size[b] })
		for _, i := range order[:k+1] {
			for _, entries := range found[i] {
				for _, e := range entries {
					if e.sig.near(qsig, k) {
						dst = append(dst, e.id)
					}
				}
			}
		}
	}
	return dst
}

// editDistance returns the edit distance between a and b (in runes) if it
// is at most max, or max+1. Only the diagonal band |i-j| <= max of the
// table is computed: a path that leaves it costs more than max. The rows
// live in buf (grown as needed and returned).
func editDistance(a, b []rune, max int, buf []int) (int, []int) {
	if d := len(a) - len(b); d > max || -d > max {
		return max + 1, buf
	}
	inf := max + 1
	if cap(buf) < 2*(len(b)+1) {
		buf = make([]int, 2*(len(b)+1))
	}
	prev, cur := buf[:len(b)+1], buf[len(b)+1:2*(len(b)+1)]
	for j := range prev {
		prev[j] = min(j, inf)
	}
	for i := 1; i <= len(a); i++ {
		lo, hi := i-max, i+max // the band of row i
		if lo < 1 {
			lo = 1
			cur[0] = min(i, inf)
		} else {
			cur[lo-1] = inf
		}
		if hi > len(b) {
			hi = len(b)
		}
		rowMin := cur[lo-1]
		for j := lo; j <= hi; j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := prev[j-1] + cost
			if j < i+max { // prev[j] lies in row i-1's band
				v = min(v, prev[j]+1)
			}
			v = min(v, cur[j-1]+1, inf)
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if hi < len(b) {
			cur[hi+1] = inf
		}
		if rowMin > max {
			return inf, buf
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], inf), buf
}

// bitPattern is a query prepared for Myers' bit-parallel edit distance
// (Myers, JACM 1999, in the global form of Hyyrö 2001): a word of bits per
// text rune computes a column of the edit-distance table at once, so the
// distance to a string of n runes costs n steps of a few word operations.
// Queries of at most 64 runes only.
type bitPattern struct {
	m     int
	ascii [128]uint64 // per rune: the positions of the query holding it
	other []runeMask  // the same for runes beyond ASCII
}

type runeMask struct {
	r    rune
	mask uint64
}

// newBitPattern prepares q; ok is false when q is longer than 64 runes.
func newBitPattern(q []rune) (p *bitPattern, ok bool) {
	p = new(bitPattern)
	return p, p.init(q)
}

// init prepares p (zero) for q; it returns false when q is longer than 64
// runes.
func (p *bitPattern) init(q []rune) bool {
	if len(q) > 64 {
		return false
	}
	p.m = len(q)
	for i, r := range q {
		if r >= 0 && r < 128 {
			p.ascii[r] |= 1 << i
			continue
		}
		k := slices.IndexFunc(p.other, func(o runeMask) bool { return o.r == r })
		if k < 0 {
			p.other = append(p.other, runeMask{r: r})
			k = len(p.other) - 1
		}
		p.other[k].mask |= 1 << i
	}
	return true
}

func (p *bitPattern) eq(r rune) uint64 {
	if r >= 0 && r < 128 {
		return p.ascii[r]
	}
	for _, o := range p.other {
		if o.r == r {
			return o.mask
		}
	}
	return 0
}

// distance returns the edit distance between the query and s if it is at
// most max, or max+1.
func (p *bitPattern) distance(s []rune, max int) int {
	if d := p.m - len(s); d > max || -d > max {
		return max + 1
	}
	if p.m == 0 {
		return min(len(s), max+1)
	}
	high := uint64(1) << (p.m - 1)
	pv, mv := ^uint64(0), uint64(0)
	score := p.m
	for _, r := range s {
		eq := p.eq(r)
		xv := eq | mv
		xh := (((eq & pv) + pv) ^ pv) | eq
		ph := mv | ^(xh | pv)
		mh := pv & xh
		switch {
		case ph&high != 0:
			score++
		case mh&high != 0:
			score--
		}
		ph = ph<<1 | 1 // the table's first row grows by one a column
		mh <<= 1
		pv = mh | ^(xv | ph)
		mv = ph & xv
	}
	return min(score, max+1)
}
