package scenario

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

// migrateRefusal runs the migrator's own migrate (the probe's migrate op, or `awa migrate` for
// a cli artifact) against the newest schema, in the cell's throwaway clone, and compares the
// whole awa.schema_version table before and after. Unchanged and succeeded: pass (a no-op).
// Unchanged and failed: refused. Changed in any way: hazard (awa #392: an old migrate
// rewrites a newer schema's history), whatever migrate itself reported.
func migrateRefusal(ctx context.Context, env Env) (Outcome, error) {
	// Not withOracle: its pin (read locks on every queue-storage table, see oracle.Scope)
	// would block the DDL an old migrate runs, and this cell reads only the schema history.
	o, err := oracle.Open(ctx, env.URL)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	before, err := o.SchemaHistory(ctx)
	if err != nil {
		return Outcome{}, err
	}
	engine0, _ := o.Engine(ctx)

	m := env.Probes["migrator"]
	var migErr *results.ErrorInfo
	if m.Kind == "cli" {
		r := runCLI(ctx, env, "migrator", "migrator", "migrate")
		if r.notFromAwa() {
			return Outcome{}, r.broken("migrate")
		}
		if r.Err != nil {
			migErr = cliError(probes.OpMigrate, r)
		}
	} else {
		evs, err := runSteps(ctx, env, "migrator", "migrator", []probes.Step{{Op: probes.OpMigrate, Ref: "m1", TimeoutMS: 90_000}})
		if err != nil {
			return Outcome{}, err
		}
		e, ok := eventFor(evs, "m1")
		switch {
		case !ok:
			return Outcome{}, fmt.Errorf("migrator probe gave no answer to migrate")
		case e.Event == probes.EventError:
			migErr = errorInfo(e)
		case e.Event != probes.EventMigrated:
			return Outcome{}, fmt.Errorf("migrator probe answered %q to migrate", e.Event)
		}
	}

	after, err := o.SchemaHistory(context.WithoutCancel(ctx))
	if err != nil {
		return Outcome{}, err
	}
	out := judgeMigrate(fmt.Sprintf("%s %s", m.Kind, m.Version), before, after, migErr)
	if e, err := o.Engine(context.WithoutCancel(ctx)); err == nil && e != engine0 {
		out.find("the storage engine state changed: %s -> %s", engine0, e)
	}
	return out, nil
}

// judgeMigrate compares schema histories; who names the migrator.
func judgeMigrate(who string, before, after []oracle.SchemaRow, migErr *results.ErrorInfo) Outcome {
	changes := historyChanges(before, after)
	maxB, maxA := oracle.MaxVersion(before), oracle.MaxVersion(after)
	out := Outcome{Error: migErr}
	switch {
	case len(changes) > 0:
		out.Verdict = matrix.Hazard
		out.Findings = changes
		verb := "succeeded"
		if migErr != nil {
			verb = fmt.Sprintf("failed (%s: %s)", migErr.Class, migErr.Message)
		}
		out.Detail = fmt.Sprintf("%s migrate %s and rewrote awa.schema_version: MAX %d -> %d, %d -> %d rows", who, verb, maxB, maxA, len(before), len(after))
	case migErr != nil:
		out.Verdict = matrix.Refused
		out.Detail = fmt.Sprintf("%s migrate refused: %s: %s; awa.schema_version unchanged (MAX %d, %d rows)", who, migErr.Class, migErr.Message, maxB, len(before))
	default:
		out.Verdict = matrix.Pass
		out.Detail = fmt.Sprintf("%s migrate succeeded as a no-op: awa.schema_version unchanged (MAX %d, %d rows)", who, maxB, len(before))
	}
	return out
}

// historyChanges lists how after differs from before: versions removed, added, and re-applied
// (same version, another description or applied_at).
func historyChanges(before, after []oracle.SchemaRow) []string {
	b, a := map[int]oracle.SchemaRow{}, map[int]oracle.SchemaRow{}
	for _, r := range before {
		b[r.Version] = r
	}
	for _, r := range after {
		a[r.Version] = r
	}
	var removed, added, reapplied []int
	for v, rb := range b {
		ra, ok := a[v]
		switch {
		case !ok:
			removed = append(removed, v)
		case ra.Description != rb.Description || !ra.AppliedAt.Equal(rb.AppliedAt):
			reapplied = append(reapplied, v)
		}
	}
	for v := range a {
		if _, ok := b[v]; !ok {
			added = append(added, v)
		}
	}
	var out []string
	if len(removed) > 0 {
		out = append(out, fmt.Sprintf("versions removed: %s", versionRanges(removed)))
	}
	if len(reapplied) > 0 {
		out = append(out, fmt.Sprintf("versions re-applied (description or applied_at changed): %s", versionRanges(reapplied)))
	}
	if len(added) > 0 {
		out = append(out, fmt.Sprintf("versions added: %s", versionRanges(added)))
	}
	if len(out) > 0 {
		out = append(out, fmt.Sprintf("schema version (MAX) %d -> %d; rows %d -> %d", oracle.MaxVersion(before), oracle.MaxVersion(after), len(before), len(after)))
	}
	return out
}

// versionRanges prints sorted versions as ranges: 1-4, 6, 9-11.
func versionRanges(vs []int) string {
	sort.Ints(vs)
	var parts []string
	for i := 0; i < len(vs); {
		j := i
		for j+1 < len(vs) && vs[j+1] == vs[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprint(vs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", vs[i], vs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
