package netlab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// delayLineEnv, when set in a process's environment, makes
// RunDelayLineIfChild run a delay line instead of the program: the value
// is "<device> <one-way delay in ns>".
const delayLineEnv = "FIBREMON_NETLAB_DELAYLINE"

// RunDelayLineIfChild runs the delay line and exits if this process was
// started by a Lab as its delay line; otherwise it returns at once. Every
// program that builds a Lab calls it first thing in main (tests: in
// TestMain), because a Lab starts its delay line by re-executing its own
// program inside the middle namespace.
//
// The delay line is a process of its own so that nothing but its two
// real-time threads needs its Go runtime's processors: in a busy process
// a thread returning from a syscall may wait for a processor held by an
// ordinary thread that the kernel has preempted, which under load delays
// packets by tens or hundreds of milliseconds.
func RunDelayLineIfChild() {
	v := os.Getenv(delayLineEnv)
	if v == "" {
		return
	}
	if err := delayLineChild(v); err != nil {
		fmt.Fprintln(os.Stderr, "netlab delay line:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// delayLineChild runs the delay line: it prints "ready" once the device
// exists, then a JSON DelayLineStats line for each SIGUSR1 and a last one
// when SIGTERM or SIGINT stops it.
func delayLineChild(v string) error {
	name, ns, ok := strings.Cut(v, " ")
	delay, err := strconv.ParseInt(ns, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("%s=%q: want \"<device> <delay ns>\"", delayLineEnv, v)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	dl, err := NewDelayLine(name, time.Duration(delay))
	if err != nil {
		return err
	}
	dl.Start()
	enc := json.NewEncoder(os.Stdout)
	fmt.Println("ready")
	for s := range sigs {
		if s == syscall.SIGUSR1 {
			enc.Encode(dl.Stats())
			continue
		}
		err := dl.Close()
		enc.Encode(dl.Stats())
		return err
	}
	return nil
}

// delayProc is a Lab's delay line process.
type delayProc struct {
	proc *Proc
	mu   sync.Mutex // serialises Stats: one request, one line
	out  *os.File
	rd   *bufio.Reader
}

// startDelayLine re-executes this program in the middle namespace as a
// delay line (see RunDelayLineIfChild) and waits until its device exists.
func (l *Lab) startDelayLine(ctx context.Context, name string, delay time.Duration) (*delayProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("delay line: %w", err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := l.Command(context.WithoutCancel(ctx), Middle, exe)
	cmd.Env = append(os.Environ(), delayLineEnv+"="+name+" "+strconv.FormatInt(int64(delay), 10))
	cmd.Stdout = pw
	cmd.Stderr = os.Stderr
	// Should this process die without closing the lab, its delay line
	// goes too (and Sweep removes the namespaces).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p, err := l.Start(cmd)
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, fmt.Errorf("delay line: %w", err)
	}
	d := &delayProc{proc: p, out: pr, rd: bufio.NewReader(pr)}
	pr.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := d.rd.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		return nil, fmt.Errorf("delay line did not start (%q): %w", line, err)
	}
	return d, nil
}

// stats asks the delay line process for its counts.
func (d *delayProc) stats() (DelayLineStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var s DelayLineStats
	if d.proc.Exited() {
		return s, errors.New("delay line: process exited")
	}
	if err := d.proc.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return s, fmt.Errorf("delay line: %w", err)
	}
	d.out.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := d.rd.ReadBytes('\n')
	if err != nil {
		return s, fmt.Errorf("delay line stats: %w", err)
	}
	if err := json.Unmarshal(line, &s); err != nil {
		return s, fmt.Errorf("delay line stats %q: %w", line, err)
	}
	return s, nil
}
