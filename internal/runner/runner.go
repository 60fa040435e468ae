// Package runner executes a matrix.Plan: it provisions PostgreSQL, installs the artifacts,
// builds one migrated template database per (schema path, engine), runs every cell in its own
// clone with bounded parallelism, and records everything in results.json, which is written
// whatever happens (cell failures, infrastructure failures, Ctrl-C).
package runner

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/cpuidle"
	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/poll"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/scenario"
	"github.com/awacompat/awacompat/internal/suite"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/pinned"
	"github.com/awacompat/awacompat/probes"
)

// Installer installs artifacts; *pinned.Cache is the real one.
type Installer interface {
	Install(ctx context.Context, s pinned.Spec) (*pinned.Installed, error)
}

// Config is one run.
type Config struct {
	Matrix *matrix.Matrix
	Plan   *matrix.Plan
	// OutDir receives results.json and one log folder per cell.
	OutDir string
	// Parallel is how many cells run at once, exactly; zero means one per CPU. AutoParallel
	// admits cells by the CPU they leave free (see admit): at least one per CPU, at most
	// AdaptiveCap per CPU.
	Parallel int
	// KeepFailed keeps the database of every cell that did not match its expectation.
	KeepFailed bool
	// AllowUnexpectedPass counts a cell that passed where another verdict was expected as OK
	// (it is still reported as an unexpected pass). Default false: the gate fails on it, since
	// it means matrix.yaml no longer says what awa does.
	AllowUnexpectedPass bool
	// Provisioner yields the server (default: Postgres{URL: matrix postgres.url}).
	Provisioner Provisioner
	// Installer installs artifacts.
	Installer Installer
	// Suites builds the matrix's suite artifacts (kind: suite); *suite.Cache is the real one.
	Suites SuiteBuilder
	// Log receives progress logs (stderr in the CLI).
	Log *slog.Logger
	// OnCell is called once per finished cell (progress display).
	OnCell func(results.Cell)
	// Repro returns the command that reruns one cell.
	Repro func(cellID string) string
	// Tool is awacompat's own version string.
	Tool string
	// TemplateCache is the folder that keeps built templates across runs ("" builds every
	// template every run).
	TemplateCache string
	// Containers runs artifacts of kind container (nil: the matrix has none, or no engine
	// answered, which then fails their cells with the reason in ContainersErr).
	Containers    ContainerArtifacts
	ContainersErr error
	// ProbesDir holds the probe sources (a Python image runs probes/python from it).
	ProbesDir string
}

// ContainerArtifacts runs images that hold awa; internal/container implements it.
type ContainerArtifacts interface {
	// Version reads the awa release an image holds (client "python" or "cli").
	Version(ctx context.Context, image, client string) (string, error)
	// ProbeArgv runs the Python probe in image for a cell (the spec path is appended).
	ProbeArgv(image, probesDir, cellDir, cell string) []string
	// CLIArgv runs the image's awa for a cell (awa's arguments are appended).
	CLIArgv(image, cell string) []string
	// RemoveCell removes whatever containers the cell left (killed probes).
	RemoveCell(ctx context.Context, cell string) error
}

// InfraError is a failure of the harness or its infrastructure (server, target install,
// templates): the run cannot say anything about awa.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

func (c *Config) defaults() {
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Provisioner == nil {
		c.Provisioner = Postgres{URL: c.Matrix.Postgres.URL, Log: c.Log}
	}
	if c.Repro == nil {
		c.Repro = func(id string) string { return "awacompat run " + c.Matrix.File + " --only id=" + id }
	}
	if c.OutDir == "" {
		c.OutDir = "awacompat-out"
	}
}

