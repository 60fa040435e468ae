package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/poll"
	awaversion "github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

// pollEvery is how often a watch re-reads the database while something is happening.
const pollEvery = 200 * time.Millisecond

// quietEvery is how often a watch re-reads the database while the probes it follows are quiet.
// A read is not free: on queue storage the oracle's job read costs tens of milliseconds of
// server CPU (awa.jobs is a function that plans its query over every ring partition on each
// call), and most of a wait is quiet: a heartbeat going stale, a run_at coming due, an idle
// worker proving itself inert. What ends a wait follows a probe's event (a job handled, a
// step answered) or is due by the probes' own evidence (the inert window), and both make the
// next read come at once.
const quietEvery = time.Second

// readGate paces a watch's database reads: every pollEvery tick while one of procs reported
// something other than a health check within quietEvery, otherwise every quietEvery, and at
// once when the caller's evidence says a read can end the wait. Before notBefore, when the
// awaited state cannot hold yet by awa's own timing (a run_at not yet due), only the caller's
// evidence makes a read.
type readGate struct {
	procs     []active
	notBefore time.Time
	last      time.Time
}

// active is a process whose last sign of activity a readGate follows (a *probes.Proc).
type active interface{ ActiveAt() time.Time }

// due reports whether the tick at now reads (and counts it as the last read when it does).
func (g *readGate) due(now time.Time, urgent bool) bool {
	if !urgent && now.Before(g.notBefore) {
		return false
	}
	read := urgent || g.last.IsZero() || now.Sub(g.last) >= quietEvery
	for _, p := range g.procs {
		read = read || now.Sub(p.ActiveAt()) < quietEvery
	}
	if read {
		g.last = now
	}
	return read
}

// stopMargin is the part of the cell's deadline a wait leaves for stopping probes and judging.
const stopMargin = 10 * time.Second

// errWatchDeadline means a scenario's own wait ran out (the cell still had time).
var errWatchDeadline = poll.ErrDeadline

// waitFor is the scenarios' poll loop: poll.Until, with the time it takes added to the
// scenario's wait clock.
func waitFor(ctx context.Context, d, every time.Duration, stop <-chan struct{}, check func() (bool, error)) error {
	if c, ok := ctx.Value(waitClockKey{}).(*waitClock); ok {
		defer c.add(time.Now())
	}
	return poll.Until(ctx, d, every, stop, check)
}

// waitClock adds up a scenario's time in waitFor (Outcome.Waited), for the benchmark's
// breakdown of where a run's time goes. Run puts one in the scenario's context.
type waitClock struct {
	mu sync.Mutex
	d  time.Duration
}

type waitClockKey struct{}

func (c *waitClock) add(since time.Time) {
	c.mu.Lock()
	c.d += time.Since(since)
	c.mu.Unlock()
}

func (c *waitClock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.d
}

// watchBudget is how long a wait may take: up to d, but leaving stopMargin of the cell's
// deadline.
func watchBudget(ctx context.Context, d time.Duration) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) - stopMargin; left < d {
			return max(left, time.Second)
		}
	}
	return d
}

// watch follows a running worker while a scenario waits for its effect in the database.
type watch struct {
	o      *oracle.Oracle
	env    Env
	role   string
	worker *probes.Proc
	// readyAt is when the worker said it was ready.
	readyAt time.Time
	// dueAt is when the jobs became claimable, when that is after readyAt (a run_at ahead):
	// the inert window starts at the later of the two.
	dueAt time.Time
	// handles is how many handler calls the worker must report before the awaited state can
	// hold (0: no such bound): the jobs are not read before them, unless the inert evidence
	// asks (a job completes only after its handler returned).
	handles int
}

// watchEnd is why a watch ended.
type watchEnd int

const (
	// exited: the worker exited first; the scenario judges what it left behind.
	exited watchEnd = iota
	// reached: what the scenario waited for holds.
	reached
	// inert: the worker was provably live and left the jobs alone for env.Inert.
	inert
	// engineChanged: the storage engine changed underneath (the runner reports that).
	engineChanged
	// outOfTime: the budget ended; the cell still has stopMargin to stop and judge.
	outOfTime
)

// watched is how a watch ended, with the jobs as last read.
type watched struct {
	end  watchEnd
	jobs []oracle.Job
	// evidence says why the worker is inert, when it is.
	evidence inertEvidence
}

// until reads the jobs ids until cond holds for them, the worker proves inert or exits, the
// storage engine changes, or the budget (the cell's deadline less stopMargin) ends. ctx
// ending and the oracle failing are errors.
func (w watch) until(ctx context.Context, ids []int64, cond func([]oracle.Job) bool) (watched, error) {
	engine0, err := w.o.Engine(ctx)
	if err != nil {
		return watched{}, err
	}
	res := watched{end: exited}
	// Nothing can be claimed before the jobs are due.
	gate := readGate{procs: []active{w.worker}, notBefore: w.dueAt}
	// Cells always have a deadline; the hour only bounds a ctx without one.
	err = waitFor(ctx, watchBudget(ctx, time.Hour), pollEvery, w.worker.Done(), func() (bool, error) {
		evidence := w.inertEvents()
		if !evidence.held && countEvents(w.worker.All(), probes.EventHandled) < w.handles {
			return false, nil
		}
		if !gate.due(time.Now(), evidence.held) {
			return false, nil
		}
		var err error
		if res.jobs, err = w.o.Jobs(ctx, ids); err != nil {
			return false, err
		}
		if cond(res.jobs) {
			res.end = reached
			return true, nil
		}
		if e, err := w.o.Engine(ctx); err == nil && e.Active() != engine0.Active() {
			res.end = engineChanged
			return true, nil
		}
		ok, ev, err := w.inert(ctx, evidence, res.jobs)
		if ok {
			res.end, res.evidence = inert, ev
		}
		return ok, err
	})
	switch {
	case errors.Is(err, errWatchDeadline):
		res.end = outOfTime
	case ctx.Err() != nil:
		return res, fmt.Errorf("waiting on jobs %s: %w", statesString(res.jobs), ctx.Err())
	case err != nil:
		return res, err
	}
	return res, nil
}

