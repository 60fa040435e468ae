package matrix

import "time"

// Scenario describes a named script the runner knows how to drive: which roles it needs and
// which contract operations it exercises (the engine-coverage check works on operations).
type Scenario struct {
	Name string
	// Roles the scenario binds; a fleet must bind all of them for the scenario to apply.
	Roles []string
	// Ops are the caller-contract operations the scenario exercises.
	Ops []string
	// Doc is one line for `awacompat plan` and the README.
	Doc string
	// UpgradedOnly scenarios apply to upgraded-from schema paths only (they check the work the
	// old release left before the upgrade).
	UpgradedOnly bool
	// CLIRoles are the roles a cli artifact (the awa binary) can play in this scenario; a
	// binding of a cli artifact to any other role is not a cell.
	CLIRoles []string
	// DoneByStep names a template step that does the scenario's work itself: on a template
	// with that step the scenario binds no role (one cell, no artifact named), since a role
	// bound there would never run.
	DoneByStep BuildOp
	// MigratesInCell scenarios clone their path's template as it stood before the target's
	// migrate (its pending template, see Template.Pending) and run the target's migrate and
	// the steps after it themselves, under their own traffic.
	MigratesInCell bool
	// KilledRoles are SIGKILLed as processes mid-scenario (a crash); an artifact of kind
	// container does not play them: killing its docker CLI does not kill the probe in the
	// container, so the crash would not happen.
	KilledRoles []string
	// Typical is about how long one of its cells takes on a 2-core machine (the benchmark's
	// per-scenario means, warm): the runner starts the longest cells first, so a long cell
	// never starts last and holds the run's end. Only the order uses it.
	Typical time.Duration
}

