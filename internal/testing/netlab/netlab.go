// Package netlab builds an emulated access line out of Linux network
// namespaces, so that fibreprobe's measurements can be compared with a
// reference meter (iperf3, ping) over a link whose rate, delay and loss are
// known. It needs root.
//
// A Lab is three namespaces in a row:
//
//	client (probe side)        middle (the line)                      server
//	c0 198.18.0.2/24 ── veth ── mc 198.18.0.1/24   ms 198.18.1.1/24 ── veth ── s0 198.18.1.2/24
//	                            │  tbf (download) tbf (upload)  │
//	                            └── dl0: TUN delay line ────────┘
//
// The middle namespace routes between the two veth pairs. Every packet it
// forwards from mc or ms is policy-routed (ip rule by iif) into the TUN
// device dl0, where a DelayLine holds it for half the round-trip time and
// writes it back (a process of its own in the middle namespace: this
// program re-executed, see RunDelayLineIfChild); the kernel then forwards it (rule:
// iif dl0 uses the main table) out of mc or ms. Each of those egress
// interfaces has a tbf qdisc: mc shapes the download (server to client), ms
// the upload. Loss is iptables' statistic match in the middle's FORWARD
// chain on packets leaving mc and ms, with the per-direction probability
// chosen so that a round trip is lost with the profile's probability.
// The addresses come from the benchmarking range 198.18.0.0/15 (RFC 2544).
//
// Namespaces are named fmlab<pid>x<n><role>, role c, m or s: the pid of
// the process that made them, so Sweep can remove those whose owner died
// without cleaning up. A Lab touches no other namespace and nothing in the
// root namespace: the veth pairs are created inside the namespaces.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Addresses of the lab (RFC 2544 benchmarking range).
var (
	ClientAddr     = netip.MustParseAddr("198.18.0.2")
	MiddleClientIP = netip.MustParseAddr("198.18.0.1")
	MiddleServerIP = netip.MustParseAddr("198.18.1.1")
	ServerAddr     = netip.MustParseAddr("198.18.1.2")
)

// Role names one of a Lab's namespaces.
type Role byte

// The namespaces of a Lab.
const (
	Client Role = 'c'
	Middle Role = 'm'
	Server Role = 's'
)

func (r Role) String() string {
	switch r {
	case Client:
		return "client"
	case Middle:
		return "middle"
	case Server:
		return "server"
	}
	return fmt.Sprintf("Role(%q)", byte(r))
}

// Profile is the line a Lab emulates.
type Profile struct {
	Name string
	// Down and Up are the shaped rates in bit/s (download: server to
	// client). Zero leaves that direction unshaped.
	Down, Up float64
	// RTT is the round-trip delay the delay line adds, half in each
	// direction. Zero means no delay line at all.
	RTT time.Duration
	// Loss is the probability that a round trip (a packet and its
	// answer) is lost, in [0, 1). Each direction drops packets
	// independently with probability 1 - sqrt(1 - Loss).
	Loss float64
}

// DirectionLoss is the per-direction drop probability that gives a
// round-trip loss of p.
func DirectionLoss(p float64) float64 { return 1 - math.Sqrt(1-p) }

func (p Profile) validate() error {
	switch {
	case p.Down < 0 || p.Up < 0:
		return fmt.Errorf("netlab: profile %q: negative rate", p.Name)
	case p.RTT < 0 || p.RTT > 2*time.Second:
		return fmt.Errorf("netlab: profile %q: RTT %v out of [0, 2s]", p.Name, p.RTT)
	case p.Loss < 0 || p.Loss >= 1:
		return fmt.Errorf("netlab: profile %q: loss %v out of [0, 1)", p.Name, p.Loss)
	}
	return nil
}

// MTU of every link of the lab.
const MTU = 1500

