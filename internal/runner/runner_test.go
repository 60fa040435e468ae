package runner

// Unit tests of the runner through its seams: a stand-in server and installer, and the two
// steps that need a database and awa (building a template, running a cell) replaced. What is
// tested is the runner's own logic: scheduling, retries, interrupts, template and install
// failures, a dead server, bookkeeping and judging. The real steps are tested by the
// end-to-end tests in cmd/awacompat.

import (
	"context"
	"errors"
	"fmt"
	"github.com/awacompat/awacompat/internal/poll"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/scenario"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/pinned"
)

type stubServer struct{ alive func() error }

func (stubServer) URL(db string) string          { return "postgres://stub/" + db }
func (stubServer) Mode() string                  { return "embedded" }
func (stubServer) Close(context.Context) error   { return nil }
func (s stubServer) Alive(context.Context) error { return s.alive() }
func (stubServer) BinDir() string                { return "" }

type stubProvisioner struct{ srv stubServer }

func (p stubProvisioner) Provision(context.Context, int) (Server, error) { return p.srv, nil }

// stubInstaller "installs" every spec; the versions listed in fail fail, and install time
// falls with the version's patch number, so completion order is the reverse of plan order.
type stubInstaller struct{ fail map[string]bool }

func (s stubInstaller) Install(ctx context.Context, spec pinned.Spec) (*pinned.Installed, error) {
	time.Sleep(time.Duration(20-spec.Version.Patch) * time.Millisecond)
	if s.fail[spec.Version.String()] {
		return nil, &pinned.InstallError{Spec: spec, Cmd: "pip install awa-pg==" + spec.Version.PEP440(), Err: errors.New("no matching distribution")}
	}
	return &pinned.Installed{Spec: spec, Probe: []string{"probe"}, AwaBin: "awa", Origin: "stub:" + spec.Version.String()}, nil
}

const stubMatrix = `version: 1
target: {awa: "0.6.9"}
artifacts:
  a1: {kind: python, version: "0.6.1"}
  a2: {kind: python, version: "0.6.2"}
  a3: {kind: python, version: "0.6.3"}
schema_paths: [fresh, "upgraded-from a1"]
scenarios: [lifecycle]
cross: {producer: [a1, a2, a3], worker: [a3]}
`

// newStubRun plans stubMatrix (selected with only) and wires the stand-ins; every template
// builds and every cell passes unless the test replaces build or exec.
func newStubRun(t *testing.T, only []string, fail map[string]bool) (*run, *matrix.Plan) {
	t.Helper()
	return newRunOf(t, stubMatrix, only, stubInstaller{fail: fail})
}

