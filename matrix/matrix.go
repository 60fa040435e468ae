// Package matrix reads matrix.yaml, validates it, and turns it into a Plan: the list of cells
// to run, each with a stable ID, its role bindings and the verdict it is expected to have.
//
// Loading is strict: unknown keys, bad versions and unknown names are errors that carry
// file:line:column. Planning is a pure function of the loaded Matrix and the selection options.
package matrix

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/version"
)

// Matrix is a loaded, validated matrix.yaml.
type Matrix struct {
	// File is the path it was loaded from (for messages).
	File string
	// Target is the release whose migrator defines "the newest schema".
	Target Target
	// Postgres says where the databases live.
	Postgres Postgres
	// Artifacts by name.
	Artifacts map[string]Artifact
	// Engines to run, in file order (a schema path may narrow them).
	Engines []Engine
	// SchemaPaths to run, in file order.
	SchemaPaths []SchemaPath
	// Scenarios to run, in file order.
	Scenarios []string
	// Fleets are explicit role bindings (role -> artifact name).
	Fleets []Fleet
	// Cross blocks bind each role to a list of artifacts; every combination within a block is
	// a fleet.
	Cross []CrossBlock
	// Expect rules, first match wins.
	Expect []Rule
	// Timeouts for cells.
	Timeouts Timeouts
	// Exclusions say why an operation may run under one engine only.
	Exclusions []Exclusion
}

// Target names the current release.
type Target struct {
	// Awa is the exact release or pre-release, e.g. 0.6.9 or 0.7.0-alpha.1. Its CLI (awa-cli
	// on PyPI) migrates.
	Awa version.Version
	// Source optionally overrides where the target CLI comes from (a local checkout or a
	// binary). --target-source (or AWACOMPAT_TARGET_SOURCE) sets it; artifacts whose source is
	// TargetSource are built from the same place.
	Source string
	// SchemaVersion, when non-zero, is asserted against awa.schema_version after migrating.
	SchemaVersion int
}

// Postgres selects the server. The zero value is one embedded local server from the
// installed package.
type Postgres struct {
	// URL of an existing server (exclusive with Versions and Image).
	URL string
	// Versions are PostgreSQL majors, each its own server: a cell runs on each, and its ID and
	// template carry the major ("pg17."). Empty: one server, and IDs without a major.
	Versions []int
	// Image starts the server in a container of this image instead of an embedded one. With
	// Versions it holds "{major}" (postgres:{major}), replaced by each major.
	Image string
}

// Majors are the servers a matrix runs on: its Versions, or one server named 0 (the
// installed package, an image or a URL, whatever its major).
func (p Postgres) Majors() []int {
	if len(p.Versions) == 0 {
		return []int{0}
	}
	return p.Versions
}

// ImageFor is the image of major's server ("" for an embedded one).
func (p Postgres) ImageFor(major int) string {
	return strings.ReplaceAll(p.Image, MajorPlaceholder, strconv.Itoa(major))
}

// MajorPlaceholder in postgres.image is replaced by each major of postgres.versions.
const MajorPlaceholder = "{major}"

// PGPrefix is how a major starts a cell ID or template name: "pg17.".
func PGPrefix(major int) string {
	if major == 0 {
		return ""
	}
	return "pg" + strconv.Itoa(major) + "."
}

// Artifact is one runnable awa client.
type Artifact struct {
	Name    string
	Kind    string // python, rust, cli or suite
	Version version.Version
	// Source is empty (the registry), a local checkout or prebuilt file, or TargetSource
	// until ResolveTargetSource replaces it with the target's checkout.
	Source string
	// FromTarget is true when Source was TargetSource: the artifact is built from the target's
	// own checkout (the release candidate's clients).
	FromTarget bool
	Via        string // cli only: pypi (default) or cargo
	// Suite is what a suite artifact (Kind KindSuite) runs; nil for every other kind.
	Suite *Suite
	// Image (kind container) is the image that holds awa, and Client what it holds: python
	// (awa-pg, the probe run by the image's python3) or cli (the awa CLI).
	Image  string
	Client string
	pos    Pos
}

