package upgrade

import (
	"fmt"
	"slices"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
)

// evaluator answers for one engine at a time.
type evaluator struct {
	r        *results.Results
	from, to Release
	roles    []string // nil: every role
	index    map[string]*results.Cell
}

// indexCells finds a cell by engine, schema path, scenario and role bindings.
func indexCells(r *results.Results) map[string]*results.Cell {
	out := map[string]*results.Cell{}
	for i := range r.Cells {
		c := &r.Cells[i]
		out[bindingKey(c.Engine, c.SchemaPath, c.Scenario, bindings(c))] = c
	}
	return out
}

func bindings(c *results.Cell) map[string]string {
	out := map[string]string{}
	for role, a := range c.Roles {
		out[role] = a.Artifact
	}
	return out
}

func bindingKey(engine, path, scenario string, b map[string]string) string {
	var parts []string
	for role, art := range b {
		parts = append(parts, role+"="+art)
	}
	slices.Sort(parts)
	return engine + "|" + path + "|" + scenario + "|" + strings.Join(parts, ",")
}

// side says which release an artifact belongs to: "old", "new" or "" (neither).
func (ev evaluator) side(artifact string) string {
	switch {
	case ev.from.has(artifact):
		return "old"
	case ev.to.has(artifact):
		return "new"
	}
	return ""
}

// fleet names a cell's clients by release, in role order: "old producer + new worker".
func (ev evaluator) fleet(c *results.Cell) string {
	roles := roleNames(c)
	if len(roles) == 0 {
		return "the target's own steps"
	}
	var parts []string
	for _, role := range roles {
		parts = append(parts, ev.side(c.Roles[role].Artifact)+" "+role)
	}
	return strings.Join(parts, " + ")
}

// relevant is true for the cells the roll can form: clients of the two releases only, at
// least one of them old and playing only the asked roles; and the cells without clients (the
// target's own migrate and staged transition on the path), which every fleet goes through.
func (ev evaluator) relevant(c *results.Cell) bool {
	if len(c.Roles) == 0 {
		return true
	}
	old := false
	for role, a := range c.Roles {
		switch ev.side(a.Artifact) {
		case "":
			return false
		case "old":
			old = true
			if ev.roles != nil && !slices.Contains(ev.roles, role) {
				return false
			}
		}
	}
	return old
}

// passes is true when a cell's verdict is one its scenario allows.
func passes(c *results.Cell) bool {
	return c.Actual == "pass" || slices.Contains(okVerdicts[c.Scenario], c.Actual)
}

// newAlone finds whether the new release alone fails the way c did: c with each old client
// replaced by a new one of the same kind has the same verdict. Then the failure is the
// destination's own, not the roll's.
func (ev evaluator) newAlone(c *results.Cell) *results.Cell {
	if len(c.Roles) == 0 {
		return nil
	}
	choices := []map[string]string{{}}
	for role, a := range c.Roles {
		var next []map[string]string
		for _, b := range choices {
			if ev.side(a.Artifact) != "old" {
				next = append(next, with(b, role, a.Artifact))
				continue
			}
			for _, n := range ev.to.Artifacts {
				if n.Kind == a.Kind {
					next = append(next, with(b, role, n.Name))
				}
			}
		}
		choices = next
	}
	for _, b := range choices {
		if alone := ev.index[bindingKey(c.Engine, c.SchemaPath, c.Scenario, b)]; alone != nil && alone.Actual == c.Actual && !passes(alone) {
			return alone
		}
	}
	return nil
}