// newRunOf is newStubRun for a matrix and an installer of the test's own.
func newRunOf(t *testing.T, matrixYAML string, only []string, inst Installer) (*run, *matrix.Plan) {
	t.Helper()
	m, err := matrix.Parse("m.yaml", []byte(matrixYAML))
	if err != nil {
		t.Fatal(err)
	}
	p, err := matrix.NewPlan(m, matrix.Options{Only: only})
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(Config{
		Matrix: m, Plan: p, OutDir: t.TempDir(), Parallel: 2,
		Provisioner: stubProvisioner{stubServer{alive: func() error { return nil }}},
		Installer:   inst,
	})
	r.build = func(ctx context.Context, i int, tpl matrix.Template) *template {
		return &template{db: "tpl", res: migrate.Result{State: migrate.State{SchemaVersion: 40, Engine: oracle.Engine{State: "canonical", CurrentEngine: "canonical"}}}}
	}
	r.exec = func(_ context.Context, _ int, c matrix.Cell, _ scenario.Env, _ *template, _ *results.Cell) scenario.Outcome {
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	return r, p
}

func byID(res *results.Results) map[string]results.Cell {
	out := map[string]results.Cell{}
	for _, c := range res.Cells {
		out[c.ID] = c
	}
	return out
}

func TestParallelismIsBoundedAndReached(t *testing.T) {
	r, p := newStubRun(t, nil, nil)
	r.cfg.Parallel = 3
	var mu sync.Mutex
	active, peak := 0, 0
	full := make(chan struct{})
	r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
		mu.Lock()
		active++
		peak = max(peak, active)
		if active == 3 {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		// Hold the first cells until three run at once (the bound must be reachable), then a
		// little longer: a runner that let a fourth start would show it now. A correct runner
		// passes however slow the machine is; only a broken one depends on the margin.
		select {
		case <-full:
			time.Sleep(200 * time.Millisecond)
		case <-time.After(10 * time.Second):
		}
		mu.Lock()
		active--
		mu.Unlock()
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if peak != 3 {
		t.Errorf("peak concurrency %d, want exactly --parallel 3", peak)
	}
	if len(res.Cells) != len(p.Cells) || res.Summary.OK != len(p.Cells) {
		t.Errorf("%d cells, %d OK; the plan has %d", len(res.Cells), res.Summary.OK, len(p.Cells))
	}
}

func TestInfrastructureErrorsAreRetriedOnce(t *testing.T) {
	r, _ := newStubRun(t, []string{"schema_path=fresh"}, map[string]bool{"0.6.2": true})
	var mu sync.Mutex
	calls := map[string]int{}
	r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
		mu.Lock()
		calls[c.ID]++
		n := calls[c.ID]
		mu.Unlock()
		switch {
		case strings.Contains(c.ID, "producer=a1") && n == 1:
			return scenario.Outcome{Verdict: matrix.Error, Detail: "connection reset"}
		case strings.Contains(c.ID, "producer=a3"):
			return scenario.Outcome{Verdict: matrix.Error, Detail: "still broken"}
		}
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cells := byID(res)
	for id, c := range cells {
		switch {
		case strings.Contains(id, "producer=a1"):
			if c.Actual != "pass" || c.Attempts != 2 || calls[id] != 2 {
				t.Errorf("%s: %s after %d attempts (%d calls), want pass on the retry", id, c.Actual, c.Attempts, calls[id])
			}
		case strings.Contains(id, "producer=a3"):
			if c.Actual != "error" || c.OK || c.Attempts != 2 || calls[id] != 2 {
				t.Errorf("%s: %s after %d attempts, want error after exactly one retry", id, c.Actual, c.Attempts)
			}
		case strings.Contains(id, "producer=a2"):
			if c.Actual != "error" || c.Attempts != 1 || calls[id] != 0 || !strings.Contains(c.Detail, "did not install") || !strings.Contains(c.Detail, "pip install awa-pg==0.6.2") {
				t.Errorf("%s: %s, attempts %d, calls %d, detail %q; want an unretried install error", id, c.Actual, c.Attempts, calls[id], c.Detail)
			}
		}
	}
}

func TestInterruptRecordsEveryCell(t *testing.T) {
	r, p := newStubRun(t, nil, nil)
	r.cfg.Parallel = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := true
	r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
		if first {
			first = false
			return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
		}
		// The second cell is under way when Ctrl-C comes; its scenario sees a cancelled context.
		cancel()
		<-ctx.Done()
		return scenario.Outcome{Verdict: matrix.Error, Detail: "context canceled"}
	}
	res, err := r.run(ctx)
	if !errors.Is(err, context.Canceled) || !res.Interrupted {
		t.Fatalf("err %v, interrupted %v; want context.Canceled and an interrupted record", err, res.Interrupted)
	}
	if len(res.Cells) != len(p.Cells) {
		t.Fatalf("%d cells recorded, the plan has %d: none may be silently absent", len(res.Cells), len(p.Cells))
	}
	var passed, cutOff, notRun int
	for _, c := range res.Cells {
		switch {
		case c.Actual == "pass":
			passed++
		case c.Actual == "skipped" && strings.HasPrefix(c.Detail, "interrupted while it ran"):
			cutOff++
		case c.Actual == "skipped" && c.Detail == "not run: interrupted":
			notRun++
		default:
			t.Errorf("%s: %s (%s)", c.ID, c.Actual, c.Detail)
		}
		if c.Actual == "skipped" && c.OK {
			t.Errorf("%s: skipped counted as OK", c.ID)
		}
	}
	if passed != 1 || cutOff != 1 || notRun != len(p.Cells)-2 {
		t.Errorf("passed %d, cut off %d, not run %d; want 1, 1 and the rest", passed, cutOff, notRun)
	}
}

func TestTemplateFailureFailsOnlyItsCells(t *testing.T) {
	r, p := newStubRun(t, nil, nil)
	r.build = func(ctx context.Context, i int, tpl matrix.Template) *template {
		if tpl.SchemaPath.From != "" {
			return &template{err: &migrate.RefusedError{Cmd: "awa migrate", Message: "storage transition not finalized (state: canonical)"}}
		}
		return &template{db: "tpl", res: migrate.Result{State: migrate.State{SchemaVersion: 40}}}
	}
	ran := map[string]bool{}
	var mu sync.Mutex
	r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
		mu.Lock()
		ran[c.ID] = true
		mu.Unlock()
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatalf("a refused template is the path's answer, not a failed run: %v", err)
	}
	for _, c := range res.Cells {
		upgraded := c.SchemaPath != "fresh"
		switch {
		case upgraded && (c.Actual != "refused" || ran[c.ID] || c.Error == nil || !strings.Contains(c.Error.Message, "not finalized")):
			t.Errorf("%s: %s (ran: %v), want refused with awa's message and no scenario run", c.ID, c.Actual, ran[c.ID])
		case !upgraded && (c.Actual != "pass" || !ran[c.ID]):
			t.Errorf("%s: %s (ran: %v), want the other template's cells run", c.ID, c.Actual, ran[c.ID])
		}
	}
	outcomes := map[string]string{}
	for _, tpl := range res.Templates {
		outcomes[tpl.Name] = tpl.Outcome
	}
	if fmt.Sprint(outcomes) != "map[fresh.canonical:built fresh.queue_storage:built upgraded-from-a1.canonical:refused upgraded-from-a1.queue_storage:refused]" {
		t.Errorf("template outcomes %v", outcomes)
	}
	if len(res.Cells) != len(p.Cells) {
		t.Errorf("%d cells, plan has %d", len(res.Cells), len(p.Cells))
	}
}

