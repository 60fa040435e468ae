package matrix

import (
	"fmt"
	"hash/fnv"
	"io"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/awacompat/awacompat/internal/version"
)

// Plan is what a run will do: the templates to build and the cells to run in them.
type Plan struct {
	Target Target
	// Postgres is the matrix's server choice; Majors lists the majors the selected cells run on.
	Postgres  Postgres
	Majors    []int
	Templates []Template
	Cells     []Cell
	// Artifacts the selected cells (and templates) need, sorted by name.
	Artifacts []Artifact
	// Shard is the selection's shard ("" when unsharded), and Total the cell count before
	// selection.
	Shard string
	Total int
}

// Cell is one combination of schema path × engine × scenario × role bindings.
type Cell struct {
	// ID is stable across runs and plans of the same matrix.
	ID string
	// Postgres is the PostgreSQL major the cell runs on (0: the run's one server).
	Postgres int
	Engine   Engine
	// Template is the engine state of the template the cell clones when it is not Engine:
	// a suite cell's Engine is its AWA_TEST_ENGINE, and awa's harness sets it on whichever
	// database the schema path has (see suiteCells). Empty: Engine.
	Template   Engine
	SchemaPath SchemaPath
	Scenario   string
	// Roles binds each role the scenario uses to an artifact.
	Roles  map[string]Artifact
	Expect Expectation
}

// TemplateName is the name of the template the cell clones (see CellTemplate).
func (c Cell) TemplateName() string {
	name := PGPrefix(c.Postgres) + c.SchemaPath.Name() + "." + string(c.TemplateEngine())
	if sc, _ := LookupScenario(c.Scenario); sc.MigratesInCell {
		name += ".pending"
	}
	return name
}

// TemplateEngine is the engine state of the template the cell clones.
func (c Cell) TemplateEngine() Engine {
	if c.Template != "" {
		return c.Template
	}
	return c.Engine
}

// CellTemplate is the template cell c clones: its path's and engine's, or that template's
// pending form for a scenario that migrates in the cell. from is the upgraded-from artifact.
func CellTemplate(c Cell, from Artifact) Template {
	t := NewTemplate(c.SchemaPath, c.TemplateEngine(), from)
	t.Postgres = c.Postgres
	if sc, _ := LookupScenario(c.Scenario); sc.MigratesInCell {
		t, _ = t.AsPending() // expand made only cells whose template has one
	}
	return t
}

// RoleNames returns the bound roles in canonical order.
func (c Cell) RoleNames() []string {
	var out []string
	for _, r := range Roles {
		if _, ok := c.Roles[r]; ok {
			out = append(out, r)
		}
	}
	return out
}

// Expectation is the verdict a cell should have and why.
type Expectation struct {
	Verdict Verdict
	// Error is the regular expression a refusal must match (refused only).
	Error   string
	errorRE *regexp.Regexp
	// Rule is the 1-based index of the expect rule that set this, 0 for the default.
	Rule    int
	Because string
	Basis   string
}

// MatchesError reports whether an error, written "Class: message", is the refusal the
// expectation names: any error when it names none.
func (e Expectation) MatchesError(classAndMessage string) bool {
	switch {
	case e.Error == "":
		return true
	case e.errorRE == nil: // an Expectation built by hand, not by the loader
		return regexp.MustCompile(e.Error).MatchString(classAndMessage)
	}
	return e.errorRE.MatchString(classAndMessage)
}

// Options select cells from the full expansion.
type Options struct {
	// Only keeps cells matching any of these expressions (see ParseSelector).
	Only []string
	// Skip drops cells matching any of these expressions.
	Skip []string
	// Shard is "i/n" (1-based): keep the i-th of n stable partitions.
	Shard string
}

