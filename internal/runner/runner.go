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
	"strings"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/report"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/scenario"
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
	// Parallel bounds concurrent cells (default: number of CPUs).
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
	// Log receives progress logs (stderr in the CLI).
	Log *slog.Logger
	// OnCell is called once per finished cell (progress display).
	OnCell func(results.Cell)
	// Repro returns the command that reruns one cell.
	Repro func(cellID string) string
	// Tool is awacompat's own version string.
	Tool string
}

// InfraError is a failure of the harness or its infrastructure (server, target install,
// templates): the run cannot say anything about awa.
type InfraError struct{ Err error }

func (e *InfraError) Error() string { return e.Err.Error() }
func (e *InfraError) Unwrap() error { return e.Err }

func (c *Config) defaults() {
	if c.Parallel <= 0 {
		c.Parallel = runtime.NumCPU()
	}
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
	cfg       Config
	res       *results.Results
	srv       Server
	dbs       *databases
	installed map[string]*pinned.Installed // by artifact name
	failed    map[string]error             // install failures by artifact name
	templates map[string]string            // template name -> database name
	tplErr    map[string]error
	target    migrate.CLI
	// targetPython is the target release's python artifact, installed only when a staged
	// transition needs its workers.
	targetPython *pinned.Installed
	targetPyErr  error
	mu           sync.Mutex
}

// Run executes the plan. results.json is always written to cfg.OutDir. The error is non-nil
// only for infrastructure failures (an *InfraError) or interruption (ctx's error).
func Run(ctx context.Context, cfg Config) (res *results.Results, err error) {
	cfg.defaults()
	r := &run{
		cfg: cfg,
		res: &results.Results{
			Schema: results.SchemaVersion, Tool: cfg.Tool, Matrix: cfg.Matrix.File,
			StartedAt: time.Now().UTC(), Shards: []string{cfg.Plan.Shard},
			Target: results.Target{Awa: cfg.Plan.Target.Awa, ExpectedSchemaVersion: cfg.Plan.Target.SchemaVersion},
		},
		installed: map[string]*pinned.Installed{},
		failed:    map[string]error{},
		templates: map[string]string{},
		tplErr:    map[string]error{},
	}
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
			r.res.Error = redact.Text(err.Error())
		}
		r.res.SortCells()
		r.res.Summarize()
		if werr := results.Write(cfg.OutDir, r.res); werr != nil && err == nil {
			err = &InfraError{werr}
		}
		// The other reports render from the same record; a failure to write one is logged,
		// never allowed to change the run's verdict.
		if rerr := report.WriteAll(cfg.OutDir, r.res); rerr != nil {
			cfg.Log.Warn("writing reports", "err", rerr)
		}
		res = r.res
	}()

	cfg.Log.Info("provisioning postgres", "mode", modeOf(cfg))
	srv, perr := cfg.Provisioner.Provision(ctx)
	if perr != nil {
		return nil, &InfraError{perr}
	}
	r.srv = srv
	r.dbs = newDatabases(srv)
	defer func() {
		if derr := r.dbs.dropAll(cleanup); derr != nil {
			cfg.Log.Warn("cleanup: dropping databases", "err", derr)
		}
		if cerr := srv.Close(cleanup); cerr != nil {
			cfg.Log.Warn("cleanup: stopping postgres", "err", cerr)
		}
	}()
	r.res.Postgres = results.Postgres{Mode: srv.Mode(), URL: redact.URL(srv.URL(adminDB(srv)))}
	if v, err := serverVersion(ctx, srv); err == nil {
		r.res.Postgres.Version = v
	}

	if err := r.installAll(ctx); err != nil {
		return nil, err
	}
	if err := r.buildTemplates(ctx); err != nil {
		return nil, err
	}
	r.runCells(ctx)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, nil
}

func modeOf(cfg Config) string {
	if p, ok := cfg.Provisioner.(Postgres); ok && p.URL == "" {
		return "embedded"
	}
	return "url"
}

