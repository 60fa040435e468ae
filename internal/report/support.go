package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
)

// Support writes the support table (`--format support`): a Markdown table whose rows are a
// client version and role and whose columns are an engine and a scenario, each entry the
// verdict and whether it was expected ("pass ✓", "inert ✓ (expected)", "fail ✗ (expected
// pass)"). Where several cells share an entry, identical outcomes are shown once and differing
// ones are listed with the partner roles they ran with (see grid.go). It is plain text that
// reads in a terminal and renders on GitHub, so it can be pasted into awa's docs.
func Support(w io.Writer, r *results.Results) error {
	r = printable(r)
	var b strings.Builder
	fmt.Fprintf(&b, "awa %s support against schema version %d%s\n\n", r.Target.Awa, r.Target.SchemaVersion, postgresPhrase(r))
	// One table per schema path keeps each readable: a path is a different database state
	// (awa.md §0.1), and putting both side by side doubles the columns.
	paths := schemaPaths(r)
	for i, path := range paths {
		if len(paths) > 1 {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "Schema path `%s`:\n\n", path)
		}
		writeGridMarkdown(&b, newGrid(onlyPath(r, path)))
	}
	b.WriteString("\n✓ as expected, ✗ differs from the expectation; \"(expected X)\" names the expected verdict. " +
		"When outcomes in one entry differ, each is followed by the other roles of its cells.\n")
	if note := runNote(r); note != "" {
		b.WriteString(note + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeGridMarkdown writes the verdict matrix as a Markdown table.
func writeGridMarkdown(b *strings.Builder, g *grid) {
	if len(g.Rows) == 0 {
		b.WriteString("(no cells)\n")
		return
	}
	b.WriteString("| client and role |")
	for _, c := range g.Cols {
		b.WriteString(" " + mdCell(c.Label) + " |")
	}
	b.WriteString("\n|---|")
	for range g.Cols {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, row := range g.Rows {
		b.WriteString("| " + mdCell(row.Label) + " |")
		for _, c := range row.Cells {
			b.WriteString(" " + mdCell(c.text()) + " |")
		}
		b.WriteString("\n")
	}
}

// postgresPhrase is " on PostgreSQL 17.2 (url)", or "".
func postgresPhrase(r *results.Results) string {
	if len(r.Servers) > 0 {
		var vs []string
		for _, s := range r.Servers {
			vs = append(vs, s.Version)
		}
		return fmt.Sprintf(" on PostgreSQL %s (%s, one server each)", strings.Join(vs, ", "), r.Servers[0].Mode)
	}
	if r.Postgres.Version == "" {
		return ""
	}
	return fmt.Sprintf(" on PostgreSQL %s (%s)", r.Postgres.Version, r.Postgres.Mode)
}

// runNote says when the run did not complete, so no report passes for a full one.
func runNote(r *results.Results) string {
	var notes []string
	if r.Interrupted {
		notes = append(notes, "The run was interrupted: cells it did not reach are \"not run\".")
	}
	if r.Error != "" {
		notes = append(notes, "The run failed: "+r.Error)
	}
	return strings.Join(notes, " ")
}

// mdCell escapes text for one Markdown table cell: no line breaks, no column separators, no
// HTML.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}

// mdText escapes text for Markdown prose: HTML is shown, not interpreted, and it stays on one
// line.
func mdText(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", "\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// schemaPaths lists the schema paths of r's cells in first-seen order of the sorted cells.
func schemaPaths(r *results.Results) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range r.Cells {
		if !seen[c.SchemaPath] {
			seen[c.SchemaPath] = true
			out = append(out, c.SchemaPath)
		}
	}
	return out
}

// onlyPath is r restricted to the cells of one schema path.
func onlyPath(r *results.Results, path string) *results.Results {
	cp := *r
	cp.Cells = nil
	for _, c := range r.Cells {
		if c.SchemaPath == path {
			cp.Cells = append(cp.Cells, c)
		}
	}
	return &cp
}
