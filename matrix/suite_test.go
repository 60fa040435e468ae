package matrix

import (
	"strings"
	"testing"
)

const suiteMatrix = `version: 1
target: {awa: "0.7.0-alpha.1", source: /src/awa}
artifacts:
  py-0.6.2: {kind: python, version: "0.6.2"}
  awa-it:
    kind: suite
    source: target
    command: cargo test -p awa --test integration_test
    env: {RUST_TEST_THREADS: "2"}
    timeout: 20m
engines: [canonical, "queue_storage:ledger"]
schema_paths:
  - fresh
  - path: upgraded-from py-0.6.2
    engines: ["queue_storage:columns", "queue_storage:ledger"]
scenarios: [target_migrate, suite]
expect:
  - when: {suite: awa-it, test: ["test_admin_*", "test_cancel_running"], engine: queue_storage}
    verdict: skipped
    because: awa-testing skip_unless_canonical
  - when: {test: "*flaky*"}
    verdict: fail
    basis: observed
    because: observed
`

func TestSuiteCells(t *testing.T) {
	m, err := Parse("m.yaml", []byte(suiteMatrix))
	if err != nil {
		t.Fatal(err)
	}
	m.ResolveTargetSource("")
	p, err := NewPlan(m, Options{Only: []string{"scenario=suite"}})
	if err != nil {
		t.Fatal(err)
	}
	// One cell per schema path and suite engine; the engine is AWA_TEST_ENGINE, the template
	// the path's own of that engine, else its first (an upgraded v43 database exists only
	// under queue storage).
	want := map[string]string{
		"canonical.fresh.suite.suite=awa-it":                      "fresh.canonical",
		"queue_storage.fresh.suite.suite=awa-it":                  "fresh.queue_storage:ledger",
		"canonical.upgraded-from-py-0.6.2.suite.suite=awa-it":     "upgraded-from-py-0.6.2.queue_storage:columns",
		"queue_storage.upgraded-from-py-0.6.2.suite.suite=awa-it": "upgraded-from-py-0.6.2.queue_storage:columns",
	}
	if len(p.Cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(p.Cells), len(want))
	}
	for _, c := range p.Cells {
		if want[c.ID] != c.TemplateName() || c.Expect.Verdict != Pass {
			t.Errorf("%s: template %s, expect %s", c.ID, c.TemplateName(), c.Expect.Verdict)
		}
	}
	if len(p.Templates) != 3 {
		t.Errorf("%d templates, want 3", len(p.Templates))
	}
	a := m.Artifacts["awa-it"]
	if a.Suite.Format != FormatLibtest || a.Suite.Timeout.String() != "20m0s" || a.Suite.Env[0] != (EnvVar{"RUST_TEST_THREADS", "2"}) ||
		len(a.Suite.Engines) != 2 || a.Source != "/src/awa" || a.Version.String() != "0.7.0-alpha.1" {
		t.Errorf("suite artifact %+v %+v", a, a.Suite)
	}
	var b strings.Builder
	if err := p.Print(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`awa-it: suite "cargo test -p awa --test integration_test" (libtest, timeout 20m0s, engines canonical, queue_storage) from /src/awa $RUST_TEST_THREADS`,
		"cell canonical.upgraded-from-py-0.6.2.suite.suite=awa-it\n     in a clone of upgraded-from-py-0.6.2.queue_storage:columns, AWA_TEST_ENGINE=canonical",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("plan lacks %q:\n%s", s, b.String())
		}
	}
	// Test rules: matched by suite, engine and test name (globs across ::), first match wins;
	// the default is pass, or ignored for a test the suite never runs.
	qs, can := p.Cells[1], p.Cells[0]
	for _, tc := range []struct {
		c       Cell
		name    string
		ignored bool
		want    TestOutcome
		rule    int
	}{
		{qs, "test_admin_retry", false, TestSkipped, 1},
		{qs, "test_cancel_running", false, TestSkipped, 1},
		{can, "test_admin_retry", false, TestPass, 0},
		{can, "mod::flaky::x", false, TestFail, 2},
		{qs, "test_other", true, TestIgnored, 0},
	} {
		e := m.ExpectTest(tc.c, tc.name, tc.ignored)
		if e.Outcome != tc.want || e.Rule != tc.rule {
			t.Errorf("%s %s: %+v, want %s by rule %d", tc.c.ID, tc.name, e, tc.want, tc.rule)
		}
	}
	if ws := Lint(m); len(ws) != 0 {
		t.Errorf("lint: %v", ws)
	}
}

