package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/version"
)

// The verdict matrix shared by the support table, the Markdown summary and the HTML report.
//
// Rows are a client and a role ("python 0.5.7 producer"); columns are an engine and a scenario
// (and the schema path, when the results hold more than one). A cell with several roles appears
// once in the row of each role, so a grid cell usually gathers several cells: the producer row
// covers every worker its producer ran with.
//
// Aggregation: a grid cell's cells are grouped by outcome label ("pass ✓"). When every cell
// in it has the same label, the label is shown once. When they differ, each label is shown
// with the other roles of its cells, groups separated by "; ", partners by ", " and the roles
// of one partner cell joined by " + ":
//
//	inert ✓ (expected) with python 0.5.7 worker; pass ✓ with python 0.6.9 worker, rust 0.6.9 worker
//
// so the table says which partner made the difference without repeating uniform cases. The
// HTML grid shows the same groups and links every partner to its cell.

// Classes rank outcomes for colour and for a grid cell's overall state, best first.
const (
	classOK         = "ok"         // passed, as expected
	classExpected   = "expected"   // another verdict, as expected (inert, refused...)
	classUnexpected = "unexpected" // passed though another verdict was expected
	classSkipped    = "skipped"    // not run
	classError      = "error"      // error or timeout, not expected
	classMismatch   = "mismatch"   // any other difference
)

var classRank = map[string]int{classOK: 0, classExpected: 1, classUnexpected: 2, classSkipped: 3, classError: 4, classMismatch: 5}

// classOf says how a cell's outcome relates to its expectation.
func classOf(c *results.Cell) string {
	switch {
	case c.Actual == "skipped":
		return classSkipped
	case c.OK && c.Actual == "pass":
		return classOK
	case c.OK:
		return classExpected
	case c.Unexpected != "" || c.Actual == "pass":
		return classUnexpected
	case c.Actual == "error" || c.Actual == "timeout":
		return classError
	}
	return classMismatch
}

// outcome is a cell's verdict and whether it was expected: "pass ✓", "inert ✓ (expected)",
// "fail ✗ (expected pass)", "not run ✗ (expected pass)".
func outcome(c *results.Cell) string {
	actual := c.Actual
	if actual == "skipped" {
		actual = "not run"
	}
	switch {
	case c.OK && c.Actual == "pass":
		return "pass ✓"
	case c.OK:
		return actual + " ✓ (expected)"
	case c.Actual == c.Expected && c.ExpectedError != "":
		return actual + " ✗ (expected an error matching /" + c.ExpectedError + "/)"
	}
	return actual + " ✗ (expected " + c.Expected + ")"
}

type grid struct {
	Cols []gridCol
	Rows []gridRow
}

type gridCol struct {
	Engine, SchemaPath, Scenario string
	Label                        string
}

type gridRow struct {
	Key   rowKey
	Label string
	Cells []gridCell // one per column
}

type gridCell struct {
	Class  string // the worst class of its cells; "" when no cell maps here
	Groups []gridGroup
}

// gridGroup is the cells of one grid cell that share an outcome label.
type gridGroup struct {
	Label   string
	Class   string
	Members []gridMember
	// Uniform is true when this is the grid cell's only group: the label alone says it all.
	Uniform bool
}

type gridMember struct {
	Cell *results.Cell
	// With names the cell's other roles: "python 0.6.9 worker + rust 0.6.9 admin".
	With string
}

type rowKey struct{ Kind, Version, Artifact, Role string }

type colKey struct{ Engine, SchemaPath, Scenario string }

