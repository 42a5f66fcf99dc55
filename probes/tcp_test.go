package probes

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fibremon"
)

func TestTCP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		address    string
		timeout    time.Duration
		wantUp     bool
		wantErrMsg string
	}{
		{name: "open", address: MustListen(t).Addr().String(), wantUp: true},
		{name: "closed", address: MustClosedPort(t), wantErrMsg: "connect: connection refused"},
		{name: "black-holed", address: MustBlackHole(t), timeout: 300 * time.Millisecond, wantErrMsg: "timeout after "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := orDefault(tt.timeout, 5*time.Second)
			var dials atomic.Int32
			target := Target{Address: tt.address, Dial: countingDial(&dials)}
			start := time.Now()
			m, err := TCP(withTimeoutCtx(t, timeout), target, discard)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("TCP(%q) error = %v", tt.address, err)
			}
			t.Logf("in %v: %+v", elapsed.Round(time.Millisecond), m)
			checkResult(t, fibremon.KindTCP, tt.address, m)
			if m.Up != tt.wantUp || m.Method != MethodTCPConnect || len(m.Values) != 0 {
				t.Errorf("TCP(%q) = %+v; want Up %v, Method %q, no values", tt.address, m, tt.wantUp, MethodTCPConnect)
			}
			if !strings.Contains(m.Err, tt.wantErrMsg) || m.Up != (m.Err == "") {
				t.Errorf("TCP(%q) Err = %q; want it to contain %q", tt.address, m.Err, tt.wantErrMsg)
			}
			if elapsed > timeout+timeoutSlack {
				t.Errorf("TCP(%q) took %v; want at most its timeout %v (+%v)", tt.address, elapsed, timeout, timeoutSlack)
			}
			if dials.Load() != 1 {
				t.Errorf("TCP(%q) called Dial %d times; want 1", tt.address, dials.Load())
			}
		})
	}
}

func TestTCPBadTarget(t *testing.T) {
	for _, tg := range []Target{
		{},
		{Address: "127.0.0.1"},
		{Address: ":80"},
		{Address: "127.0.0.1:"},
		{Address: "127.0.0.1:80", Kind: fibremon.KindLatency},
	} {
		m, err := TCP(t.Context(), tg, discard)
		if !errors.Is(err, ErrBadTarget) {
			t.Errorf("TCP(%+v) = %+v, %v; want a bad target error", tg, m, err)
		}
	}
}
