package suite

import (
	"fmt"
	"sort"
	"strings"

	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/testparse"
	"github.com/awacompat/awacompat/matrix"
)

// Expect gives a test's expectation (matrix.Matrix.ExpectTest for the cell).
type Expect func(name string, ignoredBySuite bool) matrix.TestExpectation

// outputTailLines is how much of a failing test's output results.json keeps.
const outputTailLines = 30

// Judge holds each test of a run to its expectation and gives the cell its verdict: error
// when the suite could not run or said nothing, timeout when its deadline passed, fail when a
// test's outcome differs from its expectation, else pass.
func Judge(r Run, expect Expect) (tests []results.Test, verdict matrix.Verdict, detail string) {
	var differ []string
	for _, t := range r.Tests {
		e := expect(t.Name, r.IgnoredBySuite[t.Name])
		rt := results.Test{
			Name: redact.Printable(t.Name), Outcome: string(t.Outcome), Expected: string(e.Outcome),
			OK: string(t.Outcome) == string(e.Outcome), Rule: e.Rule, Because: e.Because,
			Reason: redact.Printable(t.Reason), Slow: t.Slow,
		}
		if t.Timed {
			ms := t.Duration.Milliseconds()
			rt.DurationMS = &ms
		}
		if !rt.OK || t.Outcome == testparse.Fail || t.Outcome == testparse.Timeout {
			rt.OutputTail = redact.Printable(testparse.Tail(t.Output, outputTailLines))
		}
		if !rt.OK {
			differ = append(differ, fmt.Sprintf("%s (%s, expected %s)", t.Name, t.Outcome, e.Outcome))
		}
		tests = append(tests, rt)
	}
	sort.SliceStable(tests, func(i, j int) bool { return tests[i].Name < tests[j].Name })
	counts := Counts(tests)
	switch {
	case r.Err != nil:
		return tests, matrix.Error, redact.Printable(r.Err.Error())
	case r.TimedOut:
		return tests, matrix.Timeout, fmt.Sprintf("the suite did not finish within its deadline (%s)", counts)
	case len(tests) == 0:
		return tests, matrix.Error, "the suite ran no test"
	case len(differ) > 0:
		sort.Strings(differ)
		shown := differ
		if len(shown) > 5 {
			shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(differ)-5))
		}
		return tests, matrix.Fail, fmt.Sprintf("%d of %d tests differ from their expectation: %s", len(differ), len(tests), strings.Join(shown, ", "))
	}
	return tests, matrix.Pass, fmt.Sprintf("every test as expected (%s)", counts)
}

// Counts says how many tests had each outcome: "310 pass, 6 skipped, 2 ignored".
func Counts(tests []results.Test) string {
	n := CountMap(tests)
	var parts []string
	for _, o := range matrix.TestOutcomes {
		if n[string(o)] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[string(o)], o))
		}
	}
	if len(parts) == 0 {
		return "no test"
	}
	return strings.Join(parts, ", ")
}

// CountMap tallies outcomes.
func CountMap(tests []results.Test) map[string]int {
	n := map[string]int{}
	for _, t := range tests {
		n[t.Outcome]++
	}
	return n
}
