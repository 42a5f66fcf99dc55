// Command fibremon is the central service of the fibre-rollout monitor.
//
//	fibremon serve     ingest probe results, serve the API, /metrics, coverage GeoJSON and ndt7
//	fibremon demo      the whole system on one machine: service + one emulated probe per site
//	fibremon token     issue and list probe tokens
//	fibremon coverage  is an address covered, and how well?
//
// Every flag has an environment mirror: --web.listen-address is
// FIBREMON_WEB_LISTEN_ADDRESS, and so on.
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

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "fibremon:", err)
		}
		os.Exit(exitCode(err))
	}
}

const usage = `usage: fibremon <command> [flags]

commands:
  serve     run the central service
  demo      run the service with one emulated probe per Ripalta Cremasca site
  token     issue (token add) and list (token list) probe tokens
  coverage  is an address covered, and how well? ("Via Roma 5", or --lat --lon)
  version   print the version

Run 'fibremon <command> --help' for the flags of a command.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.UsageError("no command")
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], getenv, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], getenv, stdout, stderr)
	case "token":
		return runToken(ctx, args[1:], getenv, stdout, stderr)
	case "coverage":
		return runCoverage(ctx, args[1:], getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "fibremon", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return cli.UsageError(fmt.Sprintf("unknown command %q", args[0]))
}

func exitCode(err error) int {
	var ue cli.UsageError
	if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}