// installAll installs the target CLI (a failure is fatal) and every artifact the plan needs
// (a failure marks the cells that need it), two at a time.
func (r *run) installAll(ctx context.Context) error {
	t := r.cfg.Plan.Target
	start := time.Now()
	targets := TargetSpecs(r.cfg.Plan)
	tgt, err := r.cfg.Installer.Install(ctx, targets[0])
	if err != nil {
		return &InfraError{fmt.Errorf("install the target's awa CLI %s: %w", t.Awa, err)}
	}
	r.cfg.Log.Info("target ready", "awa", t.Awa, "origin", tgt.Origin, "reused", tgt.Reused, "took", time.Since(start).Round(time.Millisecond))
	r.res.Target.Origin, r.res.Target.Checksum = tgt.Origin, tgt.Checksum
	r.target = migrate.CLI{Bin: tgt.AwaBin, Version: t.Awa, LogPath: filepath.Join(r.cfg.OutDir, "templates.log")}
	if len(targets) > 1 {
		r.targetPython, r.targetPyErr = r.cfg.Installer.Install(ctx, targets[1])
		rec := results.Artifact{Name: "target-python", Kind: "python", Version: t.Awa}
		if r.targetPyErr != nil {
			rec.Error = redact.Text(r.targetPyErr.Error())
		} else {
			rec.Origin, rec.Checksum, rec.Reused = r.targetPython.Origin, r.targetPython.Checksum, r.targetPython.Reused
		}
		r.res.Artifacts = append(r.res.Artifacts, rec)
	}

	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, a := range r.cfg.Plan.Artifacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			in, err := r.cfg.Installer.Install(ctx, SpecOf(a))
			rec := results.Artifact{Name: a.Name, Kind: a.Kind, Version: a.Version, InstallMS: time.Since(start).Milliseconds()}
			r.mu.Lock()
			defer r.mu.Unlock()
			if err != nil {
				r.failed[a.Name] = err
				rec.Error = redact.Text(err.Error())
				r.cfg.Log.Error("install failed", "artifact", a.Name, "err", err)
			} else {
				r.installed[a.Name] = in
				rec.Origin, rec.Checksum, rec.Reused = in.Origin, in.Checksum, in.Reused
				r.cfg.Log.Info("artifact ready", "artifact", a.Name, "origin", in.Origin, "reused", in.Reused, "took", time.Since(start).Round(time.Millisecond))
			}
			r.res.Artifacts = append(r.res.Artifacts, rec)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// TargetSpecs are what the run installs of the target release itself: its awa CLI (the
// migrator) and, when a template moves an upgraded database to queue storage, its python
// artifact, whose workers the staged transition needs.
func TargetSpecs(p *matrix.Plan) []pinned.Spec {
	specs := []pinned.Spec{{Kind: pinned.CLI, Version: p.Target.Awa, Source: p.Target.Source}}
	for _, t := range p.Templates {
		if t.SchemaPath.From != "" && t.Engine == "queue_storage" {
			return append(specs, pinned.Spec{Kind: pinned.Python, Version: p.Target.Awa})
		}
	}
	return specs
}

// SpecOf is what to install for a matrix artifact.
func SpecOf(a matrix.Artifact) pinned.Spec {
	return pinned.Spec{Kind: pinned.Kind(a.Kind), Version: a.Version, Source: a.Source, Via: a.Via}
}

// buildTemplates migrates one template per (schema path, engine). A template that cannot be
// built is an infrastructure failure: the target's own migrate or engine switch broke.
func (r *run) buildTemplates(ctx context.Context) error {
	for i, t := range r.cfg.Plan.Templates {
		start := time.Now()
		rec := results.Template{Name: t.Name(), SchemaPath: t.SchemaPath.Name(), Engine: t.Engine}
		db, res, err := r.buildTemplate(ctx, i, t)
		rec.DurationMS = time.Since(start).Milliseconds()
		rec.SchemaVersion, rec.EngineState = res.SchemaVersion, res.Engine.String()
		if err != nil {
			rec.Error = redact.Text(err.Error())
			r.res.Templates = append(r.res.Templates, rec)
			return &InfraError{fmt.Errorf("template %s: %w", t.Name(), err)}
		}
		r.res.Templates = append(r.res.Templates, rec)
		r.templates[t.Name()] = db
		r.res.Target.SchemaVersion = res.SchemaVersion
		r.cfg.Log.Info("template ready", "template", t.Name(), "schema_version", res.SchemaVersion, "engine", res.Engine.String(), "took", time.Since(start).Round(time.Millisecond))
		if want := r.cfg.Plan.Target.SchemaVersion; want != 0 && res.SchemaVersion != want {
			return &InfraError{fmt.Errorf("awa %s migrated to schema version %d, but %s asserts target.schema_version %d",
				r.cfg.Plan.Target.Awa, res.SchemaVersion, r.cfg.Matrix.File, want)}
		}
	}
	return nil
}

func (r *run) buildTemplate(ctx context.Context, i int, t matrix.Template) (string, migrate.Result, error) {
	db, err := r.dbs.create(ctx, fmt.Sprintf("tpl%d", i+1), "")
	if err != nil {
		return "", migrate.Result{}, err
	}
	url := r.srv.URL(db)
	if t.SchemaPath.From == "" {
		if err := r.target.Migrate(ctx, url); err != nil {
			return db, migrate.Result{}, err
		}
		res, err := migrate.SetEngine(ctx, r.target, url, t.Engine)
		return db, res, err
	}
	from := r.cfg.Matrix.Artifacts[t.SchemaPath.From]
	in, ok := r.installed[from.Name]
	if !ok {
		return db, migrate.Result{}, fmt.Errorf("artifact %s did not install: %v", from.Name, r.failed[from.Name])
	}
	u := migrate.Upgrade{FromArgv: in.Probe, FromVersion: from.Version, Dir: filepath.Join(r.cfg.OutDir, "templates", t.Name())}
	up, err := migrate.Upgraded(ctx, r.target, url, u)
	if err != nil {
		return db, migrate.Result{}, err
	}
	r.cfg.Log.Info("upgraded template migrated", "template", t.Name(), "from", from.Name, "from_schema_version", up.FromSchemaVersion)
	if t.Engine == "canonical" {
		res, err := migrate.Verify(ctx, r.target, url, "canonical")
		return db, res, err
	}
	if r.targetPython == nil {
		return db, migrate.Result{}, fmt.Errorf("the target's python artifact (awa-pg %s) did not install: %v", r.cfg.Plan.Target.Awa, r.targetPyErr)
	}
	u.TargetArgv = r.targetPython.Probe
	res, err := migrate.StagedQueueStorage(ctx, r.target, url, u)
	return db, res, err
}

// runCells runs the cells with bounded parallelism.
func (r *run) runCells(ctx context.Context) {
	sem := make(chan struct{}, r.cfg.Parallel)
	var wg sync.WaitGroup
	for i, c := range r.cfg.Plan.Cells {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
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

// retryable is false when the error is an install failure: retrying cannot help.
func (r *run) retryable(c matrix.Cell) bool {
	for _, a := range c.Roles {
		if _, bad := r.failed[a.Name]; bad {
			return false
		}
	}
	return true
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
	out := r.execute(ctx, i, c, filepath.Join(r.cfg.OutDir, logDir), &rec)
	rec.DurationMS = time.Since(start).Milliseconds()
	rec.Actual = string(out.Verdict)
	rec.Detail = redact.Text(out.Detail)
	for _, f := range out.Findings {
		rec.Findings = append(rec.Findings, redact.Text(f))
	}
	rec.Error = out.Error
	rec.OK, rec.Unexpected = judge(c.Expect, out)
	if rec.Unexpected == "pass" && r.cfg.AllowUnexpectedPass {
		rec.OK = true
	}
	if !rec.OK {
		rec.StderrTail = redact.Text(stderrTails(filepath.Join(r.cfg.OutDir, logDir)))
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
	if e.Verdict == matrix.Refused && e.Error != "" {
		re := regexp.MustCompile(e.Error)
		if out.Error == nil || !re.MatchString(out.Error.Class+": "+out.Error.Message) {
			return false, ""
		}
	}
	return true, ""
}

// CellRecord is a planned cell's entry in results.json before it runs: what the plan knows
// (identity, roles, expectation). `awacompat plan --format json` prints the same fields.
func CellRecord(c matrix.Cell) results.Cell {
	rec := results.Cell{
		ID: c.ID, Engine: c.Engine, SchemaPath: c.SchemaPath.Name(), Scenario: c.Scenario,
		Roles:    map[string]results.Role{},
		Expected: string(c.Expect.Verdict), ExpectedError: c.Expect.Error,
		Rule: c.Expect.Rule, Because: c.Expect.Because, Basis: c.Expect.Basis,
	}
	for role, a := range c.Roles {
		rec.Roles[role] = results.Role{Artifact: a.Name, Kind: a.Kind, Version: a.Version}
	}
	return rec
}

// execute clones the template, runs the scenario, checks the engine, and drops the clone.
func (r *run) execute(ctx context.Context, i int, c matrix.Cell, dir string, rec *results.Cell) scenario.Outcome {
	env := scenario.Env{CellID: c.ID, Engine: c.Engine, Dir: dir, Probes: map[string]scenario.Probe{}, Inert: r.cfg.Matrix.Timeouts.Inert}
	if c.SchemaPath.From != "" {
		env.UpgradedFrom = r.cfg.Matrix.Artifacts[c.SchemaPath.From].Version
	}
	for role, a := range c.Roles {
		if err, bad := r.failed[a.Name]; bad {
			return scenario.Outcome{Verdict: matrix.Error, Detail: fmt.Sprintf("artifact %s (%s %s) did not install: %v", a.Name, a.Kind, a.Version, err)}
		}
		in := r.installed[a.Name]
		env.Probes[role] = scenario.Probe{Argv: in.Probe, AwaBin: in.AwaBin, Kind: a.Kind, Version: a.Version}
	}
	tpl, ok := r.templates[c.Template().Name()]
	if !ok {
		return scenario.Outcome{Verdict: matrix.Error, Detail: "template " + c.Template().Name() + " was not built"}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return scenario.Outcome{Verdict: matrix.Error, Detail: err.Error()}
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Matrix.Timeouts.Cell)
	defer cancel()
	db, err := r.dbs.create(cctx, fmt.Sprintf("c%d_%d", i+1, time.Now().UnixNano()%1e6), tpl)
	if err != nil {
		return scenario.Outcome{Verdict: matrix.Error, Detail: err.Error()}
	}
	env.URL = r.srv.URL(db)
	out := scenario.Run(cctx, c.Scenario, env)
	if out.Verdict == matrix.Timeout || (cctx.Err() != nil && out.Verdict == matrix.Error) {
		out.Verdict = matrix.Timeout
		out.Detail = fmt.Sprintf("cell did not finish within %s: %s", r.cfg.Matrix.Timeouts.Cell, out.Detail)
	}
	if out.Verdict != matrix.Error {
		r.checkEngine(context.WithoutCancel(ctx), c, env.URL, &out)
	}
	cleanup := context.WithoutCancel(ctx)
	ok, _ = judge(c.Expect, out)
	if !ok && r.cfg.KeepFailed {
		r.dbs.forget(db)
		rec.KeptDatabase = redact.URL(env.URL)
		r.cfg.Log.Info("kept failed cell database", "cell", c.ID, "connect", "psql '"+redact.URL(env.URL)+"'")
	} else if err := r.dbs.drop(cleanup, db); err != nil {
		r.cfg.Log.Warn("drop cell database", "cell", c.ID, "err", err)
	}
	return out
}

// checkEngine re-reads the engine: a cell whose engine changed underneath it is reported as
// that, never as a pass.
func (r *run) checkEngine(ctx context.Context, c matrix.Cell, url string, out *scenario.Outcome) {
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
	want := map[string]string{"canonical": "canonical", "queue_storage": "active"}[c.Engine]
	if e.Active() != c.Engine || e.State != want {
		out.Findings = append(out.Findings, fmt.Sprintf("scenario verdict before the engine check: %s (%s)", out.Verdict, out.Detail))
		out.Verdict = matrix.EngineChanged
		out.Detail = fmt.Sprintf("the database started under %s and ended %s", c.Engine, e)
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
