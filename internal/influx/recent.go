package influx

import (
	"encoding/binary"
	"encoding/hex"
	"hash/maphash"
	"sync"

	"fibremon"
)

// recentGeneration is how many points one generation of the recent set
// holds: the store remembers the last 131,072 to 262,144 points it wrote
// (some 4 MiB a generation).
const recentGeneration = 1 << 17

// recentPoints remembers the points a store wrote last, each by its
// identity (series and timestamp, hashed) with the ID of the result on
// it, in two generations: when the current one is full it becomes the
// previous one and the previous one is dropped. It counts duplicates (a
// result written again onto its own point) and collisions (a result
// written onto the point of another); nothing depends on it for
// correctness. Safe for concurrent use.
type recentPoints struct {
	mu        sync.Mutex
	seed      maphash.Seed
	cur, prev map[uint64][16]byte
}

// add records the points of rs, written just now at the timestamps ts,
// and returns how many of them it held already with the same result
// (dups) and how many it held with another result (collided: the indexes
// in rs, and the other result's ID).
func (c *recentPoints) add(rs []fibremon.Result, ts []int64) (dups int, collided []collision) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		c.seed = maphash.MakeSeed()
		c.cur = make(map[uint64][16]byte)
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	var tb [8]byte
	for i := range rs {
		id, ok := idKey(rs[i].ID)
		if !ok {
			continue
		}
		h.Reset()
		h.WriteString(rs[i].SiteID)
		h.WriteByte(0)
		h.WriteString(rs[i].Probe)
		h.WriteByte(0)
		h.WriteString(string(rs[i].Kind))
		binary.BigEndian.PutUint64(tb[:], uint64(ts[i]))
		h.Write(tb[:])
		k := h.Sum64()
		old, found := c.cur[k]
		inCur := found
		if !found {
			old, found = c.prev[k]
		}
		switch {
		case found && old == id:
			dups++
			if inCur {
				continue
			}
		case found:
			collided = append(collided, collision{i, idString(old)})
		}
		if len(c.cur) >= recentGeneration {
			c.prev, c.cur = c.cur, make(map[uint64][16]byte, len(c.cur))
		}
		c.cur[k] = id
	}
	return dups, collided
}

// collision is a result written onto the point of another result.
type collision struct {
	i     int    // the result's index in its batch
	other string // the other result's ID
}

// idString is the UUID of k, as idKey read it.
func idString(k [16]byte) string {
	x := hex.EncodeToString(k[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
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