// NewPlan expands m into cells, applies the selection, and attaches expectations. It does no
// I/O and is deterministic.
func NewPlan(m *Matrix, opts Options) (*Plan, error) {
	for _, name := range m.ArtifactNames() { // sorted: the same artifact named every time
		if a := m.Artifacts[name]; a.Source == TargetSource {
			return nil, fmt.Errorf("%s: artifact %s is built from the target's checkout (source: target), but the target has no source: give --target-source PATH (or AWACOMPAT_TARGET_SOURCE, or target.source)", m.File, a.Name)
		}
	}
	if n := estimateCells(m); n.Cmp(big.NewInt(MaxCells)) > 0 {
		return nil, fmt.Errorf("%s: the matrix expands to %s cells, more than the %d one run may have; narrow the cross blocks, or split the matrix", m.File, n, MaxCells)
	}
	if err := checkCoverage(m); err != nil {
		return nil, err
	}
	only, err := parseSelectors(opts.Only)
	if err != nil {
		return nil, fmt.Errorf("--only: %w", err)
	}
	skip, err := parseSelectors(opts.Skip)
	if err != nil {
		return nil, fmt.Errorf("--skip: %w", err)
	}
	shardI, shardN, err := parseShard(opts.Shard)
	if err != nil {
		return nil, err
	}
	all := expand(m)
	p := &Plan{Target: m.Target, Postgres: m.Postgres, Shard: opts.Shard, Total: len(all)}
	for _, c := range all {
		if len(only) > 0 && !anyMatch(only, c) {
			continue
		}
		if anyMatch(skip, c) {
			continue
		}
		if shardN > 0 && shardOf(c.ID, shardN) != shardI {
			continue
		}
		c.Expect = expectationFor(m, c)
		p.Cells = append(p.Cells, c)
	}
	seenT := map[string]bool{}
	seenA := map[string]bool{}
	for _, c := range p.Cells {
		if name := c.TemplateName(); !seenT[name] {
			seenT[name] = true
			p.Templates = append(p.Templates, CellTemplate(c, m.Artifacts[c.SchemaPath.From]))
		}
		if !slices.Contains(p.Majors, c.Postgres) {
			p.Majors = append(p.Majors, c.Postgres)
		}
		for _, a := range c.Roles {
			seenA[a.Name] = true
		}
		if c.SchemaPath.From != "" {
			seenA[c.SchemaPath.From] = true
		}
	}
	for _, name := range m.ArtifactNames() {
		if seenA[name] {
			p.Artifacts = append(p.Artifacts, m.Artifacts[name])
		}
	}
	return p, nil
}

// MaxCells bounds a plan. The shipped matrices have a few hundred cells; tens of thousands
// would run for days, and a runaway cross block (2000 x 2000) must be refused before it is
// built, not after it has taken the machine's memory.
const MaxCells = 20_000

// estimateCells counts the cells the matrix expands to (an upper bound: duplicates are not
// removed), without building them; it saturates instead of overflowing.
func estimateCells(m *Matrix) *big.Int {
	fleets := big.NewInt(int64(len(m.Fleets)))
	perBlock := make([]*big.Int, len(m.Cross))
	for i, c := range m.Cross {
		n := big.NewInt(1)
		for _, names := range c.Roles {
			n.Mul(n, big.NewInt(int64(len(names))))
		}
		perBlock[i] = n
	}
	total := new(big.Int)
	suites := int64(0)
	for _, a := range m.Artifacts {
		if a.Suite != nil {
			suites += int64(len(a.Suite.Engines))
		}
	}
	for _, sp := range m.SchemaPaths {
		engines := big.NewInt(int64(len(m.PathEngines(sp))))
		for _, sc := range m.PathScenarios(sp) {
			if sc == SuiteScenario {
				total.Add(total, big.NewInt(suites))
				continue
			}
			s, _ := LookupScenario(sc)
			n := big.NewInt(1)
			if len(s.Roles) > 0 {
				n = new(big.Int).Set(fleets)
				for i, c := range m.Cross {
					if len(c.Scenarios) == 0 || slices.Contains(c.Scenarios, sc) {
						n.Add(n, perBlock[i])
					}
				}
			}
			total.Add(total, n.Mul(n, engines))
		}
	}
	return total.Mul(total, big.NewInt(int64(len(m.Postgres.Majors())))) // one server per major
}

