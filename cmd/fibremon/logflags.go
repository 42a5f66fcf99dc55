package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"fibremon/internal/cli"
)

// logFlags are the logging flags of every command.
type logFlags struct {
	level  string
	format string
}

// register defines the flags of l on fs, each defaulting to l's value.
func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.level, "log.level", l.level, "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log.format", l.format, "log format: text or json")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.level)); err != nil {
		return nil, cli.UsageError(fmt.Sprintf("--log.level %q: want debug, info, warn or error", l.level))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, cli.UsageError(fmt.Sprintf("--log.format %q: want text or json", l.format))
}
