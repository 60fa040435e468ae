package upgrade

import (
	"slices"

	"github.com/awacompat/awacompat/internal/results"
)

// groups gathers cells into findings by a key, in the order the keys first appear (the
// results' cell order, so the same results always give the same answer).
type groups struct {
	order []string
	m     map[string]*Finding
}

func (g *groups) add(ev evaluator, c *results.Cell, key, fleet string) {
	if g.m == nil {
		g.m = map[string]*Finding{}
	}
	f := g.m[key]
	if f == nil {
		f = &Finding{Actual: c.Actual, Expected: c.Expected, AsExpected: c.OK, Rule: c.Rule, Basis: c.Basis, Rerun: c.Repro}
		if c.Rule > 0 {
			f.Because = c.Because
		}
		if !c.OK {
			f.Detail = c.Detail
		}
		g.m[key] = f
		g.order = append(g.order, key)
	}
	addOnce(&f.Scenarios, c.Scenario)
	addOnce(&f.Fleets, fleet)
	addOnce(&f.SchemaPaths, c.SchemaPath)
	for _, a := range c.Roles {
		switch ev.side(a.Artifact) {
		case "old":
			addOnce(&f.Old, a.Artifact)
		case "new":
			addOnce(&f.New, a.Artifact)
		}
	}
	f.Cells = append(f.Cells, c.ID)
}

func addOnce(list *[]string, s string) {
	if !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}

// list returns the findings, each list in it sorted.
func (g groups) list() []Finding {
	var out []Finding
	for _, k := range g.order {
		f := *g.m[k]
		slices.Sort(f.Scenarios)
		slices.Sort(f.Fleets)
		slices.Sort(f.Old)
		slices.Sort(f.New)
		slices.SortFunc(f.SchemaPaths, func(a, b string) int { return compareKnown([]string{"fresh"}, a, b) })
		out = append(out, f)
	}
	return out
}
