package netlab_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"fibremon/internal/testing/netlab"
)

func TestMain(m *testing.M) {
	// A Lab runs its delay line by re-executing this test binary.
	netlab.RunDelayLineIfChild()
	os.Exit(m.Run())
}

// needLab skips when the lab cannot be built on this machine (not root,
// no TUN, a tool missing) and says how to get it.
func needLab(t *testing.T, tools ...string) {
	t.Helper()
	err := netlab.Available()
	if err == nil {
		err = netlab.NeedTools(tools...)
	}
	if errors.Is(err, netlab.ErrUnavailable) {
		t.Skipf("network lab not available: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestTBF(t *testing.T) {
	for _, tc := range []struct {
		rate         float64
		rtt          time.Duration
		burst, limit int
	}{
		{7e6, 30 * time.Millisecond, 3028, 48448},             // 32 frames beat the 26 kB BDP
		{30e6, 10 * time.Millisecond, 3750, 48448},            // 1 ms of tokens; 32 frames
		{300e6, 10 * time.Millisecond, 37500, 375000},         // BDP
		{1000e6, 5 * time.Millisecond, 125000, 1250000},       // 10 ms of the rate beats the BDP
		{1000e6, 30 * time.Millisecond, 125000, 3750000},      // BDP
		{0.7e6, 30 * time.Millisecond, 3028, 48448},           // upload of ADSL
		{100e6, 0, 12500, 125000},                             // no delay: 10 ms
		{1e9 / 8 * 8, 20 * time.Millisecond, 125000, 2500000}, // rate given in bit/s
	} {
		burst, limit := netlab.TBF(tc.rate, tc.rtt)
		if burst != tc.burst || limit != tc.limit {
			t.Errorf("TBF(%g, %v) = %d, %d; want %d, %d", tc.rate, tc.rtt, burst, limit, tc.burst, tc.limit)
		}
	}
}

func TestDirectionLoss(t *testing.T) {
	for _, p := range []float64{0, 0.001, 0.01, 0.05} {
		q := netlab.DirectionLoss(p)
		if got := 1 - (1-q)*(1-q); got < p-1e-12 || got > p+1e-12 {
			t.Errorf("round-trip loss with DirectionLoss(%g) = %g per direction is %g; want %g", p, q, got, p)
		}
	}
}

// TestLabShapesDelaysAndLoses builds a 30/3 Mbit/s line with a 10 ms RTT
// and 1 % loss and checks with iperf3 and ping that it is that line, then
// that Close leaves nothing behind.
func TestLabShapesDelaysAndLoses(t *testing.T) {
	needLab(t, "iperf3", "ping")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if _, err := netlab.Sweep(ctx); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	p := netlab.Profile{Name: "fttc", Down: 30e6, Up: 3e6, RTT: 10 * time.Millisecond, Loss: 0.01}
	lab, err := netlab.New(ctx, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			lab.Close()
		}
	})
	names := []string{lab.NS(netlab.Client), lab.NS(netlab.Middle), lab.NS(netlab.Server)}
	for _, ns := range names {
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Fatalf("namespace %s: %v", ns, err)
		}
	}

	// Delay: the RTT is the set one plus a fraction of a millisecond of
	// forwarding, never less. The minimum, not the average: a loaded
	// machine may stall a few packets. A lost packet or two is expected.
	ping, err := lab.Ping(ctx, 100, 10*time.Millisecond)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	t.Logf("ping: %d/%d received, rtt min/avg/max %v/%v/%v", ping.Received, ping.Sent, ping.Min, ping.Avg, ping.Max)
	if ping.Received < 80 {
		t.Errorf("ping: %d of %d replies; want at least 80 with 1 %% loss", ping.Received, ping.Sent)
	}
	if ping.Min < p.RTT || ping.Min > p.RTT+2*time.Millisecond {
		t.Errorf("ping rtt min %v; want %v to %v", ping.Min, p.RTT, p.RTT+2*time.Millisecond)
	}

	// Loss: 1000 packets at 1 % lose 10 ± 3 (σ); [2, 25] is far outside
	// chance yet fails for no loss or a loss applied twice.
	loss, err := lab.Ping(ctx, 1000, 2*time.Millisecond)
	if err != nil {
		t.Fatalf("ping: %v", err)
	}
	lost := loss.Sent - loss.Received
	t.Logf("ping: %d of %d lost", lost, loss.Sent)
	if loss.Sent != 1000 || lost < 2 || lost > 25 {
		t.Errorf("ping: %d of %d lost; want 2–25 of 1000 with 1 %% loss", lost, loss.Sent)
	}

	// Rate: iperf3 through the line, each direction. TCP under 1 %
	// loss does not fill the line; what matters is that the rate is
	// capped at the shaped one (a shaping that does nothing lets
	// gigabits through) and that the line carries data at all.
	server, err := lab.StartIperf3Server(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []struct {
		name    string
		reverse bool
		rate    float64
	}{{"download", true, p.Down}, {"upload", false, p.Up}} {
		r, err := lab.Iperf3(ctx, dir.reverse, 4*time.Second)
		if err != nil {
			t.Fatalf("iperf3 %s: %v", dir.name, err)
		}
		t.Logf("iperf3 %s: %.2f Mbit/s (shaped %.0f), %d retransmits", dir.name, r.BitsPerSecond/1e6, dir.rate/1e6, r.Retransmits)
		if r.BitsPerSecond > 1.05*dir.rate || r.BitsPerSecond < 0.2*dir.rate {
			t.Errorf("iperf3 %s: %.2f Mbit/s; want at most 105 %% and at least 20 %% of the shaped %.0f Mbit/s",
				dir.name, r.BitsPerSecond/1e6, dir.rate/1e6)
		}
		// Some 50 of the download's segments are dropped: a download
		// without retransmits did not cross the lossy line. (The
		// upload's few hundred segments may by chance lose none.)
		if dir.reverse && r.Retransmits == 0 {
			t.Errorf("iperf3 %s: no retransmits over a lossy line", dir.name)
		}
	}
	st, ok, err := lab.DelayStats()
	if !ok || err != nil {
		t.Fatalf("DelayStats() = %v, %v; want the delay line's counts", ok, err)
	}
	t.Logf("delay line: %d forwarded, %d dropped, late by %v on average, %v at most, real-time %v",
		st.Forwarded, st.Dropped, st.MeanLate, st.MaxLate, st.Realtime)
	if st.Forwarded == 0 {
		t.Error("the delay line forwarded nothing: traffic bypassed it")
	}

	// Close removes the namespaces, and with them the links, qdiscs,
	// rules and processes.
	if err := lab.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	if !server.Exited() {
		t.Errorf("iperf3 server (pid %d) still running after Close", server.Pid())
	}
	left, err := netlab.Namespaces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		for _, n := range names {
			if ns == n {
				t.Errorf("namespace %s left after Close", ns)
			}
		}
	}
	out, err := exec.CommandContext(ctx, "ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dev := range []string{" c0@", " s0@", " mc@", " ms@", " dl0:"} {
		if strings.Contains(string(out), dev) {
			t.Errorf("link %q left in the root namespace: %s", dev, out)
		}
	}
	if err := lab.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
