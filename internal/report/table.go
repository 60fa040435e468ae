// Package report renders results.json for people and machines: a terminal table, and (in
// sibling files) JUnit XML, Markdown, HTML and the support table. Every format is rendered
// from a *results.Results, so reports of one run never disagree.
package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/awacompat/awacompat/internal/results"
)

// Table writes the terminal table: one row per cell with expected, actual and duration, then
// the failures with their detail and repro command, then the summary line.
func Table(w io.Writer, r *results.Results) error {
	r = printable(r)
	var b strings.Builder
	fmt.Fprintf(&b, "awa %s migrated to schema version %d", r.Target.Awa, r.Target.SchemaVersion)
	if r.Postgres.Version != "" {
		fmt.Fprintf(&b, " on PostgreSQL %s (%s)", r.Postgres.Version, r.Postgres.Mode)
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CELL\tEXPECTED\tACTUAL\tOK\tDURATION")
	for _, c := range r.Cells {
		mark := "ok"
		if !c.OK {
			mark = "MISMATCH"
			if c.Actual == "skipped" {
				mark = "NOT RUN"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Expected, c.Actual, mark, (time.Duration(c.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
	}
	tw.Flush()
	var bad []results.Cell
	for _, c := range r.Cells {
		if !c.OK {
			bad = append(bad, c)
		}
	}
	if len(bad) > 0 {
		b.WriteString("\n")
		for _, c := range bad {
			fmt.Fprintf(&b, "%s: expected %s, got %s\n  %s\n", c.ID, c.Expected, c.Actual, c.Detail)
			for _, f := range c.Findings {
				fmt.Fprintf(&b, "  - %s\n", f)
			}
			if c.KeptDatabase != "" {
				fmt.Fprintf(&b, "  database kept: psql '%s'\n", c.KeptDatabase)
			}
			fmt.Fprintf(&b, "  logs: %s\n  rerun: %s\n", c.Logs, c.Repro)
		}
	}
	writeSuitesText(&b, r)
	s := r.Summary
	fmt.Fprintf(&b, "\n%d cells: %d as expected, %d mismatched, %d errors, %d not run", s.Total, s.OK, s.Mismatched, s.Errors, s.Skipped)
	if s.Unexpected > 0 {
		fmt.Fprintf(&b, " (%d unexpected passes)", s.Unexpected)
	}
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	if r.Error != "" {
		fmt.Fprintf(&b, "run failed: %s\n", r.Error)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Line is the one plain line printed per finished cell when not on a terminal.
func Line(c results.Cell) string {
	mark := "ok"
	if !c.OK {
		mark = "MISMATCH"
	}
	return fmt.Sprintf("%-8s %s: expected %s, got %s (%s)", mark, c.ID, c.Expected, c.Actual, (time.Duration(c.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
}