type run struct {
	cfg Config
	res *results.Results
	// idle meters the CPUs for admit (nil where it cannot: cells then start one per CPU).
	idle interface{ Idle() (float64, error) }
	// servers by PostgreSQL major (0: the run's one server).
	servers   map[int]*server
	installed map[string]*pinned.Installed // by artifact name
	suites    map[string]*suite.Built      // built suite artifacts, by name
	failed    map[string]error             // install failures by artifact name
	records   map[string]results.Artifact  // finished installs by name, as results.json records them
	// forks are the Python artifacts' probe fork servers, by name, started at first use.
	forks     map[string]*forkServer
	templates map[string]*template // by template name
	// releases are what template steps run, by matrix.BuildStep.By: the target (its CLI,
	// and its probe when a staged transition needs its workers) and each upgraded-from
	// artifact (its probe, and its CLI when it finalizes queue storage itself).
	releases   map[string]migrate.Release
	releaseErr map[string]error
	mu         sync.Mutex
	// alone is held for reading by every cell and for writing by a suite cell: a suite runs
	// with nothing beside it (see exclusive).
	alone sync.RWMutex

	// The two steps that need a real database and awa, as seams: the runner's unit tests
	// replace them to exercise scheduling, retries, interrupts and bookkeeping.
	build func(ctx context.Context, i int, t matrix.Template) *template
	exec  func(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome
}

// template is one template database as built (or not).
type template struct {
	// def is the plan's template: its steps, and those left to its cells (Pending).
	def matrix.Template
	db  string
	res migrate.Result
	// restored is true when it came from the template cache rather than its steps.
	restored bool
	// err is why it could not be built; a *migrate.RefusedError when awa refused the
	// target's migrate (the schema path's answer, given to each of its cells).
	err error
}

// Run executes the plan. results.json is always written to cfg.OutDir. The error is non-nil
// only for infrastructure failures (an *InfraError) or interruption (ctx's error).
func Run(ctx context.Context, cfg Config) (*results.Results, error) {
	return newRun(cfg).run(ctx)
}

func newRun(cfg Config) *run {
	cfg.defaults()
	r := &run{
		cfg: cfg,
		res: &results.Results{
			Schema: results.SchemaVersion, Tool: cfg.Tool, Matrix: cfg.Matrix.File,
			StartedAt: time.Now().UTC(), Shards: []string{cfg.Plan.Shard},
			Target: results.Target{Awa: cfg.Plan.Target.Awa.String(), ExpectedSchemaVersion: cfg.Plan.Target.SchemaVersion},
		},
		servers:    map[int]*server{},
		installed:  map[string]*pinned.Installed{},
		suites:     map[string]*suite.Built{},
		failed:     map[string]error{},
		records:    map[string]results.Artifact{},
		forks:      map[string]*forkServer{},
		templates:  map[string]*template{},
		releases:   map[string]migrate.Release{},
		releaseErr: map[string]error{},
	}
	r.build, r.exec = r.buildTemplate, r.execute
	if m, err := cpuidle.New(); err == nil {
		r.idle = m
	}
	return r
}

func (r *run) run(ctx context.Context) (res *results.Results, err error) {
	cfg := r.cfg
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return r.res, &InfraError{fmt.Errorf("create output folder: %w", err)}
	}
	cleanup := context.WithoutCancel(ctx)
	defer func() {
		// Every cell the run did not reach is recorded as skipped, never silently absent.
		r.fillSkipped(ctx)
		r.res.FinishedAt = time.Now().UTC()
		r.res.Interrupted = ctx.Err() != nil
		if err != nil {
			r.res.Error = redact.Printable(err.Error())
		}
		r.res.SortCells()
		r.res.Summarize()
		if werr := results.Write(cfg.OutDir, r.res); werr != nil && err == nil {
			err = &InfraError{werr}
		}
		res = r.res
	}()

	phase := time.Now()
	defer func() {
		for _, major := range r.cfg.Plan.Majors {
			sv := r.servers[major]
			if sv == nil {
				continue
			}
			if derr := sv.dbs.dropAll(cleanup); derr != nil {
				cfg.Log.Warn("cleanup: dropping databases", "err", derr)
			}
			if cerr := sv.srv.Close(cleanup); cerr != nil {
				cfg.Log.Warn("cleanup: stopping postgres", "err", cerr)
			}
			r.res.ServerCPUMS += serverCPU(sv.srv).Milliseconds()
		}
	}()
	defer r.closeForks()
	perr := r.provision(ctx)
	r.res.Phases.Server = time.Since(phase).Milliseconds()
	if perr != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &InfraError{perr}
	}

	rest, err := r.installAll(ctx)
	if err != nil {
		return nil, err
	}
	phase = time.Now()
	err = r.buildTemplates(ctx)
	r.res.Phases.Templates = time.Since(phase).Milliseconds()
	if rerr := rest(err != nil); err == nil {
		err = rerr
	}
	if err != nil {
		return nil, err
	}
	phase = time.Now()
	r.runCells(ctx)
	r.res.Phases.Cells = time.Since(phase).Milliseconds()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, major := range r.cfg.Plan.Majors {
		if err := r.server(major).srv.Alive(ctx); err != nil {
			return nil, &InfraError{err}
		}
	}
	return nil, nil
}

