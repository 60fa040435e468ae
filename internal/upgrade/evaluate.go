package upgrade

import (
	"fmt"
	"slices"
	"strings"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/version"
)

// Question is what can-i-upgrade is asked.
type Question struct {
	// From and To name the releases: a version in either spelling ("0.6.0-rc.4" or
	// "0.6.0rc4": every client of that version in the run) or an artifact name of the run
	// ("py-0.5.7": that client alone).
	From, To string
	// Engine limits the answer to one engine ("" every engine); "queue_storage" also covers
	// its ring authorities ("queue_storage:ledger").
	Engine string
	// SchemaPath limits the answer to one schema path ("" every path): "fresh",
	// "upgraded-from-py-0.5.7" (or "upgraded-from py-0.5.7").
	SchemaPath string
	// Roles limits the answer to cells in which the old release plays only these roles (nil:
	// every role), for a fleet whose old instances never do the rest (never run migrate, say).
	Roles []string
}

// okVerdicts are the verdicts a scenario allows an old client besides pass. An old migrator
// that refuses the newer schema without writing is the guard awa promises (CHANGELOG 0.6.2),
// not a failure of the roll.
var okVerdicts = map[string][]string{"migrate_refusal": {"refused"}}

// notRun are the verdicts that say nothing about awa.
var notRun = []string{"skipped", "error", "timeout"}

// Evaluate answers q from r. It returns an error for a question r cannot be asked: an unknown
// release, engine, schema path or role, or the same client on both sides.
func Evaluate(r *results.Results, q Question) (*Answer, error) {
	r = withoutSuites(r)
	arts := artifacts(r)
	from, err := resolve(arts, q.From)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	to, err := resolve(arts, q.To)
	if err != nil {
		return nil, fmt.Errorf("--to: %w", err)
	}
	for _, a := range from.Artifacts {
		if to.has(a.Name) {
			return nil, fmt.Errorf("%s is on both sides (--from %s, --to %s)", a.Name, q.From, q.To)
		}
	}
	engines, err := selectEngines(r, q.Engine)
	if err != nil {
		return nil, err
	}
	paths, err := selectPaths(r, q.SchemaPath)
	if err != nil {
		return nil, err
	}
	if err := checkRoles(r, q.Roles); err != nil {
		return nil, err
	}
	a := &Answer{
		From: from, To: to, Target: version.Canonical(r.Target.Awa), SchemaVersion: r.Target.SchemaVersion,
		Matrix: r.Matrix, Engine: q.Engine, SchemaPath: q.SchemaPath, Roles: q.Roles, Verdict: Safe,
	}
	if !version.Equal(to.Version, r.Target.Awa) {
		// Rolling to B runs B's migrate; this run's cells all ran on the target's schema.
		a.Verdict = NotEnoughEvidence
		a.Notes = append(a.Notes, fmt.Sprintf("rolling to %s migrates to %s's own schema, but every cell of this run ran on the schema awa %s's migrate leaves (version %d): run a matrix whose target is %s", to.Version, to.Version, a.Target, r.Target.SchemaVersion, to.Version))
		a.ExitCode = a.Verdict.ExitCode()
		return a, nil
	}
	ev := evaluator{r: r, from: from, to: to, roles: q.Roles, index: indexCells(r)}
	for _, e := range engines {
		ea := ev.engine(e, paths)
		a.Engines = append(a.Engines, ea)
		a.Verdict = worse(a.Verdict, ea.Verdict)
	}
	if r.Interrupted {
		a.Notes = append(a.Notes, "the run was interrupted: the cells it did not reach are not run")
	}
	if r.Error != "" {
		a.Notes = append(a.Notes, "the run failed: "+r.Error)
	}
	a.Notes = append(a.Notes, ev.withoutMigrate(a, q, paths)...)
	a.ExitCode = a.Verdict.ExitCode()
	return a, nil
}

