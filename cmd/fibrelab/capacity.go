package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"fibremon/internal/cli"
	"fibremon/internal/testing/netlab"
)

// capacityRow is iperf3 and ping through an unshaped lab.
type capacityRow struct {
	RTT        time.Duration // set; 0: no delay line
	Down, Up   netlab.Iperf3Result
	Ping       netlab.PingResult
	Delay      netlab.DelayLineStats
	CPUBusyPct float64 // of all cores, during the iperf3 tests
}

func runCapacity(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, logger *slog.Logger) error {
	fs := flag.NewFlagSet("fibrelab capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := fs.Duration("duration", 10*time.Second, "length of each iperf3 test")
	if err := cli.Parse(fs, args, getenv, "FIBRELAB_"); err != nil {
		return err
	}
	if err := netlab.Available(); err != nil {
		return err
	}
	if err := netlab.NeedTools("iperf3", "ping"); err != nil {
		return err
	}
	if err := sweep(ctx, stderr); err != nil {
		return err
	}
	rows, err := measureCapacity(ctx, *d, logger, stderr)
	if err != nil {
		return err
	}
	printCapacity(stdout, rows)
	return nil
}

// measureCapacity runs iperf3 both ways through an unshaped lab without,
// then with, the delay line: the highest rate the machine can drive.
func measureCapacity(ctx context.Context, d time.Duration, logger *slog.Logger, stderr io.Writer) ([]capacityRow, error) {
	var rows []capacityRow
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		fmt.Fprintf(stderr, "== capacity, unshaped, delay line %v\n", rtt)
		r, err := capacityOnce(ctx, rtt, d, logger)
		if err != nil {
			return nil, fmt.Errorf("capacity (rtt %v): %w", rtt, err)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func capacityOnce(ctx context.Context, rtt, d time.Duration, logger *slog.Logger) (r capacityRow, err error) {
	r.RTT = rtt
	lab, err := netlab.New(ctx, netlab.Profile{Name: "capacity", RTT: rtt}, logger)
	if err != nil {
		return r, err
	}
	defer lab.Close()
	if r.Ping, err = lab.Ping(ctx, 200, 10*time.Millisecond); err != nil {
		return r, err
	}
	if _, err := lab.StartIperf3Server(ctx); err != nil {
		return r, err
	}
	before, _ := cpuTimes()
	if r.Down, err = lab.Iperf3(ctx, true, d); err != nil {
		return r, err
	}
	if r.Up, err = lab.Iperf3(ctx, false, d); err != nil {
		return r, err
	}
	after, _ := cpuTimes()
	if total := after.total - before.total; total > 0 {
		r.CPUBusyPct = 100 * float64(total-(after.idle-before.idle)) / float64(total)
	}
	if r.Delay, _, err = lab.DelayStats(); err != nil {
		return r, err
	}
	return r, nil
}

func printCapacity(w io.Writer, rows []capacityRow) {
	fmt.Fprintln(w, "Capacity: iperf3 through an unshaped lab (Mbit/s), what this machine can drive")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DELAY LINE\tDOWNLOAD\tUPLOAD\tRETRANS down/up\tPING avg (min)\tDELAY LINE pkts/dropped\tLATE mean/max\tCPU busy\t")
	for _, r := range rows {
		dl := "none"
		if r.RTT > 0 {
			dl = "RTT " + r.RTT.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d / %d\t%s (%s)\t%d / %d\t%v / %v\t%.0f %%\t\n", dl, mbit(r.Down.BitsPerSecond), mbit(r.Up.BitsPerSecond),
			r.Down.Retransmits, r.Up.Retransmits, ms(r.Ping.Avg), ms(r.Ping.Min), r.Delay.Forwarded, r.Delay.Dropped,
			r.Delay.MeanLate.Round(time.Microsecond), r.Delay.MaxLate.Round(time.Microsecond), r.CPUBusyPct)
	}
	tw.Flush()
	fmt.Fprintln(w)
}