// CLIOnly is true for an artifact that is the awa CLI (a cli artifact, or a container image
// holding the CLI): it plays only the roles a scenario lets the CLI play.
func (a Artifact) CLIOnly() bool {
	return a.Kind == "cli" || (a.Kind == "container" && a.Client == "cli")
}

// TargetSource is the artifact source that means "the target's own checkout".
const TargetSource = "target"

// Fleet binds roles to artifact names.
type Fleet map[string]string

// CrossBlock is one `cross` entry: role -> artifacts, optionally limited to some scenarios.
type CrossBlock struct {
	Roles map[string][]string
	// Scenarios limits the block's fleets to these scenarios (empty: all).
	Scenarios []string
	// SchemaPaths limits them to these schema paths ("fresh", "upgraded", "upgraded-from X";
	// empty: all), for a fleet that only means something on one path (a rolling upgrade's old
	// fleet is the release the path upgraded from).
	SchemaPaths []string
}

// SchemaPath is how a database reached the newest schema: Fresh, or upgraded from a release.
type SchemaPath struct {
	// From is empty for a fresh install, else the artifact name (a python or rust artifact)
	// whose migrate ran first.
	From string
	// Engines and Scenarios, when set, narrow the matrix's engines and scenarios on this path
	// (a `{path, engines, scenarios}` entry); empty means all of them.
	Engines   []Engine
	Scenarios []string
}

// Name is "fresh" or "upgraded-from-<artifact>".
func (p SchemaPath) Name() string {
	if p.From == "" {
		return "fresh"
	}
	return "upgraded-from-" + p.From
}

// Timeouts bound each cell.
type Timeouts struct {
	// Cell bounds a whole cell (default 120s).
	Cell time.Duration
	// Inert is how long a live worker, polling every 50 ms and reporting its own health, must
	// leave due jobs unclaimed to be called inert (default 1.5s: about 30 chances to claim).
	Inert time.Duration
}

// Exclusion allows an operation to run under one engine only, for a stated reason.
type Exclusion struct {
	Scenario string
	Engine   string
	Because  string
}

// Rule is one `expect` entry.
type Rule struct {
	// Index is the rule's position in the file, from 1.
	Index int
	When  Match
	// Verdict expected for matching cells.
	Verdict Verdict
	// Error, for refused verdicts: a regular expression the error class or message must match.
	Error   string
	errorRE *regexp.Regexp // Error, compiled once by the loader
	// Because cites the document that makes this the expectation.
	Because string
	// Basis is "documented" (the default) or "observed" (awa's docs are silent; we ran it).
	Basis string
	Pos   Pos
}

// Match selects cells. Zero fields match anything.
type Match struct {
	// Roles: role -> artifact constraint.
	Roles      map[string]ArtifactMatch
	Engines    []string
	Scenarios  []string
	SchemaPath []string
	// Suites (`suite`: suite artifact name globs) and Tests (`test`: test name globs) make a
	// rule about the tests of suite cells: it sets each matching test's expected outcome.
	Suites []string
	Tests  []string
	// Postgres lists PostgreSQL majors (postgres.versions) the rule is for.
	Postgres []int
}

// ArtifactMatch matches an artifact by name, kind and version constraint.
type ArtifactMatch struct {
	Name       string
	Kind       string
	Constraint string
	constraint *version.Constraint
}

// Matches reports whether the artifact satisfies m.
func (m ArtifactMatch) Matches(a Artifact) bool {
	if m.Name != "" && m.Name != a.Name {
		return false
	}
	if m.Kind != "" && m.Kind != a.Kind {
		return false
	}
	if m.constraint != nil && !m.constraint.Check(a.Version) {
		return false
	}
	return true
}

// Verdict is what a cell did, or is expected to do.
type Verdict string

