package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"fibremon/geo"
	"fibremon/internal/fibrehttp"
)

// maxAnswerBytes bounds every answer the page gets: the cap of 2,000
// features of about 600 bytes.
const maxAnswerBytes = 1536 << 10

// waitScope waits until the page has drawn comune slug (empty: the
// consortium) with its layers by area.
func waitScope(t *testing.T, ctx context.Context, slug string) {
	t.Helper()
	waitFor(t, ctx, "the map of "+slug, fmt.Sprintf(`document.querySelector('#map').dataset.ready === 'true' && document.querySelector('#map').dataset.scope === %q &&
		document.querySelector('#map').dataset.area === 'idle'`, slug))
}

// pageURL returns the page's URL, parsed.
func pageURL(t *testing.T, ctx context.Context) *url.URL {
	t.Helper()
	u, err := url.Parse(evalString(t, ctx, `location.href`))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// wantURL checks the page's query: each key with its value ("" absent).
func wantURL(t *testing.T, ctx context.Context, want map[string]string) {
	t.Helper()
	q := pageURL(t, ctx).Query()
	for k, w := range want {
		if q.Get(k) != w {
			t.Errorf("the page's URL %q has %s=%q; want %q", pageURL(t, ctx), k, q.Get(k), w)
		}
	}
}

// searchFor types q in the search box and waits for its answer.
func searchFor(t *testing.T, ctx context.Context, q string) {
	t.Helper()
	do(t, ctx, "searching "+q,
		clearSearch,
		chromedp.SendKeys(chromedp.CSS("#search-input"), q),
		chromedp.Click(chromedp.CSS("#search-button")),
	)
	waitFor(t, ctx, "the answer to "+q, fmt.Sprintf(`(() => {
		const a = document.querySelector('#answer');
		return ['answer', 'error'].includes(a.dataset.state) && new URLSearchParams(a.dataset.query).get('address') === %q;
	})()`, q))
}

func verdict(t *testing.T, ctx context.Context) string {
	t.Helper()
	return evalString(t, ctx, `document.querySelector('#answer-verdict').textContent`)
}

// uniqueLabel returns a civic of c whose label no other civic of c has
// and that has a number, from the middle of its register.
func uniqueLabel(t *testing.T, c *geo.Comune) *geo.Address {
	t.Helper()
	n := map[string]int{}
	for _, a := range c.Addresses {
		n[a.Label()]++
	}
	for i := len(c.Addresses) / 2; i < len(c.Addresses); i++ {
		if a := &c.Addresses[i]; n[a.Label()] == 1 && a.Number != "" && a.Number != "SNC" {
			return a
		}
	}
	t.Fatalf("%s has no civic with a label of its own", c.Name)
	return nil
}

// clickComune clicks a point of comune slug's polygon on the consortium's
// map where nothing else is drawn above it.
func clickComune(t *testing.T, ctx context.Context, slug string) {
	t.Helper()
	xy := run(t, ctx, "a free point of "+slug, chromedp.Evaluate[[]float64](fmt.Sprintf(`(() => {
		const g = document.querySelector('#map svg g[data-comune=%q]');
		const r = g.getBoundingClientRect();
		for (let j = 1; j < 20; j++) for (let i = 1; i < 20; i++) {
			const x = r.left + r.width * i / 20, y = r.top + r.height * j / 20;
			const e = document.elementFromPoint(x, y);
			if (e && e.closest('[data-comune]') === g) return [x, y];
		}
		return [];
	})()`, slug)))
	if len(xy) != 2 {
		t.Fatalf("no point of %s's polygon is free to click", slug)
	}
	do(t, ctx, "clicking "+slug, chromedp.MouseClickXY(xy[0], xy[1]))
}

// drawnPoints returns the markers of layer drawn, and the URL the page
// fetched the layer from.
func drawnPoints(t *testing.T, ctx context.Context, layer string) (int, string) {
	t.Helper()
	v := run(t, ctx, "the "+layer+" layer", chromedp.Evaluate[[]string](fmt.Sprintf(`(() => {
		const g = document.querySelector('#map svg g[data-layer=%q]');
		return [String(g.querySelectorAll('.pt').length), g.dataset.src || ''];
	})()`, layer)))
	var n int
	fmt.Sscan(v[0], &n)
	return n, v[1]
}

// servicePoints counts the point features (civics and clusters; a
// MultiPoint's points each) of the service's answer to the page's request
// src, and says whether they are clusters.
func servicePoints(t *testing.T, base, src string) (int, bool) {
	t.Helper()
	u, err := url.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/" + strings.TrimPrefix(u.Path, "/") + "?" + u.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fc struct {
		Clustered bool `json:"clustered"`
		Features  []struct {
			Geometry struct {
				Type        string
				Coordinates json.RawMessage
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil {
		t.Fatalf("GET %s: %v", src, err)
	}
	n := 0
	for _, f := range fc.Features {
		switch f.Geometry.Type {
		case "Point":
			n++
		case "MultiPoint":
			var pts [][]float64
			json.Unmarshal(f.Geometry.Coordinates, &pts)
			n += len(pts)
		}
	}
	return n, fc.Clustered
}

// englishWords are words of the English page's strings that must not
// show on the Italian page.
var englishWords = []string{"municipalit", "Figures", "Colour", "units served", "Group of", "All ", "Search", "Open the", "Map of",
	"zoom", "Whole", "Units", "civics", "Lines up", "white-area", "Unknown", "Loading", "Main class", "By class", "hamlet",
	"approximate", "estimated", "position"}

// checkItalian fails t if the visible text, labels or titles of the page
// hold English words.
func checkItalian(t *testing.T, ctx context.Context) {
	t.Helper()
	text := evalString(t, ctx, `document.body.innerText + '\n' + [...document.querySelectorAll('[aria-label], [title], option')]
		.map(e => (e.getAttribute('aria-label') || '') + ' ' + (e.getAttribute('title') || '') + ' ' + (e.tagName === 'OPTION' ? e.textContent : '')).join('\n') +
		'\n' + [...document.querySelectorAll('#map svg title')].map(e => e.textContent).join('\n')`)
	for _, w := range englishWords {
		if i := strings.Index(text, w); i >= 0 {
			t.Errorf("the Italian page shows %q: …%s…", w, text[max(0, i-60):min(len(text), i+60)])
		}
	}
}

// TestBrowserConsortium drives the page over the 48 comuni in headless
// Chromium: it opens on the consortium (boundaries coloured by their
// figures, white areas, sites, the figures per comune, the attribution),
// drills into Crema by a click and into Ripalta Cremasca from a candidate
// of a search, looks an address up in each, follows the links the page
// made in fresh tabs, walks back through the history, and checks that the
// civics came by area, in answers of bounded size.
func TestBrowserConsortium(t *testing.T) {
	svc := startService(t)
	base := svc.URL
	ctx, logs := newBrowser(t)
	shots := screenshotDir(t)
	defer logs.dump(t)
	crema, err := svc.Set.Comune("crema")
	if err != nil {
		t.Fatal(err)
	}
	var comuni fibrehttp.ComuniResponse
	if err := getDecoded(base+fibrehttp.PathComuni, &comuni); err != nil {
		t.Fatal(err)
	}

	do(t, ctx, "loading the page", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/"))
	waitScope(t, ctx, "")

	t.Run("consortium", func(t *testing.T) {
		type member struct {
			Slug  string  `json:"slug"`
			Share float64 `json:"share"`
			Bin   string  `json:"bin"`
		}
		ms := run(t, ctx, "the comuni drawn", chromedp.Evaluate[[]member](`[...document.querySelectorAll('#map svg g[data-layer="comune"] .comune.member')]
			.map(g => ({slug: g.dataset.comune, share: Number(g.dataset.share), bin: [...g.classList].find(c => c.startsWith('bin-')) || ''}))`))
		if len(ms) != 48 {
			t.Fatalf("%d comuni drawn; want 48", len(ms))
		}
		byslug := map[string]fibrehttp.ComuneFigures{}
		for _, c := range comuni.Comuni {
			byslug[c.Slug] = c
		}
		bins := map[string]bool{}
		for _, m := range ms {
			if f, ok := byslug[m.Slug]; !ok || f.ServedShare != m.Share || m.Bin == "" || m.Bin == "bin-none" {
				t.Errorf("comune %s drawn with share %v (%s); its figures say %v", m.Slug, m.Share, m.Bin, f.ServedShare)
			}
			bins[m.Bin] = true
		}
		if len(bins) < 2 {
			t.Errorf("the choropleth has one colour: %v", bins)
		}
		st := readState(t, ctx)
		if st.Title != "fibremon — 48 comuni: copertura in fibra" || st.Lang != "it" {
			t.Errorf("title %q, lang %q", st.Title, st.Lang)
		}
		if !st.BadgeVisible {
			t.Error("no 'dati sintetici' badge on the consortium's map")
		}
		if st.Sites != len(svc.Set.Sites()) {
			t.Errorf("%d sites drawn; want %d", st.Sites, len(svc.Set.Sites()))
		}
		attr := run(t, ctx, "the map's attribution", chromedp.Evaluate[[]string](`(() => {
			const a = document.querySelector('#map #map-attribution'); const r = a.getBoundingClientRect();
			return [a.textContent, String(r.width > 0 && r.height > 0 && getComputedStyle(a).visibility !== 'hidden')];
		})()`))
		for _, w := range []string{"ISTAT", "openpolis", "CC-BY 4.0"} {
			if !strings.Contains(attr[0], w) || attr[1] != "true" {
				t.Errorf("attribution on the map %q (visible %s); want %s", attr[0], attr[1], w)
			}
		}
		if n, src := drawnPoints(t, ctx, "white-areas"); n == 0 || !strings.Contains(src, "bbox=") || !strings.Contains(src, "zoom=") {
			t.Errorf("white areas: %d drawn from %q; want some, by area", n, src)
		}
		if s := evalString(t, ctx, `document.querySelector('#map svg g[data-layer="addresses"]').dataset.status`); s != "scope" {
			t.Errorf("addresses layer on the consortium's map: %q; want none until a comune is chosen", s)
		}
		if n := run(t, ctx, "options", chromedp.Evaluate[int](`document.querySelectorAll('#comune-select option').length`)); n != 49 {
			t.Errorf("%d options in the comune list; want 49", n)
		}
		checkItalian(t, ctx)
		saveScreenshot(t, ctx, shots, "fibremon-consortium.png", false)
		logs.check(t, "the consortium")
	})

	// Drill into Crema with a click on its polygon: its civics come by
	// area, in clusters at the zoom of the whole comune.
	var cremaAnswer, cremaLink string
	addr := uniqueLabel(t, crema.Comune())
	t.Run("crema", func(t *testing.T) {
		clickComune(t, ctx, "crema")
		waitScope(t, ctx, "crema")
		wantURL(t, ctx, map[string]string{"comune": "crema", "address": "", "view": ""})
		st := readState(t, ctx)
		if st.Title != "fibremon — Crema: copertura in fibra" || st.ComunePaths != 1 {
			t.Errorf("Crema: title %q, %d comune paths", st.Title, st.ComunePaths)
		}
		if st.LayerStatus["addresses"] != "ok" || st.LayerStatus["hamlets"] != "ok" {
			t.Errorf("Crema's layers %v", st.LayerStatus)
		}
		n, src := drawnPoints(t, ctx, "addresses")
		want, clustered := servicePoints(t, base, src)
		if !strings.Contains(src, "comune=crema") || !strings.Contains(src, "bbox=") || !strings.Contains(src, "zoom=") {
			t.Errorf("addresses fetched from %q; want by comune, bbox and zoom", src)
		}
		if !clustered || n != want || n == 0 || n > geo.MaxAreaFeatures {
			t.Errorf("Crema whole: %d markers drawn, the service has %d (clustered %v) at %s; want its clusters", n, want, clustered, src)
		}
		saveScreenshot(t, ctx, shots, "fibremon-crema.png", false)

		// A click on the biggest cluster zooms into it, until civics show
		// one by one.
		for i := 0; ; i++ {
			if c := evalString(t, ctx, `document.querySelector('#map svg g[data-layer="addresses"]').dataset.clustered`); c == "false" {
				break
			}
			if i == 6 {
				t.Fatal("still clusters after six zooms")
			}
			before := src
			// The biggest cluster in view whose centre nothing else covers.
			xy := run(t, ctx, "the biggest cluster", chromedp.Evaluate[[]float64](`(() => {
				const m = document.querySelector('#map svg').getBoundingClientRect();
				const cs = [...document.querySelectorAll('#map svg g[data-layer="addresses"] .cluster')].map(c => {
					const r = c.getBoundingClientRect();
					return {c, x: r.left + r.width / 2, y: r.top + r.height / 2};
				}).filter(o => o.x > m.left + 60 && o.x < m.right - 60 && o.y > m.top + 60 && o.y < m.bottom - 40 &&
					document.elementFromPoint(o.x, o.y) && document.elementFromPoint(o.x, o.y).closest('.cluster') === o.c);
				cs.sort((a, b) => b.c.dataset.count - a.c.dataset.count);
				return cs.length ? [cs[0].x, cs[0].y] : [];
			})()`))
			if len(xy) != 2 {
				t.Fatal("no cluster to click in view")
			}
			do(t, ctx, "click", chromedp.MouseClickXY(xy[0], xy[1]))
			waitFor(t, ctx, "the addresses of the zoomed view", fmt.Sprintf(`document.querySelector('#map svg g[data-layer="addresses"]').dataset.src !== %q`, before))
			_, src = drawnPoints(t, ctx, "addresses")
		}
		n, src = drawnPoints(t, ctx, "addresses")
		want, clustered = servicePoints(t, base, src)
		civics := run(t, ctx, "civics", chromedp.Evaluate[int](`document.querySelectorAll('#map svg g[data-layer="addresses"] .address').length`))
		if clustered || n != want || civics != n || n == 0 {
			t.Errorf("zoomed in: %d markers (%d civics), the service has %d (clustered %v) at %s", n, civics, want, clustered, src)
		}
		if s := evalString(t, ctx, `document.querySelector('#answer').dataset.state`); s != "empty" {
			t.Errorf("a click on a cluster asked the coverage: %s", s)
		}
		saveScreenshot(t, ctx, shots, "fibremon-crema-civics.png", false)

		// An address of Crema, looked up in Crema.
		searchFor(t, ctx, addr.Label())
		v := verdict(t, ctx)
		if q := evalString(t, ctx, `document.querySelector('#answer').dataset.query`); !strings.Contains(q, "comune=crema") {
			t.Errorf("search in Crema asked %q; want comune=crema", q)
		}
		if s := evalString(t, ctx, `document.querySelector('#answer').dataset.match`); s != "exact" || !strings.Contains(v, addr.Label()) {
			t.Errorf("%s in Crema: match %q, verdict %q", addr.Label(), s, v)
		}
		wantURL(t, ctx, map[string]string{"comune": "crema", "address": addr.Label()})
		cremaAnswer, cremaLink = v, pageURL(t, ctx).String()
		checkItalian(t, ctx)
		logs.check(t, "Crema")
	})

	// The link of the answer, in a fresh tab: the same answer, in Crema.
	t.Run("crema link", func(t *testing.T) {
		tab, cancel := chromedp.NewContext(ctx)
		defer cancel()
		logs.watch(tab)
		do(t, tab, "opening "+cremaLink, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(cremaLink))
		waitScope(t, tab, "crema")
		waitFor(t, tab, "the answer", `document.querySelector('#answer').dataset.state === 'answer'`)
		if v := verdict(t, tab); v != cremaAnswer {
			t.Errorf("the link shows %q; the page showed %q", v, cremaAnswer)
		}
		if n := run(t, tab, "highlight", chromedp.Evaluate[int](`document.querySelectorAll('#map svg [data-highlight="address"]').length`)); n != 1 {
			t.Errorf("%d highlighted addresses; want 1", n)
		}
		if v := evalString(t, tab, `document.querySelector('#search-input').value`); v != addr.Label() {
			t.Errorf("search box %q; want %q", v, addr.Label())
		}
		logs.check(t, "the Crema link")
	})

	// Back to the consortium; Via Roma 5 is in several comuni: candidates
	// named with their comune; the one of Ripalta Cremasca opens it.
	t.Run("ripalta cremasca", func(t *testing.T) {
		do(t, ctx, "back to the consortium", chromedp.Click(chromedp.CSS("#back-consortium")))
		waitScope(t, ctx, "")
		wantURL(t, ctx, map[string]string{"comune": "", "address": ""})
		searchFor(t, ctx, "Via Roma 5")
		if q := evalString(t, ctx, `document.querySelector('#answer').dataset.query`); strings.Contains(q, "comune=") {
			t.Errorf("search in the consortium asked %q", q)
		}
		type cand struct {
			Text   string `json:"text"`
			Comune string `json:"comune"`
		}
		cs := run(t, ctx, "candidates", chromedp.Evaluate[[]cand](`[...document.querySelectorAll('#answer button.candidate')].map(b => ({text: b.textContent, comune: b.dataset.comune}))`))
		names := map[string]bool{}
		rip := -1
		for i, c := range cs {
			names[c.Comune] = true
			f, err := svc.Set.Comune(c.Comune)
			if err != nil || !strings.Contains(c.Text, f.Comune().Name) {
				t.Errorf("candidate %q of %q does not name its comune", c.Text, c.Comune)
			}
			if c.Comune == "ripalta-cremasca" && rip < 0 {
				rip = i
			}
		}
		if len(names) < 2 || rip < 0 {
			t.Fatalf("candidates %v; want several comuni, Ripalta Cremasca among them", cs)
		}
		checkItalian(t, ctx)
		do(t, ctx, "choosing Ripalta Cremasca's", chromedp.Click(chromedp.CSS(fmt.Sprintf(`#answer button.candidate[data-index="%d"]`, rip))))
		waitScope(t, ctx, "ripalta-cremasca")
		waitFor(t, ctx, "the candidate's answer", `document.querySelector('#answer').dataset.match === 'nearest'`)
		wantURL(t, ctx, map[string]string{"comune": "ripalta-cremasca", "address": ""})
		if q := pageURL(t, ctx).Query(); q.Get("lat") == "" || q.Get("lon") == "" {
			t.Errorf("URL %v; want the candidate's point", q)
		}
		// Ripalta Cremasca whole: each of its 1,034 civics.
		n, src := drawnPoints(t, ctx, "addresses")
		if want, clustered := servicePoints(t, base, src); clustered || n != want || n != len(svc.Comune.Addresses) {
			t.Errorf("Ripalta Cremasca: %d markers, the service has %d (clustered %v); want its %d civics", n, want, clustered, len(svc.Comune.Addresses))
		}
		searchFor(t, ctx, "Via Roma 5")
		v := verdict(t, ctx)
		if !strings.Contains(v, "Coperto in fibra FTTH") || !strings.Contains(v, "Via Roma 5, Ripalta Nuova") {
			t.Errorf("Via Roma 5 in Ripalta Cremasca: %q", v)
		}
		wantURL(t, ctx, map[string]string{"comune": "ripalta-cremasca", "address": "Via Roma 5", "lat": ""})
		link := pageURL(t, ctx).String()
		tab, cancel := chromedp.NewContext(ctx)
		defer cancel()
		logs.watch(tab)
		do(t, tab, "opening "+link, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(link))
		waitScope(t, tab, "ripalta-cremasca")
		waitFor(t, tab, "the answer", `document.querySelector('#answer').dataset.state === 'answer'`)
		if got := verdict(t, tab); got != v {
			t.Errorf("the link shows %q; the page showed %q", got, v)
		}
		saveScreenshot(t, tab, shots, "fibremon-ripalta-link.png", false)
		logs.check(t, "Ripalta Cremasca")
	})

	// The figures of Ripalta Cremasca: per hamlet, and the timeline.
	t.Run("figures", func(t *testing.T) {
		do(t, ctx, "the figures tab", chromedp.Click(chromedp.CSS("#tab-table")))
		waitFor(t, ctx, "the rollout table", `document.querySelectorAll('#rollout-table tbody tr').length > 0 && document.querySelector('.timeline svg') !== null`)
		wantURL(t, ctx, map[string]string{"view": "table", "comune": "ripalta-cremasca"})
		rows := run(t, ctx, "rows", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#rollout-table tbody tr')].map(r => r.dataset.scope)`))
		if len(rows) != len(svc.Comune.Hamlets)+1 || rows[0] != "comune" {
			t.Errorf("rollout rows %q; want the comune and its %d hamlets", rows, len(svc.Comune.Hamlets))
		}
		checkItalian(t, ctx)
		saveScreenshot(t, ctx, shots, "fibremon-figures.png", false)
		do(t, ctx, "the map tab", chromedp.NavigateBack())
		waitFor(t, ctx, "the map view", `!document.querySelector('#map-view').hidden && document.querySelector('#table-view').hidden`)
		wantURL(t, ctx, map[string]string{"view": "", "comune": "ripalta-cremasca", "address": "Via Roma 5"})
	})

	// Back through the history: the candidate, the consortium's ambiguous
	// search, the consortium, Crema's answer.
	t.Run("history", func(t *testing.T) {
		do(t, ctx, "back", chromedp.NavigateBack())
		waitFor(t, ctx, "the candidate's answer again", `document.querySelector('#answer').dataset.match === 'nearest' && document.querySelector('#map').dataset.scope === 'ripalta-cremasca'`)
		do(t, ctx, "back", chromedp.NavigateBack())
		waitScope(t, ctx, "")
		waitFor(t, ctx, "the candidates again", `document.querySelector('#answer').dataset.match === 'ambiguous' && document.querySelectorAll('#answer button.candidate').length > 1`)
		do(t, ctx, "back", chromedp.NavigateBack())
		waitFor(t, ctx, "no answer", `document.querySelector('#answer').dataset.state === 'empty'`)
		wantURL(t, ctx, map[string]string{"comune": "", "address": ""})
		do(t, ctx, "back", chromedp.NavigateBack())
		waitScope(t, ctx, "crema")
		waitFor(t, ctx, "Crema's answer again", `document.querySelector('#answer').dataset.state === 'answer'`)
		if v := verdict(t, ctx); v != cremaAnswer {
			t.Errorf("back to Crema's answer: %q; want %q", v, cremaAnswer)
		}
		logs.check(t, "the history")
	})

	// From the consortium, an address that names its comune opens it.
	t.Run("address naming its comune", func(t *testing.T) {
		do(t, ctx, "back to the consortium", chromedp.Click(chromedp.CSS("#back-consortium")))
		waitScope(t, ctx, "")
		q := addr.Label() + ", Crema"
		searchFor(t, ctx, q)
		waitScope(t, ctx, "crema")
		if v := verdict(t, ctx); v != cremaAnswer {
			t.Errorf("%q from the consortium: %q; want %q", q, v, cremaAnswer)
		}
		wantURL(t, ctx, map[string]string{"comune": "crema", "address": q})
	})

	// English: the new strings too.
	t.Run("english", func(t *testing.T) {
		do(t, ctx, "back to the consortium", chromedp.Click(chromedp.CSS("#back-consortium")))
		waitScope(t, ctx, "")
		do(t, ctx, "switching to English", chromedp.Click(chromedp.CSS("#lang-toggle")))
		wantURL(t, ctx, map[string]string{"lang": "en"})
		st := readState(t, ctx)
		if st.Title != "fibremon — 48 municipalities: fibre coverage" || !strings.Contains(st.Legend, "Municipalities, by share of units served") {
			t.Errorf("English: title %q, legend %q", st.Title, st.Legend)
		}
		if b := evalString(t, ctx, `document.querySelector('#back-consortium').textContent + '|' + document.querySelector('#tab-table').textContent`); b != "← All municipalities|Figures" {
			t.Errorf("English controls %q", b)
		}
		do(t, ctx, "switching to Italian", chromedp.Click(chromedp.CSS("#lang-toggle")))
		wantURL(t, ctx, map[string]string{"lang": ""})
		checkItalian(t, ctx)
	})

	// A comune named in the URL by its ISTAT code opens it under its slug;
	// an unknown one shows the consortium and says so.
	t.Run("comune in the URL", func(t *testing.T) {
		tab, cancel := chromedp.NewContext(ctx)
		defer cancel()
		logs.watch(tab)
		do(t, tab, "opening ?comune=019035", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base+"/?comune=019035"))
		waitScope(t, tab, "crema")
		wantURL(t, tab, map[string]string{"comune": "crema"})
		do(t, tab, "opening ?comune=atlantide", chromedp.Navigate(base+"/?comune=atlantide&address=Via+Roma+5"))
		waitScope(t, tab, "")
		if s := evalString(t, tab, `document.querySelector('#place-note').textContent`); !strings.Contains(s, "Comune sconosciuto: «atlantide»") {
			t.Errorf("status %q; want it to name the unknown comune", s)
		}
		wantURL(t, tab, map[string]string{"comune": "", "address": "Via Roma 5"})
		waitFor(t, tab, "the consortium's candidates", `document.querySelector('#answer').dataset.match === 'ambiguous'`)
		logs.check(t, "comuni in the URL")
	})

	// Every answer the page got was bounded, and the civics came by area.
	svc.requests.checkPublic(t)
	svc.requests.checkByArea(t)
}

// checkByArea fails t unless every answer the browser got was at most
// maxAnswerBytes and every request for the civics or the white areas was
// limited by bbox and zoom.
func (l *requestLog) checkByArea(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	area, biggest := 0, 0
	for i, u := range l.urls {
		biggest = max(biggest, l.sizes[i])
		if l.sizes[i] > maxAnswerBytes {
			t.Errorf("GET %s answered %d bytes; want at most %d", u, l.sizes[i], maxAnswerBytes)
		}
		p, err := url.Parse(u)
		if err != nil || p.Path != fibrehttp.PathCoverage {
			continue
		}
		q := p.Query()
		if layer := q.Get("layer"); layer == geo.LayerAddresses || layer == geo.LayerWhiteAreas {
			area++
			if q.Get("bbox") == "" || q.Get("zoom") == "" {
				t.Errorf("the page asked %s without bbox and zoom", u)
			}
		}
	}
	if area == 0 {
		t.Error("the page asked no civics")
	}
	t.Logf("%d requests by area; the largest answer of %d was %d bytes", area, len(l.urls), biggest)
}

func getDecoded(u string, v any) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