// expand produces every cell of the matrix in a stable order.
func expand(m *Matrix) []Cell {
	type scoped struct {
		Fleet
		scenarios []string // empty: every scenario
		paths     []string // empty: every schema path
	}
	var fleets []scoped
	for _, f := range m.Fleets {
		fleets = append(fleets, scoped{Fleet: f})
	}
	for _, c := range m.Cross {
		for _, f := range crossFleets(c.Roles) {
			fleets = append(fleets, scoped{Fleet: f, scenarios: c.Scenarios, paths: c.SchemaPaths})
		}
	}
	var cells []Cell
	seen := map[string]bool{}
	add := func(c Cell) {
		c.ID = cellID(c)
		if !seen[c.ID] {
			seen[c.ID] = true
			cells = append(cells, c)
		}
	}
	for _, pg := range m.Postgres.Majors() {
		for _, sp := range m.SchemaPaths {
			for _, eng := range m.PathEngines(sp) {
				for _, scName := range m.PathScenarios(sp) {
					if scName == SuiteScenario {
						continue // below: a suite cell's engine is the suite's, not the path's
					}
					sc, _ := LookupScenario(scName)
					if sc.UpgradedOnly && sp.From == "" {
						continue
					}
					if _, ok := NewTemplate(sp, eng, m.Artifacts[sp.From]).AsPending(); sc.MigratesInCell && !ok {
						continue
					}
					if len(sc.Roles) == 0 || templateHas(NewTemplate(sp, eng, m.Artifacts[sp.From]), sc.DoneByStep) {
						add(Cell{Postgres: pg, Engine: eng, SchemaPath: sp, Scenario: scName, Roles: map[string]Artifact{}})
						continue
					}
					for _, f := range fleets {
						if len(f.scenarios) > 0 && !slices.Contains(f.scenarios, scName) {
							continue
						}
						if len(f.paths) > 0 && !slices.ContainsFunc(f.paths, func(p string) bool { return schemaPathMatches(p, sp) }) {
							continue
						}
						roles, ok := project(f.Fleet, sc, m)
						if !ok {
							continue
						}
						add(Cell{Postgres: pg, Engine: eng, SchemaPath: sp, Scenario: scName, Roles: roles})
					}
				}
			}
			if slices.Contains(m.PathScenarios(sp), SuiteScenario) {
				for _, c := range suiteCells(m, sp) {
					c.Postgres = pg
					add(c)
				}
			}
		}
	}
	return cells
}

// crossFleets is the cross product of role lists, roles in canonical order.
func crossFleets(cross map[string][]string) []Fleet {
	if len(cross) == 0 {
		return nil
	}
	out := []Fleet{{}}
	for _, role := range Roles {
		names, ok := cross[role]
		if !ok {
			continue
		}
		var next []Fleet
		for _, f := range out {
			for _, n := range names {
				g := Fleet{}
				for k, v := range f {
					g[k] = v
				}
				g[role] = n
				next = append(next, g)
			}
		}
		out = next
	}
	return out
}

// project keeps the fleet's bindings for the scenario's roles; ok is false when the fleet does
// not bind them all.
func project(f Fleet, sc Scenario, m *Matrix) (map[string]Artifact, bool) {
	out := map[string]Artifact{}
	for _, r := range sc.Roles {
		name, ok := f[r]
		if !ok {
			return nil, false
		}
		a := m.Artifacts[name]
		if a.CLIOnly() && !slices.Contains(sc.CLIRoles, r) {
			return nil, false
		}
		if a.Kind == "container" && slices.Contains(sc.KilledRoles, r) {
			return nil, false
		}
		out[r] = a
	}
	return out, true
}

