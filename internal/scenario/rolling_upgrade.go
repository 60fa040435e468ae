package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	awaversion "github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

const rollQueue = "awacompat_roll"

// The rolling upgrade's load: the old producer enqueues rollJobs jobs, one every rollGap
// (50 a second), while workers whose handlers take rollHandle run rollOldSlots (each old
// worker) or rollSlots (the successor) at once. The old fleet alone does 20 a second, so a
// backlog builds that the successor must help with: a live successor that takes none of it
// is not taking part, not merely slower to wake than the old workers.
const (
	rollJobs     = 300
	rollGap      = 20 * time.Millisecond
	rollHandle   = 100 * time.Millisecond
	rollOldSlots = 1
	rollSlots    = 4
	// rollJoin is how many jobs the successor must have run before the old fleet retires: the
	// proof that old and new workers shared the queue.
	rollJoin = 5
	// rollIgnored is how many jobs the old workers may complete in the mixed fleet (about 2 s
	// of their work) while the successor completes fewer than rollJoin, with a backlog
	// waiting, before the successor counts as not taking part.
	rollIgnored = 40
	// rollWave is how many more jobs the old producer enqueues when the successor joins, so
	// the mixed fleet has work to share however long the migrate took (with six cells at once
	// on 2 cores a migrate from 0.5.7 took 37 s, and the old workers had drained every job):
	// more than rollJoin+rollIgnored, so the wait for the successor's share always ends.
	rollWave = 60
)

// rollStartWithin bounds a worker's start: one that neither says ready nor refuses in that
// time has hung.
const rollStartWithin = 30 * time.Second

var errStartHung = errors.New("its start hung")

// refusesOlderSchema: from 0.7 an awa worker refuses a schema older than its own (awa.md §1;
// 0.5.x and 0.6.x workers never check the version).
var refusesOlderSchema = awaversion.MustParse("0.7.0-alpha.0")

// rollPhase is one phase of a rolling upgrade as it ran.
type rollPhase struct {
	name       string
	start, end time.Time
	// note says how the phase went (the binary-first answer, the migrate's steps, ...).
	note string
}

// rollProc is one probe process of the cell: which role and artifact, and what it did.
type rollProc struct {
	name, role, artifact string
	p                    *probes.Proc
	evs                  []probes.Event
	// killed: SIGKILLed on purpose; its handler calls that did not end are the rescue's to redo.
	killed bool
	// stopped: asked to stop gracefully (its client's shutdown ran): a job it was running
	// then may run again (awa's shutdown cancels in-flight handlers: at-least-once).
	stopped bool
	// exitErr is how the process ended (nil: status 0).
	exitErr error
}

// rollCase is a rolling_upgrade cell as it ran.
type rollCase struct {
	sent map[int64]map[string]any // accepted enqueues: job id -> args
	// refusedEnqueues are the producer's enqueue errors.
	refusedEnqueues []probes.Event
	procs           []*rollProc
	phases          []rollPhase
	// early is the binary-first answer: the successor's error before the migrate (nil: it
	// started on the pending schema).
	early *results.ErrorInfo
	// successorVersion is the successor's release.
	successorVersion string
	// heldAtKill are the jobs the SIGKILLed worker was running when it died.
	heldAtKill []int64
	// killedAt is when worker-b was SIGKILLed.
	killedAt time.Time
	rescue   rescueWait
	// hungEarly says the successor started before the migrate neither started nor refused.
	hungEarly string
	// idleEarly says how the successor started before the migrate took no part after it and
	// was replaced ("" when it did take part, or refused to start).
	idleEarly string
}

