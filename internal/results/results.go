// Package results defines results.json, the one record of a run that every report is rendered
// from, and reads and writes it. The schema is versioned (Schema); docs/results-schema.md
// documents it field by field.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// SchemaVersion is the version of the results.json layout this package writes.
const SchemaVersion = 1

// FileName is the name of the results file inside an output folder.
const FileName = "results.json"

// Results is one run (or a merge of shard runs).
type Results struct {
	Schema     int       `json:"schema"`
	Tool       string    `json:"tool"`
	Matrix     string    `json:"matrix"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Interrupted is true when the run was cancelled (Ctrl-C, deadline) before every cell ran.
	Interrupted bool `json:"interrupted"`
	// Shards lists the shards merged into this record ("" for an unsharded run).
	Shards   []string `json:"shards"`
	Target   Target   `json:"target"`
	Postgres Postgres `json:"postgres"`
	// Servers lists every server of a run on several PostgreSQL majors (postgres.versions),
	// by major; absent for a run on one server (Postgres).
	Servers   []Postgres `json:"servers,omitempty"`
	Artifacts []Artifact `json:"artifacts"`
	Templates []Template `json:"templates"`
	Cells     []Cell     `json:"cells"`
	Summary   Summary    `json:"summary"`
	// Phases times the run's parts (the benchmark reads them).
	Phases Phases `json:"phases"`
	// ServerCPUMS is the CPU time (user and system) of the PostgreSQL servers awacompat
	// started, their backends included, so the benchmark can tell the server's share of a
	// run's CPU from the client's. Absent for a server it did not start (--pg-url, a container).
	ServerCPUMS int64 `json:"server_cpu_ms,omitempty"`
	// Error is set when the run as a whole failed (infrastructure), with the reason.
	Error string `json:"error,omitempty"`
}

// Phases is the wall time of each part of a run, in milliseconds.
type Phases struct {
	// Server is provisioning PostgreSQL (starting the embedded server, or connecting).
	Server int64 `json:"server_ms"`
	// Installs is installing (or finding in the cache) every artifact. The Rust probe builds
	// no template needs go on while the templates are built, so the two can overlap.
	Installs int64 `json:"installs_ms"`
	// Templates is building every template database (from when what they need is installed).
	Templates int64 `json:"templates_ms"`
	// Cells is running every cell, from the first start to the last end.
	Cells int64 `json:"cells_ms"`
}

// Target is the release whose migrator defined the newest schema.
type Target struct {
	Awa string `json:"awa"`
	// Origin and Checksum say exactly which awa CLI migrated.
	Origin   string `json:"origin,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// SchemaVersion is MAX(awa.schema_version.version) read after migrating.
	SchemaVersion int `json:"schema_version"`
	// ExpectedSchemaVersion is matrix.yaml's assertion (0: none).
	ExpectedSchemaVersion int `json:"expected_schema_version,omitempty"`
}

// Postgres is the server the run used. URL never carries a password.
type Postgres struct {
	Mode    string `json:"mode"` // embedded, url, container
	URL     string `json:"url"`
	Version string `json:"version"`
	// Major is the postgres.versions entry the server is for (0: a run on one server).
	Major int `json:"major,omitempty"`
	// Origin says where the server came from: the installed package's folder, the portable
	// build (Maven coordinates and checksum), or the container image.
	Origin string `json:"origin,omitempty"`
	// StartMS is how long the server took to be ready, including a first download.
	StartMS int64 `json:"start_ms,omitempty"`
}

// Artifact is one installed (or failed) artifact.
type Artifact struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Version   string `json:"version"`
	Origin    string `json:"origin,omitempty"`
	Checksum  string `json:"checksum,omitempty"`
	Reused    bool   `json:"reused"`
	InstallMS int64  `json:"install_ms"`
	Error     string `json:"error,omitempty"`
}

