package testparse

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The files in testdata/capture are real output, captured by running the stand-in test
// binary in testdata/capture/suite.rs.txt (rustc 1.95, nextest 0.9.148): libtest's text with
// tests in parallel (uncaptured writes glued in front of result lines) and one at a time
// (behind "test x ... "), --show-output, the JSON events (RUSTC_BOOTSTRAP=1 -Z
// unstable-options --format json --report-time --show-output), a run killed while
// hangs_forever hung (after libtest's 60 s notice), and nextest's text, libtest-json and
// JUnit under AWA_TEST_ENGINE=queue_storage with a 2 s slow-timeout that terminates at 6 s.

func read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "capture", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type want struct {
	declared int
	finished bool
	outcomes map[string]Outcome // by FullName; every test the result has must be here
	running  []string
	timed    bool
}

var standinCanonical = map[string]Outcome{
	"fails_with_assert": Fail, "hangs_forever": Pass, "ignored_by_author": Ignored,
	"ignored_with_reason": Ignored, "nested::inner_fails": Fail, "nested::inner_passes": Pass,
	"noisy_threads": Pass, "panics_with_message": Fail, "passes_quickly": Pass,
	"should_panic_passes": Pass, "skips_unless_canonical": Pass, "slow_but_fine": Pass,
}

