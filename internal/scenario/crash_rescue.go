package scenario

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const rescueQueue = "awacompat_rescue"

// The rescuer's maintenance timing, set through its SDK's public knobs (awa's defaults: 30 s
// heartbeats, 90 s staleness, 30 s rescue sweeps, 10 s elections). Its own heartbeat stays
// far inside the staleness (awa: "at least 3x the heartbeat interval"; here 24x). The few jobs
// a 0.5.x rescuer ran twice, once blamed on a short staleness, were completions awa dropped
// (docs/findings.md #28; judged as re-deliveries). Sweeps are 2 s: awa 0.6.x pauses a
// maintenance branch whose body overruns 1.5x its tick three times running, for 120 ticks
// (BRANCH_COOLDOWN_TICKS), and a 0.6.9 queue-storage rescue sweep took up to 1.65 s with two
// cells per CPU (findings #41); at 500 ms that pause silenced the rescue for a minute.
const (
	rescueHeartbeat = 250 * time.Millisecond
	rescueStaleness = 6 * time.Second
	rescueSweep     = 2 * time.Second
	rescueElection  = 250 * time.Millisecond
	// rescueSweeps is how many sweeps past the staleness a rescuer that leads gets before a
	// rescue that has not come (and no job that moved) ends the wait: the evidence that it
	// will not come. A passing cell never waits for the window, only a stalled one does.
	rescueSweeps = 5
)

// uniqueStatesWithoutRunning is awa's default unique_states (scheduled, available, running,
// completed, retryable) without running: the job holds no unique claim while it runs, so a
// newer duplicate can take the claim (awa #388).
const uniqueStatesWithoutRunning = 0b0001_1011

// crashPlan is what a crash-rescue cell holds when the worker is killed.
type crashPlan struct {
	scenario string
	// jobs is how many plain jobs the worker enqueues and holds.
	jobs int
	// unique adds the #388 case: a held unique job whose unique_states exclude running, and
	// a newer duplicate the rescuer's release enqueues while it is held.
	unique bool
}

func crashRescue(ctx context.Context, env Env) (Outcome, error) {
	return rescueAfterCrash(ctx, env, crashPlan{scenario: "crash_rescue", jobs: 100})
}

func crashRescueUnique(ctx context.Context, env Env) (Outcome, error) {
	return rescueAfterCrash(ctx, env, crashPlan{scenario: "crash_rescue_unique", jobs: 20, unique: true})
}

// crashCase is one crash-rescue cell as it ran: what was sent, the ids, and the probes' words.
type crashCase struct {
	plan crashPlan
	sent map[string]map[string]any // by ref: h1..hN, "unique", "duplicate", "control"
	ids  map[string]int64
	// held are the refs the worker held when it was killed (every plain job, and "unique").
	held []string
	// worker and rescuer are every event of each.
	worker, rescuer []probes.Event
	killedAt        time.Time
	// rescue is how the wait for the rescue ended.
	rescue rescueEnd
	// leaderAt is when the rescuer first reported that it led maintenance (zero: never).
	leaderAt time.Time
	// backoffs are the pauses (in sweeps) awa announced for the rescuer's rescue sweep.
	backoffs []int
	// inert is the evidence that the rescuer, live, left its own due control job alone.
	inert inertEvidence
	// notes are the rescuer's notes (a knob its release ignores).
	notes []string
}

