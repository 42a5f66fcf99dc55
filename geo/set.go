package geo

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"fibremon"

	"github.com/paulmach/orb"
)

// Set is a data set of many comuni served together: the comuni of a
// consortium, of a province, of a region. Each comune keeps its own Index;
// the Set finds the comune of a point, of a site, of a slug or ISTAT code.
//
// A Set is immutable once built, and safe for concurrent use: a reload
// builds a new Set (reusing the Indexes of the comuni that did not change)
// and publishes it with Live.
type Set struct {
	comuni  []*Index          // sorted by slug
	byKey   map[string]*Index // slug and ISTAT code
	areas   *AreaIndex        // of comuni[i]'s boundary
	sites   []fibremon.Site   // every comune's, in comune order
	bySite  map[string]*Index
	reports []ComuneReport
	union   unionOnce
}

// ComuneReport is what loading one comune's directory gave: the comune, or
// the error that kept it out (and whether its previous version was kept
// in its place), and the register rows skipped by a lenient load.
type ComuneReport struct {
	Dir     string
	Slug    string // "" when the comune never loaded
	Err     error
	Kept    bool // Err != nil and the previous version of the comune is served
	Skipped []FileRowError
}

// NewSet builds a Set of the given comuni. Slugs, ISTAT codes and site ids
// must be unique across the set.
func NewSet(ixs ...*Index) (*Set, error) {
	s := &Set{byKey: map[string]*Index{}, bySite: map[string]*Index{}}
	for _, ix := range ixs {
		if err := s.add(ix); err != nil {
			return nil, err
		}
	}
	s.finish()
	return s, nil
}

// add adds ix, or returns an Invalid error when its slug, ISTAT code or a
// site id is already in the set.
func (s *Set) add(ix *Index) error {
	c := ix.Comune()
	for _, k := range []string{c.Slug, c.ISTATCode} {
		if prev, dup := s.byKey[k]; dup && k != "" {
			return &fibremon.Error{Kind: fibremon.Invalid, Msg: fmt.Sprintf("geo: comune %s (%s): %q is already the key of %s", c.Name, c.Slug, k, prev.Comune().Name)}
		}
	}
	for _, site := range c.Sites {
		if prev, dup := s.bySite[site.ID]; dup {
			return &fibremon.Error{Kind: fibremon.Invalid, Msg: fmt.Sprintf("geo: comune %s: site id %q is already a site of %s; site ids are unique across the data set", c.Name, site.ID, prev.Comune().Name)}
		}
	}
	for _, k := range []string{c.Slug, c.ISTATCode} {
		if k != "" {
			s.byKey[k] = ix
		}
	}
	for _, site := range c.Sites {
		s.bySite[site.ID] = ix
	}
	s.comuni = append(s.comuni, ix)
	return nil
}

func (s *Set) finish() {
	slices.SortFunc(s.comuni, func(a, b *Index) int { return cmp.Compare(a.Comune().Slug, b.Comune().Slug) })
	polys := make([]orb.MultiPolygon, len(s.comuni))
	s.sites = nil
	for i, ix := range s.comuni {
		polys[i] = ix.Comune().Boundary
		s.sites = append(s.sites, ix.Comune().Sites...)
	}
	s.areas = NewAreaIndex(polys)
}

// Comuni returns the comuni of the set, by slug. The slice is shared: do
// not modify it.
func (s *Set) Comuni() []*Index {
	if s == nil {
		return nil
	}
	return s.comuni
}

// Len returns the number of comuni.
func (s *Set) Len() int { return len(s.Comuni()) }

// Comune returns the comune whose slug or ISTAT code is key, or a NotFound
// error naming key (field "comune").
func (s *Set) Comune(key string) (*Index, error) {
	if s != nil {
		if ix, ok := s.byKey[key]; ok {
			return ix, nil
		}
		if ix, ok := s.byKey[Slug(key)]; ok && key != "" { // "Ripalta Cremasca"
			return ix, nil
		}
	}
	return nil, &fibremon.Error{Kind: fibremon.NotFound, Field: "comune",
		Msg: fmt.Sprintf("unknown comune %.60q (GET /api/v1/comuni lists them)", key)}
}

// At returns the comune whose boundary contains p (lon, lat).
func (s *Set) At(p orb.Point) (*Index, bool) {
	if s == nil {
		return nil, false
	}
	if i, ok := s.areas.Find(p); ok {
		return s.comuni[i], true
	}
	return nil, false
}

// Sites returns every comune's sites. The slice is shared: do not modify it.
func (s *Set) Sites() []fibremon.Site {
	if s == nil {
		return nil
	}
	return s.sites
}

// SiteComune returns the comune of the site with the given id.
func (s *Set) SiteComune(id string) (*Index, bool) {
	if s == nil {
		return nil, false
	}
	ix, ok := s.bySite[id]
	return ix, ok
}

// Reports returns what the load of each directory gave (nil for a Set
// built with NewSet).
func (s *Set) Reports() []ComuneReport {
	if s == nil {
		return nil
	}
	return s.reports
}

// Names returns the comuni's names, by slug, joined with ", ".
func (s *Set) Names() string {
	names := make([]string, 0, s.Len())
	for _, ix := range s.Comuni() {
		names = append(names, ix.Comune().Name)
	}
	return strings.Join(names, ", ")
}

