package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/upgrade"
)

const canUpgradeUsage = `usage:
  awacompat can-i-upgrade --from A --to B [--engine E] [--schema-path P] [--roles R,...] [--format text|json] DIR
      answer from the results in DIR (or its results.json) whether a fleet can roll from
      release A to release B: old and new clients side by side on B's schema

A and B: a release in either spelling (0.6.0-rc.4 or 0.6.0rc4: every client of that version
the run has, python, rust and cli) or an artifact name of the run (py-0.5.7: that client
alone). B must be the run's target, whose migrate made the schema every cell ran on.
exit codes: 0 safe, 1 not safe, 2 not enough evidence (cells not run or not in the matrix),
or a question these results cannot answer (stderr says which).

flags:
`

func cmdCanUpgrade(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("can-i-upgrade", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, canUpgradeUsage); fs.PrintDefaults() }
	var q upgrade.Question
	fs.StringVar(&q.From, "from", "", "the release the fleet runs now (`A`: a version or an artifact name)")
	fs.StringVar(&q.To, "to", "", "the release it rolls to (`B`: the run's target, or one of its artifacts)")
	fs.StringVar(&q.Engine, "engine", "", "answer for one `engine` only (queue_storage covers its ring authorities)")
	fs.StringVar(&q.SchemaPath, "schema-path", "", "answer for one schema `path` only (fresh, upgraded-from-py-0.5.7)")
	roles := fs.String("roles", "", "count only cells in which the old release plays these `roles` (comma-separated; e.g. without migrator when old instances never run migrate)")
	format := fs.String("format", "text", "output `format`: text or json")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	switch {
	case len(pos) != 1:
		fmt.Fprintln(stderr, "awacompat can-i-upgrade: want one results folder")
		return exitUsage
	case q.From == "" || q.To == "":
		fmt.Fprintln(stderr, "awacompat can-i-upgrade: want --from and --to")
		return exitUsage
	case *format != "text" && *format != "json":
		fmt.Fprintf(stderr, "awacompat can-i-upgrade: unknown --format %q (text, json)\n", *format)
		return exitUsage
	}
	if *roles != "" {
		for _, r := range strings.Split(*roles, ",") {
			if r = strings.TrimSpace(r); r != "" {
				q.Roles = append(q.Roles, r)
			}
		}
	}
	res, err := results.Read(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitUsage
	}
	answer, err := upgrade.Evaluate(res, q)
	if err != nil {
		fmt.Fprintln(stderr, "awacompat can-i-upgrade:", err)
		return exitUsage
	}
	render := upgrade.Text
	if *format == "json" {
		render = upgrade.JSON
	}
	if err := render(stdout, answer); err != nil {
		fmt.Fprintln(stderr, "awacompat can-i-upgrade:", err)
		return exitUsage
	}
	return answer.ExitCode
}
