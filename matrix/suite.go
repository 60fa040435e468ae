package matrix

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// SuiteScenario is the scenario whose cells run a test suite (a `kind: suite` artifact)
// instead of driving probes: one cell per suite, schema path and suite engine.
const SuiteScenario = "suite"

// SuiteRole is the role a suite artifact is bound to in its cells.
const SuiteRole = "suite"

// Suite is what a `kind: suite` artifact runs: a test command from an awa checkout, built once
// per checkout revision and run in each suite cell's own database with DATABASE_URL and
// AWA_TEST_ENGINE set for the cell.
type Suite struct {
	// Command runs the suite, in the checkout. `cargo test ...` and `cargo nextest run ...`
	// are split into words and built once (cargo test --no-run, cargo nextest list); anything
	// else runs under sh -c.
	Command string
	// Build, for commands that are not cargo's, runs once per checkout revision under sh -c,
	// in the checkout, with AWACOMPAT_SUITE_BUILD naming a folder of its own in the cache
	// (a virtualenv goes there, never into the checkout). Empty: nothing to build.
	Build string
	// Format is how the runner reports each test: libtest, nextest, pytest or junit
	// (TestFormats). Empty in the file means inferred from Command.
	Format string
	// Env is set for the build and for every run, besides DATABASE_URL and AWA_TEST_ENGINE
	// (which are the cell's and may not be given).
	Env []EnvVar
	// Timeout bounds one run of the suite in one cell (default DefaultSuiteTimeout).
	Timeout time.Duration
	// Engines are the AWA_TEST_ENGINE values the suite runs under (default: canonical and
	// queue_storage), each a cell per schema path.
	Engines []string
}

// EnvVar is one variable of a suite's environment.
type EnvVar struct{ Name, Value string }

// The formats a suite's output is read in.
const (
	FormatLibtest = "libtest" // cargo test: libtest's JSON events, or its text
	FormatNextest = "nextest" // cargo nextest run: its libtest-json output, or its text
	FormatPytest  = "pytest"  // pytest: the JUnit XML it writes with --junitxml
	FormatJUnit   = "junit"   // any runner that writes JUnit XML to $AWACOMPAT_JUNIT
)

// TestFormats lists the suite formats.
var TestFormats = []string{FormatLibtest, FormatNextest, FormatPytest, FormatJUnit}

// Suite timeouts: the whole of awa's integration suite runs for minutes; an hour's default
// would hide a hang for an hour, a day is the most any suite may ask for.
const (
	DefaultSuiteTimeout = 30 * time.Minute
	MaxSuiteTimeout     = 24 * time.Hour
)

// TestOutcome is what one test of a suite did, or is expected to do.
type TestOutcome string

// The test outcomes. A test that skipped itself at run time (awa's `[skip] name:
// canonical-only` line, pytest.skip) is skipped; a test its suite never runs (#[ignore]) is
// ignored.
const (
	TestPass    TestOutcome = "pass"
	TestFail    TestOutcome = "fail"
	TestSkipped TestOutcome = "skipped"
	TestIgnored TestOutcome = "ignored"
	TestTimeout TestOutcome = "timeout" // no result when the suite's deadline passed
)

// TestOutcomes lists them, in the order reports use.
var TestOutcomes = []TestOutcome{TestPass, TestFail, TestSkipped, TestIgnored, TestTimeout}

// InferFormat says which format a command's output is in, "" when it cannot tell.
func InferFormat(command string) string {
	f := strings.Fields(command)
	switch {
	case len(f) >= 2 && f[0] == "cargo" && f[1] == "test":
		return FormatLibtest
	case len(f) >= 3 && f[0] == "cargo" && f[1] == "nextest" && f[2] == "run":
		return FormatNextest
	case strings.Contains(command, "pytest"):
		return FormatPytest
	}
	return ""
}

// cargoCommandRE holds what a cargo command may contain: it is split into words, not given
// to a shell, so quoting, variables and pipes would not mean what they say.
var cargoCommandRE = regexp.MustCompile(`^[A-Za-z0-9_./:=,+@%-]+( +[A-Za-z0-9_./:=,+@%*-]+)*$`)

// envNameRE is a portable environment variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// suiteFields are the artifact keys only a suite takes.
var suiteFields = []string{"command", "build", "format", "env", "timeout", "engines"}

