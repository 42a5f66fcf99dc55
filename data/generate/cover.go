package main

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"fibremon"
)

// suffixProb is the chance that a civic takes the number before it with a
// letter ("5A") instead of the next number: a house built later between two
// numbered ones.
const suffixProb = 0.03

// number gives every street civic its number: along the street from its
// start, odd on the left and even on the right (1, 2, 3, ... on a one-sided
// piazza), keeping the numbers that sources give.
func (m *model) number() error {
	r := newRNG(200)
	for _, z := range m.zones {
		for i := range z.streets {
			st := &z.streets[i]
			for _, side := range []int{1, -1} {
				var list []*civic
				for _, c := range m.civics {
					if c.street == st && c.side == side {
						list = append(list, c)
					}
				}
				slices.SortStableFunc(list, func(a, b *civic) int { return cmp.Compare(a.t, b.t) })
				start, step := 1, 2
				if side < 0 {
					start = 2
				}
				if st.oneSide {
					step = 1
				}
				suffix := func() bool { return r.float() < suffixProb }
				if err := numberSide(list, start, step, suffix); err != nil {
					return fmt.Errorf("%s %s: %w", st.typ, st.name, err)
				}
			}
		}
	}
	return nil
}

// numberSide numbers the civics of one side of a street, in order; a civic
// takes the number before it with a letter when suffix says so.
func numberSide(list []*civic, start, step int, suffix func() bool) error {
	next, from, prev := start, 0, ""
	for i, c := range list {
		if c.fixedNum == "" {
			continue
		}
		if from > 0 {
			return fmt.Errorf("more than one sourced number on a side")
		}
		n, err := strconv.Atoi(c.fixedNum)
		if err != nil {
			return fmt.Errorf("sourced number %q: only plain numbers are supported", c.fixedNum)
		}
		if (n-start)%step != 0 {
			return fmt.Errorf("no. %d lies on the wrong side of the street line", n)
		}
		first := n - step*i
		if first < start {
			return fmt.Errorf("no. %d has %d civics before it on its side", n, i)
		}
		for j := range i {
			list[j].number = itoa(first + step*j)
		}
		c.number = c.fixedNum
		next, from, prev = n+step, i+1, c.number
	}
	for _, c := range list[from:] {
		if prev != "" && !strings.HasSuffix(prev, "A") && suffix() {
			c.number = prev + "A"
		} else {
			c.number = itoa(next)
			next += step
		}
		prev = c.number
	}
	return nil
}

// cover assigns each civic its technology, area class and the dates of its
// rollout states.
func (m *model) cover() error {
	seat, zappello := m.zones[0], m.zoneNamed("Zappello")
	forced := func(c *civic) bool {
		return c.site != nil && (c.site.tech == fibremon.FTTH || c.site.tech == fibremon.FWA)
	}
	greyAt := add(m.zoneCentre(seat), greyCentre)
	for _, c := range m.civics {
		c.tech, c.wave = fibremon.FTTH, early
		c.grey = c.zone == seat && dist(c.pos, greyAt) <= greyRadius
		switch {
		case c.site != nil && c.site.tech == fibremon.FWA, c.cascina && !forced(c):
			c.tech, c.wave = fibremon.FWA, fwaWave
		}
	}
	count := func(f func(*civic) bool) int {
		n := 0
		for _, c := range m.civics {
			if f(c) {
				n++
			}
		}
		return n
	}
	isFWA := func(c *civic) bool { return c.wave == fwaWave }
	// pick turns the first n civics of zone z that are free to choose, by
	// the given order, into wave w.
	pick := func(z *zone, n int, w wave, order func(a, b *civic) int) error {
		var list []*civic
		for _, c := range m.civics {
			if c.zone == z && c.wave == early && !forced(c) && !c.grey {
				list = append(list, c)
			}
		}
		slices.SortStableFunc(list, order)
		if n < 0 || n > len(list) {
			return fmt.Errorf("zone %q: cannot pick %d civics of %d", z.name, n, len(list))
		}
		for _, c := range list[:n] {
			c.wave = w
			if w == fwaWave {
				c.tech = fibremon.FWA
			}
		}
		return nil
	}
	outermost := func(a, b *civic) int { return cmp.Compare(b.dist, a.dist) }
	easternmost := func(a, b *civic) int { return cmp.Compare(b.pos.X, a.pos.X) }
	// FWA: the farmsteads, the outermost civics of Zappello, and the
	// easternmost of Ripalta Nuova towards the Serio bridge.
	inZappello := count(func(c *civic) bool { return c.zone == zappello && isFWA(c) })
	if err := pick(zappello, zappelloFWA-inZappello, fwaWave, outermost); err != nil {
		return err
	}
	if err := pick(seat, fwa2022-count(isFWA), fwaWave, easternmost); err != nil {
		return err
	}
	// FTTH in 2022: the outermost of what is left in each hamlet.
	for _, z := range m.zones {
		if err := pick(z, z.late, late, outermost); err != nil {
			return err
		}
	}
	if n := count(isFWA); n != fwa2022 {
		return fmt.Errorf("%d FWA civics; want %d", n, fwa2022)
	}
	if n := count(func(c *civic) bool { return c.wave == late }); n != ftth2022 {
		return fmt.Errorf("%d civics reached by FTTH in 2022; want %d", n, ftth2022)
	}
	m.dates()
	return nil
}

