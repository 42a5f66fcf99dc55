package cli

import (
	"flag"
	"io"
	"testing"
	"time"
)

func TestParseEnvMirror(t *testing.T) {
	env := map[string]string{"FIBREMON_WEB_LISTEN_ADDRESS": "127.0.0.1:9", "FIBREMON_STATUS_STALE_AFTER": "1m", "FIBREMON_LOG_LEVEL": "debug"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("web.listen-address", "127.0.0.1:8080", "")
	stale := fs.Duration("status.stale-after", time.Minute*5, "")
	level := fs.String("log.level", "info", "")
	if err := Parse(fs, []string{"--log.level", "warn"}, func(k string) string { return env[k] }, "FIBREMON_"); err != nil {
		t.Fatal(err)
	}
	if *addr != "127.0.0.1:9" || *stale != time.Minute || *level != "warn" {
		t.Fatalf("got %q %v %q; want env for unset flags, command line for set ones", *addr, *stale, *level)
	}
	env["FIBREMON_STATUS_STALE_AFTER"] = "soon"
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	fs2.Duration("status.stale-after", 0, "")
	if err := Parse(fs2, nil, func(k string) string { return env[k] }, "FIBREMON_"); err == nil {
		t.Fatal("bad env value accepted")
	}
	fs3 := flag.NewFlagSet("t", flag.ContinueOnError)
	if err := Parse(fs3, []string{"extra"}, func(string) string { return "" }, "X_"); err == nil {
		t.Fatal("positional argument accepted")
	}
}