// rollingUpgrade rehearses a rolling upgrade under bounded load (awa ADR-041's orderings) on
// a clone of its path's pending template (the database as the old release left it):
//
//  1. old fleet: two workers of the old release (worker role) and its producer, enqueuing
//     rollJobs jobs with distinctive args at a fixed rate;
//  2. binary-first: the successor starts before the target's migrate; a release that checks
//     the schema must refuse with awa's message, one that does not runs on the pending schema;
//  3. the target's migrate, in the cell, during the traffic;
//  4. the successor joins (or keeps running) and runs jobs beside the old workers, while the
//     old producer enqueues a second wave of rollWave jobs;
//  5. the old fleet retires: one worker is SIGKILLed mid-job (the successor, leading
//     maintenance with a short staleness, rescues its jobs), the other stops gracefully and
//     leaves the way an application does (a normal interpreter exit);
//  6. the template's steps after the migrate (the ring flip to ledger), old binaries gone;
//  7. drain: every accepted enqueue must end completed, once, args intact.
func rollingUpgrade(ctx context.Context, env Env) (Outcome, error) {
	tpl := env.Template.Def
	if len(tpl.Pending) == 0 || tpl.Pending[0] != (matrix.BuildStep{Op: matrix.OpMigrate, By: matrix.TargetRelease}) {
		return Outcome{}, fmt.Errorf("rolling_upgrade needs a pending template that starts with the target's migrate, got %s (pending %v)", tpl.Name(), tpl.Pending)
	}
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	rc := &rollCase{sent: map[int64]map[string]any{}, successorVersion: env.Probes["successor"].Version}
	build := migrate.Build{Template: tpl, Releases: env.Releases, URL: env.URL, Dir: env.Dir}
	built := migrate.Result{State: env.Template.Built, Steps: env.Template.Steps}
	tag := nonce(env)
	defer func() {
		for _, p := range rc.procs {
			if p.evs == nil {
				p.evs = stopProbe(ctx, p.p)
			}
		}
	}()
	phase := func(name string) *rollPhase {
		now := time.Now()
		if n := len(rc.phases); n > 0 && rc.phases[n-1].end.IsZero() {
			rc.phases[n-1].end = now
		}
		rc.phases = append(rc.phases, rollPhase{name: name, start: now})
		return &rc.phases[len(rc.phases)-1]
	}
	start := func(role, name string, step probes.Step, exit string) (*rollProc, *results.ErrorInfo, error) {
		rp := &rollProc{name: name, role: role, artifact: artifactOf(env, role)}
		p, err := startProbeSpec(ctx, env, role, name, probes.Spec{Steps: []probes.Step{step}, Exit: exit})
		if err != nil {
			return nil, nil, err
		}
		rp.p = p
		rc.procs = append(rc.procs, rp)
		rctx, cancel := context.WithTimeout(ctx, rollStartWithin)
		defer cancel()
		if _, err := p.WaitReady(rctx); err != nil {
			if e := firstError(p.All()); e != nil {
				return rp, e, nil
			}
			if ctx.Err() == nil && rctx.Err() != nil {
				return rp, nil, fmt.Errorf("%s neither became ready nor refused within %s: %w", name, rollStartWithin, errStartHung)
			}
			return rp, nil, fmt.Errorf("%s: %w; stderr: %s", name, err, probes.StderrTail(env.Dir, name, 8))
		}
		return rp, nil, nil
	}

	// 1. The old fleet under load.
	phase("old fleet")
	var old []*rollProc
	for _, name := range []string{"worker-a", "worker-b"} {
		w, e, err := start("worker", name, rollWork(ctx, false), probes.ExitNormal)
		if err != nil {
			return Outcome{}, err
		}
		if e != nil {
			return refused(name, e), nil
		}
		old = append(old, w)
	}
	// produce starts the old producer enqueuing jobs from..to, one every rollGap.
	var steps []probes.Step
	produce := func(name string, from, to int) (*probes.Proc, error) {
		var wave []probes.Step
		for n := from; n <= to; n++ {
			wave = append(wave, probes.Step{Op: probes.OpEnqueue, Ref: fmt.Sprintf("r%d", n), Queue: rollQueue, Args: cellArgs(env, "rolling_upgrade", tag, n)},
				probes.Step{Op: probes.OpSleep, MS: int(rollGap.Milliseconds())})
		}
		steps = append(steps, wave...)
		p, err := startProbeSpec(ctx, env, "producer", name, probes.Spec{Steps: wave})
		if err != nil {
			return nil, err
		}
		rp := &rollProc{name: name, role: "producer", artifact: artifactOf(env, "producer"), p: p}
		rc.procs = append(rc.procs, rp)
		return p, nil
	}
	pp, err := produce("producer", 1, rollJobs)
	if err != nil {
		return Outcome{}, err
	}
	// The old workers are running the producer's jobs.
	if err := rc.await(ctx, pp.Done(), func() bool {
		return countEvents(pp.All(), probes.EventEnqueued) >= 20 && completedBy(old) >= 10
	}); err != nil {
		return rc.stuck("the old fleet never got going (20 enqueued, 10 completed by the old workers)", err)
	}

	// 2. Binary-first: the successor before the migrate.
	ph := phase("binary-first")
	succ, early, err := start("successor", "successor-early", rollWork(ctx, true), "")
	switch {
	case errors.Is(err, errStartHung):
		// Neither refused nor started: a release that checks the schema hangs instead.
		rc.hungEarly = err.Error()
		ph.note = "the successor " + strings.TrimPrefix(err.Error(), "successor-early ")
		succ.p.Kill()
		succ.evs, _ = succ.p.Wait(ctx)
		succ = nil
	case err != nil:
		return Outcome{}, err
	}
	rc.early = early
	switch {
	case rc.hungEarly != "":
		// said above
	case early != nil:
		ph.note = fmt.Sprintf("the successor refused to start on the pending schema: %s: %s", early.Class, early.Message)
		succ.evs = stopProbe(ctx, succ.p)
		succ = nil
	default:
		ph.note = "the successor started on the pending schema (its release does not check the schema version)"
	}

	// 3. The target's migrate, during the traffic. The oracle's evidence pin would hold the
	// migrate's locks (and the fleet behind them), so it is let go for the migrate.
	ph = phase("migrate")
	o.Unpin(ctx)
	built, err = build.Finish(ctx, built, tpl.Pending[:1])
	if perr := o.Pin(ctx); perr != nil && err == nil {
		err = perr
	}
	if out, stop := migrateOutcome(err); stop {
		return rc.withPhases(out), nil
	}
	ph.note = fmt.Sprintf("%s took %s; schema v%d, %s", tpl.Pending[0].Describe(env.Releases[matrix.TargetRelease].Version), time.Duration(built.Steps[len(built.Steps)-1].DurationMS)*time.Millisecond, built.SchemaVersion, built.Engine)

	// 4. The successor joins and shares the queue with the old workers.
	ph = phase("mixed fleet")
	if succ == nil {
		var e *results.ErrorInfo
		if succ, e, err = start("successor", "successor", rollWork(ctx, true), ""); errors.Is(err, errStartHung) {
			return rc.withPhases(Outcome{Verdict: matrix.Fail, Detail: "after the target's migrate, the " + err.Error()}), nil
		} else if err != nil {
			return Outcome{}, err
		}
		if e != nil {
			return Outcome{Verdict: matrix.Refused, Error: e, Detail: fmt.Sprintf("the successor refused to start after the target's migrate: %s: %s", e.Class, e.Message)}, nil
		}
	}
	// The old producer's second wave: work for the mixed fleet to share.
	if _, err := produce("producer-2", rollJobs+1, rollJobs+rollWave); err != nil {
		return Outcome{}, err
	}
	// It shares the queue, or the old workers' progress shows it had the jobs to take and did
	// not: they ran rollIgnored jobs since it joined while it, live, ran fewer than rollJoin.
	// A successor that started before the migrate and takes no part is replaced once by one
	// started now, so the cell tells "needs a restart after the migrate" from "never works".
	for {
		joined, oldBefore := time.Now(), completedBy(old)
		if err := rc.await(ctx, succ.p.Done(), func() bool {
			return completedBy([]*rollProc{succ}) >= rollJoin || completedBy(old)-oldBefore >= rollIgnored
		}); err != nil {
			return rc.stuck(fmt.Sprintf("the successor never completed %d jobs beside the old workers", rollJoin), err)
		}
		n := completedBy([]*rollProc{succ})
		if n >= rollJoin {
			break
		}
		idle := fmt.Sprintf("%s (%s), live (%s), completed %d jobs in %s while the old workers completed %d from the same queue",
			succ.name, succ.artifact, lastHealth(succ.p.All()), n, time.Since(joined).Round(10*time.Millisecond), completedBy(old)-oldBefore)
		if succ.name != "successor-early" {
			rc.phases[len(rc.phases)-1].end = time.Now()
			return Outcome{Verdict: matrix.Fail, Detail: fmt.Sprintf("%s: it does not take its share of the old release's jobs%s; %s", idle, rc.idleEarly, rc.phaseText())}, nil
		}
		rc.idleEarly = "; before it, " + idle + ", and was replaced"
		succ.stopped = true
		succ.evs = stopProbe(ctx, succ.p)
		ph.note = "the successor started before the migrate took no part after it: replaced by one started now"
		var e *results.ErrorInfo
		if succ, e, err = start("successor", "successor", rollWork(ctx, true), ""); errors.Is(err, errStartHung) {
			return rc.withPhases(Outcome{Verdict: matrix.Fail, Detail: "after the target's migrate, the " + err.Error()}), nil
		} else if err != nil {
			return Outcome{}, err
		}
		if e != nil {
			return Outcome{Verdict: matrix.Refused, Error: e, Detail: fmt.Sprintf("the successor refused to start after the target's migrate: %s: %s", e.Class, e.Message)}, nil
		}
	}

	// 5. The old fleet retires: worker-b SIGKILLed mid-job, worker-a stopped gracefully.
	ph = phase("retire old fleet")
	// worker-b dies while it runs jobs: the kill waits (a few seconds at most) until the
	// database shows one of the jobs it took running.
	running := func() ([]int64, error) {
		jobs, err := o.Jobs(ctx, slices.Collect(maps.Keys(handledByJob(old[1].p.All()))))
		var ids []int64
		for _, j := range jobs {
			if j.State == oracle.JobStateRunning {
				ids = append(ids, j.ID)
			}
		}
		return ids, err
	}
	if err := waitFor(ctx, watchBudget(ctx, 5*time.Second), 20*time.Millisecond, old[1].p.Done(), func() (bool, error) {
		ids, err := running()
		return len(ids) > 0, err
	}); err != nil && !errors.Is(err, errWatchDeadline) {
		return Outcome{}, err
	}
	old[1].p.Kill()
	old[1].killed, rc.killedAt = true, time.Now()
	old[1].evs, old[1].exitErr = old[1].p.Wait(ctx)
	if rc.heldAtKill, err = running(); err != nil {
		return Outcome{}, err
	}
	slices.Sort(rc.heldAtKill)
	old[0].stopped = true
	old[0].p.Stop()
	wctx, cancel := context.WithTimeout(ctx, stopWait)
	old[0].evs, old[0].exitErr = old[0].p.Wait(wctx)
	cancel()
	ph.note = fmt.Sprintf("worker-b SIGKILLed holding %d jobs; worker-a stopped gracefully: %s", len(rc.heldAtKill), exitText(old[0].exitErr))
	if old[0].exitErr != nil {
		// An application's crash at exit (awa's own harness saw "Fatal Python error:
		// PyGILState_Release ... finalizing" with some wheels): reported, not judged here.
		ph.note += "; stderr: " + strings.Join(strings.Fields(probes.StderrTail(env.Dir, "worker-a", 3)), " ")
	}

	// 6. The template's steps after the migrate (the ring flip), no old binary left.
	if rest := tpl.Pending[1:]; len(rest) > 0 {
		ph = phase("after the roll")
		o.Unpin(ctx)
		built, err = build.Finish(ctx, built, rest)
		if perr := o.Pin(ctx); perr != nil && err == nil {
			err = perr
		}
		if out, stop := migrateOutcome(err); stop {
			return rc.withPhases(out), nil
		}
		ph.note = fmt.Sprintf("%d step(s); %s", len(rest), built.Engine)
	}

	// 7. Drain: the producer finishes, the successor completes and rescues the rest.
	phase("drain")
	for _, producer := range rc.procs {
		if producer.role != "producer" {
			continue
		}
		producer.evs, producer.exitErr = producer.p.Wait(ctx)
		for _, e := range producer.evs {
			switch {
			case e.Event == probes.EventEnqueued && e.JobID != nil:
				rc.sent[*e.JobID] = sentArgs(steps, e.Ref)
			case e.Event == probes.EventError:
				rc.refusedEnqueues = append(rc.refusedEnqueues, e)
			}
		}
	}
	ids := slices.Sorted(maps.Keys(rc.sent))
	rc.rescue, err = awaitRescue(ctx, o, succ.p, ids, func(jobs []oracle.Job) bool {
		return len(jobs) == len(ids) && allState(jobs, ids, oracle.JobStateCompleted)
	}, nil)
	if err != nil {
		return Outcome{}, err
	}
	rc.phases[len(rc.phases)-1].end = time.Now()
	succ.evs = stopProbe(ctx, succ.p)
	jobs := rc.rescue.jobs
	if j, err := o.Jobs(context.WithoutCancel(ctx), ids); err == nil {
		jobs = j
	}
	extra, err := o.QueueJobs(context.WithoutCancel(ctx), rollQueue)
	if err != nil {
		return Outcome{}, err
	}
	return judgeRoll(env, rc, jobs, extra), nil
}