func with(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// engine answers for one engine state over the given schema paths.
func (ev evaluator) engine(engine string, paths []string) EngineAnswer {
	ea := EngineAnswer{Engine: engine}
	failures, limits, notRunG, proven := groups{}, groups{}, groups{}, groups{}
	withOld := 0
	for i := range ev.r.Cells {
		c := &ev.r.Cells[i]
		if c.Engine != engine || !slices.Contains(paths, c.SchemaPath) {
			continue
		}
		if !slices.Contains(ea.SchemaPaths, c.SchemaPath) {
			ea.SchemaPaths = append(ea.SchemaPaths, c.SchemaPath)
		}
		if !ev.relevant(c) {
			continue
		}
		if len(c.Roles) > 0 {
			withOld++
		}
		switch {
		case slices.Contains(notRun, c.Actual):
			notRunG.add(ev, c, c.Actual, ev.fleet(c))
			ea.NotRunCells++
		case passes(c):
			proven.add(ev, c, fmt.Sprintf("%s|%s|%v", c.Scenario, ev.fleet(c), c.OK), ev.fleet(c))
			ea.ProvenCells++
		case ev.newAlone(c) != nil:
			limits.add(ev, c, outcomeKey(c), ev.fleet(c))
			ea.LimitCells++
		default:
			failures.add(ev, c, outcomeKey(c), ev.fleet(c))
			ea.FailedCells++
		}
	}
	slices.SortFunc(ea.SchemaPaths, func(a, b string) int { return compareKnown([]string{"fresh"}, a, b) })
	ea.Failures, ea.Limits, ea.NotRun, ea.Proven = failures.list(), limits.list(), notRunG.list(), proven.list()
	ea.Missing = ev.gaps(engine, ea.SchemaPaths)
	switch {
	case len(ea.Failures) > 0:
		ea.Verdict = NotSafe
	case len(ea.NotRun) > 0 || len(ea.Missing) > 0 || withOld == 0:
		ea.Verdict = NotEnoughEvidence
	default:
		ea.Verdict = Safe
	}
	return ea
}

// outcomeKey groups cells that failed the same way for the same reason.
func outcomeKey(c *results.Cell) string {
	return fmt.Sprintf("%d|%s|%s|%v", c.Rule, c.Actual, c.Expected, c.OK)
}

// gaps lists the mixed fleets the roll forms on an engine that the run has no cell for. On
// each schema path, for each scenario, each old client must have played each role the matrix
// varies there (a role always bound to one artifact is the scenario's fixture, not what it
// tests: retry's producer) and gave its kind, next to a new client (or alone, for a scenario
// of one role): old producer with new worker and new producer with old worker, old admin over
// a new producer's jobs, an old migrator on the new schema.
func (ev evaluator) gaps(engine string, paths []string) []Gap {
	type scope struct{ path, scenario string }
	type roleKind struct{ role, kind string }
	kinds := map[scope]map[roleKind]bool{}
	roles := map[scope][]string{}
	bound := map[scope]map[string]map[string]bool{} // the artifacts each role was bound to
	var scopes []scope
	for i := range ev.r.Cells {
		c := &ev.r.Cells[i]
		if c.Engine != engine || !slices.Contains(paths, c.SchemaPath) {
			continue
		}
		s := scope{c.SchemaPath, c.Scenario}
		if kinds[s] == nil {
			kinds[s] = map[roleKind]bool{}
			bound[s] = map[string]map[string]bool{}
			scopes = append(scopes, s)
		}
		for role, a := range c.Roles {
			kinds[s][roleKind{role, a.Kind}] = true
			if bound[s][role] == nil {
				bound[s][role] = map[string]bool{}
			}
			bound[s][role][a.Artifact] = true
			if !slices.Contains(roles[s], role) {
				roles[s] = append(roles[s], role)
			}
		}
	}
	var out []Gap
	for _, s := range scopes {
		slices.SortFunc(roles[s], func(a, b string) int { return compareKnown(roleOrder, a, b) })
		for _, role := range roles[s] {
			if (ev.roles != nil && !slices.Contains(ev.roles, role)) || len(bound[s][role]) < 2 {
				continue
			}
			for _, old := range ev.from.Artifacts {
				if !kinds[s][roleKind{role, old.Kind}] || ev.covered(engine, s.path, s.scenario, role, old.Name, len(roles[s]) > 1) {
					continue
				}
				want := "old " + role + " " + old.Name
				if len(roles[s]) > 1 {
					want += " with a new " + strings.Join(others(roles[s], role), " or ")
				}
				out = append(out, Gap{SchemaPath: s.path, Scenario: s.scenario, Role: role, Artifact: old.Name, Want: want})
			}
		}
	}
	slices.SortFunc(out, func(a, b Gap) int {
		return strings.Compare(a.Scenario+"|"+a.SchemaPath+"|"+a.Role+"|"+a.Artifact, b.Scenario+"|"+b.SchemaPath+"|"+b.Role+"|"+b.Artifact)
	})
	return out
}

// covered is true when the run has a cell with the old client in the role, beside a new
// client when mixed.
func (ev evaluator) covered(engine, path, scenario, role, artifact string, mixed bool) bool {
	for i := range ev.r.Cells {
		c := &ev.r.Cells[i]
		if c.Engine != engine || c.SchemaPath != path || c.Scenario != scenario || c.Roles[role].Artifact != artifact || !ev.relevant(c) {
			continue
		}
		if !mixed {
			return true
		}
		for other, a := range c.Roles {
			if other != role && ev.side(a.Artifact) == "new" {
				return true
			}
		}
	}
	return false
}

func others(roles []string, role string) []string {
	var out []string
	for _, r := range roles {
		if r != role {
			out = append(out, r)
		}
	}
	return out
}
