package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/awacompat/awacompat/internal/results"
)

// The support picture is the verdict matrix (grid.go) drawn so that it fits one screen: one
// heatmap per schema path (a different database state, awa.md §0.1), side by side, rows a
// client and role, columns an engine state and a scenario, each entry one square. An entry
// whose cells all had one outcome class is one square with that class's colour and symbol; an
// entry whose cells differ (a producer that passed with new workers and was left unclaimed by
// old ones) is split diagonally, the best class top left and the worst bottom right. The detail
// is in the entry's tooltip, and the entry links to the cell that decided its worst class.
//
// Colour is never the only signal: every class has its own symbol, and the palette is
// Okabe-Ito's, which stays distinct under the common colour-vision deficiencies.

// pictureClasses lists the outcome classes in legend order, with their legend labels.
var pictureClasses = []struct{ Class, Label string }{
	{classOK, "pass"},
	{classExpected, "failed as expected"},
	{classUnexpected, "passed unexpectedly"},
	{classMismatch, "mismatch"},
	{classError, "error"},
	{classSkipped, "not run"},
}

// pictureBlock is one heatmap: the cells of one schema path.
type pictureBlock struct {
	Title string
	Grid  *grid
}

// pictureBlocks splits r into one block per schema path: fresh first, then the paths with the
// most columns, so that a path with a single cell (an upgrade awa refuses) does not sit
// between the two that say the most.
func pictureBlocks(r *results.Results) []pictureBlock {
	rank := func(path string) int {
		if i := slices.Index(pathOrder, path); i >= 0 {
			return i
		}
		return len(pathOrder)
	}
	var out []pictureBlock
	for _, p := range schemaPaths(r) {
		out = append(out, pictureBlock{Title: p, Grid: newGrid(onlyPath(r, p))})
	}
	slices.SortStableFunc(out, func(a, b pictureBlock) int {
		return cmp.Or(cmp.Compare(rank(a.Title), rank(b.Title)), cmp.Compare(len(b.Grid.Cols), len(a.Grid.Cols)), cmp.Compare(a.Title, b.Title))
	})
	return out
}

// entry is what one square of the picture shows.
type entry struct {
	Best, Worst string        // outcome classes; equal when the cells agree
	Link        *results.Cell // the cell the square links to: the first of its worst class
	Tip         string        // the tooltip
}

// tipDetailLen bounds the detail and reason quoted in a tooltip.
const tipDetailLen = 240

// newEntry summarizes a grid cell that holds at least one cell.
func newEntry(gc gridCell, row gridRow, col gridCol) entry {
	e := entry{Best: gc.Class, Worst: gc.Class}
	for _, gr := range gc.Groups {
		if classRank[gr.Class] < classRank[e.Best] {
			e.Best = gr.Class
		}
		if gr.Class == gc.Class && e.Link == nil {
			e.Link = gr.Members[0].Cell
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s, %s (%s)", row.Label, col.Engine, col.Scenario, col.SchemaPath)
	for _, gr := range gc.Groups {
		b.WriteString("\n" + gr.Label)
		if n := len(gr.Members); n > 1 {
			fmt.Fprintf(&b, ", %d cells", n)
		}
		var with []string
		for _, m := range gr.Members {
			if m.With != "" && !slices.Contains(with, m.With) {
				with = append(with, m.With)
			}
		}
		if len(with) > 0 {
			b.WriteString(", with " + strings.Join(with, "; "))
		}
		c := gr.Members[0].Cell
		if gr.Class != classOK && c.Rule > 0 {
			fmt.Fprintf(&b, "\n  expected %s because (%s): %s", c.Expected, ruleName(c), clip(c.Because, tipDetailLen))
		}
		if gr.Class != classOK && gr.Class != classExpected && len(gr.Members) == 1 && c.Detail != "" {
			b.WriteString("\n  " + clip(c.Detail, tipDetailLen))
		}
	}
	if len(gc.Groups) == 1 && len(gc.Groups[0].Members) == 1 && e.Link.Detail != "" && (e.Worst == classOK || e.Worst == classExpected) {
		b.WriteString("\n" + clip(e.Link.Detail, tipDetailLen))
	}
	b.WriteString("\nopens " + e.Link.ID)
	e.Tip = b.String()
	return e
}

// clip cuts s to about n bytes at a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// problems lists the cells that ran and differ from their expectation (mismatches, errors,
// unexpected passes), the ones the picture lists above itself with their rerun commands.
func problems(r *results.Results) (bad []*results.Cell, notRun int) {
	for i := range r.Cells {
		c := &r.Cells[i]
		switch {
		case c.Actual == "skipped":
			notRun++
		case !c.OK:
			bad = append(bad, c)
		}
	}
	return bad, notRun
}