// templateHas reports whether t has a step op ("" never).
func templateHas(t Template, op BuildOp) bool {
	return op != "" && slices.ContainsFunc(t.Steps, func(s BuildStep) bool { return s.Op == op })
}

// PathEngines are the engines that run on schema path p: its own list, else the matrix's.
func (m *Matrix) PathEngines(p SchemaPath) []Engine {
	if len(p.Engines) > 0 {
		return p.Engines
	}
	return m.Engines
}

// PathScenarios are the scenarios that run on schema path p: its own list, else the matrix's.
func (m *Matrix) PathScenarios(p SchemaPath) []string {
	if len(p.Scenarios) > 0 {
		return p.Scenarios
	}
	return m.Scenarios
}

func cellID(c Cell) string {
	parts := []string{string(c.Engine), c.SchemaPath.Name(), c.Scenario}
	for _, r := range Roles {
		if a, ok := c.Roles[r]; ok {
			parts = append(parts, r+"="+a.Name)
		}
	}
	return PGPrefix(c.Postgres) + strings.Join(parts, ".")
}

func expectationFor(m *Matrix, c Cell) Expectation {
	for _, r := range m.Expect {
		if len(r.When.Tests) == 0 && ruleMatches(r.When, c) {
			return Expectation{Verdict: r.Verdict, Error: r.Error, errorRE: r.errorRE, Rule: r.Index, Because: r.Because, Basis: r.Basis}
		}
	}
	return Expectation{Verdict: Pass, Because: "default: the caller contract holds", Basis: "documented"}
}

func ruleMatches(w Match, c Cell) bool {
	if len(w.Engines) > 0 && !slices.ContainsFunc(w.Engines, c.Engine.Matches) {
		return false
	}
	if len(w.Scenarios) > 0 && !slices.Contains(w.Scenarios, c.Scenario) {
		return false
	}
	if len(w.Postgres) > 0 && !slices.Contains(w.Postgres, c.Postgres) {
		return false
	}
	if len(w.SchemaPath) > 0 && !slices.ContainsFunc(w.SchemaPath, func(p string) bool { return schemaPathMatches(p, c.SchemaPath) }) {
		return false
	}
	if len(w.Suites) > 0 && !suiteMatches(w.Suites, c) {
		return false
	}
	if len(w.Tests) > 0 && c.Scenario != SuiteScenario {
		return false
	}
	for role, am := range w.Roles {
		a, ok := c.Roles[role]
		if !ok || !am.Matches(a) {
			return false
		}
	}
	return true
}

// schemaPathMatches accepts "fresh", "upgraded" (any upgraded path) or an exact path name.
func schemaPathMatches(p string, sp SchemaPath) bool {
	switch p {
	case "upgraded":
		return sp.From != ""
	case sp.Name(), "upgraded-from " + sp.From:
		return true
	}
	return false
}

