package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"fibremon/geo"
)

// inProcess is what the in-process run measured.
type inProcess struct {
	load, index, zonesTime, areaIndexTime time.Duration
	heapComune, heapIndex                 int64
	area, hamlet, nearest, exact, typo    timing
	exactHits, typoHits, nearHits         float64
	zones                                 []orb.MultiPolygon // for PostGIS
	areaIDs, nearestIDs                   []int              // per point query, for the agreement with PostGIS
}

func normStreet(s string) string { return geo.NormaliseStreet(s) }

func heap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func benchInProcess(ctx context.Context, m meter, dir string, syn *synth, qs queries, logf func(string, ...any)) (*inProcess, error) {
	var r inProcess
	h0 := heap()
	t := time.Now()
	c, err := geo.Load(os.DirFS(dir), synthComune)
	if err != nil {
		return nil, err
	}
	r.load = time.Since(t)
	if len(c.Addresses) != syn.civics {
		return nil, fmt.Errorf("loaded %d civics; generated %d", len(c.Addresses), syn.civics)
	}
	h1 := heap()
	logf("  loaded in %s", secs(r.load))
	t = time.Now()
	ix := geo.NewIndex(c)
	r.index = time.Since(t)
	h2 := heap()
	r.heapComune, r.heapIndex = h1-h0, h2-h1
	logf("  indexed in %s", secs(r.index))
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	t = time.Now()
	zones := (&geo.Comune{Boundary: c.Boundary, Hamlets: c.Hamlets}).Zones() // computed again, alone
	r.zonesTime = time.Since(t)
	for _, z := range zones {
		r.zones = append(r.zones, z.Parts)
	}
	t = time.Now()
	areas := geo.NewAreaIndex(r.zones)
	r.areaIndexTime = time.Since(t)

	n := len(qs.points)
	r.areaIDs, r.nearestIDs = make([]int, n), make([]int, n)
	byID := make(map[string]int, len(c.Addresses)) // civic ID -> its row, to compare with PostGIS
	for i := range syn.civics {
		byID[civicID(syn, syn.civic(i))] = i
	}
	r.area = m.measure(n, func(i int) {
		a, ok := areas.Find(qs.points[i])
		if !ok {
			a = -1
		}
		r.areaIDs[i] = a
	})
	r.hamlet = m.measure(n, func(i int) { c.HamletAt(qs.points[i]) })
	var near []*geo.Address
	r.nearest = m.measure(n, func(i int) {
		near = ix.Nearest(qs.points[i], 1)
		r.nearestIDs[i] = byID[near[0].ID]
	})
	hits := 0 // each point is at most 50 m from a civic
	for i := range qs.points {
		if geo.DistanceMeters(qs.points[i], syn.civic(r.nearestIDs[i]).p) <= 50.5 {
			hits++
		}
	}
	r.nearHits = float64(hits) / float64(n)
	logf("  points timed")

	answers := make([][]geo.Match, len(qs.exact))
	r.exact = m.measure(len(qs.exact), func(i int) { answers[i], _ = ix.Lookup(qs.exact[i].text) })
	hits = 0
	for i, m := range answers {
		if len(m) > 0 && m[0].Score >= 1 && byID[m[0].Address.ID] == qs.exact[i].civic {
			hits++
		}
	}
	r.exactHits = float64(hits) / float64(len(answers))
	r.typo = m.measure(len(qs.typo), func(i int) { answers[i], _ = ix.Lookup(qs.typo[i].text) })
	hits = 0
	for i, m := range answers {
		want := syn.civic(qs.typo[i].civic)
		st := &syn.streets[want.street]
		if len(m) > 0 && strings.EqualFold(m[0].Address.Street(), st.typ+" "+st.name) {
			hits++
		}
	}
	r.typoHits = float64(hits) / float64(len(answers))
	logf("  addresses timed")
	runtime.KeepAlive(ix)
	return &r, nil
}

// civicID is the geo.Address.ID of a synthetic civic.
func civicID(s *synth, c synthCivic) string {
	st := &s.streets[c.street]
	return synthISTAT + "-" + strings.ReplaceAll(geo.NormaliseStreet(st.typ+" "+st.name), " ", "-") + "-" + fmt.Sprint(c.number)
}
