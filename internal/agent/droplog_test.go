package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"fibremon"
)

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStoreLogsDrops: results the spool drops to stay within its bounds
// are logged by the agent, not only counted.
func TestStoreLogsDrops(t *testing.T) {
	cfg := &Config{Probe: "probe-test", SiteID: "municipio", Service: DefaultService, Spool: DefaultSpool}
	cfg.Service.URL = "http://127.0.0.1:1"
	cfg.Service.Token = "unused"
	cfg.Spool.Dir = t.TempDir()
	cfg.Spool.MaxBytes = 2000 // a few results
	var log syncBuffer
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for range 20 {
		a.store(fibremon.Result{ID: fmt.Sprint(time.Now().UnixNano()), SiteID: "municipio", Probe: "probe-test",
			Kind: fibremon.KindTCP, Target: "127.0.0.1:1", Start: time.Now().UTC(), Up: true})
	}
	s := a.Spool()
	if s.Dropped == 0 {
		t.Fatalf("spool stats %+v: nothing dropped; the test needs drops", s)
	}
	text := log.String()
	if n := strings.Count(text, `msg="spool full: oldest results dropped unsent"`); n == 0 {
		t.Fatalf("%d results dropped and none logged:\n%s", s.Dropped, text)
	}
	if want := fmt.Sprintf("dropped_results_total=%d ", s.Dropped); !strings.Contains(text, want) {
		t.Errorf("the log lacks %q:\n%s", want, text)
	}
	if strings.Contains(text, "result not spooled") {
		t.Errorf("a result was not spooled:\n%s", text)
	}
}
