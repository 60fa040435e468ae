// Package scenario drives the named scenarios of matrix.Catalog: it starts each role's probe
// with the steps the scenario needs, watches the database with the oracle while they run, and
// decides the verdict from what the database shows (never from the probe's word alone).
package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

// Probe is how to run one role's artifact.
type Probe struct {
	// Argv starts the probe program (python and rust artifacts); the spec path is appended.
	Argv []string
	// Forks, when set, is a fork server of Argv's Python probe: probes start as its children
	// (their own processes, without the interpreter's start and imports).
	Forks *probes.Forks
	// AwaBin is the awa CLI binary (cli artifacts), or what runs it (the docker CLI, for an
	// image that holds awa) with AwaPrefix before awa's arguments.
	AwaBin    string
	AwaPrefix []string
	Kind      string // python, rust or cli (a container artifact: what its image holds)
	Version   string
}

// Env is everything a scenario needs for one cell.
type Env struct {
	CellID string
	// Engine is the storage engine, "canonical" or "queue_storage" (matrix.Engine.Base).
	Engine string
	// Template is the cell's template as it was built and verified.
	Template TemplateInfo
	// URL is the cell's own database.
	URL string
	// Dir receives the probes' specs and output.
	Dir string
	// Probes by role.
	Probes map[string]Probe
	// Inert is how long a live worker must leave jobs unclaimed to be called inert.
	Inert time.Duration
	// UpgradedFrom is the version whose migrate and jobs came before the target's migrate
	// (upgraded-from schema paths; zero for fresh).
	UpgradedFrom version.Version
	// Releases run the template's pending steps (a pending template's cells only): by
	// matrix.BuildStep.By, the target's CLI.
	Releases map[string]migrate.Release
}

// TemplateInfo is what the runner knows of the cell's template.
type TemplateInfo struct {
	// Engine is the engine state the matrix asked for.
	Engine matrix.Engine
	// Built is the state the template was verified in after its last step.
	Built migrate.State
	// Steps say how it got there, for the cell's findings.
	Steps []migrate.StepRecord
	// Def is the plan's template; its Pending steps, when set, are the cell's to run.
	Def matrix.Template
}

// Outcome is a scenario's verdict with its evidence.
type Outcome struct {
	Verdict  matrix.Verdict
	Detail   string
	Findings []string
	Error    *results.ErrorInfo
	// Waited is the time the scenario spent in waitFor: waiting for awa, not working.
	Waited time.Duration
	// InertEvidence is, for an inert verdict, how long the idle worker's own health reports
	// span from when the jobs were due: the evidence the verdict rests on.
	InertEvidence time.Duration
	// Ran lists the roles whose artifact really ran (a probe that said it started, an awa
	// command that executed), in role order; the runner holds it to the cell's bindings.
	Ran []string
}

func (o *Outcome) find(format string, args ...any) {
	o.Findings = append(o.Findings, fmt.Sprintf(format, args...))
}

// scenarios are the functions behind matrix.Catalog's names. A scenario returns its verdict,
// or an error: an *outcomeError (stopWith) ends it with the Outcome that carries, any other
// error is the harness failing.
var scenarios = map[string]func(context.Context, Env) (Outcome, error){
	"target_migrate":               targetMigrate,
	"upgrade_backlog":              upgradeBacklog,
	"lifecycle":                    lifecycle,
	"cancel":                       cancelByID,
	"cancel_by_unique_key":         cancelByUniqueKey,
	"cancel_by_unique_key_running": cancelByUniqueKeyRunning,
	"unique_dedupe":                uniqueDedupe,
	"admin_reads":                  adminReads,
	"fidelity":                     fidelity,
	"retry":                        retry,
	"crash_rescue":                 crashRescue,
	"crash_rescue_unique":          crashRescueUnique,
	"rolling_upgrade":              rollingUpgrade,
	"migrate_refusal":              migrateRefusal,
}

// Run drives the named scenario.
func Run(ctx context.Context, name string, env Env) Outcome {
	f, ok := scenarios[name]
	if !ok {
		return Outcome{Verdict: matrix.Error, Detail: "scenario " + name + " is not implemented"}
	}
	clock, trace := &waitClock{}, &roleTrace{}
	ctx = context.WithValue(context.WithValue(ctx, waitClockKey{}, clock), roleTraceKey{}, trace)
	out, err := f(ctx, env)
	if err != nil {
		out = outcomeOf(ctx, err)
	}
	out.Waited, out.Ran = clock.total(), trace.ran()
	return out
}