// TBF returns the tbf burst and limit, in bytes, used for a direction
// shaped to rate bit/s on a path with round-trip time rtt.
//
// The burst is 1 ms worth of tokens, at least two full frames: enough for
// the qdisc's hrtimer to keep the line busy at a gigabit, and too small to
// matter for a test of seconds. The limit (the bottleneck's queue) is one
// bandwidth-delay product of the path, at least 10 ms of the rate and 32
// full frames, so that one loss-based TCP flow can keep the line busy, as
// the buffers of real access lines do.
func TBF(rate float64, rtt time.Duration) (burst, limit int) {
	const frame = MTU + 14
	bytesPerSec := rate / 8
	burst = max(int(bytesPerSec/1000), 2*frame)
	bdp := int(bytesPerSec * rtt.Seconds())
	limit = max(bdp, int(bytesPerSec/100), 32*frame)
	return burst, limit
}

// ErrUnavailable is wrapped by Available's error: the lab cannot be built
// on this machine.
var ErrUnavailable = errors.New("netlab: unavailable")

// Available reports whether a Lab can be built here: root, /dev/net/tun,
// and the ip, tc and iptables commands. The error says what is missing and
// how to install it.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: needs root (network namespaces, tc, iptables)", ErrUnavailable)
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("%w: no /dev/net/tun (modprobe tun): %w", ErrUnavailable, err)
	}
	for _, t := range []struct{ cmd, pkg string }{{"ip", "iproute2"}, {"tc", "iproute2"}, {"iptables", "iptables"}} {
		if _, err := exec.LookPath(t.cmd); err != nil {
			return fmt.Errorf("%w: %s not found (apt-get install %s, or run scripts/install-test-deps)", ErrUnavailable, t.cmd, t.pkg)
		}
	}
	return nil
}

// NeedTools returns an error naming the first of cmds not on PATH, with
// the Debian package that has it.
func NeedTools(cmds ...string) error {
	pkgs := map[string]string{"iperf3": "iperf3", "ping": "iputils-ping", "ip": "iproute2", "tc": "iproute2", "iptables": "iptables"}
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			pkg := pkgs[c]
			if pkg == "" {
				pkg = c
			}
			return fmt.Errorf("%w: %s not found (apt-get install %s, or run scripts/install-test-deps)", ErrUnavailable, c, pkg)
		}
	}
	return nil
}

// Lab is one emulated line. Close it: it removes everything it made.
// A Lab's methods are safe for concurrent use.
type Lab struct {
	Profile Profile
	base    string // fmlab<pid>x<n>
	logger  *slog.Logger
	delay   *delayProc

	mu     sync.Mutex
	procs  []*Proc
	made   []string // namespaces created, for Close
	closed bool
}

var labSeq atomic.Int64

