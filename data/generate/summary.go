package main

import (
	"fmt"
	"strings"

	"fibremon"
)

// summary returns counts of the generated register, for the person who
// runs the generator (and for data/README.md).
func (m *model) summary() string {
	var b strings.Builder
	groups := []string{}
	for _, z := range m.zones {
		if z.name != "" {
			groups = append(groups, z.name)
		}
	}
	groups = append(groups, "(artisan zone)", "(farmsteads)")
	group := func(c *civic) string {
		switch {
		case c.cascina:
			return "(farmsteads)"
		case c.hamlet == "":
			return "(artisan zone)"
		}
		return c.hamlet
	}
	fmt.Fprintf(&b, "%-16s %7s %6s %6s %6s %6s %6s %6s %6s\n", "group", "civics", "units",
		"FTTH", "FWA", "late", "grey", "ready", "active")
	total := [8]int{}
	for _, g := range append(groups, "total") {
		var n [8]int
		for _, c := range m.civics {
			if g != "total" && group(c) != g {
				continue
			}
			n[0]++
			n[1] += c.units
			if c.tech == fibremon.FTTH {
				n[2]++
			} else {
				n[3]++
			}
			if c.wave == late {
				n[4]++
			}
			if c.grey {
				n[5]++
			}
			if c.state() == fibremon.RolloutReadyForSale {
				n[6]++
			} else {
				n[7]++
			}
		}
		if g == "total" {
			total = n
		}
		fmt.Fprintf(&b, "%-16s %7d %6d %6d %6d %6d %6d %6d %6d\n", g, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7])
	}
	var ftthUnits, fwaUnits int
	for _, c := range m.civics {
		if c.tech == fibremon.FWA {
			fwaUnits += c.units
		} else {
			ftthUnits += c.units
		}
	}
	fmt.Fprintf(&b, "units: %d FTTH, %d FWA, %d in all\n", ftthUnits, fwaUnits, total[1])
	fmt.Fprintln(&b, "monitored sites and their civics:")
	for _, c := range m.civics {
		if c.site != nil {
			fmt.Fprintf(&b, "  %-30s %s %s %s (%s, %s, %s)\n", c.site.id, c.typ, c.name, c.number,
				c.tech, c.state(), c.site.tech)
		}
	}
	return b.String()
}
