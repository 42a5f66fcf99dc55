package geo

import (
	"fmt"
	"io/fs"
	"slices"

	"fibremon"
)

// ReloadComune returns a Set that is prev with one comune, the one whose
// slug is slug, loaded afresh from the directory of fsys it was loaded
// from, and every other comune as prev has it (the same Indexes, not
// reloaded). A comune's municipality reloads its own data this way
// without touching the others'.
//
// When the comune's files fail to load, or it now clashes with another
// comune (slug, ISTAT code, site id), ReloadComune returns the error and
// prev stays as it is. The reports of prev are kept, the comune's own
// replaced by this load's.
func ReloadComune(fsys fs.FS, prev *Set, slug string, opt LoadOptions) (*Set, error) {
	old, ok := prev.bySlug(slug)
	if !ok {
		return nil, &fibremon.Error{Kind: fibremon.NotFound, Field: "comune", Msg: fmt.Sprintf("unknown comune %.60q", slug)}
	}
	dir := old.Comune().dir
	if dir == "" {
		return nil, &fibremon.Error{Kind: fibremon.Invalid, Field: "comune",
			Msg: fmt.Sprintf("geo: comune %s was not loaded from a directory; reload the whole data set", slug)}
	}
	c, err := load(fsys, dir, opt.Lenient)
	if err != nil {
		return nil, err
	}
	if opt.EmulatedLines {
		for j := range c.Sites {
			c.Sites[j].LineEmulated = true
		}
	}
	c.dir = dir
	s := &Set{byKey: map[string]*Index{}, bySite: map[string]*Index{}}
	for _, ix := range prev.comuni {
		if ix != old {
			if err := s.add(ix); err != nil {
				return nil, err
			}
		}
	}
	if err := s.add(NewIndex(c)); err != nil {
		return nil, wrap("geo: "+dir, err)
	}
	s.finish()
	r := ComuneReport{Dir: dir, Slug: c.Slug, Skipped: c.skipped}
	s.reports = slices.Clone(prev.reports)
	if i := slices.IndexFunc(s.reports, func(r ComuneReport) bool { return r.Dir == dir }); i >= 0 {
		s.reports[i] = r
	} else {
		s.reports = append(s.reports, r)
	}
	return s, nil
}

// bySlug returns the comune whose slug is exactly slug.
func (s *Set) bySlug(slug string) (*Index, bool) {
	if s == nil {
		return nil, false
	}
	ix, ok := s.byKey[slug]
	return ix, ok && ix.Comune().Slug == slug
}
