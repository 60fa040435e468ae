package suite

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/testparse"
	"github.com/awacompat/awacompat/matrix"
)

func TestJudge(t *testing.T) {
	expect := func(name string, ignored bool) matrix.TestExpectation {
		switch {
		case name == "canonical_only":
			return matrix.TestExpectation{Outcome: matrix.TestSkipped, Rule: 3, Because: "canonical-only"}
		case ignored:
			return matrix.TestExpectation{Outcome: matrix.TestIgnored}
		}
		return matrix.TestExpectation{Outcome: matrix.TestPass}
	}
	run := Run{
		Tests: []testparse.Test{
			{Name: "b_passes", Outcome: testparse.Pass, Duration: 1500 * time.Millisecond, Timed: true},
			{Name: "canonical_only", Outcome: testparse.Skipped, Reason: "[skip] canonical_only: x"},
			{Name: "bench", Outcome: testparse.Ignored},
		},
		IgnoredBySuite: map[string]bool{"bench": true},
	}
	tests, v, detail := Judge(run, expect)
	if v != matrix.Pass || len(tests) != 3 || tests[0].Name != "b_passes" || *tests[0].DurationMS != 1500 || tests[2].Rule != 3 {
		t.Fatalf("%s %s %+v", v, detail, tests)
	}
	if detail != "every test as expected (1 pass, 1 skipped, 1 ignored)" {
		t.Errorf("detail %q", detail)
	}
	run.Tests = append(run.Tests, testparse.Test{Name: "a_fails", Outcome: testparse.Fail, Output: strings.Repeat("line\n", 100) + "panicked at the end"})
	tests, v, detail = Judge(run, expect)
	if v != matrix.Fail || !strings.Contains(detail, "1 of 4 tests differ from their expectation: a_fails (fail, expected pass)") {
		t.Fatalf("%s %s", v, detail)
	}
	if tail := tests[0].OutputTail; !strings.HasSuffix(tail, "panicked at the end") || strings.Count(tail, "\n") != outputTailLines-1 {
		t.Errorf("output tail %q", tail)
	}
	run.TimedOut = true
	if _, v, _ = Judge(run, expect); v != matrix.Timeout {
		t.Errorf("timed out: %s", v)
	}
	if _, v, detail = Judge(Run{Err: errors.New("postgres://u:secret@h/db: boom")}, expect); v != matrix.Error || strings.Contains(detail, "secret") {
		t.Errorf("error: %s %q", v, detail)
	}
	if _, v, _ = Judge(Run{}, expect); v != matrix.Error {
		t.Errorf("no test: %s", v)
	}
}

func TestCommandWords(t *testing.T) {
	w := strings.Fields("cargo test -p awa --test integration_test -- --test-threads=2 test_x")
	if got := strings.Join(cargoArgs(w[2:]), " "); got != "-p awa --test integration_test" {
		t.Errorf("cargo args %q", got)
	}
	if got := strings.Join(testArgs(w), " "); got != "--test-threads=2 test_x" {
		t.Errorf("test args %q", got)
	}
}
