package faults

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"fibremon"
	"fibremon/internal/fibrehttp"
	"fibremon/internal/spool"
)

// holdProxy relays the probe's requests to the service. Armed, it relays
// the next POST of results, and once the service has answered — the batch
// is committed — it holds the answer back until released, so that the
// probe can be killed between the service's commit and its own Ack.
// Refusing, it answers every POST 503 itself, as a service whose store is
// down would, so that the probe builds up a backlog.
type holdProxy struct {
	upstream string
	mu       sync.Mutex
	armed    bool
	refusing bool
	held     chan []fibremon.Result // the held batch, once the service answered it
	release  chan struct{}
}

func newHoldProxy(upstream string) *holdProxy {
	return &holdProxy{upstream: upstream, held: make(chan []fibremon.Result, 1), release: make(chan struct{})}
}

func (h *holdProxy) arm() {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
}

func (h *holdProxy) refuse(on bool) {
	h.mu.Lock()
	h.refusing = on
	h.mu.Unlock()
}

func (h *holdProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	h.mu.Lock()
	refusing := h.refusing && r.Method == http.MethodPost
	h.mu.Unlock()
	if refusing {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":"temporarily unavailable, retry later"}`, http.StatusServiceUnavailable)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, h.upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	h.mu.Lock()
	hold := h.armed && r.Method == http.MethodPost && r.URL.Path == fibrehttp.PathResults && resp.StatusCode == http.StatusOK
	if hold {
		h.armed = false
	}
	h.mu.Unlock()
	if hold {
		var rr fibrehttp.ResultsRequest
		json.Unmarshal(body, &rr) //nolint:errcheck // the service accepted it: it decodes
		h.held <- rr.Results
		select {
		case <-h.release:
		case <-r.Context().Done():
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer) //nolint:errcheck // the probe may be gone
}

// TestProbeKilled kills the probe with SIGKILL while one of its uploads is
// in flight — committed by the service, not yet acknowledged to the probe
// — and starts it again on the same spool. The probe sends the batch
// again; the service counts it as duplicates and stores nothing twice;
// every result the probe had made is stored exactly once. Before that, a
// relay refuses uploads for a while, so that the batch in flight is a full
// one taken from a backlog.
func TestProbeKilled(t *testing.T) {
	long(t)
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	proxy := newHoldProxy(svc.base)
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	t.Cleanup(func() { close(proxy.release) }) // runs before ps.Close
	p := newProbe(t, svc, token, newTargets(t), probeOptions{serviceURL: ps.URL, batchSize: 10})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 20 })

	// A backlog first, so that the held batch is a full one.
	proxy.refuse(true)
	p.waitAccount("a backlog in the spool", startTimeout, func(a account) bool { return a.failed >= 1 && a.spooled >= 15 })
	proxy.arm()
	proxy.refuse(false)
	var held []fibremon.Result
	select {
	case held = <-proxy.held:
	case <-time.After(startTimeout):
		t.Fatalf("no upload within %v", startTimeout)
	}
	if len(held) != 10 {
		t.Fatalf("the held batch has %d results; want a full batch of 10", len(held))
	}
	stored := ids(svc.results(since))
	for _, r := range held {
		if !stored[r.ID] {
			t.Fatalf("result %s of the held batch is not stored; the service answered 200", r.ID)
		}
	}
	// The probe's only uploader waits for the held answer, so its count of
	// acknowledged results cannot move until the kill. The pause lets the
	// spooling of results already counted as made complete; after it,
	// each of them must be on disk or acknowledged.
	before := p.account()
	time.Sleep(time.Second)
	p.kill()

	// The killed probe's durable record: what it had acknowledged, and
	// what it left in its spool (the held batch among it).
	left := readSpool(t, p.spoolDir)
	leftIDs := ids(left)
	for _, r := range held {
		if !leftIDs[r.ID] {
			t.Errorf("result %s of the unacknowledged batch is not in the spool after the kill", r.ID)
		}
	}
	durable := before.uploaded + len(left)
	if made := before.produced - before.writeErrors; durable < made {
		t.Fatalf("after the kill, %d results acknowledged + %d in the spool < %d made before it", before.uploaded, len(left), made)
	}
	if before.dropped != 0 || before.writeErrors != 0 {
		t.Fatalf("the probe dropped %d and failed to spool %d results; want none", before.dropped, before.writeErrors)
	}

	p.start()
	p.waitAccount("results from the restarted probe", startTimeout, func(a account) bool { return a.produced >= 10 })
	acct, all := settle(t, p, svc, since, durable)
	checkOwn(t, all)
	allIDs := ids(all)
	for id := range leftIDs {
		if !allIDs[id] {
			t.Errorf("result %s left in the spool by the kill is not stored", id)
		}
	}
	dups := int(metrics(t, svc.base+fibrehttp.PathMetrics).sum("fibremon_ingest_results_total", `outcome="duplicate"`))
	if dups < len(held) {
		t.Errorf("the service counted %d duplicates; the held batch of %d was sent again", dups, len(held))
	}
	t.Logf("fault 4 (probe killed mid-upload): before the kill %d made, %d acknowledged, %d left in the spool "+
		"(the held batch of %d among them); after the restart %d made; %d stored, %d duplicates skipped",
		before.produced, before.uploaded, len(left), len(held), acct.produced, len(all), dups)
}

// readSpool returns every result in the spool directory dir, whose agent
// must have exited. It leaves the files where they are.
func readSpool(t *testing.T, dir string) []fibremon.Result {
	t.Helper()
	q, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	b, err := q.Peek(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if s := q.Len(); s.Results != len(b.Results) || s.Dropped != 0 || s.Dead != 0 {
		t.Fatalf("spool after the kill: %+v; peeked %d results", s, len(b.Results))
	}
	return b.Results
}
