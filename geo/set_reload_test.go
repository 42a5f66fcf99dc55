package geo_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/paulmach/orb"

	"fibremon"
	"fibremon/geo"
)

// TestReloadComune: one comune is reloaded from its directory and the
// others are served as they were, even when their files changed; a broken
// comune, a clash with another comune or an unknown slug changes nothing.
func TestReloadComune(t *testing.T) {
	m := fstest.MapFS{}
	copyComune(t, m, "ripalta-cremasca", "ds/ripalta-cremasca")
	copyComune(t, m, "ticengo", "ds/ticengo")
	first, err := geo.LoadSet(m, "ds", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldRipalta, _ := first.Comune("ripalta-cremasca")
	oldTicengo, _ := first.Comune("ticengo")

	// Rename the town hall of Ripalta Cremasca, and change Ticengo too.
	sites := string(m["ds/ripalta-cremasca/sites.csv"].Data)
	m["ds/ripalta-cremasca/sites.csv"] = &fstest.MapFile{Data: []byte(strings.Replace(sites, "Municipio di Ripalta Cremasca", "Palazzo comunale", 1))}
	hamlets := m["ds/ticengo/hamlets.geojson"].Data
	m["ds/ticengo/hamlets.geojson"] = &fstest.MapFile{Data: []byte("broken")}

	second, err := geo.ReloadComune(m, first, "ripalta-cremasca", geo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := second.Comune("ticengo"); got != oldTicengo {
		t.Error("Ticengo was reloaded too")
	}
	ripalta, _ := second.Comune("ripalta-cremasca")
	if ripalta == oldRipalta || ripalta.Comune().Sites[0].Name != "Palazzo comunale" {
		t.Errorf("Ripalta Cremasca not reloaded: town hall %q", ripalta.Comune().Sites[0].Name)
	}
	if ix, ok := second.SiteComune("municipio"); !ok || ix != ripalta {
		t.Error("the town hall's comune is not the reloaded Ripalta Cremasca")
	}
	if second.Len() != 2 || len(second.Sites()) != len(first.Sites()) || len(second.Reports()) != 2 {
		t.Errorf("%d comuni, %d sites, %d reports; want 2, %d, 2", second.Len(), len(second.Sites()), len(second.Reports()), len(first.Sites()))
	}
	if _, ok := second.At(orb.Point{ripalta.Comune().Sites[0].Lon, ripalta.Comune().Sites[0].Lat}); !ok {
		t.Error("At does not find the reloaded comune")
	}

	// Ticengo's broken file: an error naming it, nothing changed.
	if _, err := geo.ReloadComune(m, second, "ticengo", geo.LoadOptions{}); err == nil || !strings.Contains(err.Error(), "hamlets.geojson") {
		t.Errorf("reload of broken Ticengo = %v; want an error naming hamlets.geojson", err)
	}
	m["ds/ticengo/hamlets.geojson"] = &fstest.MapFile{Data: hamlets}

	// A site id of another comune: refused.
	tsites := string(m["ds/ticengo/sites.csv"].Data)
	header, _, _ := strings.Cut(sites, "\n")
	if !strings.HasPrefix(tsites, header) {
		t.Fatalf("Ticengo's sites.csv has another header: %.200q", tsites)
	}
	line := "municipio,Municipio di Ticengo (test),town_hall,,,9.8275,45.3695,estimated,500,FTTH,1000,300,500,150,20,true,true,none: test,\n"
	m["ds/ticengo/sites.csv"] = &fstest.MapFile{Data: []byte(header + "\n" + line)}
	_, err = geo.ReloadComune(m, second, "ticengo", geo.LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), `site id "municipio" is already a site of Ripalta Cremasca`) {
		t.Errorf("reload of Ticengo with Ripalta's site id = %v; want the clash named", err)
	}
	if _, err := geo.ReloadComune(m, second, "nowhere", geo.LoadOptions{}); fibremon.KindOf(err) != fibremon.NotFound {
		t.Errorf("reload of an unknown comune = %v; want NotFound", err)
	}
	// Only a slug names the comune to reload.
	if _, err := geo.ReloadComune(m, second, "019081", geo.LoadOptions{}); fibremon.KindOf(err) != fibremon.NotFound {
		t.Errorf("reload by ISTAT code = %v; want NotFound (a slug)", err)
	}
}
