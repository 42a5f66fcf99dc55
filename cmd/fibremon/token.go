package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"fibremon/geo"
	"fibremon/internal/auth"
	"fibremon/internal/cli"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runToken(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, "usage: fibremon token add --probe NAME --site ID [--site ID ...] | token add --reader --name NAME [--comune SLUG] | token add --admin --name NAME [--comune SLUG] | token list | token revoke --probe NAME [--sha256 PREFIX]")
		return cli.UsageError("token: want 'add', 'list' or 'revoke'")
	}
	fs := flag.NewFlagSet("fibremon token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	tokensFile := fs.String("auth.tokens-file", "tokens.json", "probe tokens file")
	var probe, hashPrefix, name, comune, dataDir string
	var sites stringList
	var admin, reader bool
	switch args[0] {
	case "add":
		fs.StringVar(&probe, "probe", "", "name of the probe agent the token is for")
		fs.Var(&sites, "site", "site the probe may write results for (repeatable)")
		fs.BoolVar(&admin, "admin", false, "issue an admin token (the /api/v1/admin API, and reads what a reader token reads; writes no results) for --name")
		fs.BoolVar(&reader, "reader", false, "issue a reader token (reads raw results, contracts and their evidence, full site statuses and, with --web.metrics-auth=read-token, /metrics; writes nothing) for --name")
		fs.StringVar(&name, "name", "", "with --admin or --reader: the person or system (e.g. grafana) the token is for")
		fs.StringVar(&comune, "comune", "", "with --admin or --reader: scope the token to this comune (slug, ISTAT code or name; checked against the data set): its municipality reads and administers that comune only (default: the consortium, every comune)")
		fs.StringVar(&dataDir, "data.dir", "", "the data set the service serves, to check --comune against (default: the embedded one)")
	case "list":
		fs.StringVar(&dataDir, "data.dir", "", "the data set the service serves, to show the comune of each probe token's sites (default: the embedded one)")
	case "revoke":
		fs.StringVar(&probe, "probe", "", "name of the probe whose tokens are revoked")
		fs.StringVar(&hashPrefix, "sha256", "", "revoke only the token whose SHA-256 starts with this (see 'token list')")
	}
	if err := cli.Parse(fs, args[1:], getenv, "FIBREMON_"); err != nil {
		return err
	}
	tokens, err := auth.Load(*tokensFile)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		siteComune := func(string) (string, bool) { return "", false }
		unknown := false // the comune of probe tokens
		if tokens.Counts().Probe > 0 {
			if set, err := loadTokenDataSet(dataDir); err != nil {
				fmt.Fprintf(stderr, "the comune of probe tokens is not shown: %v\n", err)
				unknown = true
			} else {
				siteComune = func(id string) (string, bool) {
					ix, ok := set.SiteComune(id)
					if !ok {
						return "", false
					}
					return ix.Comune().Slug, true
				}
			}
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROBE\tROLE\tSITES\tCOMUNE\tCREATED\tSHA256")
		for _, e := range tokens.Entries() {
			c := e.ComuneOf(siteComune)
			switch {
			case unknown && e.RoleName() == auth.RoleProbe:
				c = "?"
			case c == "":
				c = "(consortium)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s…\n", e.Probe, e.RoleName(), strings.Join(e.Sites, ","), c, e.Created.Format(time.RFC3339), e.SHA256[:12])
		}
		return tw.Flush()
	}
	if args[0] == "revoke" {
		n, err := tokens.Revoke(probe, hashPrefix)
		if err != nil {
			return err
		}
		if err := tokens.Save(*tokensFile); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d token(s) of probe %q revoked in %s; a running service drops them within seconds\n", n, probe, *tokensFile)
		return nil
	}
	if admin && reader {
		return cli.UsageError("token add: --admin or --reader, not both (an admin token reads too)")
	}
	if admin || reader {
		role, article := auth.RoleAdmin, "an"
		if reader {
			role, article = auth.RoleReader, "a"
		}
		if probe != "" || len(sites) > 0 {
			return cli.UsageError(fmt.Sprintf("token add --%s: give --name, not --probe or --site (%s %s token writes no results)", role, article, role))
		}
		slug := ""
		if comune != "" {
			if slug, err = comuneSlug(comune, dataDir, stderr); err != nil {
				return err
			}
		}
		tok, _, err := tokens.IssueScoped(role, name, slug, time.Now())
		if err != nil {
			return cli.UsageError(fmt.Sprintf("token add --%s: %v", role, err))
		}
		if err := tokens.Save(*tokensFile); err != nil {
			return err
		}
		scope := "the consortium (every comune)"
		if slug != "" {
			scope = "comune " + slug
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "%s token for %q of %s added to %s; it is shown only once\n", role, name, scope, *tokensFile)
		return nil
	}
	if name != "" {
		return cli.UsageError("token add: --name is for --admin and --reader tokens; a probe token takes --probe")
	}
	if comune != "" {
		return cli.UsageError("token add: --comune is for --admin and --reader tokens; a probe token's comune is its sites'")
	}
	tok, _, err := tokens.Issue(probe, sites, time.Now())
	if err != nil {
		return cli.UsageError("token add: " + err.Error())
	}
	if err := tokens.Save(*tokensFile); err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "token for probe %q (sites %s) added to %s; it is shown only once\n", probe, sites.String(), *tokensFile)
	return nil
}

// loadTokenDataSet loads the comuni and sites of the data set of dataDir
// (the embedded one when empty), as serve does, without their civic
// registers: enough to know each comune's slug, ISTAT code and name and
// the comune of each site.
func loadTokenDataSet(dataDir string) (*geo.Set, error) {
	cfg := serveConfig{dataDir: dataDir}
	set, err := geo.LoadSet(noRegisters{dataFS(cfg)}, ".", geo.LoadOptions{Lenient: dataDir != ""})
	if err != nil {
		return nil, fmt.Errorf("data set: %w", err)
	}
	return set, nil
}

// comuneSlug returns the slug of the comune key names (its slug, ISTAT
// code or name) in the data set of dataDir. When the data set cannot be
// loaded, a key that is a slug is taken as given, with a warning.
func comuneSlug(key, dataDir string, stderr io.Writer) (string, error) {
	set, err := loadTokenDataSet(dataDir)
	if err != nil {
		if geo.Slug(key) != key {
			return "", cli.UsageError(fmt.Sprintf("token add --comune %q: %v; give the comune's slug", key, err))
		}
		fmt.Fprintf(stderr, "warning: --comune %q not checked: %v\n", key, err)
		return key, nil
	}
	ix, err := set.Comune(key)
	if err != nil {
		return "", cli.UsageError(fmt.Sprintf("token add --comune %q: no such comune in the data set (%d comuni: %s)", key, set.Len(), slugList(set)))
	}
	return ix.Comune().Slug, nil
}

// slugList lists the slugs of set, the first 10 and how many more.
func slugList(set *geo.Set) string {
	var out []string
	for i, ix := range set.Comuni() {
		if i == 10 {
			out = append(out, fmt.Sprintf("… %d more", set.Len()-10))
			break
		}
		out = append(out, ix.Comune().Slug)
	}
	return strings.Join(out, ", ")
}

// noRegisters is a data set's file system without the civic registers and
// coverage files, which geo loads only when present.
type noRegisters struct{ fs.FS }

func (n noRegisters) Open(name string) (fs.File, error) {
	switch path.Base(name) {
	case geo.CivicsFile, geo.CivicsFile + ".gz", geo.CoverageFile, geo.CoverageFile + ".gz":
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return n.FS.Open(name)
}
