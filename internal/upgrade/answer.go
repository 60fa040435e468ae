// Package upgrade answers `awacompat can-i-upgrade`: from a run's results.json, whether a fleet
// can roll from one awa release to another. During a rolling upgrade the database is already
// on the new release's schema while old and new clients run side by side, so the question is
// what the cells that put old clients on that schema, alone or next to new ones, showed: which
// mixed fleets were proven (old producer with new worker, the reverse, admins, migrators, any
// scenario the run has), which were not run or not in the matrix at all, and which failed and
// why, with each expect rule's `because`. See README.md ("can-i-upgrade") for the semantics.
package upgrade

// Verdict is the answer to the question, for one engine or over all of them.
type Verdict string

// The three answers, best first.
const (
	// Safe: every cell that puts an old client on the new schema passed (or did what it must,
	// like an old migrator refusing the newer schema), and every mixed fleet the run could
	// form was run.
	Safe Verdict = "safe"
	// NotEnoughEvidence: nothing failed, but some cells did not run, or the matrix has no cell
	// for a mixed fleet the roll forms.
	NotEnoughEvidence Verdict = "not_enough_evidence"
	// NotSafe: a cell with an old client failed, and the new release alone does not fail the
	// same way.
	NotSafe Verdict = "not_safe"
)

// ExitCode is the exit status can-i-upgrade gives the verdict: 0 safe, 1 not safe, 2 not
// enough evidence.
func (v Verdict) ExitCode() int {
	switch v {
	case Safe:
		return 0
	case NotSafe:
		return 1
	}
	return 2
}

// worse is the worse of two verdicts: not safe, then not enough evidence, then safe.
func worse(a, b Verdict) Verdict {
	rank := map[Verdict]int{Safe: 0, NotEnoughEvidence: 1, NotSafe: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Answer is the whole answer, as `--format json` prints it.
type Answer struct {
	From Release `json:"from"`
	To   Release `json:"to"`
	// Target and SchemaVersion are the run's: the schema every cell ran against.
	Target        string `json:"target"`
	SchemaVersion int    `json:"schema_version"`
	Matrix        string `json:"matrix,omitempty"`
	// Engine, SchemaPath and Roles repeat the question's filters.
	Engine     string   `json:"engine,omitempty"`
	SchemaPath string   `json:"schema_path,omitempty"`
	Roles      []string `json:"roles,omitempty"`
	Verdict    Verdict  `json:"verdict"`
	ExitCode   int      `json:"exit_code"`
	// Engines answers for each engine state the run has (within the filter).
	Engines []EngineAnswer `json:"engines"`
	// Notes say what else bears on the answer (an interrupted run, a conditional answer).
	Notes []string `json:"notes,omitempty"`
}

// Release is one side of the question, resolved against the run's artifacts.
type Release struct {
	// Asked is the name as given: a version ("0.6.0rc4") or an artifact ("py-0.5.7").
	Asked string `json:"asked"`
	// Version is its canonical (semver) spelling.
	Version   string     `json:"version"`
	Artifacts []Artifact `json:"artifacts"`
}

// Artifact is one client of a release that the run bound to a role.
type Artifact struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
}

// EngineAnswer is the answer for one engine state.
type EngineAnswer struct {
	Engine      string   `json:"engine"`
	SchemaPaths []string `json:"schema_paths"`
	Verdict     Verdict  `json:"verdict"`
	// Failures are what breaks during the roll: cells with an old client whose verdict is
	// not one the scenario allows, and that the new release alone does not share.
	Failures []Finding `json:"failures,omitempty"`
	// Limits fail with old clients and with the new release alone, the same way: the
	// destination's own limits, which the roll does not add.
	Limits []Finding `json:"limits,omitempty"`
	// NotRun are cells with an old client that did not run (not reached, or the harness
	// failed: error, timeout): no evidence either way.
	NotRun []Finding `json:"not_run,omitempty"`
	// Missing are mixed fleets the roll forms for which the run has no cell at all.
	Missing []Gap `json:"missing,omitempty"`
	// Proven are the fleets whose cells passed.
	Proven []Finding `json:"proven,omitempty"`
	// ProvenCells, FailedCells, LimitCells and NotRunCells count the cells behind each list.
	ProvenCells int `json:"proven_cells"`
	FailedCells int `json:"failed_cells"`
	LimitCells  int `json:"limit_cells"`
	NotRunCells int `json:"not_run_cells"`
}

// Finding is cells that share an outcome, grouped.
type Finding struct {
	Scenarios []string `json:"scenarios"`
	// Fleets say who ran, by release and role: "old producer + new worker"; "the target's
	// own steps" for a cell without clients (the target's migrate on the schema path).
	Fleets []string `json:"fleets"`
	// Old and New are the artifacts of each release among the cells.
	Old         []string `json:"old,omitempty"`
	New         []string `json:"new,omitempty"`
	SchemaPaths []string `json:"schema_paths"`
	Actual      string   `json:"actual"`
	Expected    string   `json:"expected"`
	// AsExpected is true when the matrix expected this verdict (its rule says why).
	AsExpected bool   `json:"as_expected"`
	Rule       int    `json:"rule,omitempty"`
	Basis      string `json:"basis,omitempty"`
	Because    string `json:"because,omitempty"`
	// Detail is the first cell's, for an outcome the matrix did not expect.
	Detail string   `json:"detail,omitempty"`
	Cells  []string `json:"cells"`
	// Rerun reruns the first cell.
	Rerun string `json:"rerun,omitempty"`
}

// Gap is a mixed fleet the roll forms that the run has no cell for.
type Gap struct {
	SchemaPath string `json:"schema_path"`
	Scenario   string `json:"scenario"`
	Role       string `json:"role"`
	Artifact   string `json:"artifact"`
	// Want says what cell would fill it: "old worker py-0.5.7 with a new partner".
	Want string `json:"want"`
}