// rescueAfterCrash: the worker enqueues the plan's jobs and holds every one running; (for the
// unique case, the rescuer's release enqueues the newer duplicate now;) the worker is
// SIGKILLed mid-job; the rescuer starts with a short staleness and sweep interval, enqueues a
// control job (proof that it can claim at all) and works the queue. awa's maintenance leader,
// the rescuer once the killed worker's session is gone, must rescue the held jobs, and the
// rescuer complete each exactly once.
func rescueAfterCrash(ctx context.Context, env Env, plan crashPlan) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	cc := &crashCase{plan: plan, sent: map[string]map[string]any{}, ids: map[string]int64{}}
	tag := nonce(env)
	var steps []probes.Step
	for n := 1; n <= plan.jobs; n++ {
		ref := fmt.Sprintf("h%d", n)
		cc.sent[ref] = cellArgs(env, plan.scenario, tag, n)
		cc.held = append(cc.held, ref)
		steps = append(steps, probes.Step{Op: probes.OpEnqueue, Ref: ref, Queue: rescueQueue, Args: cc.sent[ref]})
	}
	if plan.unique {
		cc.sent["unique"] = cellArgs(env, plan.scenario+"/unique", tag, 0)
		cc.held = append(cc.held, "unique")
		steps = append(steps, uniqueStep("unique", cc.sent["unique"]))
	}
	total := len(cc.held)
	steps = append(steps, workStep(ctx, rescueQueue, probes.BehaviorHold, total))

	// 1. The worker enqueues and holds every job.
	worker, readyAt, err := startReady(ctx, env, "worker", "worker", steps)
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, worker)
	if err := enqueuedIDs(worker.All(), cc.held, cc.ids); err != nil {
		return Outcome{}, err
	}
	heldIDs := cc.idsOf(cc.held)
	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, handles: total}
	res, err := w.until(ctx, heldIDs, func(jobs []oracle.Job) bool {
		return allState(jobs, heldIDs, oracle.JobStateRunning) && countEvents(worker.All(), probes.EventHandled) >= total
	})
	if err != nil {
		return Outcome{}, err
	}
	switch res.end {
	case inert:
		return inertOutcome(env, "worker", total, res.evidence), nil
	case reached:
	default:
		return Outcome{Verdict: matrix.Fail, Detail: fmt.Sprintf("the worker never held all %d jobs (%s); jobs: %s", total, watchEndText(res.end), stateCounts(res.jobs))}, nil
	}

	// 2. The newer duplicate, while the worker holds the unique job.
	if plan.unique {
		cc.sent["duplicate"] = cc.sent["unique"]
		got, _, err := enqueue(ctx, env, "rescuer", "rescuer-duplicate", []probes.Step{uniqueStep("duplicate", cc.sent["duplicate"])})
		if err != nil {
			return Outcome{}, err
		}
		cc.ids["duplicate"] = got["duplicate"]
	}

	// 3. SIGKILL mid-job.
	worker.Kill()
	cc.killedAt = time.Now()
	cc.worker = stopProbe(ctx, worker)
	if jobs, err := o.Jobs(ctx, heldIDs); err != nil {
		return Outcome{}, err
	} else if !allState(jobs, heldIDs, oracle.JobStateRunning) {
		return Outcome{}, fmt.Errorf("after the kill the held jobs are no longer all running, before any rescuer started: %s", stateCounts(jobs))
	}

	// 4. The rescuer: a control job, then work with rescue timing it controls.
	cc.sent["control"] = cellArgs(env, plan.scenario+"/control", tag, 0)
	rescuerSteps := []probes.Step{{Op: probes.OpEnqueue, Ref: "control", Queue: rescueQueue, Args: cc.sent["control"]}, rescuerWork(ctx)}
	rescuer, rescuerReady, err := startReady(ctx, env, "rescuer", "rescuer", rescuerSteps)
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, rescuer)
	if err := enqueuedIDs(rescuer.All(), []string{"control"}, cc.ids); err != nil {
		return Outcome{}, err
	}
	cc.notes = notes(rescuer.All())
	if len(cc.notes) > 0 {
		// Without the knobs the rescue would come after awa's defaults (90 s staleness, 30 s
		// sweeps): a blind wait, not evidence.
		return Outcome{Verdict: matrix.Error, Detail: fmt.Sprintf("the rescuer's release cannot set its rescue timing through its public API (%s), so the cell cannot bound the wait for a rescue; not judged", strings.Join(cc.notes, "; "))}, nil
	}
	all := cc.idsOf(slices.Sorted(maps.Keys(cc.ids)))
	// The control job is due at once: a rescuer that is provably live and leaves it alone
	// through the inert window will not claim anything, so the wait for a rescue ends there.
	ctl := &rescueInert{w: watch{o: o, env: env, role: "rescuer", worker: rescuer, readyAt: rescuerReady}, control: cc.ids["control"]}
	rw, err := awaitRescue(ctx, o, rescuer, all, cc.done, ctl)
	if err != nil {
		return Outcome{}, err
	}
	cc.rescue, cc.leaderAt, cc.backoffs, cc.inert = rw.end, rw.leaderAt, rw.backoffs, rw.inert
	jobs := rw.jobs
	cc.rescuer = stopProbe(ctx, rescuer)
	if j, err := o.Jobs(context.WithoutCancel(ctx), all); err == nil {
		jobs = j
	}
	return judgeCrash(env, cc, jobs), nil
}

