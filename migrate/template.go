package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/poll"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
	"github.com/jackc/pgx/v5"
)

// Release is what a template step runs of one awa release: its CLI and its probe.
type Release struct {
	// Name is matrix.TargetRelease or the artifact's name.
	Name    string
	Version version.Version
	// CLI is its awa binary (migrate, storage commands); zero when the steps need none.
	CLI CLI
	// Probe starts its probe program (the old release's migrate and work, transition
	// workers); nil when the steps need none.
	Probe []string
}

// Build is one template to build on an empty database.
type Build struct {
	Template matrix.Template
	// Releases by matrix.BuildStep.By: the target and the upgraded-from artifact.
	Releases map[string]Release
	// URL is the template database.
	URL string
	// Dir receives the probes' logs.
	Dir string
}

// State is what a step left: the schema version and the engine with its ring authority.
type State struct {
	SchemaVersion int           `json:"schema_version"`
	Engine        oracle.Engine `json:"engine"`
}

// StepRecord is one step as it ran.
type StepRecord struct {
	Op         matrix.BuildOp `json:"op"`
	By         string         `json:"by"`
	DurationMS int64          `json:"duration_ms"`
	// After is read from the database once the step ended (also after a refused step).
	After State `json:"after"`
}

// Result is what a template database ended up as, and how it got there.
type Result struct {
	State
	// Before is the state of the empty database after the first step (the old release's
	// schema on an upgraded path).
	Steps []StepRecord `json:"steps"`
}

// RefusedError is the target's migrate refused by awa (the ADR-037 gate, a newer schema ...):
// the schema path's outcome, not a harness failure. Changes lists what the refused migrate
// wrote anyway (schema history, transition state, ring authority); empty means nothing.
type RefusedError struct {
	// Cmd is the awa command as run (password removed), Message awa's error line, Output the
	// tail of what it printed.
	Cmd, Message, Output string
	Changes              []string
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("%s was refused: %s", e.Cmd, e.Message)
	if len(e.Changes) > 0 {
		s += fmt.Sprintf(" (and it wrote: %v)", e.Changes)
	}
	return s
}

// Run builds the template step by step, then verifies the engine it was asked for (a
// pending template: the engine the old release left, see matrix.Template.AsPending). It
// returns the result so far with every error; a *RefusedError when awa refused the target's
// migrate.
func (b Build) Run(ctx context.Context) (Result, error) {
	return b.run(ctx, b.Template.Steps, Result{})
}

// Finish carries out steps, the next of a pending template's remaining steps (the target's
// migrate and what follows it), on the database at b.URL, a clone of that template; once they
// complete the template's steps it verifies the engine the template names, as Run does for a
// whole template. res is the clone's result so far; the steps are appended to it.
func (b Build) Finish(ctx context.Context, res Result, steps []matrix.BuildStep) (Result, error) {
	pending := b.Template.Pending
	done := len(res.Steps) - len(b.Template.Steps) // pending steps already carried out
	if done < 0 || done+len(steps) > len(pending) || !slices.Equal(steps, pending[done:done+len(steps)]) {
		return res, fmt.Errorf("template %s: %v is not the next of its pending steps %v (%d done)", b.Template.Name(), steps, pending, max(done, 0))
	}
	last := b
	if done+len(steps) == len(pending) {
		last.Template.Pending = nil // the whole template now: verify what it names
	}
	return last.run(ctx, steps, res)
}

