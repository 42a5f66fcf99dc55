// Command fibrelab measures how accurately fibreprobe measures a line. It
// builds emulated access lines in network namespaces (internal/testing/netlab:
// tbf rate, a TUN delay line, iptables loss), runs the real fibremon and
// fibreprobe binaries and iperf3 over each, and prints a table of the set
// and measured rates, RTTs and losses with pass/miss marks, and
// fibreprobe's memory and CPU footprint. It needs root.
//
//	fibrelab accuracy --fibremon BIN --fibreprobe BIN   every profile (several minutes)
//	fibrelab capacity                                   what the machine drives through the lab
//	fibrelab profiles                                   list the profiles
//	fibrelab sweep                                      remove namespaces left by a killed run
//
// scripts/accuracy builds the binaries and runs `fibrelab accuracy`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"fibremon/internal/cli"
	"fibremon/internal/testing/netlab"
)

func main() {
	// A lab's delay line is this program re-executed.
	netlab.RunDelayLineIfChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fibrelab:", err)
		}
		if errors.Is(err, flag.ErrHelp) || errors.As(err, new(cli.UsageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: fibrelab <command> [flags]

commands:
  accuracy   measure every profile with iperf3 and fibreprobe and print the table (root)
  capacity   the highest rate the machine drives through the lab, with and without the delay line (root)
  profiles   list the profiles
  sweep      remove lab namespaces whose owner process is dead (root)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.UsageError("no command")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch args[0] {
	case "accuracy":
		return runAccuracy(ctx, args[1:], getenv, stdout, stderr, logger)
	case "capacity":
		return runCapacity(ctx, args[1:], getenv, stdout, stderr, logger)
	case "profiles":
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tDOWN Mbit/s\tUP Mbit/s\tRTT\tLOSS")
		for _, p := range Profiles {
			fmt.Fprintf(tw, "%s\t%g\t%g\t%v\t%g %%\n", p.Name, p.Down/1e6, p.Up/1e6, p.RTT, p.Loss*100)
		}
		return tw.Flush()
	case "sweep":
		if err := netlab.Available(); err != nil {
			return err
		}
		removed, err := netlab.Sweep(ctx)
		for _, ns := range removed {
			fmt.Fprintln(stdout, "removed", ns)
		}
		return err
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return cli.UsageError(fmt.Sprintf("unknown command %q", args[0]))
}

// Profiles are the lines measured by default: the access technologies of
// the rollout, without loss for the rate targets, and with loss for the
// loss target.
var Profiles = []netlab.Profile{
	{Name: "adsl-7/0.7", Down: 7e6, Up: 0.7e6, RTT: 30 * time.Millisecond},
	{Name: "fttc-30/3", Down: 30e6, Up: 3e6, RTT: 20 * time.Millisecond},
	{Name: "fwa-100/20", Down: 100e6, Up: 20e6, RTT: 15 * time.Millisecond},
	{Name: "ftth-300/100", Down: 300e6, Up: 100e6, RTT: 10 * time.Millisecond},
	{Name: "ftth-1000/300", Down: 1000e6, Up: 300e6, RTT: 5 * time.Millisecond},
	{Name: "adsl-7/0.7-loss1", Down: 7e6, Up: 0.7e6, RTT: 30 * time.Millisecond, Loss: 0.01},
	{Name: "fttc-30/3-loss0.5", Down: 30e6, Up: 3e6, RTT: 20 * time.Millisecond, Loss: 0.005},
	{Name: "fwa-100/20-loss0.1", Down: 100e6, Up: 20e6, RTT: 15 * time.Millisecond, Loss: 0.001},
}

func findProfile(name string) (netlab.Profile, bool) {
	for _, p := range Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return netlab.Profile{}, false
}

// sweep removes what killed runs left, and says so.
func sweep(ctx context.Context, stderr io.Writer) error {
	removed, err := netlab.Sweep(ctx)
	for _, ns := range removed {
		fmt.Fprintln(stderr, "removed stale namespace", ns)
	}
	return err
}