// checkCoverage refuses a matrix whose contract operations would run under one engine only,
// unless an exclusion says why. It looks at what the matrix expands to, so a schema path that
// narrows its engines counts.
func checkCoverage(m *Matrix) error {
	ran := map[string]map[string]bool{} // scenario -> base engines it runs under
	for _, c := range expand(m) {
		if ran[c.Scenario] == nil {
			ran[c.Scenario] = map[string]bool{}
		}
		ran[c.Scenario][c.Engine.Base()] = true
	}
	var missing []string
	for _, sc := range m.Scenarios {
		if s, _ := LookupScenario(sc); len(s.Ops) == 0 || ran[sc] == nil {
			continue
		}
		for _, eng := range BaseEngines {
			if ran[sc][eng] {
				continue
			}
			excused := slices.ContainsFunc(m.Exclusions, func(e Exclusion) bool {
				return (e.Scenario == sc || e.Scenario == "") && (e.Engine == eng || e.Engine == "")
			})
			if !excused {
				missing = append(missing, fmt.Sprintf("%s under %s", sc, eng))
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s: contract operations would run under one engine only (%s); add the engine, or an exclusions entry with a because", m.File, strings.Join(missing, "; "))
}

// shardOf maps an ID to a 1-based shard by hash, so shards stay stable when cells are added.
func shardOf(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32()%uint32(n)) + 1
}

func parseShard(s string) (i, n int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("--shard %q: want i/n with 1 <= i <= n, like 2/4", s)
	}
	return i, n, nil
}

// Selector is one --only/--skip expression: comma-separated key=value terms, all of which
// must hold. Keys: id, pg (the PostgreSQL major of postgres.versions), engine, scenario, schema_path, kind, version, artifact, and any role
// (producer, worker, admin, migrator; its value matches the bound artifact's name or version).
// Values may use shell globs (*, ?).
type Selector []term

type term struct{ key, value string }

var selectorKeys = append([]string{"id", "pg", "engine", "scenario", "schema_path", "kind", "version", "artifact"}, Roles...)

// ParseSelector parses one expression.
func ParseSelector(expr string) (Selector, error) {
	var s Selector
	for _, part := range strings.Split(expr, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("%q: each term is key=value (keys: %s)", part, strings.Join(selectorKeys, ", "))
		}
		if !slices.Contains(selectorKeys, k) {
			return nil, fmt.Errorf("%q: unknown key %q%s (keys: %s)", expr, k, didYouMean(k, selectorKeys), strings.Join(selectorKeys, ", "))
		}
		if _, err := path.Match(v, ""); err != nil {
			return nil, fmt.Errorf("%q: bad pattern %q: %v", expr, v, err)
		}
		if known := knownValues(k); known != nil && !strings.ContainsAny(v, "*?[") && !slices.Contains(known, v) {
			return nil, fmt.Errorf("%q: unknown %s %q%s (known: %s)", expr, k, v, didYouMean(v, known), strings.Join(known, ", "))
		}
		s = append(s, term{k, v})
	}
	return s, nil
}

// knownValues lists the values a selector key can take when they are fixed names (a typo
// there would silently select nothing).
func knownValues(key string) []string {
	switch key {
	case "scenario":
		return ScenarioNames()
	case "engine":
		names := slices.Clone(BaseEngines)
		for _, e := range Engines {
			if !slices.Contains(names, string(e)) {
				names = append(names, string(e))
			}
		}
		return names
	case "kind":
		return Kinds
	}
	return nil
}

