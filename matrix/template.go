package matrix

import (
	"fmt"
	"slices"
	"strings"

	"github.com/awacompat/awacompat/internal/version"
)

// Template is one migrated database per (schema path, engine) that cells clone. Steps say how
// it is built, in order; package migrate carries them out with awa's official commands.
type Template struct {
	// Postgres is the PostgreSQL major whose server holds it (0: the run's one server).
	Postgres   int
	SchemaPath SchemaPath
	Engine     Engine
	Steps      []BuildStep
	// Pending, when set, are the steps from the target's migrate on, left for the cells to
	// run (the template holds the database as the old release left it): see AsPending.
	Pending []BuildStep
}

// Name is "[pg<major>.]<schema path>.<engine>", with ".pending" for a pending template
// (AsPending).
func (t Template) Name() string {
	name := PGPrefix(t.Postgres) + t.SchemaPath.Name() + "." + string(t.Engine)
	if len(t.Pending) > 0 {
		name += ".pending"
	}
	return name
}

// AsPending is t as it stands before the target's migrate: its steps up to that migrate, the
// rest left for a cell that migrates in the cell (Scenario.MigratesInCell). ok is false when
// t has no target migrate, or when a step left would be a staged transition (the 0.5 -> 0.6
// path under queue storage moves the engine with the target's transition workers; a cell does
// not run that under its own traffic).
func (t Template) AsPending() (Template, bool) {
	i := slices.Index(t.Steps, BuildStep{OpMigrate, TargetRelease})
	if i < 0 || slices.ContainsFunc(t.Steps[i:], func(s BuildStep) bool { return s.Op == OpStagedTransition }) {
		return Template{}, false
	}
	return Template{Postgres: t.Postgres, SchemaPath: t.SchemaPath, Engine: t.Engine, Steps: t.Steps[:i:i], Pending: t.Steps[i:]}, true
}

// BuildOp is one kind of template step.
type BuildOp string

// The template steps (awa.md §3.7).
const (
	// OpOldRelease: the from-release's own migrate on the empty database (its SDK's migrator),
	// then work enqueued with it (migrate.UpgradeJobs jobs, canonical since nothing
	// finalized yet).
	OpOldRelease BuildOp = "old_release"
	// OpStagedTransition: awa's staged move of a canonical database with work to queue
	// storage, with By's own commands: `awa storage prepare --engine queue_storage`, a
	// queue_storage_target worker, `awa storage enter-mixed-transition`, a canonical_drain
	// worker that drains the backlog, `awa storage finalize --wait`.
	OpStagedTransition BuildOp = "staged_transition"
	// OpMigrate: the target's `awa migrate`. On an upgraded path it may be refused (the
	// ADR-037 gate); that is the path's outcome, not a harness failure.
	OpMigrate BuildOp = "migrate"
	// OpAutoFinalize: awa.storage_auto_finalize_if_fresh('awa'), awa's own function for a
	// fresh install (docs/queue-storage-substrate.md, "Fresh install").
	OpAutoFinalize BuildOp = "auto_finalize"
	// OpFlipAuthority: the target's `awa storage flip-ring-authority --force`, the one-way
	// move from columns to ledger, once no pre-flip binary of the template runs.
	OpFlipAuthority BuildOp = "flip_ring_authority"
)

// BuildStep is one step of a template, done by a release: the target, or the artifact of an
// upgraded-from path.
type BuildStep struct {
	Op BuildOp
	// By is TargetRelease or the name of the artifact whose commands run the step.
	By string
}

// TargetRelease names the target in a BuildStep.
const TargetRelease = "target"

// stagedSince is the first release line with the staged transition's commands (awa 0.5.x's
// `awa storage enter-mixed-transition` only says it needs 0.6).
var stagedSince = version.MustParse("0.6.0-alpha.0")

// NewTemplate decides how template (path, engine) is built:
//
//   - fresh: the target's migrate; for queue storage, the fresh-install auto-finalize (a v43
//     install then starts in ledger authority).
//   - upgraded-from X: X migrates and enqueues work. For queue storage, a 0.6+ release X
//     finalizes with its own staged transition before the target migrates, the documented
//     0.6 -> 0.7 path (finalize on 0.6 first) that leaves a v43 schema in columns authority;
//     an older X cannot (0.5.x has no mixed transition), so the target migrates first and then
//     runs the staged transition with its own commands (the 0.5 -> 0.6 path).
//   - queue_storage:ledger on an upgraded path: the target flips the authority last.
//
// from is the upgraded-from artifact (ignored for fresh).
func NewTemplate(sp SchemaPath, eng Engine, from Artifact) Template {
	return Template{SchemaPath: sp, Engine: eng, Steps: templateSteps(sp, eng, from)}
}

func templateSteps(sp SchemaPath, eng Engine, from Artifact) []BuildStep {
	qs := eng.Base() == "queue_storage"
	if sp.From == "" {
		steps := []BuildStep{{OpMigrate, TargetRelease}}
		if qs {
			steps = append(steps, BuildStep{OpAutoFinalize, TargetRelease})
		}
		return steps
	}
	oldStaged := qs && !from.Version.Less(stagedSince)
	steps := []BuildStep{{OpOldRelease, sp.From}}
	if oldStaged {
		steps = append(steps, BuildStep{OpStagedTransition, sp.From})
	}
	steps = append(steps, BuildStep{OpMigrate, TargetRelease})
	if qs && !oldStaged {
		steps = append(steps, BuildStep{OpStagedTransition, TargetRelease})
	}
	if eng == QSLedger {
		steps = append(steps, BuildStep{OpFlipAuthority, TargetRelease})
	}
	return steps
}

// Describe says what the step does, for the printed plan.
func (s BuildStep) Describe(target version.Version) string {
	by := "awa " + target.String()
	if s.By != TargetRelease {
		by = s.By
	}
	switch s.Op {
	case OpOldRelease:
		return "migrate an empty database with " + by + " and enqueue work with it"
	case OpStagedTransition:
		return "move it to queue_storage by " + by + "'s staged transition (storage prepare, queue_storage_target worker, enter-mixed-transition, canonical_drain worker, finalize --wait)"
	case OpMigrate:
		return "migrate with " + by
	case OpAutoFinalize:
		return "put it under queue_storage (awa.storage_auto_finalize_if_fresh)"
	case OpFlipAuthority:
		return "flip the ring authority to ledger with " + by + " (storage flip-ring-authority)"
	}
	return fmt.Sprintf("%s by %s", s.Op, by)
}

// TemplateSteps describes how template t is built, step by step, ending with what is
// verified.
func (p *Plan) TemplateSteps(t Template) []string {
	var out []string
	for _, s := range t.Steps {
		out = append(out, s.Describe(p.Target.Awa))
	}
	if len(t.Pending) > 0 {
		var left []string
		for _, s := range t.Pending {
			left = append(left, s.Describe(p.Target.Awa))
		}
		return append(out, fmt.Sprintf("verify it is %s; each cell then does the rest under its own traffic: %s, verify %s", t.Engine.Base(), strings.Join(left, "; "), t.Engine))
	}
	check := "verify " + string(t.Engine)
	if t.Engine == Canonical {
		check = "verify it is canonical"
	}
	return append(out, check)
}
