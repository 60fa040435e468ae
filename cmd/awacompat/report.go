package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/awacompat/awacompat/internal/report"
	"github.com/awacompat/awacompat/internal/results"
)

const reportUsage = `usage:
  awacompat report [--format F] [--out FILE] [--check] DIR
      render the results folder DIR (or its results.json) in one format, to stdout or FILE
  awacompat report merge --out DIR [--check] SHARD_DIR...
      join the results of --shard runs of one matrix into DIR (results.json, the cells' logs,
      junit.xml, summary.md, report.html, support.svg)

formats: table (default), junit, markdown, html, json, support, svg (the support picture;
its entries link into the report.html next to the results)
--check sets the exit code from the results, as run does: 0 every cell as expected, 1 a cell
differs (or did not run), 3 the run itself failed.

flags:
`

// renderer returns the writer of one --format. The HTML report needs to know where its log
// links must point from.
func renderer(format, resultsPath, out string) (func(io.Writer, *results.Results) error, bool) {
	switch format {
	case "table":
		return report.Table, true
	case "junit":
		return report.JUnit, true
	case "markdown":
		return report.Markdown, true
	case "json":
		return report.JSON, true
	case "support":
		return report.Support, true
	case "html":
		return htmlRenderer(resultsPath, out), true
	case "svg":
		return svgRenderer(resultsPath, out), true
	}
	return nil, false
}

func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "merge" {
		return cmdReportMerge(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	format := fs.String("format", "table", "output `format`: table, junit, markdown, html, json, support or svg")
	out := fs.String("out", "", "write to `FILE` instead of stdout")
	check := fs.Bool("check", false, "exit 1 when a cell is not as expected, 3 when the run failed (as run does)")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "awacompat report: want one results folder")
		return exitUsage
	}
	render, ok := renderer(*format, pos[0], *out)
	if !ok {
		fmt.Fprintf(stderr, "awacompat report: unknown --format %q (table, junit, markdown, html, json, support, svg)\n", *format)
		return exitUsage
	}
	res, err := results.Read(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitUsage
	}
	var b bytes.Buffer
	if err := render(&b, res); err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	if *out == "" {
		_, err = stdout.Write(b.Bytes())
	} else {
		err = os.WriteFile(*out, b.Bytes(), 0o644)
	}
	if err != nil {
		fmt.Fprintln(stderr, "awacompat report:", err)
		return exitInfra
	}
	if *check {
		return checkCode(res)
	}
	return exitOK
}

// svgRenderer renders the support picture with links into the report.html next to the
// results: as written by default when printed, else relative to FILE.
func svgRenderer(resultsPath, out string) func(io.Writer, *results.Results) error {
	opts := report.SVGOptions{ReportHref: report.HTMLFile}
	if rel := linkBase(resultsPath, out); rel != "" {
		opts.ReportHref = path.Join(filepath.ToSlash(rel), report.HTMLFile)
	}
	return func(w io.Writer, r *results.Results) error { return report.SVG(w, r, opts) }
}

// resultsDir is the folder holding the results (resultsPath may name the file itself).
func resultsDir(resultsPath string) string {
	if st, err := os.Stat(resultsPath); err == nil && !st.IsDir() {
		return filepath.Dir(resultsPath)
	}
	return resultsPath
}

// linkBase is the relative path from the folder FILE is written to to the results folder, ""
// when they are the same or when printing to stdout (the usual `> DIR/report.html`).
func linkBase(resultsPath, out string) string {
	if out == "" {
		return ""
	}
	from, err1 := filepath.Abs(filepath.Dir(out))
	to, err2 := filepath.Abs(resultsDir(resultsPath))
	if err1 != nil || err2 != nil {
		return ""
	}
	if rel, err := filepath.Rel(from, to); err == nil && rel != "." {
		return rel
	}
	return ""
}

// htmlRenderer renders the HTML report with log links that resolve from where it is written:
// next to the results when printed (the usual `> DIR/report.html`), else relative to FILE.
func htmlRenderer(resultsPath, out string) func(io.Writer, *results.Results) error {
	opts := report.HTMLOptions{Dir: resultsDir(resultsPath), LinkBase: linkBase(resultsPath, out)}
	return func(w io.Writer, r *results.Results) error { return report.HTML(w, r, opts) }
}

// checkCode is the exit code run would have returned for these results.
func checkCode(r *results.Results) int {
	switch {
	case r.Error != "":
		return exitInfra
	case r.Interrupted || r.Summary.OK != r.Summary.Total:
		return exitMismatch
	}
	for _, c := range r.Cells {
		if !c.OK {
			return exitMismatch
		}
	}
	return exitOK
}

func cmdReportMerge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, reportUsage); fs.PrintDefaults() }
	out := fs.String("out", "", "merged results `DIR` (required; not one of the shard folders)")
	check := fs.Bool("check", false, "exit 1 when a merged cell is not as expected, 3 when a shard's run failed")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if *out == "" || len(pos) == 0 {
		fmt.Fprintln(stderr, "awacompat report merge: want --out DIR and at least one shard results folder")
		return exitUsage
	}
	merged, err := results.MergeDirs(*out, pos)
	if err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitUsage
	}
	if err := report.WriteFiles(*out, merged); err != nil {
		fmt.Fprintln(stderr, "awacompat:", err)
		return exitInfra
	}
	s := merged.Summary
	fmt.Fprintf(stdout, "merged %d results folders (shards %s) into %s: %d cells, %d as expected\n", len(pos), strings.Join(merged.Shards, ", "), *out, s.Total, s.OK)
	if merged.Error != "" {
		fmt.Fprintf(stdout, "run failed: %s\n", merged.Error)
	}
	if *check {
		return checkCode(merged)
	}
	return exitOK
}