// Template is one migrated template database.
type Template struct {
	Name string `json:"name"`
	// Postgres is the PostgreSQL major whose server holds it (absent: the run's one server).
	Postgres      int    `json:"postgres,omitempty"`
	SchemaPath    string `json:"schema_path"`
	Engine        string `json:"engine"`
	SchemaVersion int    `json:"schema_version"`
	EngineState   string `json:"engine_state"`
	// RingAuthority is the queue-storage ring authority the template ended in ("columns",
	// "ledger"; "" on a schema without one).
	RingAuthority string         `json:"ring_authority,omitempty"`
	DurationMS    int64          `json:"duration_ms"`
	Steps         []TemplateStep `json:"steps,omitempty"`
	// Outcome is "built", "refused" (awa refused the target's migrate: the schema path's
	// answer, given to every cell of the template) or "error".
	Outcome string `json:"outcome"`
	// Restored is true when an earlier run's copy of the same template was restored and
	// verified instead of carrying out its steps again (Steps are that build's).
	Restored bool   `json:"restored,omitempty"`
	Error    string `json:"error,omitempty"`
}

// TemplateStep is one step of building a template and the state it left.
type TemplateStep struct {
	Op            string `json:"op"`
	By            string `json:"by"`
	DurationMS    int64  `json:"duration_ms"`
	SchemaVersion int    `json:"schema_version"`
	EngineState   string `json:"engine_state"`
	RingAuthority string `json:"ring_authority,omitempty"`
}

// Role is the artifact bound to one role of a cell.
type Role struct {
	Artifact string `json:"artifact"`
	Kind     string `json:"kind"`
	Version  string `json:"version"`
}

// ErrorInfo is an awa error a probe reported.
type ErrorInfo struct {
	Op       string `json:"op"`
	Class    string `json:"class"`
	Message  string `json:"message"`
	SQLState string `json:"sqlstate,omitempty"`
}

// Cell is one cell's outcome.
type Cell struct {
	ID string `json:"id"`
	// Postgres is the PostgreSQL major the cell ran on (absent: the run's one server).
	Postgres   int             `json:"postgres,omitempty"`
	Engine     string          `json:"engine"`
	SchemaPath string          `json:"schema_path"`
	Scenario   string          `json:"scenario"`
	Roles      map[string]Role `json:"roles"`
	Expected   string          `json:"expected"`
	// ExpectedError is the refusal pattern, for expected refusals.
	ExpectedError string `json:"expected_error,omitempty"`
	Rule          int    `json:"rule"`
	Because       string `json:"because"`
	Basis         string `json:"basis"`
	Actual        string `json:"actual"`
	// OK is Actual == Expected (and, for refusals, the error matched).
	OK bool `json:"ok"`
	// Unexpected is "pass" when the cell passed though another verdict was expected.
	Unexpected string `json:"unexpected,omitempty"`
	DurationMS int64  `json:"duration_ms"`
	// Ran lists the roles whose artifact ran in the cell (absent: not recorded, as in
	// results of older awacompat). A verdict is about these roles only: an inert worker's
	// cell did not reach the roles after it, and reports do not credit them with it.
	Ran []string `json:"ran,omitempty"`
	// WaitMS is the part of DurationMS the scenario spent waiting for awa (for workers to
	// claim and complete, for reads to settle), not running probes or the oracle.
	WaitMS int64 `json:"wait_ms,omitempty"`
	// InertEvidenceMS is, for an inert verdict, how long the idle worker's own health reports
	// span from when the jobs were due (the evidence the verdict rests on).
	InertEvidenceMS int64 `json:"inert_evidence_ms,omitempty"`
	// Detail says in one sentence why the verdict is what it is.
	Detail string `json:"detail"`
	// Findings are the oracle's statements about the database.
	Findings []string `json:"findings,omitempty"`
	// Error is the awa error behind a refused (or failed) verdict.
	Error *ErrorInfo `json:"error,omitempty"`
	// Logs is the cell's log folder, relative to the results folder.
	Logs string `json:"logs"`
	// StderrTail is the end of the probes' stderr, for failing cells.
	StderrTail string `json:"stderr_tail,omitempty"`
	// Repro is the command that reruns exactly this cell.
	Repro string `json:"repro"`
	// KeptDatabase names the clone kept for inspection (--keep-failed), redacted URL.
	KeptDatabase string `json:"kept_database,omitempty"`
	// Attempts is 2 when an infrastructure error was retried.
	Attempts int `json:"attempts"`
	// Suite is how a suite cell ran its suite (suite cells only), and Tests what each of
	// its tests did.
	Suite *SuiteRun `json:"suite,omitempty"`
	Tests []Test    `json:"tests,omitempty"`
}