func TestDeadServerStopsTheRun(t *testing.T) {
	r, p := newStubRun(t, nil, nil)
	r.cfg.Parallel = 1
	var mu sync.Mutex
	done := 0
	r.cfg.Provisioner = stubProvisioner{stubServer{alive: func() error {
		mu.Lock()
		defer mu.Unlock()
		if done >= 2 {
			return errors.New("postgres (pid 42) exited during the run")
		}
		return nil
	}}}
	r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
		mu.Lock()
		done++
		mu.Unlock()
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	res, err := r.run(context.Background())
	var infra *InfraError
	if !errors.As(err, &infra) || !strings.Contains(res.Error, "exited during the run") {
		t.Fatalf("err %v, results error %q; want an infrastructure error naming the server", err, res.Error)
	}
	if res.Summary.OK != 2 || res.Summary.Skipped != len(p.Cells)-2 {
		t.Errorf("%d OK, %d not run; want 2 and the rest", res.Summary.OK, res.Summary.Skipped)
	}
}

func TestArtifactsRecordedInPlanOrder(t *testing.T) {
	r, p := newStubRun(t, nil, nil)
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, a := range res.Artifacts {
		got = append(got, a.Name)
	}
	for _, a := range p.Artifacts {
		want = append(want, a.Name)
	}
	for _, rs := range ReleaseSpecs(p) {
		want = append(want, rs.Record) // a1 finalizes queue storage itself: its CLI
	}
	// Installs finish in the reverse order (see stubInstaller); the record must not care.
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("artifacts recorded as %v, want plan order %v", got, want)
	}
}

func TestUnexpectedPass(t *testing.T) {
	for _, allow := range []bool{false, true} {
		r, _ := newStubRun(t, []string{"id=canonical.fresh.lifecycle.producer=a3.worker=a3"}, nil)
		r.cfg.AllowUnexpectedPass = allow
		r.cfg.Plan.Cells[0].Expect = matrix.Expectation{Verdict: matrix.Inert, Rule: 1, Because: "x"}
		res, err := r.run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		c := res.Cells[0]
		if c.Unexpected != "pass" || c.OK != allow {
			t.Errorf("allow=%v: unexpected %q ok %v; want an unexpected pass, OK only when allowed", allow, c.Unexpected, c.OK)
		}
	}
}

// A cell whose bound artifact never ran (a scenario that judged without it) is an error, not
// a verdict about that artifact.
func TestHollowCellIsAnError(t *testing.T) {
	r, _ := newStubRun(t, []string{"id=canonical.fresh.lifecycle.producer=a1.worker=a3"}, nil)
	r.exec = func(_ context.Context, _ int, c matrix.Cell, _ scenario.Env, _ *template, _ *results.Cell) scenario.Outcome {
		return scenario.Outcome{Verdict: matrix.Pass, Ran: []string{"producer"}}
	}
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cells[0]
	if c.Actual != "error" || !strings.Contains(c.Detail, "hollow cell: it names a3 (python 0.6.3) as worker, but that artifact never ran") {
		t.Errorf("%s: %s", c.Actual, c.Detail)
	}
}

// The cells start longest scenario first, in plan order among cells of equal length.
func TestLongestFirst(t *testing.T) {
	cells := []matrix.Cell{{Scenario: "cancel"}, {Scenario: "crash_rescue"}, {Scenario: "lifecycle"}, {Scenario: "rolling_upgrade"}, {Scenario: "unique_dedupe"}}
	got := longestFirst(cells)
	var names []string
	for _, i := range got {
		names = append(names, cells[i].Scenario)
	}
	want := []string{"rolling_upgrade", "crash_rescue", "lifecycle", "cancel", "unique_dedupe"}
	if !slices.Equal(names, want) {
		t.Fatalf("order %v, want %v", names, want)
	}
}

// fixedIdle is a CPU meter that always reads the same idle fraction.
type fixedIdle float64

func (f fixedIdle) Idle() (float64, error) { return float64(f), nil }

