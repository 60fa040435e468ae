package suite

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/proc"
	"github.com/awacompat/awacompat/internal/testparse"
	"github.com/awacompat/awacompat/matrix"
)

// Env is one suite cell's run.
type Env struct {
	// URL is the cell's database, given as DATABASE_URL. It may carry a password: it is put
	// in the runner's environment only, never on a command line or in a log.
	URL string
	// Engine is AWA_TEST_ENGINE.
	Engine string
	// Dir is the cell's log folder: the runner's output goes there.
	Dir string
	// Timeout bounds the whole run (every test binary of the suite).
	Timeout time.Duration
}

// Run is what one run of a suite showed.
type Run struct {
	// Tests are every test's result, named as reports show them.
	Tests []testparse.Test
	// IgnoredBySuite are the tests the suite never runs as given (#[ignore]).
	IgnoredBySuite map[string]bool
	// TimedOut is true when the deadline passed and the runner was killed.
	TimedOut bool
	// Exit says how the runner ended, per test binary.
	Exit string
	// Err is set when the suite could not be run or its output says nothing about its tests:
	// the harness failed, not a test.
	Err error
	// Findings are notes for the cell's record.
	Findings []string
}

// listDeadline bounds asking a test binary for its list of tests.
const listDeadline = 2 * time.Minute

// Run runs the suite in one cell.
func (b *Built) Run(ctx context.Context, env Env) Run {
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	var r Run
	switch b.Artifact.Suite.Format {
	case matrix.FormatLibtest:
		r = b.runLibtest(ctx, env)
	case matrix.FormatNextest:
		r = b.runNextest(ctx, env)
	default:
		r = b.runJUnit(ctx, env)
	}
	if ctx.Err() == context.DeadlineExceeded {
		r.TimedOut = true
	}
	return r
}

// environ is the runner's environment: ours, the suite's own variables, the cell's database
// and engine, and what cargo sets when it runs tests itself.
func (b *Built) environ(env Env, extra ...string) []string {
	out := append(os.Environ(), "CARGO_TARGET_DIR="+filepath.Join(filepath.Dir(b.Dir), "cargo-target"), "CARGO_TERM_COLOR=never",
		"AWACOMPAT_SUITE_BUILD="+filepath.Join(b.Dir, "build"), "PYTHONDONTWRITEBYTECODE=1")
	for _, e := range b.Artifact.Suite.Env {
		out = append(out, e.Name+"="+e.Value)
	}
	out = append(out, extra...)
	return append(out, "DATABASE_URL="+env.URL, "AWA_TEST_ENGINE="+env.Engine)
}

