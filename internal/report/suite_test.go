package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/awacompat/awacompat/internal/results"
)

func suiteResults() *results.Results {
	cell := func(engine, path string, tests ...results.Test) results.Cell {
		counts := map[string]int{}
		for _, t := range tests {
			counts[t.Outcome]++
		}
		return results.Cell{
			ID: engine + "." + path + ".suite.suite=awa-it", Engine: engine, SchemaPath: path, Scenario: "suite",
			Roles:    map[string]results.Role{"suite": {Artifact: "awa-it", Kind: "suite", Version: "0.7.0-alpha.1"}},
			Expected: "pass", Actual: "pass", OK: true, Tests: tests,
			Suite: &results.SuiteRun{Command: "cargo test", Format: "libtest", TestEngine: engine, Counts: counts},
		}
	}
	ms := int64(1500)
	pass := func(n string) results.Test {
		return results.Test{Name: n, Outcome: "pass", Expected: "pass", OK: true, DurationMS: &ms}
	}
	skip := results.Test{Name: "test_admin_retry", Outcome: "skipped", Expected: "skipped", OK: true, Rule: 1, Because: "canonical-only"}
	bad := results.Test{Name: "test_cancel", Outcome: "fail", Expected: "pass", OutputTail: "panicked at x"}
	r := &results.Results{Schema: 1, Target: results.Target{Awa: "0.7.0-alpha.1"}, Cells: []results.Cell{
		cell("canonical", "fresh", pass("test_a"), pass("test_admin_retry"), pass("test_cancel")),
		cell("queue_storage", "fresh", pass("test_a"), skip, bad),
		cell("canonical", "upgraded-from-py-0.6.2", pass("test_a"), pass("test_admin_retry"), pass("test_cancel")),
		cell("queue_storage", "upgraded-from-py-0.6.2", pass("test_a"), skip, pass("test_cancel")),
	}}
	r.Cells[1].Actual, r.Cells[1].OK = "fail", false
	r.Summarize()
	return r
}

func TestSuiteEngineDiff(t *testing.T) {
	r := suiteResults()
	ts := suiteTables(r)
	if len(ts) != 1 || len(ts[0].Columns) != 4 || ts[0].Differ != 2 || ts[0].Mismatched != 1 {
		t.Fatalf("%+v", ts)
	}
	// Differing tests first (by name), then the rest.
	var names []string
	for _, row := range ts[0].Rows {
		names = append(names, row.Name)
	}
	if strings.Join(names, " ") != "test_admin_retry test_cancel test_a" {
		t.Errorf("row order %v", names)
	}
	if got := ts[0].Columns[0].Label() + "|" + ts[0].Columns[3].Label(); got != "fresh / canonical|upgraded-from-py-0.6.2 / queue_storage" {
		t.Errorf("columns %q", got)
	}

	var b bytes.Buffer
	if err := Table(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"suite awa-it: tests per cell\n  fresh / canonical                        3 pass (pass)\n  fresh / queue_storage                    1 pass, 1 fail, 1 skipped (fail)",
		"2 tests whose outcome differs between engines:\n    test_admin_retry: fresh / canonical: pass; fresh / queue_storage: skipped; upgraded-from-py-0.6.2 / canonical: pass; upgraded-from-py-0.6.2 / queue_storage: skipped\n    test_cancel: fresh / canonical: pass; fresh / queue_storage: fail (expected pass);",
		"1 tests differ from their expectation",
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, b.String())
		}
	}
	b.Reset()
	if err := Markdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "**2 tests whose outcome differs between engines:**\n\n| test | fresh / canonical | fresh / queue_storage | upgraded-from-py-0.6.2 / canonical | upgraded-from-py-0.6.2 / queue_storage |\n|---|---|---|---|---|\n| `test_admin_retry` | pass | skipped | pass | skipped |\n| `test_cancel` | pass | fail (expected pass) | pass | pass |\n\n<details><summary>every test (3)</summary>") {
		t.Errorf("markdown:\n%s", b.String())
	}
	b.Reset()
	if err := JUnit(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		`<testcase name="test_cancel" classname="queue_storage.fresh.suite.suite=awa-it" time="0">`,
		`<failure message="expected pass, got fail" type="fail">`,
		`<testcase name="test_a" classname="canonical.fresh.suite.suite=awa-it" time="1.500">`,
		`<skipped message="skipped as expected: canonical-only"></skipped>`,
	} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("junit lacks %q:\n%s", s, b.String())
		}
	}
	b.Reset()
	if err := HTML(&b, r, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Suite awa-it: 2 tests differ between engines, 1 not as expected") || !strings.Contains(b.String(), `<td class="mismatch">fail (expected pass)</td>`) {
		t.Errorf("html has no engine diff")
	}
}