func parseSelectors(exprs []string) ([]Selector, error) {
	var out []Selector
	for _, e := range exprs {
		s, err := ParseSelector(e)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func anyMatch(sels []Selector, c Cell) bool {
	for _, s := range sels {
		if s.Matches(c) {
			return true
		}
	}
	return false
}

// Matches reports whether every term holds for c.
func (s Selector) Matches(c Cell) bool {
	for _, t := range s {
		if !t.matches(c) {
			return false
		}
	}
	return true
}

func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func (t term) matches(c Cell) bool {
	anyRole := func(f func(Artifact) bool) bool {
		for _, a := range c.Roles {
			if f(a) {
				return true
			}
		}
		return false
	}
	switch t.key {
	case "id":
		return glob(t.value, c.ID)
	case "pg":
		return c.Postgres != 0 && glob(t.value, strconv.Itoa(c.Postgres))
	case "engine":
		return glob(t.value, string(c.Engine)) || glob(t.value, c.Engine.Base())
	case "scenario":
		return glob(t.value, c.Scenario)
	case "schema_path":
		return glob(t.value, c.SchemaPath.Name())
	case "kind":
		return anyRole(func(a Artifact) bool { return glob(t.value, a.Kind) })
	case "version":
		return anyRole(func(a Artifact) bool { return globVersion(t.value, a.Version) })
	case "artifact":
		return anyRole(func(a Artifact) bool { return glob(t.value, a.Name) })
	default:
		a, ok := c.Roles[t.key]
		return ok && (glob(t.value, a.Name) || globVersion(t.value, a.Version))
	}
}

// globVersion matches a version pattern against either spelling (0.6.0-rc.* or 0.6.0rc*).
func globVersion(pattern string, v version.Version) bool {
	return glob(pattern, v.String()) || glob(pattern, v.PEP440())
}

// Artifact returns the plan's artifact called name.
func (p *Plan) Artifact(name string) (Artifact, bool) {
	for _, a := range p.Artifacts {
		if a.Name == name {
			return a, true
		}
	}
	return Artifact{}, false
}

// Print writes the plan as numbered steps, for people and golden files.
func (p *Plan) Print(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "target: awa %s", p.Target.Awa)
	if p.Target.Source != "" {
		fmt.Fprintf(&b, " from %s", p.Target.Source)
	}
	if p.Target.SchemaVersion != 0 {
		fmt.Fprintf(&b, " (asserting schema version %d)", p.Target.SchemaVersion)
	}
	b.WriteString("\n")
	if pg := p.Postgres.describe(); pg != "" {
		b.WriteString("postgres: " + pg + "\n")
	}
	if p.Shard != "" {
		fmt.Fprintf(&b, "shard %s: %d of %d cells\n", p.Shard, len(p.Cells), p.Total)
	} else if len(p.Cells) != p.Total {
		fmt.Fprintf(&b, "selected %d of %d cells\n", len(p.Cells), p.Total)
	}
	b.WriteString("artifacts:\n")
	for _, a := range p.Artifacts {
		if a.Suite != nil {
			b.WriteString(describeSuite(a) + "\n")
			continue
		}
		fmt.Fprintf(&b, "  %s: %s %s", a.Name, a.Kind, a.Version)
		if a.Source != "" {
			fmt.Fprintf(&b, " from %s", a.Source)
		}
		if a.Via != "" {
			fmt.Fprintf(&b, " via %s", a.Via)
		}
		if a.Image != "" {
			fmt.Fprintf(&b, " in image %s (%s)", a.Image, a.Client)
		}
		b.WriteString("\n")
	}
	step := 0
	b.WriteString("steps:\n")
	for _, t := range p.Templates {
		step++
		fmt.Fprintf(&b, "%3d. template %s: %s\n", step, t.Name(), strings.Join(p.TemplateSteps(t), "; "))
	}
	for _, c := range p.Cells {
		step++
		fmt.Fprintf(&b, "%3d. cell %s\n", step, c.ID)
		if c.Scenario == SuiteScenario {
			fmt.Fprintf(&b, "     in a clone of %s, AWA_TEST_ENGINE=%s\n", c.TemplateName(), c.Engine)
		}
		var roles []string
		for _, r := range c.RoleNames() {
			a := c.Roles[r]
			roles = append(roles, fmt.Sprintf("%s=%s %s", r, a.Kind, a.Version))
		}
		if len(roles) == 0 {
			roles = []string{"none (the template's own steps)"}
		}
		fmt.Fprintf(&b, "     roles: %s\n", strings.Join(roles, ", "))
		e := c.Expect
		fmt.Fprintf(&b, "     expect: %s", e.Verdict)
		if e.Error != "" {
			fmt.Fprintf(&b, " /%s/", e.Error)
		}
		if e.Rule > 0 {
			fmt.Fprintf(&b, " (rule %d, %s): %s\n", e.Rule, e.Basis, e.Because)
		} else {
			b.WriteString(" (default)\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describe says which servers a matrix runs on, for the plan ("" for the default).
func (p Postgres) describe() string {
	var parts []string
	if len(p.Versions) > 0 {
		var vs []string
		for _, v := range p.Versions {
			vs = append(vs, strconv.Itoa(v))
		}
		parts = append(parts, "PostgreSQL "+strings.Join(vs, ", ")+" (one server each)")
	}
	if p.Image != "" {
		parts = append(parts, "in containers of image "+p.Image)
	}
	return strings.Join(parts, " ")
}