// installAll installs the target CLI (a failure is fatal: nothing can run), every artifact
// the plan's cells need and what the templates' steps need of other releases (a failure marks
// the cells or templates that need it). The Rust probe builds are the slowest installs (minutes
// from cold) and share one cargo target directory, so two at once only wait on each other:
// they run one at a time in a lane of their own, started first, while everything else installs
// two at a time beside them. installAll returns once what the templates need is installed;
// rest waits for the other installs (the Rust builds no template step runs), so the templates
// are built while those finish. abandon stops them first (the run is ending on an error).
func (r *run) installAll(ctx context.Context) (rest func(abandon bool) error, err error) {
	start := time.Now()
	jobs := r.installJobs()
	recs := make([]results.Artifact, len(jobs))
	var slow, quick []int
	for i, j := range jobs {
		if j.spec.Kind == pinned.Rust {
			slow = append(slow, i)
		} else {
			quick = append(quick, i)
		}
	}
	slowCtx, stopSlow := context.WithCancel(ctx)
	slowDone := r.installLane(slowCtx, jobs, slow, 1, recs)
	rest = func(abandon bool) error {
		if abandon {
			stopSlow()
		}
		<-slowDone
		stopSlow()
		// In plan order, not completion order: a run's record is deterministic.
		r.res.Artifacts = append(r.res.Artifacts, recs...)
		r.res.Phases.Installs = time.Since(start).Milliseconds()
		return ctx.Err()
	}

	t := r.cfg.Plan.Target
	tgt, err := r.cfg.Installer.Install(ctx, TargetCLISpec(r.cfg.Plan))
	if err != nil {
		stopSlow() // nothing can run: the Rust builds stop unrecorded
		<-slowDone
		r.res.Phases.Installs = time.Since(start).Milliseconds()
		return nil, &InfraError{fmt.Errorf("install the target's awa CLI %s: %w", t.Awa, err)}
	}
	r.cfg.Log.Info("target ready", "awa", t.Awa, "origin", tgt.Origin, "reused", tgt.Reused, "took", time.Since(start).Round(time.Millisecond))
	r.mu.Lock()
	r.res.Target.Origin, r.res.Target.Checksum = tgt.Origin, tgt.Checksum
	r.releases[matrix.TargetRelease] = migrate.Release{Name: matrix.TargetRelease, Version: t.Awa, CLI: r.cli(tgt.AwaBin, t.Awa)}
	r.mu.Unlock()

	<-r.installLane(ctx, jobs, quick, 2, recs)
	if r.templatesNeedSlow(jobs, slow) {
		<-slowDone
	}
	if ctx.Err() != nil {
		_ = rest(true)
		return nil, ctx.Err()
	}
	// An upgraded-from artifact's own probe runs its templates' old-release steps (and the
	// workers of its staged transition).
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range r.cfg.Plan.Templates {
		if from := t.SchemaPath.From; from != "" {
			rel := r.releases[from]
			rel.Name, rel.Version = from, r.cfg.Matrix.Artifacts[from].Version
			if in, ok := r.installed[from]; ok {
				rel.Probe = in.Probe
			}
			r.releases[from] = rel
		}
	}
	return rest, nil
}

// installJobs lists what installAll installs besides the target CLI, in plan order: the
// plan's artifacts (suites built, images checked), then what the templates' steps need of
// other releases.
func (r *run) installJobs() []job {
	var jobs []job
	for _, a := range r.cfg.Plan.Artifacts {
		if a.Kind == matrix.KindSuite {
			jobs = append(jobs, r.suiteJob(a))
			continue
		}
		var install func(context.Context) (*pinned.Installed, error)
		if a.Kind == string(containerKind) {
			install = func(ctx context.Context) (*pinned.Installed, error) { return r.checkImage(ctx, a.Name) }
		}
		jobs = append(jobs, job{name: a.Name, spec: SpecOf(a), install: install, done: func(in *pinned.Installed, err error) {
			if err != nil {
				r.failed[a.Name] = err
			} else {
				r.installed[a.Name] = in
			}
		}})
	}
	for _, rs := range ReleaseSpecs(r.cfg.Plan) {
		jobs = append(jobs, job{name: rs.Record, spec: rs.Spec, done: func(in *pinned.Installed, err error) {
			if err != nil {
				r.releaseErr[rs.Release] = fmt.Errorf("%s: %w", rs.Record, err)
				return
			}
			rel := r.releases[rs.Release]
			if rs.Spec.Kind == pinned.CLI {
				rel.CLI = r.cli(in.AwaBin, rs.Spec.Version)
			} else {
				rel.Probe = in.Probe
			}
			r.releases[rs.Release] = rel
		}})
	}
	return jobs
}

// templatesNeedSlow is true when a template step runs an artifact of the slow lane (a Rust
// probe as an upgraded-from release): then the templates wait for every install.
func (r *run) templatesNeedSlow(jobs []job, slow []int) bool {
	for _, i := range slow {
		for _, t := range r.cfg.Plan.Templates {
			for _, s := range t.Steps {
				if s.By == jobs[i].name {
					return true
				}
			}
		}
	}
	return false
}

// installLane installs jobs[idx] in that order, width at a time, recording each in recs[i]
// and, as it finishes, in r.records (templateKey reads it). The channel closes when all are
// done.
func (r *run) installLane(ctx context.Context, jobs []job, idx []int, width int, recs []results.Artifact) <-chan struct{} {
	next := make(chan int, len(idx))
	for _, i := range idx {
		next <- i
	}
	close(next)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r.installOne(ctx, i, jobs[i], recs)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(done)
	}()
	return done
}