// Catalog lists every scenario the runner implements, in a stable order.
var Catalog = []Scenario{
	{
		Name:    "target_migrate",
		Typical: 500 * time.Millisecond,
		Ops:     nil, // the template's own steps: no client operation, no role
		Doc:     "the target's migrate on this schema path: it reached the target's schema with the engine and ring authority asked for (and the old release's jobs still there), or awa refused it before writing anything (ADR-037: finalize first); a refusal that wrote something is a hazard",
	},
	{
		Name:         "upgrade_backlog",
		Typical:      time.Second,
		Roles:        []string{"worker"},
		Ops:          []string{"claim", "complete"},
		Doc:          "the jobs the old release enqueued before the upgrade are still there with their args, and the worker completes them; on a template whose staged transition drained them (queue_storage) the cell binds no worker and checks they ended completed",
		UpgradedOnly: true,
		DoneByStep:   OpStagedTransition,
	},
	{
		Name:    "lifecycle",
		Typical: 1200 * time.Millisecond,
		Roles:   []string{"producer", "worker"},
		Ops:     []string{"enqueue", "claim", "complete"},
		Doc:     "producer enqueues jobs with distinctive args (some before, some after the worker starts); the worker claims and completes them",
	},
	{
		Name:     "cancel",
		Typical:  700 * time.Millisecond,
		Roles:    []string{"producer", "admin"},
		Ops:      []string{"enqueue", "cancel"},
		Doc:      "producer enqueues two scheduled jobs; admin cancels the first by id (SDK cancel or `awa job cancel`); the first is cancelled, the second untouched",
		CLIRoles: []string{"admin"},
	},
	{
		Name:    "cancel_by_unique_key",
		Typical: 900 * time.Millisecond,
		Roles:   []string{"producer", "admin"},
		Ops:     []string{"enqueue", "cancel_by_unique_key"},
		Doc:     "producer enqueues a unique scheduled and a unique available job; admin cancels each by kind+args; both are cancelled (a silent None is a fail)",
	},
	{
		Name:    "cancel_by_unique_key_running",
		Typical: 1200 * time.Millisecond,
		Roles:   []string{"worker", "admin"},
		Ops:     []string{"enqueue", "claim", "cancel_by_unique_key"},
		Doc:     "the worker enqueues a unique job and holds it running; admin cancels it by kind+args; it is cancelled at once and stays cancelled after the handler returns",
	},
	{
		Name:    "unique_dedupe",
		Typical: 700 * time.Millisecond,
		Roles:   []string{"producer", "producer2"},
		Ops:     []string{"enqueue", "unique"},
		Doc:     "producer enqueues a unique job; producer2 enqueues the same kind, args and unique options and must get UniqueConflict, leaving one row",
	},
	{
		Name:     "admin_reads",
		Typical:  2800 * time.Millisecond,
		Roles:    []string{"producer", "admin"},
		Ops:      []string{"enqueue", "get_job", "list_jobs", "queue_stats"},
		Doc:      "admin's get_job, list_jobs (queue; queue+state) and queue_stats (or the CLI's job dump/list, queue stats) agree with the database",
		CLIRoles: []string{"admin"},
	},
	{
		Name:    "fidelity",
		Typical: 2800 * time.Millisecond,
		Roles:   []string{"producer", "worker"},
		Ops:     []string{"enqueue", "claim", "complete"},
		Doc:     "unicode, nested JSON, nulls, int64 extremes, floats and a 256 KiB string, with metadata, tags, priority 1 and run_at +2s, arrive intact in the row and the handler",
	},
	{
		Name:    "retry",
		Typical: 1300 * time.Millisecond,
		Roles:   []string{"producer", "worker"},
		Ops:     []string{"enqueue", "claim", "retry", "complete"},
		Doc:     "the handler asks for a retry on attempt 1 and completes attempt 2; the job ends completed at attempt 2",
	},
	{
		Name:        "crash_rescue",
		Typical:     8 * time.Second,
		Roles:       []string{"worker", "rescuer"},
		Ops:         []string{"enqueue", "claim", "rescue", "complete"},
		KilledRoles: []string{"worker"},
		Doc:         "the worker enqueues 100 jobs, holds every one running and is SIGKILLed mid-job; the rescuer, started after, becomes maintenance leader and rescues them through awa's stale-heartbeat rescue (staleness and rescue interval set through its SDK), completing each exactly once at attempt 2",
	},
	{
		Name:        "crash_rescue_unique",
		Typical:     10 * time.Second,
		Roles:       []string{"worker", "rescuer"},
		Ops:         []string{"enqueue", "unique", "claim", "rescue", "complete"},
		KilledRoles: []string{"worker"},
		Doc:         "awa #388: as crash_rescue with 20 jobs plus a unique job whose unique_states exclude running; while the worker holds it the rescuer enqueues a newer duplicate; after the kill rescue must not wedge: the plain jobs complete at attempt 2, the older unique job ends cancelled (the claim holder wins, CHANGELOG 0.6.1) and the duplicate completes",
	},
	{
		Name:           "rolling_upgrade",
		Typical:        14 * time.Second,
		Roles:          []string{"producer", "worker", "successor"},
		Ops:            []string{"enqueue", "claim", "complete", "rescue", "migrate"},
		Doc:            "a rolling upgrade under bounded load (ADR-041's orderings): the old producer enqueues at a fixed rate while two old workers run; the successor, started before the target's migrate, must refuse; the target's migrate runs in the cell during traffic; the successor joins; one old worker stops gracefully (a normal interpreter exit), one is SIGKILLed mid-job and its jobs are rescued; every accepted enqueue completes once, args intact",
		UpgradedOnly:   true,
		MigratesInCell: true,
		KilledRoles:    []string{"worker"},
	},
	{
		Name:    SuiteScenario,
		Typical: 5 * time.Minute,
		Roles:   []string{SuiteRole},
		Doc:     "an awa test suite (a kind: suite artifact) run in the cell's own database with DATABASE_URL and AWA_TEST_ENGINE set for it: one result per test, each held to its expected outcome",
	},
	{
		Name:     "migrate_refusal",
		Typical:  time.Second,
		Roles:    []string{"migrator"},
		Ops:      []string{"migrate"},
		Doc:      "the release's own migrate against the newest schema: a no-op (pass), a refusal, or a hazard when it rewrites awa.schema_version",
		CLIRoles: []string{"migrator"},
	},
}

// LookupScenario finds a scenario by name.
func LookupScenario(name string) (Scenario, bool) {
	for _, s := range Catalog {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// ScenarioNames lists the catalog's names.
func ScenarioNames() []string {
	names := make([]string, len(Catalog))
	for i, s := range Catalog {
		names[i] = s.Name
	}
	return names
}
