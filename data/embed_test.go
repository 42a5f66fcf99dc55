package data_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"fibremon/data"
)

var files = []string{
	"README.md",
	"ripalta-cremasca/boundary.geojson",
	"ripalta-cremasca/hamlets.geojson",
	"ripalta-cremasca/sites.csv",
}

func TestFS(t *testing.T) {
	if err := fstest.TestFS(data.FS, files...); err != nil {
		t.Fatal(err)
	}
}

func TestFiles(t *testing.T) {
	readme, err := fs.ReadFile(data.FS, "README.md")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		json bool
	}{
		{"ripalta-cremasca/boundary.geojson", true},
		{"ripalta-cremasca/hamlets.geojson", true},
		{"ripalta-cremasca/sites.csv", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := fs.ReadFile(data.FS, tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if tt.json && !json.Valid(b) {
				t.Errorf("%s is not valid JSON", tt.name)
			}
			if !strings.Contains(string(readme), "`"+tt.name+"`") {
				t.Errorf("README.md does not describe %s", tt.name)
			}
		})
	}
	const attribution = "Confini comunali: ISTAT 2023 via openpolis/geojson-italy, CC-BY 4.0"
	for _, name := range []string{"README.md", "ripalta-cremasca/boundary.geojson"} {
		b, err := fs.ReadFile(data.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), attribution) {
			t.Errorf("%s does not carry the attribution %q", name, attribution)
		}
	}
}