// installOne installs job j (jobs[i]) and records it.
func (r *run) installOne(ctx context.Context, i int, j job, recs []results.Artifact) {
	start := time.Now()
	var in *pinned.Installed
	var err error
	if j.install != nil {
		in, err = j.install(ctx)
	} else {
		in, err = r.cfg.Installer.Install(ctx, j.spec)
	}
	rec := results.Artifact{Name: j.name, Kind: string(j.spec.Kind), Version: j.spec.Version.String(), InstallMS: time.Since(start).Milliseconds()}
	if err != nil {
		rec.Error = redact.Printable(err.Error())
		r.cfg.Log.Error("install failed", "artifact", j.name, "err", err)
	} else {
		rec.Origin, rec.Checksum, rec.Reused = in.Origin, in.Checksum, in.Reused
		r.cfg.Log.Info("artifact ready", "artifact", j.name, "origin", in.Origin, "reused", in.Reused, "took", time.Since(start).Round(time.Millisecond))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	j.done(in, err)
	recs[i] = rec
	r.records[j.name] = rec
}

func (r *run) cli(bin string, v version.Version) migrate.CLI {
	return migrate.CLI{Bin: bin, Version: v.String(), LogPath: filepath.Join(r.cfg.OutDir, "templates.log")}
}

// TargetCLISpec is the target's awa CLI, the migrator that defines the newest schema.
func TargetCLISpec(p *matrix.Plan) pinned.Spec {
	return pinned.Spec{Kind: pinned.CLI, Version: p.Target.Awa, Source: p.Target.Source}
}

// ReleaseSpec is something a template step needs installed of a release.
type ReleaseSpec struct {
	// Release is the matrix.BuildStep.By it serves; Record names it in results.json.
	Release, Record string
	Spec            pinned.Spec
}

// ReleaseSpecs are what the plan's template steps need besides the target CLI and the
// matrix's artifacts: the target's python artifact when the target runs a staged transition
// (its workers), and the awa CLI of an upgraded-from release that finalizes queue storage
// with its own commands. A release built from a checkout gets them from the same checkout.
func ReleaseSpecs(p *matrix.Plan) []ReleaseSpec {
	var out []ReleaseSpec
	seen := map[string]bool{}
	for _, t := range p.Templates {
		for _, s := range t.Steps {
			if s.Op != matrix.OpStagedTransition || seen[s.By] {
				continue
			}
			seen[s.By] = true
			if s.By == matrix.TargetRelease {
				out = append(out, ReleaseSpec{Release: s.By, Record: "target-python", Spec: pinned.Spec{Kind: pinned.Python, Version: p.Target.Awa, Source: checkoutOnly(p.Target.Source)}})
				continue
			}
			a, _ := p.Artifact(s.By)
			out = append(out, ReleaseSpec{Release: s.By, Record: s.By + "-cli", Spec: pinned.Spec{Kind: pinned.CLI, Version: a.Version, Source: checkoutOnly(a.Source)}})
		}
	}
	return out
}

// checkoutOnly keeps a source that is a local checkout (a directory); a prebuilt file is of
// one kind only, so the release's other kinds come from the registry.
func checkoutOnly(src string) string {
	if st, err := os.Stat(src); err == nil && st.IsDir() {
		return src
	}
	return ""
}

// containerKind is matrix kind container: an image, checked rather than installed.
const containerKind pinned.Kind = "container"

// checkImage reads the awa release a container artifact's image holds and holds it to the
// matrix's version, like an installed artifact's.
func (r *run) checkImage(ctx context.Context, name string) (*pinned.Installed, error) {
	a := r.cfg.Matrix.Artifacts[name]
	if r.cfg.Containers == nil {
		why := "no container engine"
		if r.cfg.ContainersErr != nil {
			why = r.cfg.ContainersErr.Error()
		}
		return nil, fmt.Errorf("image %s: %s", a.Image, why)
	}
	got, err := r.cfg.Containers.Version(ctx, a.Image, a.Client)
	if err != nil {
		return nil, err
	}
	what := "awa-pg"
	if a.Client == "cli" {
		what = "the awa CLI"
	}
	v, err := version.Parse(got)
	if err != nil {
		return nil, fmt.Errorf("image %s: %s reports version %q: %v", a.Image, what, got, err)
	}
	if version.Compare(v, a.Version) != 0 {
		return nil, fmt.Errorf("image %s holds %s %s, but the matrix says %s is %s", a.Image, what, v, name, a.Version)
	}
	return &pinned.Installed{Origin: "image " + a.Image}, nil
}

// SpecOf is what to install for a matrix artifact.
func SpecOf(a matrix.Artifact) pinned.Spec {
	return pinned.Spec{Kind: pinned.Kind(a.Kind), Version: a.Version, Source: a.Source, Via: a.Via}
}

// AutoParallel (Config.Parallel) admits cells by idle CPU.
const AutoParallel = -1

// AdaptiveCap bounds the cells running at once per CPU under AutoParallel.
const AdaptiveCap = 4

// admitIdle is the CPU a new cell needs to find free, once every CPU has a cell: a cell spends
// most of its time waiting on awa, so more run at once while the CPUs have room, and none
// starts while they are busy (a loaded machine makes awa's timing, not awa, the verdict).
const admitIdle = 0.35

// admitEvery is admit's window: it bounds how fast cells beyond one per CPU start (ten a
// second), so that a new cell's start-up shows in the next reading before the one after.
const admitEvery = 100 * time.Millisecond

// runCells runs the cells, longest first (matrix.Scenario.Typical: the run's end is never
// held by a long cell started last), as many at once as Config.Parallel says or, under
// AutoParallel, admit allows.
func (r *run) runCells(ctx context.Context) {
	limit := r.cfg.Parallel
	switch {
	case limit > 0:
	case limit == AutoParallel && r.idle != nil:
		limit = AdaptiveCap * runtime.NumCPU()
	default:
		limit = runtime.NumCPU()
	}
	// sem holds a slot for every cell running, and one for the cell being admitted.
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, i := range longestFirst(r.cfg.Plan.Cells) {
		c := r.cfg.Plan.Cells[i]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() == nil {
			r.admit(ctx, func() int { return len(sem) - 1 })
		}
		if ctx.Err() != nil {
			break
		}
		// A dead server fails every cell after it: stop here (the rest are recorded as not
		// run, and Run reports the server).
		if err := r.server(c.Postgres).srv.Alive(ctx); err != nil {
			<-sem
			r.cfg.Log.Error("postgres is gone; no further cell starts", "err", err)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer r.exclusive(c)()
			rec := r.runCellWithRetry(ctx, i, c)
			r.mu.Lock()
			r.res.Cells = append(r.res.Cells, rec)
			r.mu.Unlock()
			if r.cfg.OnCell != nil {
				r.cfg.OnCell(rec)
			}
		}()
	}
	wg.Wait()
}

// admit waits, when cells are admitted by CPU (AutoParallel), until fewer cells than CPUs
// run, or the CPUs were at least admitIdle idle over the last admitEvery.
func (r *run) admit(ctx context.Context, running func() int) {
	if r.cfg.Parallel != AutoParallel || r.idle == nil {
		return
	}
	first := true
	_ = poll.Until(ctx, time.Hour, admitEvery, nil, func() (bool, error) {
		if running() < runtime.NumCPU() {
			return true, nil
		}
		idle, err := r.idle.Idle()
		if first { // the window starts now
			first = false
			return false, nil
		}
		return err != nil || idle >= admitIdle, nil
	})
}

// longestFirst is the order to start the cells in: by their scenario's typical time, longest
// first, in plan order among equals.
func longestFirst(cells []matrix.Cell) []int {
	order := make([]int, len(cells))
	typical := make([]time.Duration, len(cells))
	for i, c := range cells {
		order[i] = i
		s, _ := matrix.LookupScenario(c.Scenario)
		typical[i] = s.Typical
	}
	sort.SliceStable(order, func(a, b int) bool { return typical[order[a]] > typical[order[b]] })
	return order
}

// runCellWithRetry retries a cell once when its infrastructure failed; an error is never
// counted as a pass.
func (r *run) runCellWithRetry(ctx context.Context, i int, c matrix.Cell) results.Cell {
	rec := r.runCell(ctx, i, c, 1)
	if rec.Actual == string(matrix.Error) && ctx.Err() == nil && r.retryable(c) {
		r.cfg.Log.Warn("cell errored, retrying once", "cell", c.ID, "detail", rec.Detail)
		rec = r.runCell(ctx, i, c, 2)
	}
	return rec
}

// retryable is false when the error is an install failure or a template that was not built:
// retrying the cell cannot help.
func (r *run) retryable(c matrix.Cell) bool {
	for _, a := range c.Roles {
		if _, bad := r.failed[a.Name]; bad {
			return false
		}
	}
	tpl, ok := r.templates[c.TemplateName()]
	return ok && tpl.err == nil
}

func (r *run) runCell(ctx context.Context, i int, c matrix.Cell, attempt int) results.Cell {
	start := time.Now()
	logDir := filepath.Join("cells", safeName(c.ID))
	if attempt > 1 {
		logDir += fmt.Sprintf(".attempt%d", attempt)
	}
	rec := CellRecord(c)
	rec.Logs = logDir
	rec.Repro = r.cfg.Repro(c.ID)
	rec.Attempts = attempt
	out := r.outcome(ctx, i, c, filepath.Join(r.cfg.OutDir, logDir), &rec)
	rec.DurationMS = time.Since(start).Milliseconds()
	rec.WaitMS = out.Waited.Milliseconds()
	rec.InertEvidenceMS = out.InertEvidence.Milliseconds()
	rec.Ran = out.Ran
	rec.Actual = string(out.Verdict)
	rec.Detail = redact.Printable(out.Detail)
	for _, f := range out.Findings {
		rec.Findings = append(rec.Findings, redact.Printable(f))
	}
	if out.Error != nil {
		e := *out.Error
		e.Class, e.Message = redact.Printable(e.Class), redact.Printable(e.Message)
		rec.Error = &e
	}
	rec.OK, rec.Unexpected = judge(c.Expect, out)
	if rec.Unexpected == "pass" && r.cfg.AllowUnexpectedPass {
		rec.OK = true
	}
	if !rec.OK {
		rec.StderrTail = redact.Printable(stderrTails(filepath.Join(r.cfg.OutDir, logDir)))
	}
	return rec
}

// judge compares an outcome with its expectation.
func judge(e matrix.Expectation, out scenario.Outcome) (ok bool, unexpected string) {
	if out.Verdict != e.Verdict {
		if out.Verdict == matrix.Pass {
			return false, "pass"
		}
		return false, ""
	}
	if e.Verdict == matrix.Refused && e.Error != "" && (out.Error == nil || !e.MatchesError(out.Error.Class+": "+out.Error.Message)) {
		return false, ""
	}
	return true, ""
}

// CellRecord is a planned cell's entry in results.json before it runs: what the plan knows
// (identity, roles, expectation). `awacompat plan --format json` prints the same fields.
func CellRecord(c matrix.Cell) results.Cell {
	rec := results.Cell{
		ID: c.ID, Postgres: c.Postgres, Engine: string(c.Engine), SchemaPath: c.SchemaPath.Name(), Scenario: c.Scenario,
		Roles:    map[string]results.Role{},
		Expected: string(c.Expect.Verdict), ExpectedError: c.Expect.Error,
		Rule: c.Expect.Rule, Because: c.Expect.Because, Basis: c.Expect.Basis,
	}
	for role, a := range c.Roles {
		rec.Roles[role] = results.Role{Artifact: a.Name, Kind: a.Kind, Version: a.Version.String()}
	}
	return rec
}

// execute clones the template, runs the scenario, checks the engine, and drops the clone.
// outcome is what a cell did: its template's answer when the template was not built, an
// error when one of its artifacts did not install, else what running the scenario showed.
func (r *run) outcome(ctx context.Context, i int, c matrix.Cell, dir string, rec *results.Cell) scenario.Outcome {
	tpl, ok := r.templates[c.TemplateName()]
	if !ok {
		return scenario.Outcome{Verdict: matrix.Error, Detail: "template " + c.TemplateName() + " was not built"}
	}
	if tpl.err != nil {
		return templateOutcome(c, tpl)
	}
	env := scenario.Env{
		CellID: c.ID, Engine: c.Engine.Base(), Dir: dir, Probes: map[string]scenario.Probe{}, Inert: r.cfg.Matrix.Timeouts.Inert,
		Template: scenario.TemplateInfo{Engine: c.Engine, Built: tpl.res.State, Steps: tpl.res.Steps, Def: tpl.def},
	}
	if len(tpl.def.Pending) > 0 {
		env.Releases = r.releases
	}
	if c.SchemaPath.From != "" {
		env.UpgradedFrom = r.cfg.Matrix.Artifacts[c.SchemaPath.From].Version
	}
	for role, a := range c.Roles {
		if err, bad := r.failed[a.Name]; bad {
			return scenario.Outcome{Verdict: matrix.Error, Detail: fmt.Sprintf("artifact %s (%s %s) did not install: %v", a.Name, a.Kind, a.Version, err)}
		}
		if a.Kind == matrix.KindSuite {
			continue
		}
		in := r.installed[a.Name]
		if a.Kind == string(containerKind) {
			env.Probes[role] = r.containerProbe(a, dir, c.ID)
			continue
		}
		env.Probes[role] = scenario.Probe{Argv: in.Probe, Forks: r.forksOf(a, in), AwaBin: in.AwaBin, Kind: a.Kind, Version: a.Version.String()}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return scenario.Outcome{Verdict: matrix.Error, Detail: err.Error()}
	}
	out := r.exec(ctx, i, c, env, tpl, rec)
	if ctx.Err() != nil {
		// Cut off by Ctrl-C or SIGTERM: the cell was interrupted, whatever the scenario made
		// of its cancelled context; it did not time out and proved nothing.
		return scenario.Outcome{Verdict: matrix.Skipped, Detail: "interrupted while it ran (Ctrl-C or SIGTERM): " + out.Detail, Findings: out.Findings}
	}
	return hollow(c, out)
}

// hollow holds a cell to its name: every artifact it binds to a role must have run in that
// role (a probe that said it started, an awa command that executed). A verdict about a role
// that never ran would be a claim about an artifact nothing tested, so it becomes an error.
// An inert verdict is about the worker alone: the roles after it were not reached, and the
// record (Ran) says so, so no report credits them with it.
func hollow(c matrix.Cell, out scenario.Outcome) scenario.Outcome {
	switch out.Verdict {
	case matrix.Error, matrix.Timeout, matrix.Skipped:
		return out
	}
	needed := c.RoleNames()
	if out.Verdict == matrix.Inert {
		needed = []string{"worker"}
	}
	for _, role := range needed {
		if !slices.Contains(out.Ran, role) {
			a := c.Roles[role]
			out.Findings = append(out.Findings, fmt.Sprintf("scenario verdict before the check: %s (%s)", out.Verdict, out.Detail))
			return scenario.Outcome{Verdict: matrix.Error, Findings: out.Findings, Ran: out.Ran, Waited: out.Waited,
				Detail: fmt.Sprintf("hollow cell: it names %s (%s %s) as %s, but that artifact never ran in the cell", a.Name, a.Kind, a.Version, role)}
		}
	}
	return out
}

// execute clones the template, runs the scenario, checks the engine, and drops the clone.
func (r *run) execute(ctx context.Context, i int, c matrix.Cell, env scenario.Env, tpl *template, rec *results.Cell) scenario.Outcome {
	timeout := r.cfg.Matrix.Timeouts.Cell
	if c.Scenario == matrix.SuiteScenario {
		timeout = c.Roles[matrix.SuiteRole].Suite.Timeout + suiteMargin
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sv := r.server(c.Postgres)
	db, err := sv.dbs.create(cctx, fmt.Sprintf("c%d_%d", i+1, time.Now().UnixNano()%1e6), tpl.db)
	if err != nil {
		return scenario.Outcome{Verdict: matrix.Error, Detail: err.Error()}
	}
	env.URL = sv.srv.URL(db)
	var out scenario.Outcome
	if c.Scenario == matrix.SuiteScenario {
		out = r.runSuite(cctx, c, env, rec)
	} else {
		out = scenario.Run(cctx, c.Scenario, env)
	}
	if r.cfg.Containers != nil && usesContainers(c) {
		// A probe killed at a deadline leaves its container: the cell's end removes it.
		if err := r.cfg.Containers.RemoveCell(context.WithoutCancel(ctx), c.ID); err != nil {
			r.cfg.Log.Warn("remove the cell's containers", "cell", c.ID, "err", err)
		}
	}
	if ctx.Err() == nil && (out.Verdict == matrix.Timeout || (cctx.Err() != nil && out.Verdict == matrix.Error)) {
		out.Verdict = matrix.Timeout
		out.Detail = fmt.Sprintf("cell did not finish within its %s deadline: %s", timeout, out.Detail)
	}
	// A suite's harness sets the engine itself (awa-testing's reset_runtime_backend), and its
	// tests may pin another: the engine a suite cell ends in is no finding about awa.
	if out.Verdict != matrix.Error && ctx.Err() == nil && c.Scenario != matrix.SuiteScenario {
		r.checkEngine(context.WithoutCancel(ctx), c, tpl, env.URL, &out)
	}
	cleanup := context.WithoutCancel(ctx)
	ok, _ := judge(c.Expect, out)
	if !ok && r.cfg.KeepFailed {
		if err := sv.dbs.keep(cleanup, db, c.ID); err != nil {
			r.cfg.Log.Warn("keep the failed cell's database", "cell", c.ID, "err", err)
		}
		rec.KeptDatabase = redact.URL(env.URL)
		r.cfg.Log.Info("kept failed cell database", "cell", c.ID, "connect", "psql '"+redact.URL(env.URL)+"'")
	} else if err := sv.dbs.drop(cleanup, db); err != nil {
		r.cfg.Log.Warn("drop cell database", "cell", c.ID, "err", err)
	}
	return out
}

// checkEngine re-reads the engine: a cell whose engine state changed underneath it (the
// engine, the transition state, or the ring authority: the auto-flip hazard of awa.md §3.7)
// is reported as that, never as a pass. A cell of a pending template moved the engine itself
// (the target's migrate and the steps after it): it must end in the engine its cell names,
// or, when awa refused those steps, where it started.
func (r *run) checkEngine(ctx context.Context, c matrix.Cell, tpl *template, url string, out *scenario.Outcome) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	o, err := oracle.Open(ctx, url)
	if err != nil {
		*out = scenario.Outcome{Verdict: matrix.Error, Detail: "engine check: " + err.Error(), Findings: out.Findings}
		return
	}
	defer o.Close(ctx)
	e, err := o.Engine(ctx)
	if err != nil {
		*out = scenario.Outcome{Verdict: matrix.Error, Detail: "engine check: " + err.Error(), Findings: out.Findings}
		return
	}
	built := tpl.res.Engine
	if len(tpl.def.Pending) > 0 && out.Verdict != matrix.Refused {
		if err := migrate.CheckEngine(c.Engine, e); err != nil {
			out.Findings = append(out.Findings, fmt.Sprintf("scenario verdict before the engine check: %s (%s)", out.Verdict, out.Detail))
			out.Verdict = matrix.EngineChanged
			out.Detail = fmt.Sprintf("the database started as %s (the pending template) and after the cell's own migrate ended %s, not %s", built, e, c.Engine)
			return
		}
		out.Findings = append(out.Findings, "engine as the cell's migrate left it: "+e.String())
		return
	}
	if e.Name() != built.Name() {
		out.Findings = append(out.Findings, fmt.Sprintf("scenario verdict before the engine check: %s (%s)", out.Verdict, out.Detail))
		out.Verdict = matrix.EngineChanged
		out.Detail = fmt.Sprintf("the database started as %s and ended %s", built, e)
		return
	}
	out.Findings = append(out.Findings, "engine unchanged: "+e.String())
}

// fillSkipped records every planned cell that has no result as skipped.
func (r *run) fillSkipped(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	have := map[string]bool{}
	for _, c := range r.res.Cells {
		have[c.ID] = true
	}
	reason := "not run: the run stopped before this cell"
	if ctx.Err() != nil {
		reason = "not run: interrupted"
	}
	for _, c := range r.cfg.Plan.Cells {
		if have[c.ID] {
			continue
		}
		rec := CellRecord(c)
		rec.Actual, rec.Detail, rec.Repro = string(matrix.Skipped), reason, r.cfg.Repro(c.ID)
		r.res.Cells = append(r.res.Cells, rec)
	}
}

var unsafeRE = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

func safeName(id string) string { return unsafeRE.ReplaceAllString(id, "_") }

// forksOf is the fork server of Python artifact a's probe, started at first use; nil for
// another kind, and when it does not start (the run's log says why; the artifact's probes then
// start from scratch, as they would without it).
func (r *run) forksOf(a matrix.Artifact, in *pinned.Installed) *probes.Forks {
	if a.Kind != string(pinned.Python) || len(in.Probe) == 0 {
		return nil
	}
	r.mu.Lock()
	f := r.forks[a.Name]
	if f == nil {
		f = &forkServer{}
		r.forks[a.Name] = f
	}
	r.mu.Unlock()
	f.once.Do(func() {
		var err error
		f.s, err = probes.ServeForks(in.Probe, filepath.Join(r.cfg.OutDir, "probe-servers", a.Name+".log"))
		if err != nil {
			r.cfg.Log.Warn("the Python probe's fork server did not start: its probes start from scratch", "artifact", a.Name, "err", err)
		}
	})
	return f.s
}

// forkServer is one artifact's fork server, started once (s is nil when it did not start).
type forkServer struct {
	once sync.Once
	s    *probes.Forks
}

// closeForks ends the fork servers (and any probe they forked that is still running). The
// cells are done: no forksOf runs beside it.
func (r *run) closeForks() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, f := range r.forks {
		if f.s == nil {
			continue
		}
		if err := f.s.Close(); err != nil {
			r.cfg.Log.Warn("cleanup: the Python probe's fork server", "artifact", name, "err", err)
		}
	}
}