// rollWork is a rolling-upgrade worker's step: the scenario worker's, with handlers that take
// rollHandle and a 250 ms heartbeat; the successor also leads maintenance with a short
// staleness, so it rescues a killed worker's jobs within the cell.
func rollWork(ctx context.Context, successor bool) probes.Step {
	s := workStep(ctx, rollQueue, probes.BehaviorComplete, rollOldSlots)
	if successor {
		s.MaxWorkers = rollSlots
	}
	s.HandleMS = int(rollHandle.Milliseconds())
	s.HeartbeatIntervalMS = int(rescueHeartbeat.Milliseconds())
	if successor {
		s.HeartbeatStalenessMS = int(rescueStaleness.Milliseconds())
		s.HeartbeatRescueIntervalMS = int(rescueSweep.Milliseconds())
		s.LeaderElectionIntervalMS = int(rescueElection.Milliseconds())
	}
	return s
}

// await waits until cond holds, the process behind stop exits, or the cell's time runs out.
func (rc *rollCase) await(ctx context.Context, stop <-chan struct{}, cond func() bool) error {
	reached := false
	err := waitFor(ctx, watchBudget(ctx, time.Hour), pollEvery, stop, func() (bool, error) {
		reached = cond()
		return reached, nil
	})
	switch {
	case err != nil:
		return err
	case !reached:
		return errors.New("the process it waited on exited")
	}
	return nil
}

