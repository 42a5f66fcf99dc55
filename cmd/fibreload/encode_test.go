package main

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"fibremon"
	"fibremon/internal/fibrehttp"
)

// TestAppendRequest checks the generator's encoder against encoding/json:
// the bodies decode to the same results, and the service's decoder accepts
// them.
func TestAppendRequest(t *testing.T) {
	p := &probe{cred: cred{probe: "load-probe-1", site: "load-site-1"}, rng: rand.New(rand.NewPCG(1, 2))}
	var rs []fibremon.Result
	for i := range 500 {
		rs = append(rs, p.result(uuid.NewString(), time.Now().UTC().Add(time.Duration(i)*time.Microsecond)))
	}
	rs[0].Error, rs[0].Up = "quote \" backslash \\ tab \t newline \n città", false
	body := appendRequest(nil, rs)
	var got, want fibrehttp.ResultsRequest
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("appendRequest body does not decode: %v\n%s", err, body)
	}
	std, err := json.Marshal(fibrehttp.ResultsRequest{Results: rs})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(std, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("appendRequest decodes to\n%+v\nwant\n%+v", got.Results[:2], want.Results[:2])
	}
	dec, err := fibrehttp.DecodeResults(body, time.Now())
	if err != nil {
		t.Fatalf("DecodeResults: %v", err)
	}
	if len(dec) != len(rs) {
		t.Fatalf("DecodeResults: %d results; want %d", len(dec), len(rs))
	}
	kinds := map[fibremon.Kind]int{}
	for _, r := range dec {
		kinds[r.Kind]++
	}
	for _, k := range fibremon.Kinds {
		if kinds[k] == 0 {
			t.Errorf("no %s result in 500", k)
		}
	}
}
