package geo

import (
	"strings"
	"testing"
	"testing/fstest"

	"fibremon/data"
)

// TestLoadLenient: a register from outside with bad rows loads the good
// ones and reports the bad ones by file and line; Load refuses it.
func TestLoadLenient(t *testing.T) {
	fsys := fstest.MapFS{}
	for _, name := range []string{BoundaryFile, HamletsFile, SitesFile} {
		b, err := data.FS.ReadFile("ripalta-cremasca/" + name)
		if err != nil {
			t.Fatal(err)
		}
		fsys["c/"+name] = &fstest.MapFile{Data: b}
	}
	civics := strings.Join([]string{
		strings.Join(CivicColumns, ","),
		"019081,Via,Roma,5,9.694451,45.334728,Ripalta Nuova,2,false,test",
		"019081,Via,Roma,7,nine,45.334800,Ripalta Nuova,1,false,test", // line 3: bad lon
		"019081,Via,Roma,9,9.694600,45.334900,,1,false,test",
		"019081,Via,Lontana,1,9.900000,45.334900,,1,false,test", // outside the comune
	}, "\n") + "\n"
	coverage := strings.Join([]string{
		strings.Join(CoverageColumns, ","),
		"019081,Via,Roma,5,FTTH,1000,300,white,active,,,,,,2021-05-01,2021-06-01,Open Fiber,false,test",
		"019081,Via,Roma,11,FTTH,1000,300,white,active,,,,,,2021-05-01,2021-06-01,Open Fiber,false,test", // line 3: no such civic
	}, "\n") + "\n"
	fsys["c/"+CivicsFile] = &fstest.MapFile{Data: []byte(civics)}
	fsys["c/"+CoverageFile] = &fstest.MapFile{Data: []byte(coverage)}

	if _, err := Load(fsys, "c"); err == nil {
		t.Fatal("Load accepted a register with bad rows")
	}
	c, skipped, err := LoadLenient(fsys, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Addresses) != 2 {
		t.Fatalf("%d addresses imported; want 2 (Via Roma 5 and 9)", len(c.Addresses))
	}
	var got []string
	for _, e := range skipped {
		got = append(got, e.Error())
	}
	want := []string{"c/civics.csv: line 3", "c/coverage.csv: line 3", "c/civics.csv: input: Via Lontana 1: lon: point"}
	if len(got) != len(want) {
		t.Fatalf("skipped %q; want %d rows", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("skipped[%d] = %q; want it to start with %q", i, got[i], want[i])
		}
	}
}