// stuck ends the cell when a phase never reached its goal.
func (rc *rollCase) stuck(what string, err error) (Outcome, error) {
	if errors.Is(err, errWatchDeadline) || errors.Is(err, context.DeadlineExceeded) {
		return Outcome{Verdict: matrix.Timeout, Detail: what + ": " + rc.phaseText()}, nil
	}
	if errors.Is(err, context.Canceled) {
		return Outcome{}, err
	}
	for _, p := range rc.procs {
		if e := firstError(p.p.All()); e != nil {
			return Outcome{Verdict: matrix.Fail, Error: e, Detail: fmt.Sprintf("%s (%s), %s %s said %s: %s; %s", what, err, p.name, p.artifact, e.Class, e.Message, rc.phaseText())}, nil
		}
	}
	return Outcome{Verdict: matrix.Fail, Detail: fmt.Sprintf("%s (%s); %s", what, err, rc.phaseText())}, nil
}

// withPhases adds the phases so far, and what the binary-first phase saw, to an outcome that
// ends the cell early.
func (rc *rollCase) withPhases(out Outcome) Outcome {
	rc.phases[len(rc.phases)-1].end = time.Now()
	out.Detail += "; " + rc.phaseText()
	if rc.hungEarly != "" {
		out.find("the successor started before the migrate %s", strings.TrimPrefix(rc.hungEarly, "successor-early "))
	}
	return out
}