// Under --parallel auto, cells beyond one per CPU start only while the CPUs are idle enough:
// a busy machine keeps one cell per CPU, an idle one runs up to AdaptiveCap per CPU.
func TestAdaptiveParallelismFollowsIdleCPU(t *testing.T) {
	for _, tc := range []struct {
		idle fixedIdle
		want int
	}{{0.05, runtime.NumCPU()}, {0.9, AdaptiveCap * runtime.NumCPU()}} {
		r, p := newStubRun(t, nil, nil)
		r.cfg.Parallel, r.idle = AutoParallel, tc.idle
		if len(p.Cells) < tc.want {
			t.Fatalf("the stub plan has %d cells, fewer than the %d this test needs", len(p.Cells), tc.want)
		}
		var mu sync.Mutex
		active, peak, started := 0, 0, 0
		r.exec = func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
			mu.Lock()
			active++
			started++
			peak = max(peak, active)
			mu.Unlock()
			// Hold every cell until the run has started as many as it may (or two seconds
			// have passed: a runner that starts fewer shows it as a lower peak).
			_ = poll.Until(ctx, 2*time.Second, 10*time.Millisecond, nil, func() (bool, error) {
				mu.Lock()
				defer mu.Unlock()
				return started >= tc.want+1, nil
			})
			mu.Lock()
			active--
			mu.Unlock()
			return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
		}
		if _, err := r.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if peak != tc.want {
			t.Errorf("CPUs %.0f%% idle: peak concurrency %d, want %d", float64(tc.idle)*100, peak, tc.want)
		}
	}
}

// gatedInstaller holds every Rust build until release closes, counting how many run at once;
// other kinds install at once. The ten seconds are not evidence, only a bound: with the old
// order (templates after every install) release never closes, and the test fails instead of
// hanging.
type gatedInstaller struct {
	release          chan struct{}
	mu               sync.Mutex
	running, maxRust int
	built            int
	heldTooLong      bool
	order            []string // the Rust builds' versions, as they started
}

func (g *gatedInstaller) Install(ctx context.Context, spec pinned.Spec) (*pinned.Installed, error) {
	if spec.Kind == pinned.Rust {
		g.mu.Lock()
		g.running++
		g.maxRust = max(g.maxRust, g.running)
		g.order = append(g.order, spec.Version.String())
		g.mu.Unlock()
		select {
		case <-g.release:
		case <-time.After(10 * time.Second):
			g.mu.Lock()
			g.heldTooLong = true
			g.mu.Unlock()
		}
		g.mu.Lock()
		g.running--
		g.built++
		g.mu.Unlock()
	}
	return &pinned.Installed{Spec: spec, Probe: []string{"probe"}, AwaBin: "awa", Origin: "stub:" + spec.Version.String()}, nil
}

func TestRustBuildsOverlapTheTemplates(t *testing.T) {
	g := &gatedInstaller{release: make(chan struct{})}
	r, p := newRunOf(t, `version: 1
target: {awa: "0.6.9"}
artifacts:
  a1: {kind: python, version: "0.6.1"}
  r2: {kind: rust, version: "0.6.2"}
  r3: {kind: rust, version: "0.6.3"}
schema_paths: [fresh, "upgraded-from a1"]
scenarios: [lifecycle]
cross: {producer: [a1], worker: [r2, r3]}
`, nil, g)
	build := r.build
	var once sync.Once
	r.build = func(ctx context.Context, i int, tpl matrix.Template) *template {
		// The templates need only a1 and the target: they are built while the Rust builds run.
		once.Do(func() { close(g.release) })
		return build(ctx, i, tpl)
	}
	var early bool
	r.exec = func(_ context.Context, _ int, c matrix.Cell, _ scenario.Env, _ *template, _ *results.Cell) scenario.Outcome {
		g.mu.Lock()
		early = early || g.built < 2
		g.mu.Unlock()
		return scenario.Outcome{Verdict: matrix.Pass, Ran: c.RoleNames()}
	}
	res, err := r.run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if g.heldTooLong {
		t.Error("a Rust build waited for the templates, which did not start until the Rust builds were done")
	}
	if g.maxRust != 1 {
		t.Errorf("%d Rust builds ran at once; they share a cargo target directory, want one at a time", g.maxRust)
	}
	if got := strings.Join(g.order, ","); got != "0.6.2,0.6.3" {
		t.Errorf("Rust builds started in the order %s, want the plan's (0.6.2,0.6.3)", got)
	}
	if early {
		t.Error("a cell started before every install was done")
	}
	if want := len(p.Artifacts) + len(ReleaseSpecs(p)); res.Summary.OK != len(p.Cells) || len(res.Artifacts) != want {
		t.Errorf("%d of %d cells as expected, %d artifacts recorded; want all and %d", res.Summary.OK, len(p.Cells), len(res.Artifacts), want)
	}
}
