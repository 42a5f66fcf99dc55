package faults

import (
	"syscall"
	"testing"
	"time"
)

// outage is how long TestServiceDown keeps the service away: long enough
// for five failed uploads backing off (after 1, 2, 4 and 8 s), against some
// 40 attempts without a backoff at the probe's 500 ms upload interval.
const outage = 20 * time.Second

// TestServiceDown stops the service for 20 seconds while the probe keeps
// measuring, then starts it again on the same database: every result the
// probe made is stored exactly once, and the probe backed off with jitter
// meanwhile instead of hammering the service.
func TestServiceDown(t *testing.T) {
	long(t)
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	p := newProbe(t, svc, token, newTargets(t), probeOptions{})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 10 })

	if err := svc.signal(syscall.SIGTERM, 30*time.Second); err != nil {
		t.Fatalf("fibremon serve on SIGTERM: %v; want exit status 0", err)
	}
	down := time.Now()
	// Once an upload has failed none can succeed: the count of
	// acknowledged results is frozen from here on.
	first := p.waitAccount("a failed upload", startTimeout, func(a account) bool { return a.failed >= 1 })
	time.Sleep(time.Until(down.Add(outage)))
	last := p.account()
	t.Logf("service down %v: the probe made %d results meanwhile, %d wait in its spool, %d uploads failed",
		time.Since(down).Round(time.Second), last.produced-first.produced, last.spooled, last.failed)
	switch {
	case last.produced <= first.produced:
		t.Fatalf("the probe made no result while the service was down: %+v then %+v", first, last)
	case last.uploaded != first.uploaded:
		t.Fatalf("results acknowledged while the service was down: %d then %d", first.uploaded, last.uploaded)
	case last.spooled == 0:
		t.Fatalf("nothing spooled while the service was down: %+v", last)
	}

	svc.start()
	p.waitAccount("the spool to drain after the outage", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > last.uploaded
	})
	acct, stored := settle(t, p, svc, since, 0)
	checkOwn(t, stored)
	if acct.dropped != 0 || acct.writeErrors != 0 {
		t.Errorf("the probe dropped %d and failed to spool %d results; want none", acct.dropped, acct.writeErrors)
	}
	t.Logf("fault 1 (service down %v): made %d, stored %d, dropped %d, failed uploads %d",
		outage, acct.produced, len(stored), acct.dropped, acct.failed)

	// The backoff: one log line per failed upload, the waits doubling
	// with jitter; at the configured 500 ms upload interval, retrying
	// without a backoff would have made some 40 attempts.
	rs := retries(p.log())
	if len(rs) != acct.failed {
		t.Errorf("%d upload retries logged; the probe counts %d failed uploads", len(rs), acct.failed)
	}
	checkBackoff(t, rs, 0)
	if acct.failed >= 20 {
		t.Errorf("%d failed uploads during a %v outage; a doubling backoff makes about 5", acct.failed, outage)
	}
}