// migrateOutcome is the cell's end when the target's in-cell migrate (or a step after it) did
// not succeed: awa's refusal is the cell's answer, anything else the harness failing.
func migrateOutcome(err error) (Outcome, bool) {
	var refusedErr *migrate.RefusedError
	switch {
	case err == nil:
		return Outcome{}, false
	case errors.As(err, &refusedErr):
		return Outcome{Verdict: matrix.Refused, Error: &results.ErrorInfo{Op: "migrate", Class: "MigrateRefused", Message: refusedErr.Message},
			Detail: "the target's migrate, run during the rolling upgrade's traffic, was refused: " + refusedErr.Error()}, true
	}
	return Outcome{Verdict: matrix.Error, Detail: "the target's steps during the rolling upgrade: " + err.Error()}, true
}

// judgeRoll reconciles a rolling upgrade: every accepted enqueue is one completed row with the
// args sent, completed once (a SIGKILLed worker's unfinished call is the rescue's to redo; any
// other second run is a duplicate); no row the producer was not told about; and the
// binary-first answer as awa documents it for the successor's release.
func judgeRoll(env Env, rc *rollCase, jobs, inQueue []oracle.Job) Outcome {
	var out Outcome
	stored := byID(jobs)
	runs := map[int64][]run{}
	interrupted := 0
	for _, p := range rc.procs {
		for _, e := range p.evs {
			switch {
			case e.Event == probes.EventHandled && e.JobID != nil:
				runs[*e.JobID] = append(runs[*e.JobID], run{proc: p, ev: e})
			case e.Event == probes.EventInterrupted && e.JobID != nil:
				// The handler was stopped before it returned: that run did not complete.
				for i, r := range runs[*e.JobID] {
					if r.proc == p && r.ev.Attempt == e.Attempt {
						runs[*e.JobID][i].interrupted = true
						interrupted++
					}
				}
			}
		}
	}
	var lost, dup, wrongEnd []int64
	again := 0 // jobs run again after a run on a worker stopped gracefully
	for _, id := range slices.Sorted(maps.Keys(rc.sent)) {
		if rows := stored[id]; len(rows) > 0 && slices.ContainsFunc(runs[id], func(r run) bool {
			return r.ev.Attempt < rows[0].Attempt && r.proc.stopped && !r.proc.killed && !r.interrupted
		}) {
			again++
		}
		rows := stored[id]
		switch {
		case len(rows) == 0:
			lost = append(lost, id)
			continue
		case len(rows) > 1:
			out.find("job %d is stored %d times (%s)", id, len(rows), locations(rows))
		}
		j := rows[0]
		if j.State != oracle.JobStateCompleted {
			wrongEnd = append(wrongEnd, id)
		}
		if d := jsonDiff(j.Args, mustJSON(rc.sent[id])); d != "" {
			out.find("job %d args in the database differ from what the producer sent: %s", id, d)
		}
		if j.Location != env.Engine {
			out.find("job %d lives in %s storage, but the database runs %s", id, j.Location, env.Engine)
		}
		for _, r := range runs[id] {
			if d := jsonDiff(r.ev.Args, mustJSON(rc.sent[id])); d != "" {
				out.find("%s saw other args for job %d than the producer sent: %s", r.proc.name, id, d)
			}
		}
		if f := runFinding(id, j, runs[id]); f != "" {
			dup = append(dup, id)
			out.find("%s", f)
		}
	}
	if len(lost) > 0 {
		out.find("%d accepted %s missing from the database (lost): %s", len(lost), plural(len(lost), "job is", "jobs are"), idRanges(lost))
	}
	var unaccepted []int64
	for _, j := range inQueue {
		if _, ok := rc.sent[j.ID]; !ok && j.Kind == probes.JobKind {
			unaccepted = append(unaccepted, j.ID)
		}
	}
	if len(unaccepted) > 0 {
		out.find("%d %s in the queue without an accepted enqueue: %s", len(unaccepted), plural(len(unaccepted), "job is", "jobs are"), idRanges(unaccepted))
	}
	if n := len(rc.refusedEnqueues); n > 0 {
		e := rc.refusedEnqueues[0]
		out.find("the old producer's enqueue failed %d of %d times during the upgrade, first in %s: %s: %s", n, rollJobs+rollWave, rc.phaseAt(e.At), e.Class, e.Message)
	}
	if rc.hungEarly != "" {
		out.find("the successor started before the migrate %s (a release that checks the schema should refuse with awa's message)", strings.TrimPrefix(rc.hungEarly, "successor-early "))
	}
	if rc.idleEarly != "" {
		out.find("the successor started before the migrate ran no job after it (a binary-first roll needs its new workers restarted after the migrate)%s", rc.idleEarly)
	}
	if rc.early == nil {
		if v, err := awaversion.Parse(rc.successorVersion); err == nil && !v.Less(refusesOlderSchema) {
			out.find("the successor (awa %s) started on the pending, older schema; awa documents that a 0.7 worker refuses a schema older than its own", rc.successorVersion)
		}
	}
	// Jobs not completed come last: when nothing above was found, a rescue awa announced it had
	// paused explains them.
	otherFindings := len(out.Findings)
	if len(wrongEnd) > 0 {
		rows := make([]oracle.Job, 0, len(wrongEnd))
		for _, id := range wrongEnd {
			rows = append(rows, stored[id][0])
		}
		out.find("%d accepted %s not completed: %s", len(wrongEnd), plural(len(wrongEnd), "job is", "jobs are"), stateCounts(rows))
		for _, id := range wrongEnd[:min(len(wrongEnd), 5)] {
			out.find("job %d: %s", id, rc.stuckText(stored[id][0], runs[id]))
		}
	}
	if len(dup) == 0 && len(lost) == 0 && len(wrongEnd) == 0 && len(out.Findings) == 0 && rc.rescue.end == rescued {
		out.Verdict = matrix.Pass
		var rerun []string
		if interrupted > 0 {
			rerun = append(rerun, fmt.Sprintf("%d in-flight %s interrupted at a graceful stop ran again", interrupted, plural(interrupted, "run", "runs")))
		}
		if again > 0 {
			rerun = append(rerun, fmt.Sprintf("%d %s a gracefully stopped worker had run ran again, its completion lost", again, plural(again, "job", "jobs")))
		}
		note := ""
		if len(rerun) > 0 {
			note = " (at-least-once, awa's shutdown cancels in-flight handlers: " + strings.Join(rerun, "; ") + ")"
		}
		out.Detail = fmt.Sprintf("%d accepted enqueues, %d completed, args intact, none lost, none run twice by workers that kept running%s; %s", len(rc.sent), len(rc.sent), note, rc.phaseText())
		return out
	}
	if otherFindings == 0 && rc.rescue.end == stalled && len(rc.rescue.backoffs) > 0 {
		// The only trouble is jobs not completed while awa had paused its rescue for load.
		out.Verdict = matrix.Error
		out.Detail = fmt.Sprintf("%d accepted enqueues: none lost or duplicated, %d not completed: %s; %s", len(rc.sent), len(wrongEnd), pausedText(rc.rescue.backoffs), rc.phaseText())
		return out
	}
	out.Verdict = matrix.Fail
	out.Detail = fmt.Sprintf("%d accepted enqueues: %d lost, %d duplicated, %d not completed (%s); %s", len(rc.sent), len(lost), len(dup), len(wrongEnd), rescueEndText(&crashCase{rescue: rc.rescue.end, killedAt: rc.killedAt, leaderAt: rc.rescue.leaderAt}, len(rc.heldAtKill))+silentPause(rc.rescue.end, env.Probes["successor"].Kind), rc.phaseText())
	return out
}

