package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// The engine diff: for each suite, every test's outcome in every suite cell side by side
// (columns schema path x engine), the tests whose outcome differs between engines on a
// schema path first. That is the defect class suites run for: a test that passes under one
// storage engine and fails, or quietly skips, under the other.

// suiteTable is one suite's tests across its cells.
type suiteTable struct {
	Suite   string
	Columns []suiteColumn
	Rows    []suiteRow
	// Differ counts the rows whose outcome differs between engines; they come first.
	Differ int
	// Mismatched counts the rows with a test that differs from its expectation in a cell.
	Mismatched int
}

// suiteColumn is one suite cell.
type suiteColumn struct {
	Cell, SchemaPath, Engine string
	Counts                   map[string]int
	Verdict                  string
	OK                       bool
}

// Label is "schema path / engine".
func (c suiteColumn) Label() string { return c.SchemaPath + " / " + c.Engine }

// suiteRow is one test in each column ("" where a cell has no such test).
type suiteRow struct {
	Name     string
	Outcomes []string
	// Mismatch marks the columns where the test differs from its expectation.
	Mismatch []bool
	Expected []string
	// Differs is true when, on some schema path, the engines disagree about the test.
	Differs bool
}

// Any reports whether the test differs from its expectation in some column.
func (r suiteRow) Any() bool { return slices.Contains(r.Mismatch, true) }

// suiteTables builds the engine diff of every suite in r, in suite name order.
func suiteTables(r *results.Results) []suiteTable {
	bySuite := map[string][]*results.Cell{}
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.Scenario != "suite" {
			continue
		}
		bySuite[c.Roles["suite"].Artifact] = append(bySuite[c.Roles["suite"].Artifact], c)
	}
	var out []suiteTable
	names := mapKeys(bySuite)
	slices.Sort(names)
	for _, name := range names {
		cells := bySuite[name]
		slices.SortFunc(cells, func(a, b *results.Cell) int {
			return cmp.Or(comparePaths(a.SchemaPath, b.SchemaPath), cmp.Compare(a.Engine, b.Engine))
		})
		t := suiteTable{Suite: name}
		rows := map[string]*suiteRow{}
		var order []string
		for ci, c := range cells {
			col := suiteColumn{Cell: c.ID, SchemaPath: c.SchemaPath, Engine: c.Engine, Verdict: c.Actual, OK: c.OK}
			if c.Suite != nil {
				col.Counts = c.Suite.Counts
			}
			t.Columns = append(t.Columns, col)
			for _, tt := range c.Tests {
				row, ok := rows[tt.Name]
				if !ok {
					row = &suiteRow{Name: tt.Name, Outcomes: make([]string, len(cells)), Mismatch: make([]bool, len(cells)), Expected: make([]string, len(cells))}
					rows[tt.Name] = row
					order = append(order, tt.Name)
				}
				row.Outcomes[ci], row.Mismatch[ci], row.Expected[ci] = tt.Outcome, !tt.OK, tt.Expected
			}
		}
		for _, n := range order {
			row := rows[n]
			row.Differs = enginesDisagree(t.Columns, row.Outcomes)
			if row.Differs {
				t.Differ++
			}
			if row.Any() {
				t.Mismatched++
			}
			t.Rows = append(t.Rows, *row)
		}
		slices.SortFunc(t.Rows, func(a, b suiteRow) int {
			rank := func(r suiteRow) int {
				switch {
				case r.Differs:
					return 0
				case r.Any():
					return 1
				}
				return 2
			}
			return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.Name, b.Name))
		})
		out = append(out, t)
	}
	return out
}

// enginesDisagree: on some schema path, two engines that both ran the test gave it different
// outcomes. A test missing under one engine (the cell did not run, or errored) is no
// disagreement: the cell's own verdict says why.
func enginesDisagree(cols []suiteColumn, outcomes []string) bool {
	for i := range cols {
		for j := i + 1; j < len(cols); j++ {
			if cols[i].SchemaPath == cols[j].SchemaPath && cols[i].Engine != cols[j].Engine &&
				outcomes[i] != "" && outcomes[j] != "" && outcomes[i] != outcomes[j] {
				return true
			}
		}
	}
	return false
}

// comparePaths puts fresh first, then the upgraded paths by name.
func comparePaths(a, b string) int {
	if (a == "fresh") != (b == "fresh") {
		if a == "fresh" {
			return -1
		}
		return 1
	}
	return cmp.Compare(a, b)
}

