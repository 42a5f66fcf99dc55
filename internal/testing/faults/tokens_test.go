package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokensFileAwayAndRotated tries the two ways an operator's hand makes
// the service refuse a probe's uploads, and checks that no result is set
// aside or lost:
//   - the service's tokens file moved away for 3 s (the service then holds
//     no probe token and answers 503: the probe retries);
//   - the probe's token rotated: a new tokens file replaces the old one
//     (the service answers 401 to the old token: the probe retries with
//     backoff, counting the refusals), and a moment later the new token is
//     written to the probe's token file (read again before each upload).
//
// Afterwards every result the probe made is stored exactly once and its
// dead-letter count is 0.
func TestTokensFileAwayAndRotated(t *testing.T) {
	long(t)
	t.Parallel()
	since := time.Now().Add(-time.Minute)
	svc, token := newService(t, serviceOptions{})
	svc.start()
	p := newProbe(t, svc, token, newTargets(t), probeOptions{})
	p.start()
	p.waitAccount("the first uploads", startTimeout, func(a account) bool { return a.uploaded >= 10 })

	// 1. The tokens file away for 3 s.
	if err := os.Rename(svc.tokens, svc.tokens+".away"); err != nil {
		t.Fatal(err)
	}
	away := time.Now()
	before := p.account()
	p.waitAccount("an upload refused while no token is loaded", startTimeout, func(a account) bool { return a.failed > before.failed })
	time.Sleep(time.Until(away.Add(3 * time.Second)))
	if err := os.Rename(svc.tokens+".away", svc.tokens); err != nil {
		t.Fatal(err)
	}
	back := p.account()
	p.waitAccount("the spool to drain after the tokens came back", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > back.uploaded
	})

	// 2. The token rotated: the old one is refused with 401 until the
	// probe's token file holds the new one.
	fresh := filepath.Join(t.TempDir(), "tokens.json")
	out, err := exec.Command(bins.fibremon, "token", "add", "--auth.tokens-file", fresh,
		"--probe", probeName, "--site", siteID).Output()
	if err != nil {
		t.Fatalf("fibremon token add: %v", err)
	}
	if err := os.Rename(fresh, svc.tokens); err != nil {
		t.Fatal(err)
	}
	p.waitAccount("an upload refused for the old token", startTimeout, func(a account) bool { return a.refused >= 2 })
	if err := os.WriteFile(p.tokenFile, out, 0o600); err != nil {
		t.Fatal(err)
	}
	rotated := p.account()
	p.waitAccount("the spool to drain with the new token", backoffTimeout, func(a account) bool {
		return a.spooled == 0 && a.uploaded > rotated.uploaded
	})

	svc.token = strings.TrimSpace(string(out)) // the old one reads nothing now
	acct, stored := settle(t, p, svc, since, 0)
	checkOwn(t, stored)
	if acct.dead != 0 || acct.dropped != 0 {
		t.Errorf("the probe set aside %d files as dead letters and dropped %d results; want none", acct.dead, acct.dropped)
	}
	t.Logf("tokens file away 3 s, then the token rotated: %d uploads failed, %d refused; made %d, stored %d, dead letters %d",
		acct.failed, acct.refused, acct.produced, len(stored), acct.dead)
}