// Date stages, as indexes into civic.dates.
const (
	planned = iota
	design
	works
	worksCompleted
	acceptance
	readyForSale
	active
)

// dates sets the dates of each civic's states. Works go street by street:
// each street has its own schedule and each civic a few days of jitter.
func (m *model) dates() {
	r := newRNG(300)
	type schedule [readyForSale + 1]time.Time
	streets := map[*street]schedule{} // looked up only, never iterated
	streetSchedule := func(z *zone, st *street) schedule {
		if s, ok := streets[st]; ok && st != nil {
			return s
		}
		var s schedule
		s[planned] = plannedDate
		base := m.zones[0].design
		if z != nil {
			base = z.design
		}
		// With the zones' design dates (June-September 2019) these gaps
		// give works started in 2020, completed and accepted from the
		// autumn of 2020, ready for sale in 2021.
		s[design] = addDays(base, r.between(0, 45))
		s[works] = addDays(s[design], r.between(220, 300))
		s[worksCompleted] = addDays(s[works], r.between(240, 280))
		s[acceptance] = addDays(s[worksCompleted], r.between(45, 75))
		s[readyForSale] = addDays(s[acceptance], r.between(75, 100))
		if st != nil {
			streets[st] = s
		}
		return s
	}
	for _, c := range m.civics {
		s := streetSchedule(c.zone, c.street)
		d := &c.dates
		d[planned] = s[planned]
		switch c.wave {
		case early, late:
			for k := design; k <= readyForSale; k++ {
				d[k] = laterOf(addDays(s[k], r.between(0, 7)), d[k-1])
			}
			if c.wave == late {
				// Works stopped short of these civics until the 2022 deal.
				d[worksCompleted] = addDays(day(2022, 4, 19), r.between(0, 21))
				d[acceptance] = addDays(d[worksCompleted], r.between(7, 14))
				d[readyForSale] = addDays(d[acceptance], r.between(7, 30))
			}
		case fwaWave:
			// One radio antenna on the school roof serves them all.
			d[design] = addDays(day(2022, 3, 7), r.between(0, 14))
			d[works] = addDays(day(2022, 4, 20), r.between(0, 10))
			d[worksCompleted] = addDays(d[works], r.between(7, 12))
			d[acceptance] = addDays(d[worksCompleted], r.between(5, 10))
			d[readyForSale] = addDays(d[acceptance], r.between(4, 30))
		}
		d[active] = m.activation(r, c)
	}
}

func laterOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}

// activation returns when the first line at c was activated, or the zero
// time if none was by refDate. A civic has no subscriber with probability
// 0.25^units; otherwise the first activation comes after a delay that is
// mostly short. A monitored site on FTTH or FWA has its line; a site that
// buys FTTC or ADSL has no fibre line at its civic.
func (m *model) activation(r *rng, c *civic) time.Time {
	ready := c.dates[readyForSale]
	if c.site != nil {
		if forcedTech(c.site.tech) {
			return addDays(ready, r.between(20, 120))
		}
		return time.Time{}
	}
	none := 1.0
	for range c.units {
		none *= 0.25
	}
	if r.float() < none {
		return time.Time{}
	}
	var delay int
	switch x := r.float(); {
	case x < 0.55:
		delay = r.between(14, 120)
	case x < 0.85:
		delay = r.between(121, 540)
	default:
		delay = r.between(541, 1800)
	}
	if a := addDays(ready, delay); !a.After(refDate) {
		return a
	}
	return time.Time{}
}

func forcedTech(t fibremon.Technology) bool { return t == fibremon.FTTH || t == fibremon.FWA }

// sortCivics puts the civics in output order: by zone (the hamlets in the
// order of hamlets.geojson, then the artisan zone, then the farmsteads),
// street type and name, then number.
func (m *model) sortCivics() {
	slices.SortStableFunc(m.civics, func(a, b *civic) int {
		if c := cmp.Compare(a.zoneIdx, b.zoneIdx); c != 0 {
			return c
		}
		if c := cmp.Compare(a.typ, b.typ); c != 0 {
			return c
		}
		if c := cmp.Compare(a.name, b.name); c != 0 {
			return c
		}
		an, as := splitNumber(a.number)
		bn, bs := splitNumber(b.number)
		if c := cmp.Compare(an, bn); c != 0 {
			return c
		}
		return cmp.Compare(as, bs)
	})
}

// splitNumber splits "12A" into 12 and "A".
func splitNumber(s string) (int, string) {
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, _ := strconv.Atoi(s[:i])
	return n, s[i:]
}
