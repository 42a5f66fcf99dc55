package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"fibremon/internal/auth"
	"fibremon/internal/cli"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func runToken(_ context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "revoke") {
		fmt.Fprintln(stderr, "usage: fibremon token add --probe NAME --site ID [--site ID ...] | token add --reader --name NAME | token add --admin --name NAME | token list | token revoke --probe NAME [--sha256 PREFIX]")
		return cli.UsageError("token: want 'add', 'list' or 'revoke'")
	}
	fs := flag.NewFlagSet("fibremon token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	tokensFile := fs.String("auth.tokens-file", "tokens.json", "probe tokens file")
	var probe, hashPrefix, name string
	var sites stringList
	var admin, reader bool
	switch args[0] {
	case "add":
		fs.StringVar(&probe, "probe", "", "name of the probe agent the token is for")
		fs.Var(&sites, "site", "site the probe may write results for (repeatable)")
		fs.BoolVar(&admin, "admin", false, "issue an admin token (the /api/v1/admin API, and reads what a reader token reads; writes no results) for --name")
		fs.BoolVar(&reader, "reader", false, "issue a reader token (reads raw results, contracts and their evidence, full site statuses and, with --web.metrics-auth=read-token, /metrics; writes nothing) for --name")
		fs.StringVar(&name, "name", "", "with --admin or --reader: the person or system (e.g. grafana) the token is for")
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
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROBE\tROLE\tSITES\tCREATED\tSHA256")
		for _, e := range tokens.Entries() {
			role := e.Role
			if role == "" {
				role = "probe"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\n", e.Probe, role, strings.Join(e.Sites, ","), e.Created.Format(time.RFC3339), e.SHA256[:12])
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
		role, article, issue := auth.RoleAdmin, "an", tokens.IssueAdmin
		if reader {
			role, article, issue = auth.RoleReader, "a", tokens.IssueReader
		}
		if probe != "" || len(sites) > 0 {
			return cli.UsageError(fmt.Sprintf("token add --%s: give --name, not --probe or --site (%s %s token writes no results)", role, article, role))
		}
		tok, _, err := issue(name, time.Now())
		if err != nil {
			return cli.UsageError(fmt.Sprintf("token add --%s: %v", role, err))
		}
		if err := tokens.Save(*tokensFile); err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
		fmt.Fprintf(stderr, "%s token for %q added to %s; it is shown only once\n", role, name, *tokensFile)
		return nil
	}
	if name != "" {
		return cli.UsageError("token add: --name is for --admin and --reader tokens; a probe token takes --probe")
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