// newGrid lays the cells out as the verdict matrix.
func newGrid(r *results.Results) *grid {
	labels := artifactLabels(r)
	rows := map[rowKey]bool{}
	cols := map[colKey]bool{}
	paths := map[string]bool{}
	for _, c := range r.Cells {
		cols[colKey{engineLabel(&c), c.SchemaPath, c.Scenario}] = true
		paths[c.SchemaPath] = true
		for _, role := range reached(&c) {
			a := c.Roles[role]
			rows[rowKey{a.Kind, a.Version, a.Artifact, role}] = true
		}
		if len(c.Roles) == 0 {
			rows[targetRow(r)] = true
		}
	}
	g := &grid{}
	colKeys := mapKeys(cols)
	slices.SortFunc(colKeys, func(a, b colKey) int {
		return cmp.Or(compareEngines(a.Engine, b.Engine), compareKnown(pathOrder, a.SchemaPath, b.SchemaPath), cmp.Compare(a.Scenario, b.Scenario))
	})
	colIndex := map[colKey]int{}
	for i, k := range colKeys {
		label := k.Engine + " · " + k.Scenario
		if len(paths) > 1 {
			label = k.Engine + " · " + k.SchemaPath + " · " + k.Scenario
		}
		g.Cols = append(g.Cols, gridCol{Engine: k.Engine, SchemaPath: k.SchemaPath, Scenario: k.Scenario, Label: label})
		colIndex[k] = i
	}
	rowKeys := mapKeys(rows)
	slices.SortFunc(rowKeys, compareRows)
	rowIndex := map[rowKey]int{}
	for i, k := range rowKeys {
		g.Rows = append(g.Rows, gridRow{Key: k, Label: labels[k.Artifact] + " " + k.Role, Cells: make([]gridCell, len(colKeys))})
		rowIndex[k] = i
	}
	for i := range r.Cells {
		c := &r.Cells[i]
		col := colIndex[colKey{engineLabel(c), c.SchemaPath, c.Scenario}]
		if len(c.Roles) == 0 {
			g.Rows[rowIndex[targetRow(r)]].Cells[col].add(c, "")
		}
		for _, role := range reached(c) {
			a := c.Roles[role]
			gc := &g.Rows[rowIndex[rowKey{a.Kind, a.Version, a.Artifact, role}]].Cells[col]
			gc.add(c, partners(c, role, labels))
		}
	}
	for _, row := range g.Rows {
		for i := range row.Cells {
			if len(row.Cells[i].Groups) == 1 {
				row.Cells[i].Groups[0].Uniform = true
			}
		}
	}
	return g
}

func (gc *gridCell) add(c *results.Cell, with string) {
	label, class := outcome(c), classOf(c)
	if gc.Class == "" || classRank[class] > classRank[gc.Class] {
		gc.Class = class
	}
	m := gridMember{Cell: c, With: with}
	for i := range gc.Groups {
		if gc.Groups[i].Label == label {
			gc.Groups[i].Members = append(gc.Groups[i].Members, m)
			return
		}
	}
	gc.Groups = append(gc.Groups, gridGroup{Label: label, Class: class, Members: []gridMember{m}})
}

// text renders a grid cell on one line, for Markdown and the support table.
func (gc gridCell) text() string {
	if len(gc.Groups) == 0 {
		return "–"
	}
	var parts []string
	for _, gr := range gc.Groups {
		if gr.Uniform {
			parts = append(parts, gr.Label)
			continue
		}
		var with []string
		for _, m := range gr.Members {
			if m.With != "" {
				with = append(with, m.With)
			}
		}
		if len(with) == 0 {
			parts = append(parts, gr.Label)
			continue
		}
		parts = append(parts, gr.Label+" with "+strings.Join(with, ", "))
	}
	return strings.Join(parts, "; ")
}

// partners names the roles of c other than role.
func partners(c *results.Cell, role string, labels map[string]string) string {
	var out []string
	for _, r := range roleNames(c) {
		if r != role {
			out = append(out, labels[c.Roles[r].Artifact]+" "+r)
		}
	}
	return strings.Join(out, " + ")
}

// targetRow is the row of the cells that bind no role (target_migrate): the target's own
// migrate on each schema path.
func targetRow(r *results.Results) rowKey {
	return rowKey{Kind: "target", Version: r.Target.Awa, Artifact: targetArtifact, Role: "migrate"}
}

// targetArtifact is the artifact name the target's row is labelled under.
const targetArtifact = "\x00target"

