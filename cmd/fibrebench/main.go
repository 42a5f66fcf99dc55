// Command fibrebench measures fibremon's lookups at the scale of a
// national civic register, side by side with PostGIS on the same data.
//
//	fibrebench lookup [flags]
//
// It generates a synthetic register (by default 1,000,000 civics around
// 10,000 hamlets of a made-up region, every row marked synthetic; the
// output depends only on --seed) as a data-set directory with gzipped
// civics.csv.gz and coverage.csv.gz, then:
//
//   - in process: loads it with geo.Load (streaming import, hamlet zones)
//     and builds geo.Index, printing the times and the heap per civic, and
//     times point-in-area (geo.AreaIndex over the zones, and
//     Comune.HamletAt), nearest-civic (Index.Nearest) and address-text
//     lookups (Index.Lookup, exact and with a typo), p50 and p99 of each
//     query's best time over --passes passes, and the p99 of every call;
//   - PostGIS (--postgis): starts a throwaway PostgreSQL cluster in a
//     temporary directory (initdb; pg_ctl start on a Unix socket only),
//     loads the same civics, streets and zones with COPY, builds GiST and
//     trigram indexes and times the same lookups through prepared
//     statements (ST_Contains, KNN <->, pg_trgm), then stops the cluster
//     and removes it; it prints each engine's p50/p99 and the ratio;
//   - HTTP (--fibremon BIN): starts `fibremon serve --data.dir` on the
//     generated directory and times GET /api/v1/coverage?lat=&lon= and
//     ?address= at concurrency 1 and 16, p50/p99.
//
// scripts/bench-lookup installs PostgreSQL and PostGIS when it may (root
// and apt-get), builds fibremon and runs this with the full sizes; see
// docs/SCALING.md for the figures it gives.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"fibremon/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fibrebench:", err)
		}
		if errors.Is(err, flag.ErrHelp) || errors.As(err, new(cli.UsageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: fibrebench <command> [flags]

commands:
  lookup   point-in-area, nearest-civic and address lookups on a synthetic national register, in process, against PostGIS and over HTTP
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.UsageError("no command")
	}
	switch args[0] {
	case "lookup":
		return runLookup(ctx, args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return cli.UsageError(fmt.Sprintf("unknown command %q", args[0]))
}
