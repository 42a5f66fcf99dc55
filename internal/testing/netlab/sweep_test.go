package netlab_test

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"fibremon/internal/testing/netlab"
)

// TestSweep removes the namespaces of a dead owner and keeps those of a
// live one and those that are not a lab's.
func TestSweep(t *testing.T) {
	needLab(t)
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	deadPid := strings.TrimSpace(string(b)) // pids are below pid_max: never alive
	dead := "fmlab" + deadPid + "x1m"
	live := fmt.Sprintf("fmlab%dx999999c", os.Getpid())
	other := fmt.Sprintf("fmlabsweeptest%d", os.Getpid())
	for _, ns := range []string{dead, live, other} {
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	}
	removed, err := netlab.Sweep(t.Context())
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !slices.Contains(removed, dead) {
		t.Errorf("Sweep removed %v; want it to include %s", removed, dead)
	}
	for _, ns := range []string{live, other} {
		if slices.Contains(removed, ns) {
			t.Errorf("Sweep removed %s", ns)
		}
		if _, err := os.Stat("/run/netns/" + ns); err != nil {
			t.Errorf("namespace %s gone after Sweep: %v", ns, err)
		}
	}
	if _, err := os.Stat("/run/netns/" + dead); err == nil {
		t.Errorf("namespace %s still there after Sweep", dead)
	}
}
