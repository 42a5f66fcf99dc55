package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// ogrFeatureCount validates a GeoJSON document with GDAL's ogrinfo, an
// independent reader, and returns the feature count it reports. Any GDAL
// warning or error fails the test.
func ogrFeatureCount(t *testing.T, name, geojson string) int {
	t.Helper()
	bin, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Fatalf("ogrinfo not found: install it with 'apt-get install gdal-bin' (scripts/install-test-deps does)")
	}
	path := filepath.Join(t.TempDir(), name+".geojson")
	if err := os.WriteFile(path, []byte(geojson), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-ro", "-al", "-so", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo %s: %v\n%s", name, err, out)
	}
	text := string(out)
	if strings.Contains(text, "Warning") || strings.Contains(text, "ERROR") {
		t.Errorf("ogrinfo %s reports problems:\n%s", name, text)
	}
	total := 0
	for _, m := range regexp.MustCompile(`Feature Count: (\d+)`).FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if !strings.Contains(text, `ID["EPSG",4326]`) {
		t.Errorf("ogrinfo %s: not read as WGS 84 lon/lat", name)
	}
	return total
}
