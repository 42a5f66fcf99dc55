package influxtest

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel send influxd SIGTERM if the test binary dies
// without stopping it (a panic, a timeout, go test's kill), so no server
// outlives its tests.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