// runFinding checks the handler calls of a job against its row: each attempt up to the
// row's ran exactly once; an attempt before the last ran on the SIGKILLed worker, was
// interrupted, or ran on a worker that was then stopped gracefully (its completion did not
// land, so awa's rescue gave the job a next attempt: at-least-once); the last attempt is the
// run that completed it. Anything else (two runs of one attempt, a job run again after a
// worker that kept running ran it) is a job that ran twice. "" when the runs are right.
func runFinding(id int64, j oracle.Job, rs []run) string {
	byAttempt := map[int][]run{}
	for _, r := range rs {
		byAttempt[r.ev.Attempt] = append(byAttempt[r.ev.Attempt], r)
	}
	for _, a := range slices.Sorted(maps.Keys(byAttempt)) {
		switch at := byAttempt[a]; {
		case len(at) > 1:
			return fmt.Sprintf("job %d ran %d times at attempt %d: %s", id, len(at), a, runsText(at))
		case a > j.Attempt:
			return fmt.Sprintf("job %d ran at attempt %d, after the attempt %d its row ended with: %s", id, a, j.Attempt, runsText(rs))
		case a < j.Attempt && !at[0].proc.killed && !at[0].interrupted && !at[0].proc.stopped:
			return fmt.Sprintf("job %d ran again after %s (a live worker) ran attempt %d: %s", id, at[0].proc.name, a, runsText(rs))
		}
	}
	if j.State == oracle.JobStateCompleted && len(byAttempt[j.Attempt]) == 0 {
		return fmt.Sprintf("job %d completed at attempt %d, but no worker reported running that attempt (%s)", id, j.Attempt, runsText(rs))
	}
	return ""
}

