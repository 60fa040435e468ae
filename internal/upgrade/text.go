package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/awacompat/awacompat/internal/redact"
)

// textWidth is where Text wraps the reasons it quotes.
const textWidth = 100

// JSON writes the answer as `--format json` prints it.
func JSON(w io.Writer, a *Answer) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("can-i-upgrade json: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// Text writes the answer for a person: the verdict first, then for each engine what breaks
// during the roll and why, what the new release alone cannot do either, what did not run or
// is not in the matrix, and what was proven.
func Text(w io.Writer, a *Answer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "can-i-upgrade %s -> %s: %s (exit %d)\n\n", p(a.From.Asked), p(a.To.Asked), headline(a.Verdict), a.ExitCode)
	fmt.Fprintf(&b, "from %s: %s\n", a.From.Version, artifactList(a.From))
	fmt.Fprintf(&b, "to %s:   %s\n", a.To.Version, artifactList(a.To))
	evidence := fmt.Sprintf("awa %s migrated to schema version %d", a.Target, a.SchemaVersion)
	if a.Matrix != "" {
		evidence = p(a.Matrix) + ": " + evidence
	}
	b.WriteString(wrap("evidence: "+evidence+"; the cells put old clients on that schema, alone and beside new ones, as a rolling upgrade does", "  "))
	var filters []string
	if a.Engine != "" {
		filters = append(filters, "engine "+p(a.Engine))
	}
	if a.SchemaPath != "" {
		filters = append(filters, "schema path "+p(a.SchemaPath))
	}
	if a.Roles != nil {
		filters = append(filters, "old release in roles "+p(strings.Join(a.Roles, ", ")))
	}
	if len(filters) > 0 {
		b.WriteString("asked about: " + strings.Join(filters, "; ") + "\n")
	}
	for _, e := range a.Engines {
		writeEngine(&b, a, e)
	}
	if len(a.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range a.Notes {
			b.WriteString(wrap("note: "+p(n), "  "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEngine(b *strings.Builder, a *Answer, e EngineAnswer) {
	fmt.Fprintf(b, "\n%s (%s): %s\n", p(e.Engine), p(strings.Join(e.SchemaPaths, ", ")), headline(e.Verdict))
	if len(e.Failures) > 0 {
		fmt.Fprintf(b, "  breaks during the roll (%d %s):\n", e.FailedCells, plural(e.FailedCells, "cell", "cells"))
		for _, f := range e.Failures {
			writeFinding(b, f)
		}
	}
	if len(e.Limits) > 0 {
		fmt.Fprintf(b, "  limits of %s itself, which the roll does not add (%d %s; %s alone fails the same way):\n", a.To.Version, e.LimitCells, plural(e.LimitCells, "cell", "cells"), a.To.Version)
		for _, f := range e.Limits {
			writeFinding(b, f)
		}
	}
	if len(e.NotRun) > 0 {
		fmt.Fprintf(b, "  not run (%d %s, no evidence either way):\n", e.NotRunCells, plural(e.NotRunCells, "cell", "cells"))
		for _, f := range e.NotRun {
			writeFinding(b, f)
		}
	}
	if len(e.Missing) > 0 {
		fmt.Fprintf(b, "  not in the matrix (%d %s the roll forms, no cell):\n", len(e.Missing), plural(len(e.Missing), "fleet", "fleets"))
		for _, g := range e.Missing {
			fmt.Fprintf(b, "    %s on %s: %s\n", p(g.Scenario), p(g.SchemaPath), p(g.Want))
		}
	}
	if e.ProvenCells+e.FailedCells+e.LimitCells+e.NotRunCells == 0 {
		fmt.Fprintf(b, "  no cell of this run put a %s client on this engine\n", a.From.Version)
	}
	if len(e.Proven) > 0 {
		fmt.Fprintf(b, "  proven (%d %s):\n", e.ProvenCells, plural(e.ProvenCells, "cell passes", "cells pass"))
		writeProven(b, e.Proven)
	}
}

// writeFinding writes a group of cells that failed (or did not run) alike.
func writeFinding(b *strings.Builder, f Finding) {
	head := p(f.Actual) + " in " + p(strings.Join(f.Scenarios, ", "))
	switch {
	case f.Actual == "skipped":
		head = "not run in " + p(strings.Join(f.Scenarios, ", "))
	case f.AsExpected:
		head += ", as expected (" + ruleName(f) + ")"
	default:
		head += ", where the matrix expected " + p(f.Expected) + " (" + ruleName(f) + ")"
	}
	b.WriteString(wrap("    - "+head, "        "))
	where := fmt.Sprintf("fleets: %s; on %s; %d %s", p(strings.Join(f.Fleets, ", ")), p(strings.Join(f.SchemaPaths, ", ")), len(f.Cells), plural(len(f.Cells), "cell", "cells"))
	b.WriteString(wrap("      "+where, "        "))
	clients := "old: " + p(strings.Join(f.Old, ", "))
	if len(f.New) > 0 {
		clients += "; new: " + p(strings.Join(f.New, ", "))
	}
	b.WriteString(wrap("      "+clients, "        "))
	if f.Because != "" {
		b.WriteString(wrap("      because: "+p(f.Because), "        "))
	}
	if f.Detail != "" {
		b.WriteString(wrap("      detail: "+p(f.Detail), "        "))
	}
	if f.Rerun != "" {
		b.WriteString("      rerun: " + p(f.Rerun) + "\n")
	}
}

// writeProven writes one line per scenario: its fleets and how many cells each passed.
func writeProven(b *strings.Builder, fs []Finding) {
	var order []string
	lines := map[string][]string{}
	for _, f := range fs {
		sc := f.Scenarios[0]
		if _, ok := lines[sc]; !ok {
			order = append(order, sc)
		}
		item := fmt.Sprintf("%s (%d)", strings.Join(f.Fleets, ", "), len(f.Cells))
		if !f.AsExpected {
			item += fmt.Sprintf(" [passed though the matrix expected %s, %s]", f.Expected, ruleName(f))
		}
		lines[sc] = append(lines[sc], item)
	}
	for _, sc := range order {
		b.WriteString(wrap("    "+p(sc)+": "+p(strings.Join(lines[sc], ", ")), "      "))
	}
}

func ruleName(f Finding) string {
	s := "default"
	if f.Rule > 0 {
		s = fmt.Sprintf("rule %d", f.Rule)
	}
	if f.Basis != "" {
		s += ", " + f.Basis
	}
	return s
}

func headline(v Verdict) string { return strings.ToUpper(v.text()) }

func artifactList(rel Release) string {
	var parts []string
	for _, a := range rel.Artifacts {
		parts = append(parts, fmt.Sprintf("%s (%s)", p(a.Name), p(a.Kind)))
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// p makes text from results.json safe for a terminal: no control characters, no passwords.
func p(s string) string { return redact.Printable(s) }

// wrap breaks s into lines of at most textWidth columns at spaces, continuing with indent.
// A word longer than a line (a cell ID) stays whole.
func wrap(s, indent string) string {
	var b strings.Builder
	line := ""
	for _, word := range strings.Fields(s) {
		switch {
		case line == "":
			line = leading(s) + word
		case len(line)+1+len(word) > textWidth:
			b.WriteString(line + "\n")
			line = indent + word
		default:
			line += " " + word
		}
	}
	b.WriteString(line + "\n")
	return b.String()
}

// leading is s's leading spaces.
func leading(s string) string { return s[:len(s)-len(strings.TrimLeft(s, " "))] }