// countsLine is "310 pass, 6 skipped, 2 ignored".
func countsLine(counts map[string]int) string {
	var parts []string
	for _, o := range []string{"pass", "fail", "skipped", "ignored", "timeout"} {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	if len(parts) == 0 {
		return "no test"
	}
	return strings.Join(parts, ", ")
}

// outcomeCell is a row's entry: the outcome, with what was expected when it differs.
func (r suiteRow) outcomeCell(i int) string {
	o := r.Outcomes[i]
	if o == "" {
		return "-"
	}
	if r.Mismatch[i] {
		return o + " (expected " + r.Expected[i] + ")"
	}
	return o
}

// writeSuitesText is the terminal's part: counts per cell, the tests the engines disagree
// about, and the tests that differ from their expectation.
func writeSuitesText(b *strings.Builder, r *results.Results) {
	for _, t := range suiteTables(r) {
		fmt.Fprintf(b, "\nsuite %s: tests per cell\n", t.Suite)
		for _, c := range t.Columns {
			fmt.Fprintf(b, "  %-40s %s (%s)\n", c.Label(), countsLine(c.Counts), c.Verdict)
		}
		if t.Differ == 0 {
			fmt.Fprintf(b, "  no test's outcome differs between engines (%d tests)\n", len(t.Rows))
		} else {
			fmt.Fprintf(b, "  %d %s whose outcome differs between engines:\n", t.Differ, plural(t.Differ, "test", "tests"))
			for _, row := range t.Rows {
				if !row.Differs {
					break
				}
				var parts []string
				for i, c := range t.Columns {
					parts = append(parts, c.Label()+": "+row.outcomeCell(i))
				}
				fmt.Fprintf(b, "    %s: %s\n", row.Name, strings.Join(parts, "; "))
			}
		}
		if t.Mismatched > 0 {
			fmt.Fprintf(b, "  %d tests differ from their expectation (summary.md and report.html list every test)\n", t.Mismatched)
		}
	}
}

// writeSuitesMarkdown is summary.md's part: per suite, the counts per cell, the engine diff,
// and every test in a collapsed table.
func writeSuitesMarkdown(b *strings.Builder, r *results.Results) {
	for _, t := range suiteTables(r) {
		fmt.Fprintf(b, "### Suite %s\n\n", mdCode(t.Suite))
		b.WriteString("| cell | tests | verdict |\n|---|---|---|\n")
		for _, c := range t.Columns {
			fmt.Fprintf(b, "| %s | %s | %s |\n", mdCell(c.Label()), countsLine(c.Counts), c.Verdict)
		}
		b.WriteString("\n")
		header := "| test |"
		sep := "|---|"
		for _, c := range t.Columns {
			header += " " + mdCell(c.Label()) + " |"
			sep += "---|"
		}
		writeRows := func(rows []suiteRow) {
			b.WriteString(header + "\n" + sep + "\n")
			for _, row := range rows {
				line := "| " + mdCode(row.Name) + " |"
				for i := range t.Columns {
					line += " " + mdCell(row.outcomeCell(i)) + " |"
				}
				b.WriteString(line + "\n")
			}
			b.WriteString("\n")
		}
		if t.Differ > 0 {
			fmt.Fprintf(b, "**%d %s whose outcome differs between engines:**\n\n", t.Differ, plural(t.Differ, "test", "tests"))
			writeRows(t.Rows[:t.Differ])
		} else {
			b.WriteString("No test's outcome differs between engines.\n\n")
		}
		fmt.Fprintf(b, "<details><summary>every test (%d)</summary>\n\n", len(t.Rows))
		writeRows(t.Rows)
		b.WriteString("</details>\n\n")
	}
}

// htmlSuite is report.html's part for one suite.
type htmlSuite struct {
	Suite      string
	Columns    []suiteColumn
	Rows       []htmlSuiteRow
	Differ     int
	Mismatched int
	Counts     []string
}

type htmlSuiteRow struct {
	Name    string
	Differs bool
	Cells   []htmlSuiteCell
}

type htmlSuiteCell struct{ Text, Class string }

func htmlSuites(r *results.Results) []htmlSuite {
	var out []htmlSuite
	for _, t := range suiteTables(r) {
		hs := htmlSuite{Suite: t.Suite, Columns: t.Columns, Differ: t.Differ, Mismatched: t.Mismatched}
		for _, c := range t.Columns {
			hs.Counts = append(hs.Counts, countsLine(c.Counts))
		}
		for _, row := range t.Rows {
			hr := htmlSuiteRow{Name: row.Name, Differs: row.Differs}
			for i := range t.Columns {
				class := classOK
				switch {
				case row.Outcomes[i] == "":
					class = classSkipped
				case row.Mismatch[i]:
					class = classMismatch
				}
				hr.Cells = append(hr.Cells, htmlSuiteCell{Text: row.outcomeCell(i), Class: class})
			}
			hs.Rows = append(hs.Rows, hr)
		}
		out = append(out, hs)
	}
	return out
}

// suiteJUnitCases are one testcase per test of a suite cell, named by the test and classed
// by the cell, so a test reporter lists each test under each engine and schema path.
func suiteJUnitCases(c *results.Cell) (cases []junitCase, failures, skipped int) {
	for _, t := range c.Tests {
		tc := junitCase{Name: t.Name, Classname: c.ID, Time: "0"}
		if t.DurationMS != nil {
			tc.Time = seconds(*t.DurationMS)
		}
		why := t.Because
		if t.Reason != "" {
			why = t.Reason + "; " + why
		}
		switch {
		case !t.OK:
			text := fmt.Sprintf("expected %s, got %s\n%s\n%s", t.Expected, t.Outcome, t.Reason, t.OutputTail)
			tc.Failure = &junitProblem{Message: fmt.Sprintf("expected %s, got %s", t.Expected, t.Outcome), Type: t.Outcome, Text: xmlSafe(redact.Text(text))}
			failures++
		case t.Outcome == "skipped" || t.Outcome == "ignored":
			tc.Skipped = &junitProblem{Message: xmlSafe(t.Outcome + " as expected: " + why)}
			skipped++
		}
		cases = append(cases, tc)
	}
	return cases, failures, skipped
}