// artifactLabels names each artifact "kind version", adding the artifact's name when two
// artifacts share a kind and version (a registry release and a local build, say).
func artifactLabels(r *results.Results) map[string]string {
	byLabel := map[string]map[string]bool{}
	arts := map[string]results.Role{}
	for _, c := range r.Cells {
		for _, a := range c.Roles {
			l := a.Kind + " " + a.Version
			if byLabel[l] == nil {
				byLabel[l] = map[string]bool{}
			}
			byLabel[l][a.Artifact] = true
			arts[a.Artifact] = a
		}
	}
	out := map[string]string{targetArtifact: "target awa " + r.Target.Awa}
	for name, a := range arts {
		l := a.Kind + " " + a.Version
		if len(byLabel[l]) > 1 {
			l += " (" + name + ")"
		}
		out[name] = l
	}
	return out
}

var (
	engineOrder = []string{"canonical", "queue_storage", "queue_storage:columns", "queue_storage:ledger"}
	pathOrder   = []string{"fresh"}
	kindOrder   = []string{"target", "python", "rust", "cli"}
	roleOrder   = []string{"producer", "worker", "admin", "migrator"}
)

// engineLabel is a cell's engine column: the engine, after the PostgreSQL major on a run
// over several ("pg17 canonical").
func engineLabel(c *results.Cell) string {
	if c.Postgres == 0 {
		return c.Engine
	}
	return fmt.Sprintf("pg%d %s", c.Postgres, c.Engine)
}

// compareEngines orders engine columns by PostgreSQL major (numerically), then engine.
func compareEngines(a, b string) int {
	split := func(s string) (int, string) {
		if rest, ok := strings.CutPrefix(s, "pg"); ok {
			if n, e, ok := strings.Cut(rest, " "); ok {
				if major, err := strconv.Atoi(n); err == nil {
					return major, e
				}
			}
		}
		return 0, s
	}
	ma, ea := split(a)
	mb, eb := split(b)
	return cmp.Or(cmp.Compare(ma, mb), compareKnown(engineOrder, ea, eb))
}

// compareKnown orders values of a known list first, in its order, then the rest by name.
func compareKnown(known []string, a, b string) int {
	ia, ib := slices.Index(known, a), slices.Index(known, b)
	switch {
	case ia >= 0 && ib >= 0:
		return cmp.Compare(ia, ib)
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return cmp.Compare(a, b)
}

func compareRows(a, b rowKey) int {
	return cmp.Or(
		compareKnown(kindOrder, a.Kind, b.Kind),
		compareVersions(a.Version, b.Version),
		cmp.Compare(a.Artifact, b.Artifact),
		compareKnown(roleOrder, a.Role, b.Role),
	)
}

// compareVersions orders versions as releases order (0.10 after 0.9, 0.6.0-rc.4 before 0.6.0),
// anything else by name.
func compareVersions(a, b string) int {
	va, errA := version.Parse(a)
	vb, errB := version.Parse(b)
	if errA != nil || errB != nil {
		return cmp.Compare(a, b)
	}
	return cmp.Or(version.Compare(va, vb), cmp.Compare(a, b))
}

// reached lists the roles a cell's verdict is about, in role order: those that ran when the
// record says (an inert worker's cell never reached its admin), else every bound role.
func reached(c *results.Cell) []string {
	names := roleNames(c)
	if c.Ran == nil || c.Actual == "error" || c.Actual == "timeout" || c.Actual == "skipped" {
		return names
	}
	var out []string
	for _, r := range names {
		if slices.Contains(c.Ran, r) {
			out = append(out, r)
		}
	}
	return out
}

// roleNames lists a cell's roles in the canonical role order.
func roleNames(c *results.Cell) []string {
	names := mapKeys(c.Roles)
	slices.SortFunc(names, func(a, b string) int { return compareKnown(roleOrder, a, b) })
	return names
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// roleSummary is "producer python 0.5.7, worker rust 0.6.9".
func roleSummary(c *results.Cell, labels map[string]string) string {
	var out []string
	for _, r := range roleNames(c) {
		out = append(out, fmt.Sprintf("%s %s", r, labels[c.Roles[r].Artifact]))
	}
	return strings.Join(out, ", ")
}
