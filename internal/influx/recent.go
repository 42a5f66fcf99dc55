package influx

import (
	"encoding/hex"
	"sync"

	"fibremon"
)

// recentGeneration is how many result IDs one generation of the recent
// set holds: the store remembers the last 131,072 to 262,144 results it
// wrote (some 3 MiB a generation).
const recentGeneration = 1 << 17

// recentIDs remembers the IDs of the results a store wrote last, in two
// generations: when the current one is full it becomes the previous one
// and the previous one is dropped. It only counts duplicates; nothing
// depends on it for correctness. Safe for concurrent use.
type recentIDs struct {
	mu        sync.Mutex
	cur, prev map[[16]byte]struct{}
}

// add records the IDs of rs, written just now, and returns how many of
// them it held already.
func (c *recentIDs) add(rs []fibremon.Result) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		c.cur = make(map[[16]byte]struct{})
	}
	dups := 0
	for i := range rs {
		k, ok := idKey(rs[i].ID)
		if !ok {
			continue
		}
		_, inCur := c.cur[k]
		_, inPrev := c.prev[k]
		if inCur || inPrev {
			dups++
		}
		if inCur {
			continue
		}
		if len(c.cur) >= recentGeneration {
			c.prev, c.cur = c.cur, make(map[[16]byte]struct{}, len(c.cur))
		}
		c.cur[k] = struct{}{}
	}
	return dups
}

// idKey is the 16 bytes of a lower-case UUID (what validation lets in);
// ok is false for anything else.
func idKey(id string) (k [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return k, false
	}
	var b [32]byte
	copy(b[0:8], id[0:8])
	copy(b[8:12], id[9:13])
	copy(b[12:16], id[14:18])
	copy(b[16:20], id[19:23])
	copy(b[20:32], id[24:36])
	if _, err := hex.Decode(k[:], b[:]); err != nil {
		return k, false
	}
	return k, true
}
