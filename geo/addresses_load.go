package geo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"strings"

	"fibremon"
)

// maxListedErrors is how many row errors a Load error lists.
const maxListedErrors = 5

// loadAddresses reads CivicsFile and CoverageFile from dir, if present.
func (c *Comune) loadAddresses(fsys fs.FS, dir string) error {
	civicsName, coverageName := path.Join(dir, CivicsFile), path.Join(dir, CoverageFile)
	civics, err := fs.ReadFile(fsys, civicsName)
	civicsMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !civicsMissing {
		return fmt.Errorf("geo: %w", err)
	}
	coverage, err := fs.ReadFile(fsys, coverageName)
	coverageMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !coverageMissing {
		return fmt.Errorf("geo: %w", err)
	}
	switch {
	case civicsMissing && coverageMissing:
		return nil
	case civicsMissing:
		return invalidf(coverageName, "file", "coverage without a civic register: %s is missing", CivicsFile)
	}
	addrs, errs := ImportCivics(bytes.NewReader(civics))
	if len(errs) > 0 {
		return rowErrors(civicsName, errs)
	}
	if !coverageMissing {
		cov, errs := ImportCoverage(bytes.NewReader(coverage))
		if len(errs) > 0 {
			return rowErrors(coverageName, errs)
		}
		var unmatched []RowError
		addrs, unmatched = MergeCoverage(addrs, cov)
		if len(unmatched) > 0 {
			return rowErrors(coverageName, unmatched)
		}
	}
	placed, err := c.placeAddresses(addrs)
	if err != nil {
		return wrap("geo: "+civicsName, err)
	}
	c.Addresses = placed
	return nil
}

// rowErrors returns an Invalid error listing the first row errors of file.
func rowErrors(name string, errs []RowError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "geo: %s: %d bad rows: ", name, len(errs))
	for i, e := range errs {
		if i == maxListedErrors {
			fmt.Fprintf(&b, "; ...")
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Error())
	}
	return &fibremon.Error{Kind: fibremon.Invalid, Msg: b.String()}
}

// WithAddresses returns a copy of c whose Addresses are addrs, placed in the
// comune: each must validate (Address.Validate), lie inside the boundary,
// and have an empty hamlet or one of c.Hamlets; an empty hamlet is set to
// the zone the point lies in (HamletAt). c and addrs are not modified. The
// error, of kind fibremon.Invalid, names the first address at fault.
//
// Use it to load a register imported at run time (ImportGeoJSON, or the
// CSV importers and MergeCoverage) into a comune read by Load.
func (c *Comune) WithAddresses(addrs []Address) (*Comune, error) {
	placed, err := c.placeAddresses(addrs)
	if err != nil {
		return nil, wrap("geo", err)
	}
	cc := *c
	cc.Addresses = placed
	return &cc, nil
}

func (c *Comune) placeAddresses(addrs []Address) ([]Address, error) {
	hamlets := make(map[string]bool, len(c.Hamlets))
	for _, h := range c.Hamlets {
		hamlets[h.Name] = true
	}
	out := make([]Address, len(addrs))
	ids := make(map[string]int, len(addrs))
	for i, a := range addrs {
		where := fmt.Sprintf("address %d (%s)", i, a.Label())
		if err := a.Validate(); err != nil {
			return nil, wrap(where, err)
		}
		if !c.Contains(a.Point) {
			return nil, wrap(where, fibremon.FieldErrorf("lon", "point (lon %g, lat %g) lies outside the boundary of %s%s",
				a.Point.Lon(), a.Point.Lat(), c.Name, c.swapHint(a.Point)))
		}
		if j, dup := ids[a.ID]; dup {
			return nil, wrap(where, fibremon.FieldErrorf("number", "duplicate of address %d", j))
		}
		ids[a.ID] = i
		a.StateDates = maps.Clone(a.StateDates)
		switch {
		case a.Hamlet == "":
			a.Hamlet, _ = c.HamletAt(a.Point)
		case !hamlets[a.Hamlet]:
			return nil, wrap(where, fibremon.FieldErrorf("hamlet", "%q is not a hamlet of %s", a.Hamlet, c.Name))
		}
		out[i] = a
	}
	return out, nil
}
