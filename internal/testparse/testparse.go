// Package testparse reads what test runners print into one result per test: libtest's JSON
// events and its text (cargo test), nextest's text and its libtest-json, and JUnit XML
// (pytest --junitxml, nextest). Each test gets a name, an outcome, a duration where the runner
// gives one, and its own captured output. awa's harness marks a test that skipped itself at
// run time with a line `[skip] name: reason` in its output (awa-testing's
// skip_unless_canonical); such a test, which the runner counts as passed, is skipped here.
//
// The parsers take output as it really comes: lines of uncaptured output (a tracing
// subscriber, a spawned thread) glued in front of or behind result lines by tests running in
// parallel, and streams cut off where a deadline killed the runner.
package testparse

import (
	"regexp"
	"strings"
	"time"
)

// Outcome is what one test did.
type Outcome string

// The outcomes (the same words as matrix.TestOutcome).
const (
	Pass    Outcome = "pass"
	Fail    Outcome = "fail"
	Skipped Outcome = "skipped" // ran, and skipped itself (awa's [skip] line, pytest.skip)
	Ignored Outcome = "ignored" // not run by the runner (#[ignore])
	Timeout Outcome = "timeout" // the runner gave up on it (nextest's slow-timeout)
)

// Test is one test's result.
type Test struct {
	// Binary is the test binary (nextest's binary ID, a JUnit classname); empty when the
	// runner names tests by themselves.
	Binary string
	Name   string
	Outcome
	// Duration is how long it ran, when the runner says (Timed).
	Duration time.Duration
	Timed    bool
	// Output is the test's own captured output (stdout and stderr as the runner kept them).
	Output string
	// Reason is the runner's word on a non-pass: the ignore reason, the [skip] line, a JUnit
	// failure message.
	Reason string
	// Slow is set when the runner warned that the test ran long (libtest's 60 s notice,
	// nextest's SLOW).
	Slow bool
}

// FullName is "binary::name", or the name alone when there is no binary.
func (t Test) FullName() string {
	if t.Binary == "" {
		return t.Name
	}
	return t.Binary + "::" + t.Name
}

// Result is what one run of a runner reported.
type Result struct {
	Tests []Test
	// Running are tests the runner started but never reported (it was killed, or crashed).
	Running []string
	// Declared is how many tests the runner said it would run.
	Declared int
	// Finished is true when the runner printed its final summary: the stream was not cut off.
	Finished bool
}

// ByName returns the test called name (its FullName).
func (r Result) ByName(name string) (Test, bool) {
	for _, t := range r.Tests {
		if t.FullName() == name {
			return t, true
		}
	}
	return Test{}, false
}

// Counts tallies the outcomes.
func (r Result) Counts() map[Outcome]int {
	out := map[Outcome]int{}
	for _, t := range r.Tests {
		out[t.Outcome]++
	}
	return out
}

// skipLineRE is awa's skip notice (awa-testing setup::skip_unless_canonical):
// "[skip] test_name: canonical-only assertions; running under AWA_TEST_ENGINE=queue_storage".
var skipLineRE = regexp.MustCompile(`(?m)^\s*\[skip\] (.+)$`)

// markSkips turns a passed test whose own output holds awa's [skip] line into a skipped one.
func markSkips(tests []Test) {
	for i := range tests {
		if tests[i].Outcome != Pass {
			continue
		}
		if m := skipLineRE.FindStringSubmatch(tests[i].Output); m != nil {
			tests[i].Outcome = Skipped
			tests[i].Reason = "[skip] " + strings.TrimSpace(m[1])
		}
	}
}

// SkipLines finds awa's [skip] lines in output no test owns (a runner that does not capture,
// --nocapture): it returns the names they give, each with its line.
func SkipLines(output string) map[string]string {
	out := map[string]string{}
	for _, m := range skipLineRE.FindAllStringSubmatch(output, -1) {
		name, _, ok := strings.Cut(m[1], ":")
		if ok {
			out[strings.TrimSpace(name)] = "[skip] " + strings.TrimSpace(m[1])
		}
	}
	return out
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
