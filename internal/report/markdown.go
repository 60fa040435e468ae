package report

import (
	"fmt"
	"html"
	"io"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// maxDetailed bounds the differences shown with their full detail in the Markdown summary;
// GitHub refuses a step summary over 1 MiB, and past this many the HTML report reads better.
const maxDetailed = 50

// Markdown writes the run summary meant for $GITHUB_STEP_SUMMARY: a headline, the run's facts,
// the verdict matrix (as in the support table), then every cell that differs from its
// expectation with its detail, findings, error, stderr tail and rerun command, and the cells
// that did not run.
func Markdown(w io.Writer, r *results.Results) error {
	r = printable(r)
	var b strings.Builder
	// ✓ and ✗, not the emoji: every common font draws them (see TestGlyphs).
	mark := "✓"
	if !allOK(r) {
		mark = "✗"
	}
	s := r.Summary
	fmt.Fprintf(&b, "## %s awacompat: %d of %d cells as expected\n\n", mark, s.OK, s.Total)
	b.WriteString(mdText(runFacts(r)) + "\n\n")
	if r.Interrupted {
		b.WriteString("> **Interrupted**: cells the run did not reach are \"not run\".\n\n")
	}
	if r.Error != "" {
		b.WriteString("> **Run failed**: " + mdText(r.Error) + "\n\n")
	}
	b.WriteString(mdText(summaryLine(r)) + "\n\n")
	b.WriteString("### Verdict matrix\n\n")
	writeGridMarkdown(&b, newGrid(r))
	b.WriteString("\n")
	writeSuitesMarkdown(&b, r)

	var diffs, notRun []*results.Cell
	for i := range r.Cells {
		c := &r.Cells[i]
		switch {
		case c.OK:
		case c.Actual == "skipped":
			notRun = append(notRun, c)
		default:
			diffs = append(diffs, c)
		}
	}
	if len(diffs) > 0 {
		fmt.Fprintf(&b, "### Differences (%d)\n\n", len(diffs))
		for i, c := range diffs {
			if i == maxDetailed {
				fmt.Fprintf(&b, "%d more, detailed in report.html:\n\n", len(diffs)-maxDetailed)
			}
			if i >= maxDetailed {
				fmt.Fprintf(&b, "- %s: expected %s, got %s\n", mdCode(c.ID), c.Expected, c.Actual)
				continue
			}
			writeDifference(&b, c)
		}
		b.WriteString("\n")
	}
	if len(notRun) > 0 {
		fmt.Fprintf(&b, "### Not run (%d)\n\n", len(notRun))
		for _, c := range notRun {
			fmt.Fprintf(&b, "- %s: %s\n", mdCode(c.ID), mdText(c.Detail))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeDifference(b *strings.Builder, c *results.Cell) {
	fmt.Fprintf(b, "<details><summary><code>%s</code>: %s</summary>\n\n", html.EscapeString(c.ID), html.EscapeString(expectedGot(c)))
	if c.Detail != "" {
		b.WriteString(mdText(c.Detail) + "\n\n")
	}
	fmt.Fprintf(b, "- expected %s because (%s): %s\n", c.Expected, ruleName(c), mdText(c.Because))
	for _, f := range c.Findings {
		b.WriteString("- finding: " + mdText(f) + "\n")
	}
	if c.Error != nil {
		b.WriteString("- error: " + mdCode(errorText(c.Error)) + "\n")
	}
	if c.KeptDatabase != "" {
		b.WriteString("- database kept: " + mdCode("psql '"+redact.URL(c.KeptDatabase)+"'") + "\n")
	}
	if c.Logs != "" {
		b.WriteString("- logs: " + mdCode(c.Logs) + "\n")
	}
	b.WriteString("- rerun: " + mdCode(c.Repro) + "\n")
	if c.StderrTail != "" {
		b.WriteString("\nstderr tail:\n\n" + mdFence(redact.Text(c.StderrTail)))
	}
	b.WriteString("\n</details>\n")
}

// allOK is true when every cell ran as expected and the run itself completed.
func allOK(r *results.Results) bool {
	return r.Summary.OK == r.Summary.Total && !r.Interrupted && r.Error == ""
}

// runFacts is one line: the target, the schema it reached, the server, the shards, and when.
func runFacts(r *results.Results) string {
	var parts []string
	t := fmt.Sprintf("awa %s migrated to schema version %d", r.Target.Awa, r.Target.SchemaVersion)
	if r.Target.ExpectedSchemaVersion != 0 {
		t += fmt.Sprintf(" (expected %d)", r.Target.ExpectedSchemaVersion)
	}
	parts = append(parts, t+postgresPhrase(r))
	if sh := shardList(r); sh != "" {
		parts = append(parts, "shards "+sh)
	}
	if !r.StartedAt.IsZero() {
		when := "started " + r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC")
		if !r.FinishedAt.IsZero() {
			when += ", took " + r.FinishedAt.Sub(r.StartedAt).Round(time.Second).String()
		}
		parts = append(parts, when)
	}
	return strings.Join(parts, " · ")
}

// shardList is "1/2, 2/2", or "" for an unsharded run.
func shardList(r *results.Results) string {
	var out []string
	for _, s := range r.Shards {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

// summaryLine counts the cells as the terminal table does.
func summaryLine(r *results.Results) string {
	s := r.Summary
	line := fmt.Sprintf("%d cells: %d as expected, %d mismatched, %d errors, %d not run", s.Total, s.OK, s.Mismatched, s.Errors, s.Skipped)
	switch {
	case s.Unexpected == 1:
		line += " (1 unexpected pass)"
	case s.Unexpected > 1:
		line += fmt.Sprintf(" (%d unexpected passes)", s.Unexpected)
	}
	return line
}

// expectedGot is "expected pass, got fail" (with the expected error pattern for refusals).
func expectedGot(c *results.Cell) string {
	exp := c.Expected
	if c.ExpectedError != "" {
		exp += " matching /" + c.ExpectedError + "/"
	}
	got := c.Actual
	if got == "skipped" {
		got = "not run"
	}
	return "expected " + exp + ", got " + got
}

// ruleName says where the expectation came from: "rule 2, documented".
func ruleName(c *results.Cell) string {
	rule := "default"
	if c.Rule > 0 {
		rule = fmt.Sprintf("rule %d", c.Rule)
	}
	if c.Basis != "" {
		rule += ", " + c.Basis
	}
	return rule
}

// errorText is "enqueue: UniqueViolation: duplicate key (SQLSTATE 23505)".
func errorText(e *results.ErrorInfo) string {
	s := e.Class + ": " + e.Message
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	if e.SQLState != "" {
		s += " (SQLSTATE " + e.SQLState + ")"
	}
	return redact.Text(s)
}

// mdCode is s as inline code, with a fence longer than any backtick run inside it.
func mdCode(s string) string {
	s = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") || len(fence) > 1 {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// mdFence is s as a fenced code block.
func mdFence(s string) string {
	fence := strings.Repeat("`", max(3, longestRun(s, '`')+1))
	return fence + "text\n" + strings.TrimRight(s, "\n") + "\n" + fence + "\n"
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}
