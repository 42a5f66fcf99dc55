package faults

import (
	"os"
	"testing"
	"time"
)

// TestTokensFileAway moves the service's tokens file away while the probe
// uploads, as an operator rewriting it by hand might: the service then
// holds no token and refuses every upload with 401. The probe must keep
// its results and retry, not set them aside as dead letters, and once the
// file is back every result made is stored exactly once.
func TestTokensFileAway(t *testing.T) {
	long(t)
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	p := newProbe(t, svc, token, newTargets(t), probeOptions{})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 10 })

	if err := os.Rename(svc.tokens, svc.tokens+".away"); err != nil {
		t.Fatal(err)
	}
	away := time.Now()
	p.waitAccount("an upload refused for the token", startTimeout, func(a account) bool { return a.refused >= 1 })
	time.Sleep(time.Until(away.Add(3 * time.Second)))
	if err := os.Rename(svc.tokens+".away", svc.tokens); err != nil {
		t.Fatal(err)
	}
	back := p.account()

	// The backoff after a few refusals is some seconds: within its
	// bound the probe retries, and the spool drains.
	p.waitAccount("the spool to drain after the tokens came back", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > back.uploaded
	})
	acct, stored := settle(t, p, svc, since, 0)
	checkOwn(t, stored)
	if acct.dead != 0 || acct.dropped != 0 {
		t.Errorf("the probe set aside %d files as dead letters and dropped %d results; want none", acct.dead, acct.dropped)
	}
	t.Logf("tokens file away %v: %d uploads refused, made %d, stored %d, dead letters %d",
		3*time.Second, acct.refused, acct.produced, len(stored), acct.dead)
}