// run is one handler call of a job.
type run struct {
	proc *rollProc
	ev   probes.Event
	// interrupted: the handler was stopped before it returned (the probe said so).
	interrupted bool
}

// stuckText is the evidence on a job that did not complete: its row, who ran it, and whether
// the killed worker held it at the kill (docs/findings.md #41).
func (rc *rollCase) stuckText(j oracle.Job, rs []run) string {
	via := ""
	if j.Receipt {
		via = " through an open claim receipt (no lease)"
	}
	held := "not held by the killed worker at the kill"
	if slices.Contains(rc.heldAtKill, j.ID) {
		held = "held by the killed worker at the kill"
	}
	return fmt.Sprintf("%s/attempt %d%s, %s; handler runs: %s", j.State, j.Attempt, via, held, runsText(rs))
}

func runsText(rs []run) string {
	return joinEach(rs, ", ", "none", func(r run) string { return fmt.Sprintf("%s attempt %d", r.proc.name, r.ev.Attempt) })
}

// phaseText is the per-phase account: how long each phase took, what was enqueued in it, and
// which artifact ran how many jobs in it.
func (rc *rollCase) phaseText() string {
	var parts []string
	for _, ph := range rc.phases {
		end := ph.end
		if end.IsZero() {
			end = time.Now()
		}
		enq, ran := 0, map[string]int{}
		var order []string
		for _, p := range rc.procs {
			evs := p.evs
			if evs == nil && p.p != nil {
				evs = p.p.All()
			}
			for _, e := range evs {
				if e.At.Before(ph.start) || !e.At.Before(end) {
					continue
				}
				switch {
				case e.Event == probes.EventEnqueued:
					enq++
				case e.Event == probes.EventHandled:
					k := p.name + " " + p.artifact
					if ran[k] == 0 {
						order = append(order, k)
					}
					ran[k]++
				}
			}
		}
		slices.Sort(order)
		s := fmt.Sprintf("%s %s: %d enqueued, ran %s", ph.name, end.Sub(ph.start).Round(10*time.Millisecond), enq,
			joinEach(order, ", ", "none", func(k string) string { return fmt.Sprintf("%d by %s", ran[k], k) }))
		if ph.note != "" {
			s += " (" + ph.note + ")"
		}
		parts = append(parts, s)
	}
	return "phases: " + strings.Join(parts, "; ")
}