// stderrTails gathers the end of every probe stderr log in a cell folder.
func stderrTails(dir string) string {
	matches, _ := filepath.Glob(filepath.Join(dir, "*.stderr.log"))
	var b strings.Builder
	for _, m := range matches {
		name := strings.TrimSuffix(filepath.Base(m), ".stderr.log")
		t := probes.StderrTail(dir, name, 10)
		if t == "" {
			continue
		}
		fmt.Fprintf(&b, "--- %s\n%s\n", name, t)
	}
	return b.String()
}

// containerProbe runs a container artifact's image for a cell: the Python probe by the image's
// interpreter, or the image's awa CLI.
func (r *run) containerProbe(a matrix.Artifact, dir, cell string) scenario.Probe {
	p := scenario.Probe{Kind: a.Client, Version: a.Version.String()}
	if a.Client == "cli" {
		argv := r.cfg.Containers.CLIArgv(a.Image, cell)
		p.AwaBin, p.AwaPrefix = argv[0], argv[1:]
		return p
	}
	p.Argv = r.cfg.Containers.ProbeArgv(a.Image, r.cfg.ProbesDir, dir, cell)
	return p
}

func usesContainers(c matrix.Cell) bool {
	for _, a := range c.Roles {
		if a.Kind == string(containerKind) {
			return true
		}
	}
	return false
}