// workPoll is the poll interval every scenario worker runs with (its SDK's public knob): short,
// so a worker that can claim does so at once, and one that cannot has polled many times within
// the inert window.
const workPoll = 50 * time.Millisecond

// healthEvery is how often a scenario worker reports its client's own health check.
const healthEvery = 250 * time.Millisecond

// workStep is the one way a scenario starts a worker: queue, what its handler does, how many
// at once, the short poll interval and the health reports an inert verdict rests on, and the
// cell's deadline.
func workStep(ctx context.Context, queue string, behavior probes.Behavior, maxWorkers int) probes.Step {
	return probes.Step{Op: probes.OpWork, Queue: queue, MaxWorkers: maxWorkers, Behavior: behavior, TimeoutMS: deadlineMS(ctx),
		PollMS: int(workPoll.Milliseconds()), HealthMS: int(healthEvery.Milliseconds())}
}

// inertEvidence is what proves a worker had every chance to claim the jobs and did not.
type inertEvidence struct {
	// live are the runtime rows that show the worker registered with awa.
	live []oracle.Runtime
	// checks are its health reports after the jobs were due, all saying its poll loop and
	// heartbeat were alive; span is how long they cover.
	checks int
	span   time.Duration
	// sawAvailable is the most jobs the worker's own health check saw available in its queue
	// (-1 when its release does not report it).
	sawAvailable int64
	// held: the worker's events alone make the case (the jobs and its runtime row remain).
	held bool
}

// inert reports whether the worker has provably left the jobs alone: it said it was ready; its
// own health check, reported at least twice after the jobs were due, says its poll loop and
// heartbeat were alive for env.Inert (polling every workPoll: dozens of chances to claim); its
// runtime row is registered; the jobs are untouched; and not one handler call came. ev is the
// worker's events' part of it (inertEvents), read once per tick by the caller.
func (w watch) inert(ctx context.Context, ev inertEvidence, jobs []oracle.Job) (bool, inertEvidence, error) {
	if !ev.held || !untouched(jobs) {
		return false, ev, nil
	}
	var err error
	if ev.live, err = w.o.Runtimes(ctx, 30*time.Second); err != nil {
		return false, ev, err
	}
	return hasRuntime(ev.live, w.env.Probes[w.role].Version), ev, nil
}

// inertEvents is the part of the inert evidence in the worker's own events: ready, no handler
// call, and health reports all alive over env.Inert since the jobs were due (held).
func (w watch) inertEvents() inertEvidence {
	ev := inertEvidence{sawAvailable: -1}
	since := w.readyAt
	if w.dueAt.After(since) {
		since = w.dueAt
	}
	if w.readyAt.IsZero() {
		return ev
	}
	var last time.Time
	for _, e := range w.worker.All() {
		switch {
		case e.Event == probes.EventHandled:
			return ev
		case e.Event != probes.EventHealth || e.At.Before(since):
		case !e.PollLoopAlive || !e.HeartbeatAlive || !e.PostgresConnected || e.ShuttingDown:
			return ev // not provably live: no inert verdict from this worker
		default:
			ev.checks++
			last = e.At
			if e.Available != nil {
				ev.sawAvailable = max(ev.sawAvailable, *e.Available)
			}
		}
	}
	ev.span = last.Sub(since)
	ev.held = ev.checks >= 2 && ev.span >= w.env.Inert
	return ev
}

// inertOutcome is the verdict for a provably idle worker, with the evidence.
func inertOutcome(env Env, role string, n int, ev inertEvidence) Outcome {
	w := env.Probes[role]
	saw := ""
	if ev.sawAvailable >= 0 {
		saw = fmt.Sprintf(", seeing %d job(s) available in its queue,", ev.sawAvailable)
	}
	out := Outcome{Verdict: matrix.Inert, InertEvidence: ev.span, Detail: fmt.Sprintf(
		"%s %s %s was live and idle: ready, registered with awa, and its own health check reported its poll loop and heartbeat alive %d times over %s (polling every %s: about %d chances to claim)%s while the database held %d due job(s), none claimed",
		role, w.Kind, w.Version, ev.checks, ev.span.Round(10*time.Millisecond), workPoll, int(ev.span/workPoll), saw, n)}
	out.find("live runtimes: %s", runtimesString(ev.live))
	return out
}

// untouched is true when no job was ever claimed: all available or scheduled, attempt 0.
func untouched(jobs []oracle.Job) bool {
	for _, j := range jobs {
		if j.Attempt != 0 || (j.State != oracle.JobStateAvailable && j.State != oracle.JobStateScheduled) {
			return false
		}
	}
	return len(jobs) > 0
}

func hasRuntime(rts []oracle.Runtime, version string) bool {
	for _, r := range rts {
		if r.Version == version || awaversion.Equal(r.Version, version) {
			return true
		}
	}
	return false
}

func countEvents(evs []probes.Event, kind probes.EventName) int {
	n := 0
	for _, e := range evs {
		if e.Event == kind {
			n++
		}
	}
	return n
}