// roleTrace records which roles' artifacts ran in a scenario: the evidence that a cell naming
// an artifact in a role did run it there. Run puts one in the scenario's context.
type roleTrace struct {
	mu    sync.Mutex
	procs map[string][]*probes.Proc
	ranBy map[string]bool
}

type roleTraceKey struct{}

func traceOf(ctx context.Context) *roleTrace {
	t, _ := ctx.Value(roleTraceKey{}).(*roleTrace)
	return t
}

// started notes a probe process of role; it counts as run once it has said "start".
func (t *roleTrace) started(role string, p *probes.Proc) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.procs == nil {
		t.procs = map[string][]*probes.Proc{}
	}
	t.procs[role] = append(t.procs[role], p)
}

// ranRole notes that role's artifact ran (an awa command that executed).
func (t *roleTrace) ranRole(role string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ranBy == nil {
		t.ranBy = map[string]bool{}
	}
	t.ranBy[role] = true
}

func (t *roleTrace) ran() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, role := range matrix.Roles {
		ran := t.ranBy[role]
		for _, p := range t.procs[role] {
			ran = ran || countEvents(p.All(), probes.EventStart) > 0
		}
		if ran {
			out = append(out, role)
		}
	}
	return out
}

// outcomeError ends a scenario early with a verdict of its own (a refusal, say); Run unwraps
// it. Any other error a scenario returns is the harness failing.
type outcomeError struct{ out Outcome }

func (e *outcomeError) Error() string { return fmt.Sprintf("%s: %s", e.out.Verdict, e.out.Detail) }

// stopWith is out as an error, for a helper whose caller must end the scenario with it.
func stopWith(out Outcome) error { return &outcomeError{out} }

// outcomeOf is the verdict a scenario that returned err ends with: the Outcome err carries,
// else an error, or a timeout when ctx expired.
func outcomeOf(ctx context.Context, err error) Outcome {
	var oe *outcomeError
	if errors.As(err, &oe) {
		return oe.out
	}
	if ctx.Err() == context.DeadlineExceeded {
		return Outcome{Verdict: matrix.Timeout, Detail: "cell deadline passed: " + err.Error()}
	}
	return Outcome{Verdict: matrix.Error, Detail: err.Error()}
}

// start starts the probe with spec: forked by its server when it has one.
func (p Probe) start(ctx context.Context, spec probes.Spec, dir, name string) (*probes.Proc, error) {
	if p.Forks != nil {
		return p.Forks.Start(ctx, spec, dir, name)
	}
	return probes.Start(ctx, p.Argv, spec, dir, name)
}

// runSteps runs role's probe to completion and returns its events (see probes.Run).
func runSteps(ctx context.Context, env Env, role, name string, steps []probes.Step) ([]probes.Event, error) {
	p, ok := env.Probes[role]
	if !ok {
		return nil, fmt.Errorf("no probe bound to role %s", role)
	}
	proc, err := p.start(ctx, probes.Spec{DatabaseURL: clientURL(env.URL, name), Kind: probes.JobKind, Steps: steps}, env.Dir, name)
	if err != nil {
		return nil, err
	}
	evs, err := probes.Finish(ctx, proc, env.Dir)
	if countEvents(evs, probes.EventStart) > 0 {
		traceOf(ctx).ranRole(role)
	}
	return evs, err
}

// firstError returns the first awa error event.
func firstError(evs []probes.Event) *results.ErrorInfo {
	for _, e := range evs {
		if e.Event == probes.EventError {
			return errorInfo(e)
		}
	}
	return nil
}

// withOracle opens the oracle on the cell's database, scoped to what the cell creates from
// now on (see oracle.Scope). Call it before starting any probe.
func withOracle(ctx context.Context, env Env) (*oracle.Oracle, error) {
	o, err := oracle.Open(ctx, env.URL)
	if err != nil {
		return nil, err
	}
	if err := o.Scope(ctx); err != nil {
		o.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	return o, nil
}