// withoutMigrate says, for each engine on which every failure is an old migrate, what the
// answer would be if the old release never ran migrate: the condition a maintainer would
// attach to the answer.
func (ev evaluator) withoutMigrate(a *Answer, q Question, paths []string) []string {
	var roles []string
	for _, role := range allRoles(ev.r) {
		if role != "migrator" && (q.Roles == nil || slices.Contains(q.Roles, role)) {
			roles = append(roles, role)
		}
	}
	if len(roles) == 0 {
		return nil
	}
	alt := ev
	alt.roles = roles
	var notes []string
	for _, e := range a.Engines {
		if e.Verdict != NotSafe || !onlyMigrators(e.Failures) {
			continue
		}
		v := alt.engine(e.Engine, paths).Verdict
		notes = append(notes, fmt.Sprintf("on %s every failure is %s's migrate on the newer schema; if no %s process runs migrate once %s has migrated (--roles %s), the answer there is: %s",
			e.Engine, a.From.Version, a.From.Version, a.To.Version, strings.Join(roles, ","), v.text()))
	}
	return notes
}

func onlyMigrators(fs []Finding) bool {
	for _, f := range fs {
		for _, fl := range f.Fleets {
			if fl != "old migrator" {
				return false
			}
		}
	}
	return true
}

func selectEngines(r *results.Results, want string) ([]string, error) {
	var all, out []string
	for _, c := range r.Cells {
		if !slices.Contains(all, c.Engine) {
			all = append(all, c.Engine)
		}
	}
	slices.SortFunc(all, func(a, b string) int { return compareKnown(engineOrder, a, b) })
	for _, e := range all {
		if want == "" || e == want || strings.HasPrefix(e, want+":") {
			out = append(out, e)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--engine %s: no cell of this run ran under it (engines: %s)", want, strings.Join(all, ", "))
	}
	return out, nil
}

var engineOrder = []string{"canonical", "queue_storage", "queue_storage:columns", "queue_storage:ledger"}

func selectPaths(r *results.Results, want string) ([]string, error) {
	want = strings.ReplaceAll(strings.TrimSpace(want), " ", "-")
	var all, out []string
	for _, c := range r.Cells {
		if !slices.Contains(all, c.SchemaPath) {
			all = append(all, c.SchemaPath)
		}
	}
	slices.SortFunc(all, func(a, b string) int { return compareKnown([]string{"fresh"}, a, b) })
	for _, p := range all {
		if want == "" || p == want {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--schema-path %s: no cell of this run is on it (schema paths: %s)", want, strings.Join(all, ", "))
	}
	return out, nil
}

func checkRoles(r *results.Results, roles []string) error {
	all := allRoles(r)
	for _, role := range roles {
		if !slices.Contains(all, role) {
			return fmt.Errorf("--roles: no cell of this run has the role %q (roles: %s)", role, strings.Join(all, ", "))
		}
	}
	return nil
}

// roleOrder is the order roles are named in (cell IDs use it too).
var roleOrder = []string{"producer", "producer2", "worker", "admin", "migrator"}

// allRoles lists the roles the run's cells bind, in role order.
func allRoles(r *results.Results) []string {
	var out []string
	for _, c := range r.Cells {
		for role := range c.Roles {
			if !slices.Contains(out, role) {
				out = append(out, role)
			}
		}
	}
	slices.SortFunc(out, func(a, b string) int { return compareKnown(roleOrder, a, b) })
	return out
}

// roleNames lists a cell's roles in role order.
func roleNames(c *results.Cell) []string {
	var out []string
	for role := range c.Roles {
		out = append(out, role)
	}
	slices.SortFunc(out, func(a, b string) int { return compareKnown(roleOrder, a, b) })
	return out
}

func (v Verdict) text() string {
	switch v {
	case Safe:
		return "safe"
	case NotSafe:
		return "not safe"
	}
	return "not enough evidence"
}

// withoutSuites drops suite cells: a test suite run in a database says nothing about old and
// new clients side by side.
func withoutSuites(r *results.Results) *results.Results {
	cp := *r
	cp.Cells = nil
	for _, c := range r.Cells {
		if c.Scenario != "suite" {
			cp.Cells = append(cp.Cells, c)
		}
	}
	return &cp
}