// LoadOptions tune LoadSet.
type LoadOptions struct {
	// Lenient imports the civic registers as LoadLenient does: bad rows
	// are skipped and reported (ComuneReport.Skipped), not fatal.
	Lenient bool
	// EmulatedLines marks every site's line as emulated (the demo runs
	// its probes behind emulated lines): fibremon.Site.LineEmulated.
	EmulatedLines bool
	// Prev is the set being replaced: a comune whose directory fails to
	// load keeps its version from Prev, and a comune whose files did not
	// change could be reused (they are always reloaded today).
	Prev *Set
}

// LoadSet loads every comune of root in fsys: each directory directly
// under root that holds a BoundaryFile, or root itself when it holds one
// (a data set of a single comune). Comuni load concurrently.
//
// A comune that fails to load (a broken file, a duplicate slug, ISTAT code
// or site id) is reported in the Set's Reports with the error, which names
// the file and line or feature at fault, and the others load; when
// opt.Prev has a comune loaded from the same directory, that previous
// version is served in its place (Kept). LoadSet returns an error only when
// root cannot be read or no comune at all could be served.
func LoadSet(fsys fs.FS, root string, opt LoadOptions) (*Set, error) {
	dirs, err := comuneDirs(fsys, root)
	if err != nil {
		return nil, err
	}
	type loaded struct {
		c       *Comune
		skipped []FileRowError
		err     error
	}
	out := make([]loaded, len(dirs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(dirs), max(1, runtime.GOMAXPROCS(0))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(dirs); i = int(next.Add(1)) - 1 {
				c, err := load(fsys, dirs[i], opt.Lenient)
				if err == nil && opt.EmulatedLines {
					for j := range c.Sites {
						c.Sites[j].LineEmulated = true
					}
				}
				if err == nil {
					out[i] = loaded{c: c, skipped: c.skipped}
				} else {
					out[i] = loaded{err: err}
				}
			}
		}()
	}
	wg.Wait()

	prevByDir := map[string]*Index{}
	for _, ix := range opt.Prev.Comuni() {
		prevByDir[ix.Comune().dir] = ix
	}
	s := &Set{byKey: map[string]*Index{}, bySite: map[string]*Index{}}
	for i, dir := range dirs {
		r := ComuneReport{Dir: dir, Err: out[i].err, Skipped: out[i].skipped}
		if r.Err == nil {
			out[i].c.dir = dir
			ix := NewIndex(out[i].c)
			if r.Err = s.add(ix); r.Err == nil {
				r.Slug = ix.Comune().Slug
			}
		}
		if r.Err != nil {
			if prev, ok := prevByDir[dir]; ok && s.add(prev) == nil {
				r.Kept, r.Slug = true, prev.Comune().Slug
			}
		}
		s.reports = append(s.reports, r)
	}
	s.finish()
	if len(s.comuni) == 0 {
		var errs []error
		for _, r := range s.reports {
			errs = append(errs, r.Err)
		}
		return nil, wrap(fmt.Sprintf("geo: %s: no comune loaded", root), errors.Join(errs...))
	}
	return s, nil
}

// comuneDirs returns the directories of root that hold a BoundaryFile, or
// root alone when it holds one itself.
func comuneDirs(fsys fs.FS, root string) ([]string, error) {
	if _, err := fs.Stat(fsys, path.Join(root, BoundaryFile)); err == nil {
		return []string{root}, nil
	}
	entries, err := fs.ReadDir(fsys, root)
	if err != nil {
		return nil, fmt.Errorf("geo: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		d := path.Join(root, e.Name())
		if _, err := fs.Stat(fsys, path.Join(d, BoundaryFile)); err == nil {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return nil, &fibremon.Error{Kind: fibremon.Invalid, Msg: fmt.Sprintf("geo: %s: no comune directory (a directory holding %s)", root, BoundaryFile)}
	}
	return dirs, nil
}

// Live holds the current Set for concurrent readers: a reload builds a new
// Set and Stores it; readers Load it and never lock. The zero Live holds
// nil.
type Live struct {
	p atomic.Pointer[Set]
}

// Load returns the current set (nil before the first Store).
func (l *Live) Load() *Set { return l.p.Load() }

// Store publishes s to later Loads.
func (l *Live) Store(s *Set) { l.p.Store(s) }

// SetOf returns the Set of the given comuni, each indexed with NewIndex.
func SetOf(comuni ...*Comune) (*Set, error) {
	ixs := make([]*Index, len(comuni))
	for i, c := range comuni {
		ixs[i] = NewIndex(c)
	}
	return NewSet(ixs...)
}

// NearestSites returns up to n monitored sites of any comune nearest to p,
// nearest first, with their distances in metres.
func (s *Set) NearestSites(p orb.Point, n int) []SiteDistance {
	var all []SiteDistance
	for _, ix := range s.Comuni() {
		if len(ix.Comune().Sites) > 0 {
			all = append(all, ix.NearestSites(p, n)...)
		}
	}
	slices.SortStableFunc(all, func(a, b SiteDistance) int { return cmp.Compare(a.Meters, b.Meters) })
	return all[:min(n, len(all))]
}

// MustSetOf is SetOf that panics on error, for data known to be clean
// (tests, the embedded data set).
func MustSetOf(comuni ...*Comune) *Set {
	s, err := SetOf(comuni...)
	if err != nil {
		panic(err)
	}
	return s
}