// rescuerWork is the rescuer's work step: the scenario worker's, with rescue timing.
func rescuerWork(ctx context.Context) probes.Step {
	s := workStep(ctx, rescueQueue, probes.BehaviorComplete, 20)
	s.HeartbeatIntervalMS = int(rescueHeartbeat.Milliseconds())
	s.HeartbeatStalenessMS = int(rescueStaleness.Milliseconds())
	s.HeartbeatRescueIntervalMS = int(rescueSweep.Milliseconds())
	s.LeaderElectionIntervalMS = int(rescueElection.Milliseconds())
	return s
}

func uniqueStep(ref string, args map[string]any) probes.Step {
	return probes.Step{Op: probes.OpEnqueue, Ref: ref, Queue: rescueQueue, Args: args,
		Unique: &probes.Unique{ByArgs: true, States: uniqueStatesWithoutRunning}}
}

// enqueuedIDs records the job ids the events report for refs; an enqueue error or a missing
// id ends the scenario (refused, or the harness failing).
func enqueuedIDs(evs []probes.Event, refs []string, ids map[string]int64) error {
	for _, ref := range refs {
		e, ok := eventFor(evs, ref)
		switch {
		case ok && e.Event == probes.EventError:
			return stopWith(refused("enqueue", errorInfo(e)))
		case !ok || e.Event != probes.EventEnqueued || e.JobID == nil:
			return fmt.Errorf("the probe reported no job id for %s", ref)
		}
		ids[ref] = *e.JobID
	}
	return nil
}

func (cc *crashCase) idsOf(refs []string) []int64 {
	out := make([]int64, 0, len(refs))
	for _, r := range refs {
		out = append(out, cc.ids[r])
	}
	return out
}

// done is the end the scenario waits for: every job in its expected final state.
func (cc *crashCase) done(jobs []oracle.Job) bool {
	rows := byID(jobs)
	for ref, id := range cc.ids {
		want := oracle.JobStateCompleted
		if ref == "unique" {
			want = oracle.JobStateCancelled
		}
		if len(rows[id]) != 1 || rows[id][0].State != want {
			return false
		}
	}
	return true
}

// rescueEnd is how the wait for a rescue ended.
type rescueEnd int

const (
	rescued rescueEnd = iota // every job reached its final state
	// stalled: the rescuer led maintenance for the staleness plus rescueSweeps sweeps and no
	// job moved in that time.
	stalled
	// neverLed: the rescuer never reported leading maintenance within that window.
	neverLed
	// rescuerExited: the rescuer's process ended first.
	rescuerExited
	// rescueOutOfTime: the cell's budget ended.
	rescueOutOfTime
	// rescuerInert: the rescuer was provably live and left its own due control job alone
	// through the inert window.
	rescuerInert
)

// awaitRescue reads jobs ids until done holds for them, or the evidence says the rescue will
// not come: the rescuer has led maintenance (its own health check) for the staleness plus
// rescueSweeps sweeps with no job moving, or never led in that long after it was ready.
// It records the pauses awa announces for the rescue sweep (it overran its tick on a loaded
// machine), so the judge can tell a paused rescue from a stalled one; it does not wait one
// out: 120 sweeps is longer than a cell. Only a Rust rescuer can announce one: awa-pg
// forwards none of its Rust core's logs to Python (findings #41). inert, when not nil, is the
// evidence check that ends the wait early for a rescuer that will never claim anything.
// (Its reads are not held back until a held job's heartbeat can be stale: the stall window
// counts from the last read that saw a job move, the control job's completion among them.)
func awaitRescue(ctx context.Context, o *oracle.Oracle, rescuer *probes.Proc, ids []int64, done func([]oracle.Job) bool,
	inert *rescueInert) (rescueWait, error) {
	window := rescueStaleness + rescueSweeps*rescueSweep
	rw, start := rescueWait{end: rescuerExited}, time.Now()
	lastMove, last := start, ""
	gate := readGate{procs: []active{rescuer}}
	err := waitFor(ctx, watchBudget(ctx, time.Hour), pollEvery, rescuer.Done(), func() (bool, error) {
		var evidence inertEvidence
		if inert != nil {
			evidence = inert.w.inertEvents()
		}
		if !gate.due(time.Now(), evidence.held) {
			return false, nil
		}
		var err error
		if rw.jobs, err = o.Jobs(ctx, ids); err != nil {
			return false, err
		}
		if done(rw.jobs) {
			rw.end = rescued
			return true, nil
		}
		if s := statesString(rw.jobs); s != last {
			last, lastMove = s, time.Now()
		}
		if rw.leaderAt.IsZero() {
			rw.leaderAt = firstLeader(rescuer.All())
		}
		rw.backoffs = sweepBackoffs(rescuer.Stderr())
		if inert != nil {
			ok, ev, err := inert.w.inert(ctx, evidence, byID(rw.jobs)[inert.control])
			if ok {
				rw.end, rw.inert = rescuerInert, ev
			}
			if ok || err != nil {
				return ok, err
			}
		}
		switch {
		case rw.leaderAt.IsZero() && time.Since(start) > window:
			rw.end = neverLed
			return true, nil
		case !rw.leaderAt.IsZero() && time.Since(rw.leaderAt) > window && time.Since(lastMove) > window:
			rw.end = stalled
			return true, nil
		}
		return false, nil
	})
	switch {
	case err == errWatchDeadline:
		rw.end = rescueOutOfTime
	case ctx.Err() != nil:
		return rw, fmt.Errorf("waiting for the rescue, jobs %s: %w", statesString(rw.jobs), ctx.Err())
	case err != nil:
		return rw, err
	}
	return rw, nil
}