// phaseAt names the phase time t fell in.
func (rc *rollCase) phaseAt(t time.Time) string {
	for _, ph := range rc.phases {
		if !t.Before(ph.start) && (ph.end.IsZero() || t.Before(ph.end)) {
			return "phase " + ph.name
		}
	}
	return "no phase"
}

// lastHealth is a worker's last health report, in words.
func lastHealth(evs []probes.Event) string {
	for i := len(evs) - 1; i >= 0; i-- {
		if e := evs[i]; e.Event == probes.EventHealth {
			avail := "not reported"
			if e.Available != nil {
				avail = fmt.Sprint(*e.Available)
			}
			return fmt.Sprintf("%d health checks, the last: poll loop alive %t, heartbeat alive %t, leader %t, its queue's available jobs %s",
				countEvents(evs, probes.EventHealth), e.PollLoopAlive, e.HeartbeatAlive, e.Leader, avail)
		}
	}
	return "no health check reported"
}

// completedBy counts the handler calls of procs that completed a job.
func completedBy(procs []*rollProc) int {
	n := 0
	for _, p := range procs {
		for _, e := range p.p.All() {
			if e.Event == probes.EventHandled && e.Result == probes.ResultCompleted {
				n++
			}
		}
	}
	return n
}

// sentArgs are the args of the enqueue step with ref.
func sentArgs(steps []probes.Step, ref string) map[string]any {
	for _, s := range steps {
		if s.Op == probes.OpEnqueue && s.Ref == ref {
			return s.Args
		}
	}
	return nil
}

func artifactOf(env Env, role string) string {
	p := env.Probes[role]
	return p.Kind + " " + p.Version
}

// exitText says how a process ended: status 0, another status (with a crash's signal), or
// killed.
func exitText(err error) string {
	var ee *probes.ExitError
	switch {
	case err == nil:
		return "it exited normally (status 0)"
	case errors.As(err, &ee):
		return fmt.Sprintf("it ended with %s", ee)
	}
	return "it did not end: " + err.Error()
}