// exec runs one command of a cell's suite run, its stdout and stderr into name.stdout.log and
// name.stderr.log in the cell's folder; it returns how the command ended ("" for success).
func (b *Built) exec(ctx context.Context, env Env, name, dir string, environ []string, argv ...string) (exit string, stdout, stderr []byte, err error) {
	outPath := filepath.Join(env.Dir, name+".stdout.log")
	errPath := filepath.Join(env.Dir, name+".stderr.log")
	outF, err := os.Create(outPath)
	if err != nil {
		return "", nil, nil, err
	}
	defer outF.Close()
	errF, err := os.Create(errPath)
	if err != nil {
		return "", nil, nil, err
	}
	defer errF.Close()
	cmd := proc.Command(ctx, argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, environ
	cmd.Stdout, cmd.Stderr = outF, errF
	runErr := cmd.Run()
	stdout, _ = os.ReadFile(outPath)
	stderr, _ = os.ReadFile(errPath)
	var ee *exec.ExitError
	switch {
	case runErr == nil:
		return "", stdout, stderr, nil
	case ctx.Err() == context.DeadlineExceeded:
		return "killed at the suite's deadline", stdout, stderr, nil
	case ctx.Err() != nil:
		return "interrupted", stdout, stderr, nil
	case errors.As(runErr, &ee):
		return ee.ProcessState.String(), stdout, stderr, nil
	}
	return "", stdout, stderr, fmt.Errorf("%s: %w", strings.Join(argv, " "), runErr)
}

func (b *Built) runLibtest(ctx context.Context, env Env) Run {
	r := Run{IgnoredBySuite: map[string]bool{}}
	targs := testArgs(strings.Fields(b.Artifact.Suite.Command))
	includeIgnored := slices.Contains(targs, "--include-ignored") || slices.Contains(targs, "--ignored")
	var exits []string
	for _, bin := range b.Binaries {
		prefix := ""
		if len(b.Binaries) > 1 {
			prefix = bin.Target + "::"
		}
		environ := b.environ(env, "CARGO_MANIFEST_DIR="+bin.PackageDir)
		listed, err := listTests(ctx, bin, environ, targs)
		if err != nil {
			r.Err = err
			return r
		}
		if !includeIgnored {
			ignored, err := listTests(ctx, bin, environ, append(slices.Clone(targs), "--ignored"))
			if err != nil {
				r.Err = err
				return r
			}
			for _, n := range ignored {
				r.IgnoredBySuite[prefix+n] = true
			}
		}
		// libtest's JSON events, unlocked on a stable toolchain for this binary only.
		argv := append([]string{bin.Path}, targs...)
		argv = append(argv, "-Z", "unstable-options", "--format", "json", "--report-time", "--show-output")
		exit, stdout, stderr, err := b.exec(ctx, env, "suite-"+bin.Target, bin.PackageDir, append(environ, "RUSTC_BOOTSTRAP=1"), argv...)
		if err != nil {
			r.Err = err
			return r
		}
		res := testparse.Libtest(stdout)
		if len(res.Tests) == 0 && len(res.Running) == 0 && bytes.Contains(stderr, []byte("unstable")) {
			// A libtest that refuses the JSON format: read its text instead.
			r.Findings = append(r.Findings, fmt.Sprintf("%s refused libtest's JSON format (%s); read its text output", bin.Target, testparse.Tail(string(stderr), 1)))
			argv = append(append([]string{bin.Path}, targs...), "--show-output")
			exit, stdout, stderr, err = b.exec(ctx, env, "suite-"+bin.Target, bin.PackageDir, environ, argv...)
			if err != nil {
				r.Err = err
				return r
			}
			res = testparse.Libtest(stdout)
		}
		if len(res.Tests) == 0 && len(res.Running) == 0 && len(listed) > 0 && ctx.Err() == nil {
			r.Err = fmt.Errorf("%s (in %s) reported no test (%s):\n%s", strings.Join(argv, " "), bin.PackageDir, orStatus(exit), testparse.Tail(string(stderr), 15))
			return r
		}
		if exit != "" {
			exits = append(exits, bin.Target+": "+exit)
		}
		running := map[string]bool{}
		for _, n := range res.Running {
			running[n] = true
		}
		got := map[string]bool{}
		for _, t := range res.Tests {
			got[t.FullName()] = true
			t.Binary, t.Name = "", prefix+t.FullName()
			r.Tests = append(r.Tests, t)
		}
		for _, n := range listed {
			if got[n] {
				continue
			}
			t := testparse.Test{Name: prefix + n, Outcome: testparse.Fail}
			switch {
			case ctx.Err() != nil:
				t.Outcome, t.Reason = testparse.Timeout, "no result when the suite's deadline passed"
				if running[n] {
					t.Reason = "still running when the suite's deadline passed"
				}
			case running[n]:
				t.Reason = fmt.Sprintf("started, but the test binary ended (%s) before it reported", orStatus(exit))
			default:
				t.Reason = fmt.Sprintf("never reported: the test binary ended (%s) first", orStatus(exit))
			}
			if t.Outcome == testparse.Fail {
				t.Output = testparse.Tail(string(stderr), 20)
			}
			r.Tests = append(r.Tests, t)
		}
		if ctx.Err() != nil {
			break
		}
	}
	r.Exit = strings.Join(exits, "; ")
	return r
}

func orStatus(exit string) string {
	if exit == "" {
		return "exit status 0"
	}
	return exit
}

// listTests asks a test binary for its tests ("name: test" lines of --list --format terse).
func listTests(ctx context.Context, bin Binary, environ, targs []string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, listDeadline)
	defer cancel()
	args := append(slices.Clone(targs), "--list", "--format", "terse")
	cmd := proc.Command(ctx, bin.Path, args...)
	cmd.Dir, cmd.Env = bin.PackageDir, environ
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, proc.Failed(ctx, listDeadline, cmd.Args, err, proc.Tail(stderr.String(), 5))
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if name, ok := strings.CutSuffix(sc.Text(), ": test"); ok {
			names = append(names, name)
		}
	}
	return names, nil
}

