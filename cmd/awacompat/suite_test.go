package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// standin copies a stand-in suite (testdata/standin/NAME) into a fresh git checkout, as a
// maintainer's awa checkout would be, and returns its path.
func standin(t *testing.T, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	src := filepath.Join("testdata", "standin", name)
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "stand-in"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dst
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dst
}

// TestRunSuites runs two stand-in suites (a cargo test and a pytest project whose tests read
// DATABASE_URL and AWA_TEST_ENGINE: some pass, one fails only under queue_storage, one skips
// itself, one is #[ignore]d) as kind: suite artifacts under both engines, on the embedded
// server with templates migrated by the real awa 0.6.9 CLI.
func TestRunSuites(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs stand-in suites against PostgreSQL")
	}
	for _, tool := range []string{"cargo", "psql", "python3", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
	rs, py := standin(t, "cargo"), standin(t, "pytest")
	matrixPath := filepath.Join(t.TempDir(), "suites.yaml")
	venv := `"$AWACOMPAT_SUITE_BUILD/venv"`
	yaml := `version: 1
target: {awa: "0.6.9"}
artifacts:
  standin-rs:
    kind: suite
    source: ` + rs + `
    command: cargo test --test integration_test
    env: {RUST_BACKTRACE: "0"}
    timeout: 5m
  standin-py:
    kind: suite
    source: ` + py + `
    # a virtualenv in the build's own cache folder, never in the checkout
    build: 'python3 -m venv --system-site-packages ` + venv + ` && (` + venv + `/bin/python -c "import pytest" || ` + venv + `/bin/pip install -q pytest)'
    command: '` + venv + `/bin/python -m pytest -q test_engine.py'
    timeout: 5m
scenarios: [suite]
expect:
  - when: {test: "*fails_under_queue_storage", engine: queue_storage}
    verdict: fail
    because: the stand-in's engine-dependent defect
  - when: {suite: standin-*, test: "*skipped_*"}
    verdict: skipped
    because: no chaos proxy on this machine
`
	if err := os.WriteFile(matrixPath, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", matrixPath, "--out", out)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	runStderr := stderr
	r, cells := cellsByID(t, out)
	if len(cells) != 4 {
		t.Errorf("%d cells, want 4 (2 suites x 2 engines)", len(cells))
	}
	type want struct{ outcome, expected string }
	for _, suite := range []string{"standin-rs", "standin-py"} {
		prefix := ""
		if suite == "standin-py" {
			prefix = "test_"
		}
		for _, engine := range []string{"canonical", "queue_storage"} {
			id := engine + ".fresh.suite.suite=" + suite
			c, ok := cells[id]
			if !ok {
				t.Errorf("missing cell %s", id)
				continue
			}
			if c.Actual != "pass" || !c.OK || c.Suite == nil || c.Suite.TestEngine != engine || c.Suite.Template != "fresh."+engine {
				t.Errorf("%s: %s ok=%v (%s) suite %+v", id, c.Actual, c.OK, c.Detail, c.Suite)
			}
			tests := map[string]want{
				prefix + "reads_the_cells_database":    {"pass", "pass"},
				prefix + "engine_is_one_of_awas":       {"pass", "pass"},
				prefix + "fails_under_queue_storage":   {"pass", "pass"},
				prefix + "skipped_needs_a_chaos_proxy": {"skipped", "skipped"},
			}
			if engine == "queue_storage" {
				tests[prefix+"fails_under_queue_storage"] = want{"fail", "fail"}
			}
			if suite == "standin-rs" {
				tests["ignored_benchmark"] = want{"ignored", "ignored"}
			}
			if len(c.Tests) != len(tests) {
				t.Errorf("%s: %d tests, want %d: %+v", id, len(c.Tests), len(tests), c.Tests)
			}
			for _, tt := range c.Tests {
				w, ok := tests[tt.Name]
				if !ok || tt.Outcome != w.outcome || tt.Expected != w.expected || !tt.OK {
					t.Errorf("%s: test %s: %s, expected %s (want %+v)", id, tt.Name, tt.Outcome, tt.Expected, w)
				}
				if tt.Outcome != "ignored" && tt.DurationMS == nil {
					t.Errorf("%s: test %s has no duration", id, tt.Name)
				}
				if tt.Outcome == "fail" && (tt.Rule != 1 || !strings.Contains(tt.OutputTail, "a defect only queue storage shows")) {
					t.Errorf("%s: failing test %s: rule %d, output tail %q", id, tt.Name, tt.Rule, tt.OutputTail)
				}
				if strings.Contains(tt.Name, "skipped_") && tt.Rule != 2 {
					t.Errorf("%s: %s matched rule %d, want 2 (matched by name)", id, tt.Name, tt.Rule)
				}
			}
		}
	}
	for _, a := range r.Artifacts {
		if a.Kind == "suite" && (a.Error != "" || !strings.HasPrefix(a.Origin, "path:")) {
			t.Errorf("suite artifact %+v", a)
		}
	}

	// The engine diff lists exactly the engine-dependent test, for each suite, in every report.
	md, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	diffs := regexp.MustCompile(`(?s)\*\*1 test whose outcome differs between engines:\*\*\n\n\|[^\n]*\n\|[^\n]*\n(\|[^\n]*\n)\n`).FindAllStringSubmatch(string(md), -1)
	if len(diffs) != 2 || !strings.Contains(diffs[0][1], "fails_under_queue_storage") || !strings.Contains(diffs[1][1], "fails_under_queue_storage") {
		t.Errorf("summary.md's engine diffs %q, want one row each, fails_under_queue_storage:\n%s", diffs, md)
	}
	if !strings.Contains(stdout, "1 test whose outcome differs between engines:\n    fails_under_queue_storage: fresh / canonical: pass; fresh / queue_storage: fail\n") {
		t.Errorf("the terminal table has no engine diff:\n%s", stdout)
	}
	junit, _ := os.ReadFile(filepath.Join(out, "junit.xml"))
	if !strings.Contains(string(junit), `<testcase name="fails_under_queue_storage" classname="queue_storage.fresh.suite.suite=standin-rs"`) {
		t.Errorf("junit.xml has no testcase per test per cell:\n%s", junit)
	}
	html, _ := os.ReadFile(filepath.Join(out, "report.html"))
	if !strings.Contains(string(html), "Suite standin-rs: 1 tests differ between engines") {
		t.Errorf("report.html has no engine diff for standin-rs")
	}

	// Built once per checkout revision: fetch finds both builds; an uncommitted change
	// rebuilds that suite only.
	code, stdout, stderr = runCLI(t, "fetch", matrixPath)
	if code != exitOK || strings.Count(stdout, "suite standin-") != 2 || strings.Count(stdout, ") ... cached (path:") != 2 {
		t.Fatalf("fetch after the run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	f, err := os.OpenFile(filepath.Join(rs, "tests", "integration_test.rs"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n#[test]\nfn added() {}\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, stdout, stderr = runCLI(t, "fetch", matrixPath)
	if code != exitOK || !regexp.MustCompile(`suite standin-rs \(.*\) \.\.\. built \(path:.*-dirty-`).MatchString(stdout) || !regexp.MustCompile(`suite standin-py .* cached`).MatchString(stdout) {
		t.Fatalf("fetch after an uncommitted change: exit %d\n%s\n%s", code, stdout, stderr)
	}
	assertGone(t, serverDir(t, runStderr))
}
