package geo

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
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
		m := newMerger(addrs.n, addrs.at, byID)
		m.owned = true
		errs, _ := importCoverage(coverage, m.merge)
		if err := bad(coverageName, errs); err != nil {
			return err
		}
	}
	byID = nil // the IDs are unique: placing need not check them again
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
	placed, err := c.placeChunks(addrs, skip)
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
	p := c.newPlacer(len(addrs))
	ids := make(map[string]string, len(addrs))
	for i, a := range addrs {
		err := p.check(a)
		if first, dup := ids[a.ID]; err == nil && dup {
			err = fibremon.FieldErrorf("number", "duplicate of %s", first)
		}
		if err != nil {
			return nil, wrap(fmt.Sprintf("address %d (%s)", i, a.Label()), err)
		}
		ids[a.ID] = a.Label()
		a.StateDates = maps.Clone(a.StateDates)
		p.keep(a)
	}
	return p.out, nil
}

// placeChunks checks and places the addresses of an import (whose IDs are
// unique), dropping each chunk once it is placed; with skip set, an
// address at fault is passed to skip and left out instead of failing the
// whole set.
func (c *Comune) placeChunks(addrs *addressChunks, skip func(a Address, err error)) ([]Address, error) {
	p := c.newPlacer(addrs.n)
	i := 0
	for k, chunk := range addrs.chunks {
		for _, a := range chunk {
			switch err := p.check(a); {
			case err == nil:
				p.keep(a)
			case skip != nil:
				skip(a, err)
			default:
				return nil, wrap(fmt.Sprintf("address %d (%s)", i, a.Label()), err)
			}
			i++
		}
		addrs.chunks[k] = nil // placed: its memory may go
	}
	return slices.Clip(p.out), nil
}

// placer checks addresses against a comune and collects the good ones.
type placer struct {
	c       *Comune
	hamlets map[string]string // name -> the Hamlet's own copy of it
	out     []Address
}

func (c *Comune) newPlacer(n int) *placer {
	p := &placer{c: c, hamlets: make(map[string]string, len(c.Hamlets)), out: make([]Address, 0, n)}
	for _, h := range c.Hamlets {
		p.hamlets[h.Name] = h.Name
	}
	return p
}

// check checks a: Validate, inside the boundary, a hamlet of the comune
// or none.
func (p *placer) check(a Address) error {
	c := p.c
	if err := a.Validate(); err != nil {
		return err
	}
	if !c.Contains(a.Point) {
		return fibremon.FieldErrorf("lon", "point (lon %g, lat %g) lies outside the boundary of %s%s",
			a.Point.Lon(), a.Point.Lat(), c.Name, c.swapHint(a.Point))
	}
	if _, ok := p.hamlets[a.Hamlet]; a.Hamlet != "" && !ok {
		return fibremon.FieldErrorf("hamlet", "%q is not a hamlet of %s", a.Hamlet, c.Name)
	}
	return nil
}

// keep keeps a checked address, its empty hamlet set from the zones.
func (p *placer) keep(a Address) {
	if a.Hamlet != "" {
		a.Hamlet = p.hamlets[a.Hamlet]
	} else if len(p.c.Hamlets) > 0 {
		a.Hamlet = p.c.hamletInside(a.Point) // inside: checked
	}
	p.out = append(p.out, a)
}