// SuiteRun is one run of a test suite in a suite cell.
type SuiteRun struct {
	// Command is the suite's command; Format how its output was read.
	Command string `json:"command"`
	Format  string `json:"format"`
	// TestEngine is AWA_TEST_ENGINE; Template the template the cell's database was cloned
	// from (its engine state may differ: awa's harness sets the engine itself).
	TestEngine string `json:"test_engine"`
	Template   string `json:"template"`
	// Origin is the checkout and revision the suite was built from.
	Origin string `json:"origin,omitempty"`
	// Exit says how the runner ended ("exit status 101", "killed at the deadline").
	Exit string `json:"exit,omitempty"`
	// Counts tallies the tests' outcomes.
	Counts map[string]int `json:"counts"`
	// Mismatched counts the tests whose outcome differs from their expectation.
	Mismatched int `json:"mismatched"`
}

// Test is one test of a suite cell.
type Test struct {
	Name string `json:"name"`
	// Outcome is pass, fail, skipped (it skipped itself: awa's [skip] line), ignored (the
	// suite never runs it) or timeout (no result when the suite's deadline passed).
	Outcome  string `json:"outcome"`
	Expected string `json:"expected"`
	OK       bool   `json:"ok"`
	// Rule is the expect rule that set Expected (0: the default), with its because.
	Rule    int    `json:"rule,omitempty"`
	Because string `json:"because,omitempty"`
	// DurationMS is how long it ran, when the runner said.
	DurationMS *int64 `json:"duration_ms,omitempty"`
	// Reason is the runner's word on a non-pass (the [skip] line, the ignore reason, a
	// failure message).
	Reason string `json:"reason,omitempty"`
	// OutputTail is the end of the test's own output, for a test that failed or differs from
	// its expectation.
	OutputTail string `json:"output_tail,omitempty"`
	// Slow is set when the runner warned that it ran long.
	Slow bool `json:"slow,omitempty"`
}

// Summary counts cells.
type Summary struct {
	Total      int            `json:"total"`
	OK         int            `json:"ok"`
	Mismatched int            `json:"mismatched"`
	Errors     int            `json:"errors"`
	Skipped    int            `json:"skipped"`
	Unexpected int            `json:"unexpected_passes"`
	ByVerdict  map[string]int `json:"by_verdict"`
}

// Summarize recomputes the summary from the cells.
func (r *Results) Summarize() {
	s := Summary{ByVerdict: map[string]int{}}
	for _, c := range r.Cells {
		s.Total++
		s.ByVerdict[c.Actual]++
		switch {
		case c.Actual == "skipped":
			s.Skipped++
		case c.OK:
			s.OK++
		case c.Actual == "error" || c.Actual == "timeout":
			s.Errors++
		default:
			s.Mismatched++
		}
		if c.Unexpected != "" {
			s.Unexpected++
		}
	}
	r.Summary = s
}

// SortCells orders cells by ID, the order every report uses.
func (r *Results) SortCells() {
	sort.Slice(r.Cells, func(i, j int) bool { return r.Cells[i].ID < r.Cells[j].ID })
}

// Write writes dir/results.json atomically.
func Write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	tmp := filepath.Join(dir, FileName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return os.Rename(tmp, filepath.Join(dir, FileName))
}

// Read reads dir/results.json (dir may also be the file itself).
func Read(dir string) (*Results, error) {
	path := dir
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		path = filepath.Join(dir, FileName)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read results %s: %w", path, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("read results %s: schema %d, this awacompat reads schema %d", path, r.Schema, SchemaVersion)
	}
	return &r, nil
}