// rescueInert is a crash cell's inert test: the rescuer's watch, on the control job it would
// claim at once if it could claim anything.
type rescueInert struct {
	w       watch
	control int64
}

// rescueWait is how the wait for a rescue went.
type rescueWait struct {
	end  rescueEnd
	jobs []oracle.Job
	// leaderAt is when the rescuer first reported that it led maintenance (zero: never).
	leaderAt time.Time
	// backoffs are the cooldowns (in ticks) awa announced for the rescuer's rescue sweep.
	backoffs []int
	// inert is the evidence for rescuerInert.
	inert inertEvidence
}

// pausedText says why a stalled rescue with an announced pause is not judged.
func pausedText(backoffs []int) string {
	return fmt.Sprintf("awa's maintenance paused its stale-heartbeat rescue (%s of %v ticks announced: the sweep overran 1.5x its %s tick three times running on this machine) and no job moved for %s; the machine was too loaded for this cell's evidence, not judged",
		plural(len(backoffs), "a pause", "pauses"), backoffs, rescueSweep, rescueStaleness+rescueSweeps*rescueSweep)
}

// awaBranchCooldown is awa's longest pause for an overrunning maintenance branch
// (BRANCH_COOLDOWN_TICKS), assumed when a backoff line does not say its own.
const awaBranchCooldown = 120

var cooldownTicks = regexp.MustCompile(`cooldown_ticks=(\d+)`)

// sweepBackoffs finds awa's warning that the stale-heartbeat rescue branch overran its tick
// and pauses ("maintenance branch overran tick interval branch=rescue_stale_heartbeats ...
// cooldown_ticks=N"), in a probe's stderr: the cooldown of each, in ticks. awa re-arms the
// pause silently while the branch stays slow, so only the first of a run is ever seen.
func sweepBackoffs(stderr string) []int {
	var out []int
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.Contains(l, "overran tick interval") || !strings.Contains(l, "rescue_stale_heartbeats") {
			continue
		}
		ticks := awaBranchCooldown
		if m := cooldownTicks.FindStringSubmatch(l); m != nil {
			ticks, _ = strconv.Atoi(m[1])
		}
		out = append(out, ticks)
	}
	return out
}

// firstLeader is when a health event first said the client led maintenance.
func firstLeader(evs []probes.Event) time.Time {
	for _, e := range evs {
		if e.Event == probes.EventHealth && e.Leader {
			return e.At
		}
	}
	return time.Time{}
}

func notes(evs []probes.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Event == probes.EventNote {
			out = append(out, e.Message)
		}
	}
	return out
}

func watchEndText(e watchEnd) string {
	switch e {
	case exited:
		return "it exited"
	case engineChanged:
		return "the storage engine changed"
	case outOfTime:
		return "the cell's time ran out"
	}
	return "the wait ended"
}

