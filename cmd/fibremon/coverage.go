package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"fibremon"
	"fibremon/internal/cli"
	"fibremon/internal/coverage"
	"fibremon/internal/sqlite"
	"fibremon/internal/status"
)

// runCoverage answers "is this address covered, and how well?" from the
// data set, with the nearest probes' latest measurements when a store is
// given.
func runCoverage(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fibremon coverage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg serveConfig
	fs.StringVar(&cfg.dataDir, "data.dir", "", "directory holding the data set (default: the embedded one)")
	fs.StringVar(&cfg.comune, "data.comune", "", "only this comune directory of the data set (default: every comune)")
	comune := fs.String("comune", "", `the comune of the address (slug, ISTAT code or name); or write it after a comma: "Via Roma 5, Crema" (default: search every comune)`)
	storagePath := fs.String("storage.path", "", "SQLite database of a fibremon service, for the nearest probes' measurements (read only; optional)")
	lat := fs.Float64("lat", math.NaN(), "latitude of the place (WGS 84), with --lon")
	lon := fs.Float64("lon", math.NaN(), "longitude of the place (WGS 84), with --lat")
	lang := fs.String("lang", "it", "language of the answer: it or en")
	asJSON := fs.Bool("json", false, "print the answer as JSON (the API's format)")
	rest, err := cli.ParseArgs(fs, args, getenv, "FIBREMON_")
	if err != nil {
		return err
	}
	address := strings.TrimSpace(strings.Join(rest, " "))
	byPoint := !math.IsNaN(*lat) || !math.IsNaN(*lon)
	switch {
	case *lang != "it" && *lang != "en":
		return cli.UsageError(fmt.Sprintf("--lang %q: want it or en", *lang))
	case address != "" && byPoint:
		return cli.UsageError("give an address or --lat and --lon, not both")
	case address == "" && !byPoint:
		return cli.UsageError(`usage: fibremon coverage [flags] "Via Roma 5"  |  fibremon coverage --lat 45.3319 --lon 9.6936`)
	}
	set, err := loadSet(cfg, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	now := time.Now()
	sites := set.Sites()

	statuses := status.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), sites, nil, status.Options{}).Statuses()
	if *storagePath != "" {
		if _, err := os.Stat(*storagePath); errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("--storage.path %s: no such database", *storagePath)
		}
		store, err := sqlite.Open(ctx, *storagePath)
		if err != nil {
			return err
		}
		defer store.Close()
		tr := status.New(slog.New(slog.DiscardHandler), prometheus.NewRegistry(), sites, store, status.Options{})
		if err := tr.Refresh(ctx); err != nil {
			return err
		}
		statuses = tr.Statuses()
	}

	var ans coverage.Answer
	if byPoint {
		ans, err = coverage.ByPoint(set, statuses, *lat, *lon, now)
	} else {
		ans, err = coverage.ByAddress(set, *comune, statuses, address, now)
	}
	if err != nil {
		if k := fibremon.KindOf(err); k == fibremon.Invalid || (k == fibremon.NotFound && fieldOf(err) == "comune") {
			return cli.UsageError(err.Error())
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(ans)
	}
	fmt.Fprint(stdout, ans.Text(*lang))
	if *storagePath == "" && ans.Match != coverage.MatchOutside {
		fmt.Fprintln(stderr, "(no measurements: pass --storage.path of a fibremon database to include the nearest probes' speeds)")
	}
	return nil
}

func fieldOf(err error) string {
	var e *fibremon.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