func TestSuiteLoadErrors(t *testing.T) {
	base := suiteMatrix
	for _, tc := range []struct{ name, from, to, want string }{
		{"no command", "    command: cargo test -p awa --test integration_test\n", "", "m.yaml:6:5: artifacts.awa-it: missing key \"command\""},
		{"reserved env", "RUST_TEST_THREADS", "DATABASE_URL", "m.yaml:9:11: artifacts.awa-it.env: DATABASE_URL is set by each cell"},
		{"bad format", "    timeout: 20m\n", "    timeout: 20m\n    format: junt\n", "m.yaml:11:13: artifacts.awa-it.format: unknown format \"junt\" (did you mean \"junit\"?)"},
		{"format of unknown command", "cargo test -p awa --test integration_test", "make check", "artifacts.awa-it: cannot tell the format of \"make check\"'s output"},
		{"shell in a cargo command", "--test integration_test", "--test integration_test | tee x", "a cargo command is split into words and run without a shell"},
		{"suite keys on a python artifact", `py-0.6.2: {kind: python, version: "0.6.2"}`, `py-0.6.2: {kind: python, version: "0.6.2", command: x}`, "m.yaml:4:13: artifacts.py-0.6.2: command, build, format, env, timeout, engines apply to suite artifacts only"},
		{"suite engine with authority", "    timeout: 20m\n", "    timeout: 20m\n    engines: [\"queue_storage:ledger\"]\n", "not an engine a suite runs under"},
		{"timeout too long", "timeout: 20m", "timeout: 48h", "artifacts.awa-it.timeout: 48h0m0s is outside 10s..24h0m0s"},
		{"no suite scenario", "scenarios: [target_migrate, suite]", "scenarios: [target_migrate]", "m.yaml:5:3: artifacts.awa-it: a suite, but no schema path runs scenario suite"},
		{"suite in a fleet", "scenarios: [target_migrate, suite]", "scenarios: [target_migrate, suite]\nfleets: [{suite: awa-it}]", "fleets: suites are not bound in fleets or cross"},
		{"test rule with another role", "when: {suite: awa-it, test:", "when: {worker: \"<0.6.0\", test:", "a rule with a test pattern is about suite cells; it cannot also name role worker"},
		{"test rule with a cell verdict", "verdict: skipped", "verdict: inert", "expect[1].verdict: unknown test outcome \"inert\""},
		{"cell rule with a test outcome", "  - when: {test: \"*flaky*\"}\n    verdict: fail", "  - when: {engine: canonical}\n    verdict: skipped", "expect[2]: verdict skipped is a test's outcome; add when.test"},
		{"unknown suite in a rule", "when: {suite: awa-it,", "when: {suite: awa-itt,", "expect[1].when.suite: \"awa-itt\" names no suite artifact (did you mean \"awa-it\"?)"},
		{"upgraded from a suite", "upgraded-from py-0.6.2", "upgraded-from awa-it", "must name a python or rust artifact (it migrates and then enqueues work), not a suite"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(base, tc.from, tc.to, 1)
			if y == base {
				t.Fatalf("replacement %q not found", tc.from)
			}
			m, err := Parse("m.yaml", []byte(y))
			if err == nil {
				m.ResolveTargetSource("")
				_, err = NewPlan(m, Options{})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}

func TestSuiteOnlyMatrixNeedsNoFleets(t *testing.T) {
	y := `version: 1
target: {awa: "0.6.9"}
artifacts:
  py-tests: {kind: suite, source: /src/awa, build: "python3 -m venv $AWACOMPAT_SUITE_BUILD/v", command: "$AWACOMPAT_SUITE_BUILD/v/bin/pytest awa-python/tests", engines: [queue_storage]}
scenarios: [suite]
`
	m, err := Parse("m.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 1 || p.Cells[0].ID != "queue_storage.fresh.suite.suite=py-tests" || m.Artifacts["py-tests"].Suite.Format != FormatPytest {
		t.Fatalf("%+v", p.Cells)
	}
	if _, err := Parse("m.yaml", []byte(strings.Replace(y, "  py-tests", "  py: {kind: python, version: \"0.6.9\"}\n  x", 1)+"")); err != nil {
		t.Fatal(err)
	}
}

func TestTestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"test_*", "test_admin_retry", true},
		{"*::inner_*", "nested::inner_fails", true},
		{"tests/*.py::test_?", "tests/a/b.py::test_x", true},
		{"test_a", "test_ab", false},
		{"a.b", "axb", false},
	} {
		if got := TestGlob(tc.pattern, tc.name); got != tc.want {
			t.Errorf("TestGlob(%q, %q) = %v", tc.pattern, tc.name, got)
		}
	}
}