func (b Build) run(ctx context.Context, steps []matrix.BuildStep, res Result) (Result, error) {
	o, err := oracle.Open(ctx, b.URL)
	if err != nil {
		return res, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	res.Steps = slices.Clone(res.Steps)
	for _, step := range steps {
		rel, ok := b.Releases[step.By]
		if !ok {
			return res, fmt.Errorf("template %s: step %s needs release %s, which was not provided", b.Template.Name(), step.Op, step.By)
		}
		start := time.Now()
		stepErr := b.do(ctx, o, step, rel)
		rec := StepRecord{Op: step.Op, By: step.By, DurationMS: time.Since(start).Milliseconds()}
		// A failed step's state is still read: a refusal's evidence is that nothing changed.
		after, rerr := readState(context.WithoutCancel(ctx), o)
		rec.After = after
		res.Steps = append(res.Steps, rec)
		res.State = after
		if stepErr != nil {
			return res, stepErr
		}
		if rerr != nil {
			return res, rerr
		}
	}
	if len(b.Template.Pending) > 0 && len(res.Steps) > len(b.Template.Steps) {
		return res, nil // a pending template's cell partway through its remaining steps
	}
	return res, Verify(ctx, b.Template, res.State, b.Releases[matrix.TargetRelease].CLI, b.URL)
}

func (b Build) do(ctx context.Context, o *oracle.Oracle, step matrix.BuildStep, rel Release) error {
	switch step.Op {
	case matrix.OpOldRelease:
		return oldRelease(ctx, rel, b.URL, b.Dir)
	case matrix.OpStagedTransition:
		return stagedTransition(ctx, rel, b.URL, b.Dir)
	case matrix.OpMigrate:
		return targetMigrate(ctx, o, rel, b.URL)
	case matrix.OpAutoFinalize:
		return autoFinalize(ctx, b.URL)
	case matrix.OpFlipAuthority:
		// --force: the template's earlier runtimes (the old release's transition workers)
		// have exited, but their heartbeats stay fresh for a while and would block the
		// flip; awa documents --force for exactly "no pre-flip binary is running".
		if _, err := rel.CLI.Run(ctx, b.URL, "storage", "flip-ring-authority", "--force"); err != nil {
			return fmt.Errorf("flip the ring authority: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown template step %q", step.Op)
}

// oldRelease migrates the empty database with the old release's own migrator (its probe's
// migrate op, the SDK's migrate) and enqueues UpgradeJobs jobs with it.
func oldRelease(ctx context.Context, rel Release, url, dir string) error {
	steps := []probes.Step{{Op: probes.OpMigrate, Ref: "migrate"}}
	for n := 1; n <= UpgradeJobs; n++ {
		steps = append(steps, probes.Step{Op: probes.OpEnqueue, Ref: fmt.Sprintf("u%d", n), Queue: UpgradeQueue, Args: UpgradeArgs(rel.Version, n)})
	}
	evs, err := probes.Run(ctx, rel.Probe, probes.Spec{DatabaseURL: url, Kind: probes.JobKind, Steps: steps}, dir, "upgrade-from-"+rel.Version.String())
	if err != nil {
		return fmt.Errorf("prepare with awa %s: %w", rel.Version, err)
	}
	for _, e := range evs {
		if e.Event == probes.EventError {
			return fmt.Errorf("prepare with awa %s: %s failed: %s: %s", rel.Version, e.Op, e.Class, e.Message)
		}
	}
	return nil
}

// targetMigrate runs the target's `awa migrate`. A refusal that awa itself printed is a
// *RefusedError, with the oracle's word on whether the database changed.
func targetMigrate(ctx context.Context, o *oracle.Oracle, rel Release, url string) error {
	before, err := snapshot(ctx, o)
	if err != nil {
		return err
	}
	_, err = rel.CLI.Run(ctx, url, "migrate")
	var ce *CommandError
	if err == nil || !errors.As(err, &ce) || ce.AwaError == "" {
		if err != nil {
			return fmt.Errorf("migrate with awa %s: %w", rel.Version, err)
		}
		return nil
	}
	after, serr := snapshot(context.WithoutCancel(ctx), o)
	if serr != nil {
		return serr
	}
	return &RefusedError{Cmd: ce.Cmd, Message: ce.AwaError, Output: ce.Output, Changes: before.changes(after)}
}

// fingerprint is what a refused migrate must leave alone.
type fingerprint struct {
	history []oracle.SchemaRow
	engine  oracle.Engine
}

// snapshot reads the fingerprint; a database without awa's schema yet (the fresh path, before
// the target's migrate) has the zero one (the oracle reads it as empty).
func snapshot(ctx context.Context, o *oracle.Oracle) (fingerprint, error) {
	var f fingerprint
	var err error
	if f.history, err = o.SchemaHistory(ctx); err != nil {
		return f, err
	}
	f.engine, err = o.Engine(ctx)
	return f, err
}

func (f fingerprint) changes(after fingerprint) []string {
	var out []string
	if !slices.Equal(f.history, after.history) {
		out = append(out, fmt.Sprintf("awa.schema_version changed (%d rows, MAX %d -> %d rows, MAX %d)", len(f.history), oracle.MaxVersion(f.history), len(after.history), oracle.MaxVersion(after.history)))
	}
	if f.engine != after.engine {
		out = append(out, fmt.Sprintf("storage state changed (%s -> %s)", f.engine, after.engine))
	}
	return out
}

// autoFinalize calls awa.storage_auto_finalize_if_fresh('awa'), awa's own function for a fresh
// install, and insists it returned true.
func autoFinalize(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("set engine queue_storage: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT awa.storage_auto_finalize_if_fresh('awa')`).Scan(&ok); err != nil {
		return fmt.Errorf("set engine queue_storage: awa.storage_auto_finalize_if_fresh: %w", err)
	}
	if !ok {
		return fmt.Errorf("set engine queue_storage: awa.storage_auto_finalize_if_fresh('awa') returned false: the database is not a fresh canonical install")
	}
	return nil
}

func readState(ctx context.Context, o *oracle.Oracle) (State, error) {
	var s State
	var err error
	if s.SchemaVersion, err = o.SchemaVersion(ctx); err != nil {
		return s, err
	}
	s.Engine, err = o.Engine(ctx)
	return s, err
}

// Verify checks that a template database in state s is under the engine template t asks for
// (and its ring authority, when it names one), by reading it and by the target's `awa storage
// status`. A pending template is checked for the engine's base only (the old release's
// schema has no ring authority yet, and the target's CLI does not speak for it).
func Verify(ctx context.Context, t matrix.Template, s State, target CLI, url string) error {
	if len(t.Pending) > 0 {
		if err := CheckEngine(matrix.Engine(t.Engine.Base()), s.Engine); err != nil {
			return fmt.Errorf("verify the pending template's engine: %w", err)
		}
		return nil
	}
	if err := CheckEngine(t.Engine, s.Engine); err != nil {
		return fmt.Errorf("verify engine: %w", err)
	}
	st, err := target.StorageStatus(ctx, url)
	if err != nil {
		return err
	}
	if st.State != s.Engine.State {
		return fmt.Errorf("verify engine %s: awa storage status says state=%s, the database says %s", t.Engine, st.State, s.Engine)
	}
	return nil
}

// CheckEngine reports whether e is the engine state `want` names: the state and active
// engine, and the ring authority when want names one.
func CheckEngine(want matrix.Engine, e oracle.Engine) error {
	state := map[string]string{"canonical": "canonical", "queue_storage": "active"}[want.Base()]
	if e.State != state || e.Active() != want.Base() {
		return fmt.Errorf("want %s, the database is %s", want, e)
	}
	if a := want.Authority(); a != "" && e.Authority != a {
		return fmt.Errorf("want %s, the ring authority is %q (%s)", want, e.Authority, e)
	}
	return nil
}

// stagedTransition moves a canonical database that holds work to queue storage the way awa's
// upgrade guides say, with rel's own commands: `awa storage prepare --engine queue_storage`,
// a queue_storage_target worker, `awa storage enter-mixed-transition`, a canonical_drain
// worker until `awa storage status` shows the canonical backlog drained, then that worker
// stopped, then `awa storage finalize --wait`. The backlog is therefore processed during the
// transition. The drain worker stops before the finalize because 0.6.0's finalize gate is
// "no canonical or drain-only runtimes still heartbeating" (docs/upgrade-0.5-to-0.6.md, step
// 8): with it running, 0.6.0's finalize --wait never finishes; a stopped runtime counts as
// live for 30 s more, which that wait sits out.
func stagedTransition(ctx context.Context, rel Release, url, dir string) error {
	wrap := func(err error) error { return fmt.Errorf("staged transition with awa %s: %w", rel.Version, err) }
	if _, err := rel.CLI.Run(ctx, url, "storage", "prepare", "--engine", "queue_storage"); err != nil {
		return wrap(err)
	}
	stopQS, err := startWorker(ctx, rel, url, dir, probes.StorageRoleQueueStorageTarget, "awacompat_transition")
	if err != nil {
		return wrap(err)
	}
	defer stopQS()
	if _, err := rel.CLI.Run(ctx, url, "storage", "enter-mixed-transition"); err != nil {
		return wrap(err)
	}
	stopDrain, err := startWorker(ctx, rel, url, dir, probes.StorageRoleCanonicalDrain, UpgradeQueue)
	if err != nil {
		return wrap(err)
	}
	defer stopDrain()
	var backlog string
	err = poll.Until(ctx, 90*time.Second, 500*time.Millisecond, nil, func() (bool, error) {
		st, err := rel.CLI.StorageStatus(ctx, url)
		if err != nil {
			return false, err
		}
		if st.CanonicalLiveBacklog == nil {
			return true, nil // not reported: finalize --wait's own gate is the check
		}
		backlog = fmt.Sprint(*st.CanonicalLiveBacklog)
		return *st.CanonicalLiveBacklog == 0, nil
	})
	if err != nil {
		return wrap(fmt.Errorf("waiting for the canonical backlog to drain (last seen %s): %w", backlog, err))
	}
	stopDrain()
	wctx, cancel := context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	if _, err := rel.CLI.Run(wctx, url, "storage", "finalize", "--wait"); err != nil {
		return wrap(err)
	}
	return nil
}

// startWorker starts a worker of rel in the given transition role and waits until it is
// ready; the returned function stops it (idempotent).
func startWorker(ctx context.Context, rel Release, url, dir string, role probes.StorageRole, queue string) (func(), error) {
	name := fmt.Sprintf("transition-%s-%s", rel.Version, role)
	p, err := probes.Start(ctx, rel.Probe, probes.Spec{DatabaseURL: url, Kind: probes.JobKind, Steps: []probes.Step{{
		Op: probes.OpWork, Queue: queue, MaxWorkers: 2, Behavior: probes.BehaviorComplete, StorageRole: role, TimeoutMS: 180_000,
	}}}, dir, name)
	if err != nil {
		return nil, err
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		p.Stop()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		p.Wait(wctx)
	}
	if _, err := p.WaitReady(ctx); err != nil {
		stop()
		return nil, fmt.Errorf("%s worker: %w (see %s)", role, err, filepath.Join(dir, name+".stderr.log"))
	}
	return stop, nil
}
