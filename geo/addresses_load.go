package geo

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
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
	civicsName, civics, err := readRegister(fsys, path.Join(dir, CivicsFile))
	civicsMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !civicsMissing {
		return err
	}
	coverageName, coverage, err := readRegister(fsys, path.Join(dir, CoverageFile))
	coverageMissing := errors.Is(err, fs.ErrNotExist)
	if err != nil && !coverageMissing {
		return err
	}
	switch {
	case civicsMissing && coverageMissing:
		return nil
	case civicsMissing:
		return invalidf(coverageName, "file", "coverage without a civic register: %s is missing", CivicsFile)
	}
	// bad collects row errors: a Load error, or skipped rows when lenient.
	bad := func(name string, errs []RowError) error {
		if len(errs) == 0 {
			return nil
		}
		if !c.lenient {
			return rowErrors(name, errs)
		}
		for _, e := range errs {
			c.skipped = append(c.skipped, FileRowError{File: name, RowError: e})
		}
		return nil
	}
	addrs, errs := ImportCivics(bytes.NewReader(civics))
	if err := bad(civicsName, errs); err != nil {
		return err
	}
	if !coverageMissing {
		cov, errs := ImportCoverage(bytes.NewReader(coverage))
		if err := bad(coverageName, errs); err != nil {
			return err
		}
		var unmatched []RowError
		addrs, unmatched = MergeCoverage(addrs, cov)
		if err := bad(coverageName, unmatched); err != nil {
			return err
		}
	}
	var skip func(Address, error)
	if c.lenient {
		skip = func(a Address, err error) {
			c.skipped = append(c.skipped, FileRowError{File: civicsName,
				RowError: RowError{Field: a.Label(), Msg: err.Error()}})
		}
	}
	placed, err := c.place(addrs, skip)
	if err != nil {
		return wrap("geo: "+civicsName, err)
	}
	c.Addresses = placed
	return nil
}

// readRegister reads the register file name, or name+".gz" gzipped when
// name is absent, and returns the name it read.
func readRegister(fsys fs.FS, name string) (string, []byte, error) {
	b, err := fs.ReadFile(fsys, name)
	if !errors.Is(err, fs.ErrNotExist) {
		if err != nil {
			return name, nil, fmt.Errorf("geo: %w", err)
		}
		return name, b, nil
	}
	f, err := fsys.Open(name + ".gz")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil, err
		}
		return name + ".gz", nil, fmt.Errorf("geo: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return name + ".gz", nil, invalidf(name+".gz", "file", "not gzip: %v", err)
	}
	b, err = io.ReadAll(io.LimitReader(zr, MaxImportBytes+1))
	if err != nil {
		return name + ".gz", nil, invalidf(name+".gz", "file", "gunzip: %v", err)
	}
	return name + ".gz", b, nil
}

// FileRowError is a bad row of one of a comune's register files.
type FileRowError struct {
	File string
	RowError
}

func (e FileRowError) Error() string { return e.File + ": " + e.RowError.Error() }

// LoadLenient is Load for civic registers from outside (a real ANNCSU or
// Infratel extract): bad rows of CivicsFile and CoverageFile — malformed,
// unmatched, or outside the boundary — are skipped and returned, and the
// rest is imported. The boundary, hamlets and sites must still be clean.
func LoadLenient(fsys fs.FS, dir string) (*Comune, []FileRowError, error) {
	c, err := load(fsys, dir, true)
	if err != nil {
		return nil, nil, err
	}
	return c, c.skipped, nil
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
	return c.place(addrs, nil)
}

// place checks and places addrs; with skip set, an address at fault is
// passed to skip and left out instead of failing the whole set.
func (c *Comune) place(addrs []Address, skip func(a Address, err error)) ([]Address, error) {
	hamlets := make(map[string]bool, len(c.Hamlets))
	for _, h := range c.Hamlets {
		hamlets[h.Name] = true
	}
	out := make([]Address, 0, len(addrs))
	ids := make(map[string]string, len(addrs))
	for i, a := range addrs {
		err := func() error {
			if err := a.Validate(); err != nil {
				return err
			}
			if !c.Contains(a.Point) {
				return fibremon.FieldErrorf("lon", "point (lon %g, lat %g) lies outside the boundary of %s%s",
					a.Point.Lon(), a.Point.Lat(), c.Name, c.swapHint(a.Point))
			}
			if first, dup := ids[a.ID]; dup {
				return fibremon.FieldErrorf("number", "duplicate of %s", first)
			}
			if a.Hamlet != "" && !hamlets[a.Hamlet] {
				return fibremon.FieldErrorf("hamlet", "%q is not a hamlet of %s", a.Hamlet, c.Name)
			}
			return nil
		}()
		if err != nil {
			if skip == nil {
				return nil, wrap(fmt.Sprintf("address %d (%s)", i, a.Label()), err)
			}
			skip(a, err)
			continue
		}
		ids[a.ID] = a.Label()
		a.StateDates = maps.Clone(a.StateDates)
		if a.Hamlet == "" {
			a.Hamlet, _ = c.HamletAt(a.Point)
		}
		out = append(out, a)
	}
	return out, nil
}
