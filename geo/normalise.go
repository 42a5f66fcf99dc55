package geo

import (
	"strings"
	"unicode"
)

// fold maps accented Latin letters (already lower case) to their base
// letters. golang.org/x/text is not in the module, so this table covers
// Latin-1 and Latin Extended-A, which hold every letter of Italian, German
// and French street names and of the minority languages of Italy.
var fold = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'ĉ': "c", 'ċ': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ĕ': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ĝ': "g", 'ğ': "g", 'ġ': "g", 'ģ': "g", 'ĥ': "h", 'ħ': "h",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ĩ': "i", 'ī': "i", 'ĭ': "i", 'į': "i", 'ı': "i",
	'ĵ': "j", 'ķ': "k", 'ĺ': "l", 'ļ': "l", 'ľ': "l", 'ŀ': "l", 'ł': "l",
	'ñ': "n", 'ń': "n", 'ņ': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ŏ': "o", 'ő': "o", 'œ': "oe",
	'ŕ': "r", 'ŗ': "r", 'ř': "r", 'ś': "s", 'ŝ': "s", 'ş': "s", 'š': "s", 'ß': "ss",
	'ţ': "t", 'ť': "t", 'ŧ': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ũ': "u", 'ū': "u", 'ŭ': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ŵ': "w", 'ý': "y", 'ÿ': "y", 'ŷ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// abbreviations expands the street types that Italian addresses abbreviate.
// Forms with a dot may be glued to the next word ("v.roma").
var abbreviations = map[string]string{
	"v.": "via", "v": "via",
	"p.za": "piazza", "p.zza": "piazza", "pza": "piazza", "pzza": "piazza", "p.zetta": "piazzetta",
	"c.so": "corso", "cso": "corso",
	"v.le": "viale", "vle": "viale",
	"l.go": "largo", "lgo": "largo",
	"str.": "strada", "str": "strada",
	"loc.": "localita", "loc": "localita",
	"fraz.": "frazione", "fraz": "frazione", "fr.": "frazione",
	"vic.": "vicolo", "vic": "vicolo",
	"p.le": "piazzale", "ple": "piazzale",
	"c.na": "cascina", "cna": "cascina",
}

// dottedPrefixes are the abbreviations with a dot that may be glued to the
// following word, longest first so that "p.zza" wins over "p.".
var dottedPrefixes = []string{"p.zetta", "fraz.", "p.zza", "p.za", "c.so", "v.le", "l.go", "p.le", "c.na", "str.", "loc.", "vic.", "fr.", "v."}

// inNameAbbreviations are expanded anywhere in a name.
var inNameAbbreviations = map[string]string{"f.lli": "fratelli", "flli": "fratelli"}

// NormaliseStreet returns the form of a street name used for matching: lower
// case, accents folded (à→a, è/é→e, ...), the abbreviated street type
// expanded ("v."→"via", "p.zza"→"piazza", "c.so"→"corso", "v.le"→"viale",
// "l.go"→"largo", "str."→"strada", "loc."→"localita", "fraz."→"frazione",
// "vic."→"vicolo", "p.le"→"piazzale"), punctuation turned into spaces and
// spaces collapsed. Only the first word is taken for an abbreviated type,
// so the numeral in "Via V Novembre" stays "v".
//
//	NormaliseStreet("P.zza  Garibaldi") == "piazza garibaldi"
//	NormaliseStreet("v.Roma") == "via roma"
//	NormaliseStreet("Località Cà de' Bonzi") == "localita ca de bonzi"
func NormaliseStreet(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if f, ok := fold[r]; ok {
			b.WriteString(f)
			continue
		}
		switch {
		case r == '.':
			b.WriteRune(r) // kept until abbreviations are expanded
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	words := strings.Fields(b.String())
	if len(words) > 0 {
		first := words[0]
		if exp, ok := abbreviations[first]; ok {
			words[0] = exp
		} else {
			for _, p := range dottedPrefixes {
				if len(first) > len(p) && strings.HasPrefix(first, p) {
					words = append([]string{abbreviations[p], first[len(p):]}, words[1:]...)
					break
				}
			}
		}
	}
	out := make([]string, 0, len(words))
	for _, w := range words {
		if exp, ok := inNameAbbreviations[w]; ok {
			w = exp
		}
		for _, part := range strings.Split(w, ".") {
			if part != "" {
				out = append(out, part)
			}
		}
	}
	return strings.Join(out, " ")
}

// streetTypes are the normalised street types (ANNCSU DUG) that a query may
// put before a street name.
var streetTypes = map[string]bool{
	"via": true, "viale": true, "piazza": true, "piazzale": true, "piazzetta": true,
	"corso": true, "largo": true, "strada": true, "localita": true, "frazione": true,
	"vicolo": true, "contrada": true, "borgo": true, "cascina": true, "vicinale": true,
	"galleria": true, "lungoserio": true, "traversa": true, "salita": true, "rotonda": true,
	"circonvallazione": true, "stradone": true, "stradella": true, "cortile": true, "corte": true,
}