// The verdicts. README.md ("Verdicts") says what each means to a user.
const (
	Pass          Verdict = "pass"           // the scenario did what the contract says
	Fail          Verdict = "fail"           // it ran, and the database shows something else
	Inert         Verdict = "inert"          // a live worker never claimed within the window
	Refused       Verdict = "refused"        // an operation was rejected with an error
	EngineChanged Verdict = "engine_changed" // the storage engine changed under the cell
	Error         Verdict = "error"          // harness or infrastructure failure
	Timeout       Verdict = "timeout"        // the cell's deadline passed
	Skipped       Verdict = "skipped"        // not run (never OK)
	// Hazard: an operation did documented damage, e.g. an old migrate rewrote the schema
	// history of a newer schema (#392). Only ever run inside the cell's own throwaway clone.
	Hazard Verdict = "hazard"
)

// Verdicts lists every verdict a rule may expect.
var Verdicts = []Verdict{Pass, Fail, Inert, Refused, EngineChanged, Hazard, Error, Timeout}

// Engine is the storage state a template is put in and every cell re-verifies: "canonical",
// "queue_storage", or queue storage with its ring authority named,
// "queue_storage:columns" or "queue_storage:ledger" (schema v43 and later: awa.md §0.1, §3.7).
// Plain "queue_storage" takes whatever authority the schema path leaves (a fresh v43 install
// starts in ledger, an upgraded one in columns) and records it.
type Engine string

// The engine states.
const (
	Canonical    Engine = "canonical"
	QueueStorage Engine = "queue_storage"
	QSColumns    Engine = "queue_storage:columns"
	QSLedger     Engine = "queue_storage:ledger"
)

// Base is the storage engine without the authority: "canonical" or "queue_storage".
func (e Engine) Base() string {
	base, _, _ := strings.Cut(string(e), ":")
	return base
}

// Authority is the ring authority the engine asks for: "columns", "ledger", or "" (any).
func (e Engine) Authority() string {
	_, auth, _ := strings.Cut(string(e), ":")
	return auth
}

// Matches reports whether a `when.engine` or selector value names this engine: its full name,
// or its base engine (queue_storage matches every authority).
func (e Engine) Matches(name string) bool { return string(e) == name || e.Base() == name }

// Engines are the engine states a matrix may ask for.
var Engines = []Engine{Canonical, QueueStorage, QSColumns, QSLedger}

// BaseEngines are awa's two storage engines; the coverage check wants every contract
// operation under both.
var BaseEngines = []string{"canonical", "queue_storage"}

// RingAuthoritySince is the first release whose schema (v43) has a ring authority; asking for
// one on an older target is an error.
var RingAuthoritySince = version.MustParse("0.7.0-alpha.1")

// Roles a fleet can bind. producer2 is a second producer (unique_dedupe: does the first
// producer's unique job block the second's?); rescuer is the worker that takes over the jobs
// of a worker killed mid-job (crash_rescue); successor is the release a fleet rolls to
// (rolling_upgrade); suite is the test suite of a suite cell (a kind: suite artifact).
var Roles = []string{"producer", "producer2", "worker", "rescuer", "successor", "admin", "migrator", SuiteRole}

// cliRoles are the roles an awa CLI artifact can play at all (a scenario narrows them further
// with Scenario.CLIRoles); the others need a client library.
var cliRoles = []string{"admin", "migrator"}

// Kinds of artifact.
var Kinds = []string{"python", "rust", "cli", "container", KindSuite}

// KindSuite is an awa test suite run in each suite cell's database (see Suite).
const KindSuite = "suite"

// Pos is a place in matrix.yaml.
type Pos struct {
	File   string
	Line   int
	Column int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// ArtifactNames returns the artifact names sorted.
func (m *Matrix) ArtifactNames() []string {
	names := make([]string, 0, len(m.Artifacts))
	for n := range m.Artifacts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ResolveTargetSource sets the target's source, src (from --target-source or
// AWACOMPAT_TARGET_SOURCE) overriding target.source when it is not empty, and points every
// artifact whose source is TargetSource at it. Artifacts left naming TargetSource (no source
// anywhere) make NewPlan fail with a message that says how to give one.
func (m *Matrix) ResolveTargetSource(src string) {
	if src != "" {
		m.Target.Source = src
	}
	if m.Target.Source == "" {
		return
	}
	for name, a := range m.Artifacts {
		if a.Source == TargetSource {
			a.Source, a.FromTarget = m.Target.Source, true
			m.Artifacts[name] = a
		}
	}
}
