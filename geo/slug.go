package geo

import "strings"

// Slug returns the slug of a comune's name: lower case ASCII letters and
// digits, words joined by '-', accents folded as NormaliseStreet does
// ("Rivolta d'Adda" is "rivolta-d-adda", "Casale Cremasco-Vidolasco"
// "casale-cremasco-vidolasco"). A comune's directory in a data set is named
// by its slug.
func Slug(name string) string {
	var b strings.Builder
	dash := false
	emit := func(r rune) {
		if dash {
			b.WriteByte('-')
			dash = false
		}
		b.WriteRune(r)
	}
	for _, r := range strings.ToLower(name) {
		if f, ok := fold[r]; ok {
			for _, x := range f {
				emit(x)
			}
			continue
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			emit(r)
			continue
		}
		dash = b.Len() > 0
	}
	return b.String()
}