// suiteField reads one suite key of artifact a.
func (l *loader) suiteField(key string, v *yaml.Node, a *Artifact, what string) {
	if a.Suite == nil {
		a.Suite = &Suite{}
	}
	s := a.Suite
	switch key {
	case "command":
		s.Command = strings.TrimSpace(l.str(v, what+".command"))
		if s.Command == "" {
			l.errf(v, "%s.command: empty command", what)
		}
	case "build":
		s.Build = strings.TrimSpace(l.str(v, what+".build"))
	case "format":
		s.Format = l.str(v, what+".format")
		if !slices.Contains(TestFormats, s.Format) {
			l.errf(v, "%s.format: unknown format %q%s (known: %s)", what, clipValue(s.Format), didYouMean(s.Format, TestFormats), strings.Join(TestFormats, ", "))
		}
	case "env":
		v = resolve(v)
		if v.Kind != yaml.MappingNode {
			l.errf(v, "%s.env: expected a mapping of name to value, got %s", what, kindName(v))
			return
		}
		for _, kv := range l.pairs(v, what+".env") {
			name := kv[0].Value
			switch {
			case !envNameRE.MatchString(name):
				l.errf(kv[0], "%s.env: %q is not a variable name", what, clipValue(name))
			case name == "DATABASE_URL" || name == "AWA_TEST_ENGINE":
				l.errf(kv[0], "%s.env: %s is set by each cell (its own database and engine); it cannot be given", what, name)
			default:
				s.Env = append(s.Env, EnvVar{name, l.str(kv[1], what+".env."+name)})
			}
		}
	case "timeout":
		s.Timeout = l.duration(v, what+".timeout")
		if s.Timeout != 0 && (s.Timeout < MinCellTimeout || s.Timeout > MaxSuiteTimeout) {
			l.errf(v, "%s.timeout: %s is outside %s..%s", what, s.Timeout, MinCellTimeout, MaxSuiteTimeout)
		}
	case "engines":
		names, nodes := l.strList(v, what+".engines")
		for i, e := range names {
			switch {
			case !slices.Contains(BaseEngines, e):
				l.errf(nodes[i], "%s.engines: %q is not an engine a suite runs under (known: %s; AWA_TEST_ENGINE has no ring authority)", what, clipValue(e), strings.Join(BaseEngines, ", "))
			case slices.Contains(s.Engines, e):
				l.errf(nodes[i], "%s.engines: %s given twice", what, e)
			default:
				s.Engines = append(s.Engines, e)
			}
		}
		if len(names) == 0 {
			l.errf(v, "%s.engines: empty list (omit the key for both engines)", what)
		}
	}
}

// checkSuite validates a loaded artifact's suite keys: only a suite has them, and a suite
// has a command and a format.
func (l *loader) checkSuite(n *yaml.Node, a *Artifact, what string) {
	if a.Kind != KindSuite {
		if a.Suite != nil {
			l.errf(n, "%s: %s apply to suite artifacts only (kind: suite)", what, strings.Join(suiteFields, ", "))
			a.Suite = nil
		}
		return
	}
	if a.Suite == nil {
		a.Suite = &Suite{}
	}
	s := a.Suite
	if a.Via != "" {
		l.errf(n, "%s: \"via\" applies to cli artifacts only", what)
	}
	if s.Command == "" {
		if !l.hasErrAt(n) {
			l.errf(n, "%s: missing key \"command\" (the test command, like cargo test -p awa --test integration_test)", what)
		}
		return
	}
	if s.Format == "" {
		s.Format = InferFormat(s.Command)
		if s.Format == "" {
			l.errf(n, "%s: cannot tell the format of %q's output: give format (one of %s)", what, clipValue(s.Command), strings.Join(TestFormats, ", "))
		}
	}
	cargo := strings.HasPrefix(s.Command, "cargo ")
	if cargo && !cargoCommandRE.MatchString(s.Command) {
		l.errf(n, "%s.command: %q: a cargo command is split into words and run without a shell, so it may hold no quotes, variables or shell operators", what, clipValue(s.Command))
	}
	if cargo && s.Build != "" {
		l.errf(n, "%s: \"build\" is for commands that are not cargo's (cargo test builds once with --no-run)", what)
	}
	if s.Format == FormatLibtest && (!cargo || InferFormat(s.Command) != FormatLibtest) {
		l.errf(n, "%s: format libtest runs the test binaries that a `cargo test ...` command builds; this command is not one", what)
	}
	if s.Format == FormatNextest && InferFormat(s.Command) != FormatNextest {
		l.errf(n, "%s: format nextest needs a `cargo nextest run ...` command", what)
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultSuiteTimeout
	}
	if len(s.Engines) == 0 {
		s.Engines = slices.Clone(BaseEngines)
	}
}

// suiteCells are the cells of the suite scenario on schema path sp: one per suite artifact
// and suite engine. The engine is AWA_TEST_ENGINE; the cell clones the path's template of
// that engine when the path has one (the first in the path's order), else the path's first
// template: awa's harness puts its engine in place itself (awa-testing's
// reset_runtime_backend), and an upgraded v43 database exists only under queue storage.
func suiteCells(m *Matrix, sp SchemaPath) []Cell {
	var out []Cell
	engines := m.PathEngines(sp)
	for _, name := range m.ArtifactNames() {
		a := m.Artifacts[name]
		if a.Kind != KindSuite || a.Suite == nil {
			continue
		}
		for _, e := range a.Suite.Engines {
			tpl := engines[0]
			for _, pe := range engines {
				if pe.Base() == e {
					tpl = pe
					break
				}
			}
			out = append(out, Cell{Engine: Engine(e), Template: tpl, SchemaPath: sp, Scenario: SuiteScenario, Roles: map[string]Artifact{SuiteRole: a}})
		}
	}
	return out
}