// New builds a Lab for p. On error, whatever it had made is removed.
func New(ctx context.Context, p Profile, logger *slog.Logger) (_ *Lab, err error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Lab{
		Profile: p,
		base:    fmt.Sprintf("fmlab%dx%d", os.Getpid(), labSeq.Add(1)),
		logger:  logger.With("component", "netlab"),
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if err := l.build(ctx); err != nil {
		return nil, fmt.Errorf("netlab: build %s: %w", l.base, err)
	}
	return l, nil
}

// NS returns the name of the namespace of role r.
func (l *Lab) NS(r Role) string { return l.base + string(byte(r)) }

// Name is the prefix shared by the Lab's namespaces.
func (l *Lab) Name() string { return l.base }

// DelayStats returns the counts of the Lab's delay line; false when the
// profile has no RTT, and so no delay line.
func (l *Lab) DelayStats() (DelayLineStats, bool, error) {
	if l.delay == nil {
		return DelayLineStats{}, false, nil
	}
	s, err := l.delay.stats()
	return s, true, err
}

func (l *Lab) build(ctx context.Context) error {
	c, m, s := l.NS(Client), l.NS(Middle), l.NS(Server)
	for _, ns := range []string{c, m, s} {
		if err := l.ip(ctx, "", "netns", "add", ns); err != nil {
			return err
		}
		l.mu.Lock()
		l.made = append(l.made, ns)
		l.mu.Unlock()
		if err := l.ip(ctx, ns, "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	p := l.Profile
	steps := [][]string{
		// The veth pairs are born in their namespaces: nothing is ever
		// left in the root namespace.
		{c, "link", "add", "c0", "mtu", strconv.Itoa(MTU), "type", "veth", "peer", "name", "mc", "netns", m},
		{s, "link", "add", "s0", "mtu", strconv.Itoa(MTU), "type", "veth", "peer", "name", "ms", "netns", m},
		{c, "addr", "add", ClientAddr.String() + "/24", "dev", "c0"},
		{c, "link", "set", "c0", "up"},
		{c, "route", "add", "default", "via", MiddleClientIP.String()},
		{s, "addr", "add", ServerAddr.String() + "/24", "dev", "s0"},
		{s, "link", "set", "s0", "up"},
		{s, "route", "add", "default", "via", MiddleServerIP.String()},
		{m, "addr", "add", MiddleClientIP.String() + "/24", "dev", "mc"},
		{m, "addr", "add", MiddleServerIP.String() + "/24", "dev", "ms"},
		{m, "link", "set", "mc", "up"},
		{m, "link", "set", "ms", "up"},
	}
	for _, st := range steps {
		if err := l.ip(ctx, st[0], st[1:]...); err != nil {
			return err
		}
	}
	sysctls := []string{
		"net.ipv4.ip_forward=1",
		// Packets come back from the delay line on dl0 with sources
		// that route via mc or ms: reverse-path filtering must be off.
		"net.ipv4.conf.all.rp_filter=0",
		"net.ipv4.conf.default.rp_filter=0",
		"net.ipv4.conf.all.send_redirects=0",
		"net.ipv4.conf.default.send_redirects=0",
	}
	if err := l.run(ctx, "ip", append([]string{"netns", "exec", m, "sysctl", "-q", "-w"}, sysctls...)...); err != nil {
		return err
	}
	if p.RTT > 0 {
		if err := l.buildDelayLine(ctx); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		dev  string
		rate float64
	}{{"mc", p.Down}, {"ms", p.Up}} {
		if d.rate > 0 {
			burst, limit := TBF(d.rate, p.RTT)
			if err := l.run(ctx, "tc", "-n", m, "qdisc", "replace", "dev", d.dev, "root", "tbf",
				"rate", strconv.FormatInt(int64(d.rate), 10)+"bit",
				"burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit)); err != nil {
				return err
			}
		}
		if p.Loss > 0 {
			prob := strconv.FormatFloat(DirectionLoss(p.Loss), 'f', 6, 64)
			if err := l.run(ctx, "ip", "netns", "exec", m, "iptables", "-w", "-A", "FORWARD", "-o", d.dev,
				"-m", "statistic", "--mode", "random", "--probability", prob, "-j", "DROP"); err != nil {
				return err
			}
		}
	}
	l.logger.Debug("lab built", "lab", l.base, "profile", p.Name)
	return nil
}

func (l *Lab) buildDelayLine(ctx context.Context) error {
	m := l.NS(Middle)
	dl, err := l.startDelayLine(ctx, "dl0", l.Profile.RTT/2)
	if err != nil {
		return err
	}
	l.delay = dl
	steps := [][]string{
		{"link", "set", "dl0", "mtu", strconv.Itoa(MTU), "up"},
		{"route", "add", "default", "dev", "dl0", "table", "100"},
		{"rule", "add", "pref", "100", "iif", "mc", "lookup", "100"},
		{"rule", "add", "pref", "101", "iif", "ms", "lookup", "100"},
	}
	for _, st := range steps {
		if err := l.ip(ctx, m, st...); err != nil {
			return err
		}
	}
	return l.run(ctx, "ip", "netns", "exec", m, "sysctl", "-q", "-w", "net.ipv4.conf.dl0.rp_filter=0")
}

// ip runs ip -n ns args (ns "" for the root namespace, used only to add
// and delete named namespaces).
func (l *Lab) ip(ctx context.Context, ns string, args ...string) error {
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	return l.run(ctx, "ip", args...)
}

func (l *Lab) run(ctx context.Context, name string, args ...string) error {
	return runCmd(ctx, name, args...)
}

func runCmd(ctx context.Context, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// Command returns a command that runs name in the namespace of role r,
// through `ip netns exec` (which execs it: the process's pid is the
// command's). Cancelling ctx sends it SIGTERM. Start it with Start.
func (l *Lab) Command(ctx context.Context, r Role, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS(r), name}, args...)...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Proc is a process started in a Lab.
type Proc struct {
	Cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Wait waits for the process to exit and returns cmd.Wait's error.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited (and was reaped).
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts cmd (from Command) and reaps it when it exits; Close
// stops it if it is still running. Use the Proc's Wait, not cmd.Wait.
//
// Liveness: one goroutine per process waits for it; it returns when the
// process exits, which Close ensures.
func (l *Lab) Start(cmd *exec.Cmd) (*Proc, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("netlab: lab closed")
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.procs = append(l.procs, p)
	return p, nil
}

// Output runs cmd (from Command) to completion and returns its standard
// output; the error includes the end of its standard error.
func (l *Lab) Output(cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	p, err := l.Start(cmd)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, lastLines(stderr.String(), 5))
	}
	return stdout.Bytes(), nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Close stops the processes started with Start, stops the delay line and
// deletes the namespaces (and with them the veth pairs, qdiscs and
// iptables rules). It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs, made := l.procs, l.made
	l.mu.Unlock()

	// A process not yet reaped keeps its pid, so signalling it can
	// never hit a stranger.
	for _, p := range procs {
		if !p.Exited() {
			p.Cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	grace := time.NewTimer(3 * time.Second)
	defer grace.Stop()
	expired := false
	for _, p := range procs {
		if !expired {
			select {
			case <-p.done:
				continue
			case <-grace.C:
				expired = true
			}
		}
		select {
		case <-p.done:
		default:
			p.Cmd.Process.Kill()
			<-p.done
		}
	}
	var errs []error
	if l.delay != nil {
		l.delay.out.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range made {
		if err := deleteNS(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// alive reports whether pid is a live process that is not a zombie: a
// started command that exited but was not waited for is gone for our
// purposes.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// deleteNS kills whatever still runs in ns and deletes it.
func deleteNS(ctx context.Context, ns string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", "netns", "pids", ns)
	cmd.Stdout = &out
	if cmd.Run() == nil {
		for _, f := range strings.Fields(out.String()) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if err := runCmd(ctx, "ip", "netns", "delete", ns); err != nil {
		if !exists(ns) {
			return nil
		}
		return err
	}
	return nil
}

func exists(ns string) bool {
	_, err := os.Stat("/run/netns/" + ns)
	return err == nil
}

var labName = regexp.MustCompile(`^fmlab([0-9]+)x[0-9]+[cms]$`)

// Namespaces lists the existing lab namespaces (of any owner).
func Namespaces(ctx context.Context) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns list: %w", err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && labName.MatchString(f[0]) {
			names = append(names, f[0])
		}
	}
	return names, nil
}

// Sweep deletes the lab namespaces whose owning process (the pid in the
// name) is dead, left behind by a harness that was killed. It never
// touches a namespace whose name is not a lab's, nor one of a live process.
func Sweep(ctx context.Context) ([]string, error) {
	names, err := Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, ns := range names {
		pid, _ := strconv.Atoi(labName.FindStringSubmatch(ns)[1])
		if pid == os.Getpid() || alive(pid) {
			continue
		}
		if err := deleteNS(ctx, ns); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, ns)
	}
	return removed, errors.Join(errs...)
}