// judgeCrash decides a crash-rescue cell from the database and both probes' words: every held
// job completed exactly once by the rescuer at attempt 2 (claimed by the worker, rescued,
// claimed again), args intact, nothing lost or stored twice; the control job completed at
// attempt 1; in the unique case the older unique job cancelled (the duplicate holds its claim:
// awa 0.6.1's per-row fallback) and the duplicate completed.
func judgeCrash(env Env, cc *crashCase, jobs []oracle.Job) Outcome {
	var out Outcome
	stored := byID(jobs)
	heldBy := handledByJob(cc.worker)
	doneBy := handledByJob(cc.rescuer)
	// Jobs that ended in the wrong state, one finding per way of being wrong (a wedged rescue
	// leaves a hundred jobs the same way).
	type wrongEnd struct {
		got  string
		want oracle.JobState
	}
	wrong := map[wrongEnd][]int64{}
	// redelivered are the held jobs the rescuer ran again after a run of its own that
	// reported completed (see lostCompletion).
	var redelivered []int64
	for _, ref := range slices.Sorted(maps.Keys(cc.ids)) {
		id := cc.ids[ref]
		rows := stored[id]
		if len(rows) == 0 {
			out.find("job %d (%s) is missing from the database", id, ref)
			continue
		}
		if len(rows) > 1 {
			out.find("job %d (%s) is stored %d times (%s)", id, ref, len(rows), locations(rows))
		}
		j := rows[0]
		if d := jsonDiff(j.Args, mustJSON(cc.sent[ref])); d != "" {
			out.find("job %d (%s) args in the database differ from what was sent: %s", id, ref, d)
		}
		held := ref != "control" && ref != "duplicate"
		if held && len(heldBy[id]) != 1 {
			out.find("the worker reported job %d (%s) handled %d times before the kill, want once", id, ref, len(heldBy[id]))
		}
		wantState, wantAttempt, wantRuns := oracle.JobStateCompleted, 1, 1
		switch {
		case ref == "unique":
			wantState, wantAttempt, wantRuns = oracle.JobStateCancelled, -1, 0
		case held && lostCompletion(doneBy[id], j):
			wantAttempt, wantRuns = 1+len(doneBy[id]), len(doneBy[id])
			redelivered = append(redelivered, id)
		case held:
			wantAttempt = 2
		}
		if j.State != wantState {
			k := wrongEnd{got: fmt.Sprintf("%s/attempt %d", j.State, j.Attempt), want: wantState}
			wrong[k] = append(wrong[k], id)
			continue
		}
		if wantAttempt > 0 && j.Attempt != wantAttempt {
			out.find("job %d (%s) completed at attempt %d, want %d", id, ref, j.Attempt, wantAttempt)
		}
		if got := len(doneBy[id]); got != wantRuns {
			out.find("the rescuer ran job %d (%s) %d times, want %d", id, ref, got, wantRuns)
		} else if wantRuns == 1 && doneBy[id][0].Attempt != wantAttempt {
			out.find("the rescuer ran job %d (%s) as attempt %d, want %d", id, ref, doneBy[id][0].Attempt, wantAttempt)
		}
	}

	for _, k := range slices.SortedFunc(maps.Keys(wrong), func(a, b wrongEnd) int { return cmp.Compare(wrong[a][0], wrong[b][0]) }) {
		out.find("%s %s ended %s, want %s", plural(len(wrong[k]), "job", "jobs"), idRanges(wrong[k]), k.got, k.want)
	}
	w, r := env.Probes["worker"], env.Probes["rescuer"]
	killed := fmt.Sprintf("worker %s %s SIGKILLed holding %d jobs", w.Kind, w.Version, len(cc.held))
	who := fmt.Sprintf("%s; rescuer %s %s", killed, r.Kind, r.Version)
	switch {
	case cc.rescue == rescued && len(out.Findings) == 0:
		out.Verdict = matrix.Pass
		unique := ""
		if cc.plan.unique {
			unique = "; the older unique job ended cancelled, its newer duplicate completed"
		}
		completed := "each completed once at attempt 2"
		if len(redelivered) > 0 {
			completed = fmt.Sprintf("each completed at attempt 2 (%s %s ran again, at-least-once: the rescuer's handler completed the attempt-2 run, its completion did not land and awa rescued the job again; findings #28)",
				plural(len(redelivered), "job", "jobs"), idRanges(redelivered))
		}
		out.Detail = fmt.Sprintf("%s led maintenance %s after the kill and rescued every held job (heartbeat staleness %s, sweeps every %s): %s by the rescuer, args intact, none lost or duplicated, the control job at attempt 1%s; in %s",
			who, since(cc.killedAt, cc.leaderAt), rescueStaleness, rescueSweep, completed, unique, env.Engine)
	case cc.rescue == rescuerInert:
		in := inertOutcome(env, "rescuer", 1, cc.inert)
		out.Verdict, out.InertEvidence = in.Verdict, in.InertEvidence
		out.Detail = fmt.Sprintf("%s; %s (its own control job); jobs: %s", killed, in.Detail, stateCounts(jobs))
		out.Findings = append(in.Findings, out.Findings...)
	case cc.rescue == rescueOutOfTime:
		out.Verdict = matrix.Timeout
		out.Detail = fmt.Sprintf("%s: the cell's time ran out; jobs: %s", who, stateCounts(jobs))
	case cc.rescue == stalled && len(cc.backoffs) > 0:
		// awa paused the rescue sweep for load and may have re-armed the pause silently: the
		// quiet is the machine's, not evidence about the release.
		out.Verdict = matrix.Error
		out.Detail = fmt.Sprintf("%s: %s; jobs: %s", who, pausedText(cc.backoffs), stateCounts(jobs))
	case cc.rescue != rescued && len(doneBy) == 0 && untouchedControl(stored[cc.ids["control"]]):
		// The rescuer never ran a handler, not even for the control job it enqueued itself.
		out.Verdict = matrix.Inert
		out.Detail = fmt.Sprintf("%s was live but never claimed anything, not even its own control job: %s; jobs: %s", who, rescueEndText(cc, len(cc.held)), stateCounts(jobs))
	default:
		out.Verdict = matrix.Fail
		out.Detail = fmt.Sprintf("%s: %s%s; jobs: %s", who, rescueEndText(cc, len(cc.held)), silentPause(cc.rescue, r.Kind), stateCounts(jobs))
	}
	return out
}