// TestExpectation is the outcome a test of a suite cell should have and why.
type TestExpectation struct {
	Outcome TestOutcome
	// Rule is the 1-based index of the expect rule that set it, 0 for the default.
	Rule    int
	Because string
	Basis   string
}

// ExpectTest is the expectation for test name in suite cell c: the first expect rule with a
// `test` pattern that matches the cell and the name, else pass; a test its suite marks as
// never run (#[ignore]) defaults to ignored.
func (m *Matrix) ExpectTest(c Cell, name string, ignoredBySuite bool) TestExpectation {
	for _, r := range m.Expect {
		if len(r.When.Tests) == 0 || !ruleMatches(r.When, c) {
			continue
		}
		if slices.ContainsFunc(r.When.Tests, func(p string) bool { return TestGlob(p, name) }) {
			return TestExpectation{Outcome: TestOutcome(r.Verdict), Rule: r.Index, Because: r.Because, Basis: r.Basis}
		}
	}
	if ignoredBySuite {
		return TestExpectation{Outcome: TestIgnored, Because: "default: the suite itself never runs it (#[ignore])", Basis: "documented"}
	}
	return TestExpectation{Outcome: TestPass, Because: "default: the test passes", Basis: "documented"}
}

// TestGlob matches a test name against a pattern in which * stands for any run of characters
// (:: and / included: test names are paths) and ? for one.
func TestGlob(pattern, name string) bool {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	return err == nil && re.MatchString(name)
}

// testRule reads a rule's `test` key and checks what else the rule says: a test rule is about
// tests of suite cells, so it names no other role or scenario, and expects a test outcome.
func (l *loader) testRule(item *yaml.Node, r *Rule, what string) {
	if len(r.When.Tests) == 0 {
		if r.Verdict == Verdict(TestSkipped) || r.Verdict == Verdict(TestIgnored) {
			l.errf(item, "%s: verdict %s is a test's outcome; add when.test (a test name pattern) to expect it of tests", what, r.Verdict)
		}
		return
	}
	for role := range r.When.Roles {
		if role != SuiteRole {
			l.errf(item, "%s.when: a rule with a test pattern is about suite cells; it cannot also name role %s", what, role)
		}
	}
	for _, sc := range r.When.Scenarios {
		if sc != SuiteScenario {
			l.errf(item, "%s.when: a rule with a test pattern is about suite cells; scenario %s has no tests", what, sc)
		}
	}
	if r.Error != "" {
		l.errf(item, "%s: \"error\" applies to a cell's refusal, not a test's outcome", what)
	}
}

// testRuleVerdicts are the verdicts a rule with a test pattern may expect.
func testRuleVerdicts() []string {
	out := make([]string, len(TestOutcomes))
	for i, o := range TestOutcomes {
		out[i] = string(o)
	}
	return out
}

// suiteMatch reads `when.suite`: suite artifact names (globs).
func (l *loader) suiteMatch(v *yaml.Node, m *Matrix, mt *Match, what string) {
	names, nodes := l.strList(v, what)
	for i, n := range names {
		known := false
		for _, a := range m.Artifacts {
			if a.Kind == KindSuite && TestGlob(n, a.Name) {
				known = true
			}
		}
		if !known {
			var suites []string
			for _, name := range m.ArtifactNames() {
				if m.Artifacts[name].Kind == KindSuite {
					suites = append(suites, name)
				}
			}
			l.errf(nodes[i], "%s: %q names no suite artifact%s (suites: %s)", what, clipValue(n), didYouMean(n, suites), strings.Join(suites, ", "))
		}
	}
	mt.Suites = append(mt.Suites, names...)
}

func suiteMatches(globs []string, c Cell) bool {
	a, ok := c.Roles[SuiteRole]
	return ok && slices.ContainsFunc(globs, func(g string) bool { return TestGlob(g, a.Name) })
}

// describeSuite is the plan's line for a suite artifact.
func describeSuite(a Artifact) string {
	s := a.Suite
	var b strings.Builder
	fmt.Fprintf(&b, "  %s: suite %q (%s", a.Name, s.Command, s.Format)
	if s.Build != "" {
		fmt.Fprintf(&b, ", build %q", s.Build)
	}
	fmt.Fprintf(&b, ", timeout %s, engines %s)", s.Timeout, strings.Join(s.Engines, ", "))
	if a.Source != "" {
		fmt.Fprintf(&b, " from %s", a.Source)
	}
	for _, e := range s.Env { // names only: a value may be a secret
		fmt.Fprintf(&b, " $%s", e.Name)
	}
	return b.String()
}