func with(base map[string]Outcome, changes map[string]Outcome, drop ...string) map[string]Outcome {
	out := map[string]Outcome{}
	for k, v := range base {
		if !slices.Contains(drop, k) {
			out[k] = v
		}
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

func prefixed(m map[string]Outcome, binary string) map[string]Outcome {
	out := map[string]Outcome{}
	for k, v := range m {
		out[binary+"::"+k] = v
	}
	return out
}

func check(t *testing.T, r Result, w want) {
	t.Helper()
	if r.Declared != w.declared || r.Finished != w.finished {
		t.Errorf("declared %d finished %v, want %d %v", r.Declared, r.Finished, w.declared, w.finished)
	}
	got := map[string]Outcome{}
	for _, tc := range r.Tests {
		if _, dup := got[tc.FullName()]; dup {
			t.Errorf("test %s reported twice", tc.FullName())
		}
		got[tc.FullName()] = tc.Outcome
		if w.timed && !tc.Timed && tc.Outcome != Ignored {
			t.Errorf("%s has no duration", tc.FullName())
		}
	}
	for name, o := range w.outcomes {
		if got[name] != o {
			t.Errorf("%s: %q, want %q", name, got[name], o)
		}
	}
	for name := range got {
		if _, ok := w.outcomes[name]; !ok {
			t.Errorf("unexpected test %s (%s)", name, got[name])
		}
	}
	if !slices.Equal(r.Running, w.running) {
		t.Errorf("running %v, want %v", r.Running, w.running)
	}
}

func TestLibtestCaptured(t *testing.T) {
	qs := with(standinCanonical, map[string]Outcome{"skips_unless_canonical": Skipped})
	hung := with(standinCanonical, nil, "hangs_forever")
	for _, tc := range []struct {
		file string
		want want
	}{
		{"text-parallel.stdout", want{declared: 12, finished: true, outcomes: standinCanonical}},
		{"text-serial.stdout", want{declared: 12, finished: true, outcomes: standinCanonical}},
		{"text-show-output.stdout", want{declared: 12, finished: true, outcomes: standinCanonical}},
		{"text-show-output-qs.stdout", want{declared: 12, finished: true, outcomes: qs}},
		{"json.stdout", want{declared: 12, finished: true, outcomes: standinCanonical, timed: true}},
		{"json-qs.stdout", want{declared: 12, finished: true, outcomes: qs, timed: true}},
		{"text-hang.stdout", want{declared: 12, finished: false, outcomes: hung, running: []string{"hangs_forever"}}},
		{"json-hang.stdout", want{declared: 12, finished: false, outcomes: hung, running: []string{"hangs_forever"}, timed: true}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := Libtest(read(t, tc.file))
			check(t, r, tc.want)
			if strings.HasSuffix(tc.file, "-qs.stdout") {
				s, _ := r.ByName("skips_unless_canonical")
				if !strings.Contains(s.Reason, "[skip] skips_unless_canonical: canonical-only assertions") {
					t.Errorf("skip reason %q", s.Reason)
				}
			}
			p, _ := r.ByName("panics_with_message")
			if r.Finished && (!strings.Contains(p.Output, "about to panic") || !strings.Contains(p.Output, "something broke\nacross two lines")) {
				t.Errorf("panics_with_message output:\n%s", p.Output)
			}
			a, _ := r.ByName("fails_with_assert")
			if r.Finished && !strings.Contains(a.Output, "left: 41") {
				t.Errorf("fails_with_assert output:\n%s", a.Output)
			}
			if i, _ := r.ByName("ignored_with_reason"); i.Reason != "needs a chaos proxy" {
				t.Errorf("ignore reason %q", i.Reason)
			}
			// Uncaptured writes of noisy_threads never become part of a test's name or
			// another test's output.
			for _, tt := range r.Tests {
				if strings.Contains(tt.Name, "noise") || (tt.Name != "noisy_threads" && strings.Contains(tt.Output, "noise-")) {
					t.Errorf("noise leaked into %s: %q", tt.Name, tt.Output)
				}
			}
		})
	}
}

func TestLibtestSlowNotice(t *testing.T) {
	r := Libtest([]byte("running 2 tests\ntest a has been running for over 60 seconds\ntest b ... ok\ntest a ... ok\n\ntest result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 61.00s\n"))
	a, _ := r.ByName("a")
	if !a.Slow || a.Outcome != Pass || len(r.Running) != 0 || !r.Finished {
		t.Fatalf("%+v", r)
	}
}

func TestNextestTextCaptured(t *testing.T) {
	r := NextestText(read(t, "nextest-text-immediate.stderr"))
	outcomes := with(standinCanonical, map[string]Outcome{"skips_unless_canonical": Skipped, "hangs_forever": Timeout}, "ignored_by_author", "ignored_with_reason")
	check(t, r, want{declared: 10, finished: true, outcomes: prefixed(outcomes, "standin::suite"), timed: true})
	h, _ := r.ByName("standin::suite::hangs_forever")
	if !h.Slow {
		t.Error("hangs_forever: no SLOW notice recorded")
	}
	p, _ := r.ByName("standin::suite::panics_with_message")
	if !strings.Contains(p.Output, "something broke") {
		t.Errorf("output: %q", p.Output)
	}
	// The run without --success-output: failures only carry output; the [skip] line of a
	// passing test is not shown, so it stays a pass.
	r = NextestText(read(t, "nextest-text.stderr"))
	outcomes = with(standinCanonical, map[string]Outcome{"hangs_forever": Timeout, "ignored_by_author": Pass, "ignored_with_reason": Pass})
	check(t, r, want{declared: 12, finished: true, outcomes: prefixed(outcomes, "standin::suite"), timed: true})
}

func TestNextestJSONCaptured(t *testing.T) {
	r := Libtest(read(t, "nextest-json.stdout"))
	outcomes := with(standinCanonical, map[string]Outcome{"hangs_forever": Timeout})
	check(t, r, want{declared: 24, finished: true, outcomes: prefixed(outcomes, "standin::suite"), timed: true})
}

func TestJUnitCaptured(t *testing.T) {
	r, err := JUnit(read(t, "nextest-junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// Captured under queue_storage with store-success-output: the [skip] line is there.
	outcomes := with(standinCanonical, map[string]Outcome{"hangs_forever": Timeout, "skips_unless_canonical": Skipped}, "ignored_by_author", "ignored_with_reason")
	check(t, r, want{declared: 10, finished: true, outcomes: prefixed(outcomes, "standin::suite"), timed: true})
}

func TestJUnitPytest(t *testing.T) {
	// pytest 9's --junitxml shape (captured from the stand-in pytest suite).
	x := `<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6" time="0.05">
<testcase classname="test_engine" name="test_passes" time="0.001" />
<testcase classname="test_engine" name="test_fails_under_qs" time="0.002"><failure message="AssertionError: engine is queue_storage">def test_fails_under_qs():
&gt;       assert engine() == "canonical"
E       AssertionError</failure></testcase>
<testcase classname="test_engine" name="test_skips" time="0.000"><skipped type="pytest.skip" message="canonical-only">test_engine.py:20: canonical-only</skipped></testcase>
<testcase classname="test_engine" name="test_xfail" time="0.000"><skipped type="pytest.xfail" message="known" /></testcase>
<testcase classname="test_engine" name="test_fixture_breaks" time="0.000"><error message="failed on setup with &quot;boom&quot;">boom</error></testcase>
<testcase classname="test_engine" name="test_param[a-1]" time="0.001"><system-err>[skip] test_param: canonical-only assertions</system-err></testcase>
</testsuite></testsuites>`
	r, err := JUnit([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	check(t, r, want{declared: 6, finished: true, timed: true, outcomes: prefixed(map[string]Outcome{
		"test_passes": Pass, "test_fails_under_qs": Fail, "test_skips": Skipped, "test_xfail": Pass,
		"test_fixture_breaks": Fail, "test_param[a-1]": Skipped,
	}, "test_engine")})
	f, _ := r.ByName("test_engine::test_fails_under_qs")
	if f.Reason != "AssertionError: engine is queue_storage" || !strings.Contains(f.Output, "assert engine()") {
		t.Errorf("%+v", f)
	}
	if _, err := JUnit([]byte("<testsuites><testsuite>")); err == nil {
		t.Error("truncated XML read without an error")
	}
}

func TestSkipLines(t *testing.T) {
	got := SkipLines("x\n[skip] test_a: canonical-only assertions; running under AWA_TEST_ENGINE=queue_storage\nnoise [skip] no\n")
	if len(got) != 1 || !strings.HasPrefix(got["test_a"], "[skip] test_a: canonical-only") {
		t.Fatalf("%v", got)
	}
}