func (b *Built) runNextest(ctx context.Context, env Env) Run {
	words := strings.Fields(b.Artifact.Suite.Command)
	argv := append([]string{"cargo", "nextest", "run"}, cargoArgs(words[3:])...)
	argv = append(argv, "--no-fail-fast", "--color", "never", "--success-output", "immediate", "--failure-output", "immediate")
	if t := testArgs(words); len(t) > 0 {
		argv = append(append(argv, "--"), t...)
	}
	exit, _, stderr, err := b.exec(ctx, env, "suite", b.Checkout, b.environ(env), argv...)
	if err != nil {
		return Run{Err: err}
	}
	res := testparse.NextestText(stderr)
	r := Run{Exit: exit, Tests: oneNamespace(res.Tests)}
	if len(res.Tests) == 0 && ctx.Err() == nil {
		r.Err = fmt.Errorf("%s reported no test (%s):\n%s", strings.Join(argv, " "), orStatus(exit), testparse.Tail(string(stderr), 15))
	}
	return r
}

// runJUnit runs a command under sh -c that writes JUnit XML: pytest is given --junitxml
// (and no cache folder in the checkout); any other command is told where by $AWACOMPAT_JUNIT.
func (b *Built) runJUnit(ctx context.Context, env Env) Run {
	s := b.Artifact.Suite
	junit := filepath.Join(env.Dir, "junit.xml")
	_ = os.Remove(junit)
	argv := []string{"sh", "-c", s.Command}
	if s.Format == matrix.FormatPytest {
		argv = []string{"sh", "-c", s.Command + ` "$@"`, "sh", "--junitxml=" + junit, "-p", "no:cacheprovider"}
	}
	exit, _, stderr, err := b.exec(ctx, env, "suite", b.Checkout, b.environ(env, "AWACOMPAT_JUNIT="+junit), argv...)
	if err != nil {
		return Run{Err: err}
	}
	x, rerr := os.ReadFile(junit)
	if rerr != nil {
		if ctx.Err() != nil {
			return Run{Exit: exit, Findings: []string{"the runner wrote no JUnit report before the deadline: no test's result is known"}}
		}
		return Run{Exit: exit, Err: fmt.Errorf("%s wrote no JUnit report (%s):\n%s", s.Command, orStatus(exit), testparse.Tail(string(stderr), 15))}
	}
	res, perr := testparse.JUnit(x)
	if perr != nil {
		return Run{Exit: exit, Err: fmt.Errorf("%s: %w", junit, perr)}
	}
	r := Run{Exit: exit, Tests: oneNamespace(res.Tests)}
	if len(r.Tests) == 0 && ctx.Err() == nil {
		r.Err = fmt.Errorf("%s ran no test (%s):\n%s", s.Command, orStatus(exit), testparse.Tail(string(stderr), 15))
	}
	return r
}

// oneNamespace names tests by their name alone when they all come from one binary (or
// class), else binary::name.
func oneNamespace(tests []testparse.Test) []testparse.Test {
	binaries := map[string]bool{}
	for _, t := range tests {
		binaries[t.Binary] = true
	}
	out := make([]testparse.Test, 0, len(tests))
	for _, t := range tests {
		if len(binaries) > 1 {
			t.Name = t.FullName()
		}
		t.Binary = ""
		out = append(out, t)
	}
	return out
}
