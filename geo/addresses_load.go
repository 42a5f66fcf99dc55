package geo

import (
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

// loadAddresses reads CivicsFile and CoverageFile from dir, if present,
// or their gzip-compressed forms.
func (c *Comune) loadAddresses(fsys fs.FS, dir string) error {
	civics, civicsName, err := openRegister(fsys, path.Join(dir, CivicsFile))
	if err != nil {
		return err
	}
	if civics != nil {
		defer civics.Close()
	}
	coverage, coverageName, err := openRegister(fsys, path.Join(dir, CoverageFile))
	if err != nil {
		return err
	}
	if coverage != nil {
		defer coverage.Close()
	}
	switch {
	case civics == nil && coverage == nil:
		return nil
	case civics == nil:
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
	addrs, byID, errs := importCivics(civics)
	if err := bad(civicsName, errs); err != nil {
		return err
	}
	if coverage != nil {
		// The coverage rows are joined as they are read, never all held.
		m := newMerger(addrs, byID)
		m.owned = true
		errs, _ := importCoverage(coverage, m.merge)
		if err := bad(coverageName, errs); err != nil {
			return err
		}
	}
	byID = nil // the IDs are unique: place need not check them again
	var skip func(Address, error)
	if c.lenient {
		var skipped errorList
		skip = func(a Address, err error) {
			skipped.add(RowError{Field: a.Label(), Msg: err.Error()})
		}
		defer func() {
			for _, e := range skipped.list() {
				c.skipped = append(c.skipped, FileRowError{File: civicsName, RowError: e})
			}
		}()
	}
	placed, err := c.place(addrs, skip, true)
	if err != nil {
		return wrap("geo: "+civicsName, err)
	}
	c.Addresses = placed
	return nil
}

// openRegister opens name in fsys, or name.gz (gzip) when name is absent.
// It returns a nil reader when neither exists, and the name it opened.
func openRegister(fsys fs.FS, name string) (io.ReadCloser, string, error) {
	f, err := fsys.Open(name)
	if err == nil {
		return f, name, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, name, fmt.Errorf("geo: %w", err)
	}
	gzName := name + ".gz"
	f, err = fsys.Open(gzName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, name, nil
	}
	if err != nil {
		return nil, gzName, fmt.Errorf("geo: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, gzName, invalidf(gzName, "file", "not gzip: %v", err)
	}
	return gzipFile{zr, f}, gzName, nil
}

// gzipFile reads a gzip stream and closes both it and its file.
type gzipFile struct {
	*gzip.Reader
	f fs.File
}

func (g gzipFile) Close() error {
	return errors.Join(g.Reader.Close(), g.f.Close())
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
	return c.place(addrs, nil, false)
}

// place checks and places addrs; with skip set, an address at fault is
// passed to skip and left out instead of failing the whole set. With
// owned, addrs (whose IDs are unique) belongs to place, which reuses it.
func (c *Comune) place(addrs []Address, skip func(a Address, err error), owned bool) ([]Address, error) {
	hamlets := make(map[string]string, len(c.Hamlets)) // to the Hamlet's own copy of the name
	for _, h := range c.Hamlets {
		hamlets[h.Name] = h.Name
	}
	out := make([]Address, 0, len(addrs))
	if owned {
		out = addrs[:0]
	}
	var ids map[string]int
	if !owned {
		ids = make(map[string]int, len(addrs))
	}
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
				return fibremon.FieldErrorf("number", "duplicate of %s", addrs[first].Label())
			}
			if _, ok := hamlets[a.Hamlet]; a.Hamlet != "" && !ok {
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
		if ids != nil {
			ids[a.ID] = i
		}
		if !owned {
			a.StateDates = maps.Clone(a.StateDates)
		}
		if a.Hamlet == "" && len(c.Hamlets) > 0 {
			a.Hamlet = c.hamletInside(a.Point) // checked inside above
		} else if a.Hamlet != "" {
			a.Hamlet = hamlets[a.Hamlet]
		}
		out = append(out, a)
	}
	if owned {
		clear(addrs[len(out):]) // the skipped addresses' text and dates
	}
	return out, nil
}