// lostCompletion is whether the rescuer's runs of a held job are a re-delivery, not a
// duplicate: more than one run, at attempts 2, 3, ... in turn, every run before the last
// reporting completed, and the row completed at the last run's attempt. awa's canonical
// completion (a FOR UPDATE CTE joined back on ctid) updates nothing when the job's own
// heartbeat commits between the statement's snapshot and its lock, so the completed run's
// completion is dropped, the job stays running, and the stale-heartbeat rescue hands it out
// again: at-least-once, as awa promises (findings #28).
func lostCompletion(runs []probes.Event, row oracle.Job) bool {
	if len(runs) < 2 || row.State != oracle.JobStateCompleted || row.Attempt != 1+len(runs) {
		return false
	}
	for i, r := range runs {
		if r.Attempt != 2+i || (i < len(runs)-1 && r.Result != probes.ResultCompleted) {
			return false
		}
	}
	return true
}

func untouchedControl(rows []oracle.Job) bool {
	return len(rows) == 1 && untouched(rows)
}

func since(from, to time.Time) string {
	if to.IsZero() {
		return "(never)"
	}
	return to.Sub(from).Round(10 * time.Millisecond).String()
}

// silentPause qualifies a stall by a rescuer of kind (python, rust) that announced no pause.
func silentPause(end rescueEnd, kind string) string {
	if end != stalled || kind != "python" {
		return ""
	}
	return "; a Python rescuer cannot announce a pause of awa's rescue (awa-pg forwards none of its core's logs)"
}

func rescueEndText(cc *crashCase, held int) string {
	window := rescueStaleness + rescueSweeps*rescueSweep
	switch cc.rescue {
	case rescued:
		return "every job reached its final state"
	case stalled:
		return fmt.Sprintf("no job moved for %s (the heartbeat staleness plus %d sweeps) while the rescuer led maintenance (from %s after the kill)", window, rescueSweeps, since(cc.killedAt, cc.leaderAt))
	case neverLed:
		return fmt.Sprintf("the rescuer never reported leading maintenance within %s of starting, so nothing could rescue the %d held jobs", window, held)
	case rescuerExited:
		return "the rescuer exited before the jobs were done"
	}
	return "the cell's time ran out"
}

// stateCounts summarizes many jobs: "100 running/attempt 1, 1 completed/attempt 1".
func stateCounts(jobs []oracle.Job) string {
	type key struct {
		state   oracle.JobState
		attempt int
	}
	n := map[key]int{}
	var order []key
	for _, j := range jobs {
		k := key{j.State, j.Attempt}
		if n[k] == 0 {
			order = append(order, k)
		}
		n[k]++
	}
	return joinEach(order, ", ", "(no rows)", func(k key) string { return fmt.Sprintf("%d %s/attempt %d", n[k], k.state, k.attempt) })
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// idRanges writes ids compactly: "1-20, 22".
func idRanges(ids []int64) string {
	ids = slices.Sorted(slices.Values(ids))
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", ids[i], ids[j]))
		} else {
			parts = append(parts, fmt.Sprint(ids[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}
