package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"fibremon/internal/cli"
	"fibremon/internal/testing/netlab"
)

func TestMain(m *testing.M) {
	netlab.RunDelayLineIfChild()
	os.Exit(m.Run())
}

func noenv(string) string { return "" }

func TestProfilesCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"profiles"}, noenv, &out, &errOut); err != nil {
		t.Fatalf("fibrelab profiles: %v", err)
	}
	for _, p := range Profiles {
		if !strings.Contains(out.String(), p.Name) {
			t.Errorf("fibrelab profiles does not list %s:\n%s", p.Name, out.String())
		}
	}
	// The required access lines are all there.
	for _, want := range []struct{ down, up float64 }{{7e6, 0.7e6}, {30e6, 3e6}, {100e6, 20e6}, {300e6, 100e6}, {1000e6, 300e6}} {
		found := false
		for _, p := range Profiles {
			found = found || (p.Down == want.down && p.Up == want.up && p.Loss == 0)
		}
		if !found {
			t.Errorf("no lossless profile %g/%g Mbit/s", want.down/1e6, want.up/1e6)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"bogus"},
		{"accuracy", "--duration", "20s"},
		{"accuracy", "--profiles", "fttc-30/3,nonesuch"},
	} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), args, noenv, &out, &errOut)
		var ue cli.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("fibrelab %q = %v; want a usage error", args, err)
		}
	}
}

func TestReadProc(t *testing.T) {
	first, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !first.Available || first.RSS <= 0 || first.HWM < first.RSS {
		t.Fatalf("readProc(self) = %+v; want RSS > 0 and HWM ≥ RSS", first)
	}
	// Burn CPU until the kernel's account (10 ms ticks) shows it.
	deadline := time.Now().Add(30 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		s, err := readProc(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if s.CPU-first.CPU >= 50*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not grow: %v then %v (x=%d)", first.CPU, s.CPU, x)
		}
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Error("readProc of a pid that cannot exist succeeded")
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var samples []procSample
	for i := range 11 {
		samples = append(samples, procSample{
			At:  t0.Add(time.Duration(i) * 100 * time.Millisecond),
			RSS: int64(10+i%3) << 20, HWM: 12 << 20,
			CPU: time.Duration(i) * 25 * time.Millisecond,
		})
	}
	f, ok := window(samples, t0.Add(200*time.Millisecond), t0.Add(600*time.Millisecond))
	if !ok {
		t.Fatal("window found no samples")
	}
	if f.Wall != 400*time.Millisecond || f.CPU != 100*time.Millisecond || f.PeakRSS != 12<<20 {
		t.Errorf("window = %+v; want 400ms wall, 100ms CPU, 12 MiB peak", f)
	}
	if got := f.CPUPercent(); got != 25 {
		t.Errorf("CPUPercent() = %v; want 25", got)
	}
	if _, ok := window(samples, t0.Add(5*time.Second), t0.Add(6*time.Second)); ok {
		t.Error("window outside the samples reported a footprint")
	}
}
