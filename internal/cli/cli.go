// Package cli parses the command-line flags of fibremon's binaries in the
// Prometheus style (--web.listen-address) with an environment mirror for
// every flag (FIBREMON_WEB_LISTEN_ADDRESS): command-line flags win.
package cli

import (
	"flag"
	"fmt"
	"strings"
)

// UsageError is a mistake on the command line; binaries exit 2 on it.
type UsageError string

func (e UsageError) Error() string { return string(e) }

// EnvName is the environment mirror of a flag: prefix + the flag name
// upper-cased with '.' and '-' turned into '_'.
func EnvName(prefix, flagName string) string {
	return prefix + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(flagName))
}

// Parse parses args, then fills every flag not given on the command line
// from its environment mirror. Positional arguments are refused.
func Parse(fs *flag.FlagSet, args []string, getenv func(string) string, prefix string) error {
	rest, err := ParseArgs(fs, args, getenv, prefix)
	if err == nil && len(rest) > 0 {
		return UsageError(fmt.Sprintf("%s: unexpected argument %q", fs.Name(), rest[0]))
	}
	return err
}

// ParseArgs is Parse for commands that take positional arguments (after
// the flags); it returns them.
func ParseArgs(fs *flag.FlagSet, args []string, getenv func(string) string, prefix string) ([]string, error) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags (each also read from its environment variable):\n", fs.Name())
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(fs.Output(), "  --%s  [%s]%s\n      %s\n", f.Name, EnvName(prefix, f.Name), def, f.Usage)
		})
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		env := EnvName(prefix, f.Name)
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = UsageError(fmt.Sprintf("%s=%q: %v", env, v, e))
			}
		}
	})
	return fs.Args(), err
}
