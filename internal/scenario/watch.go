package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	awaversion "github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

// pollEvery is how often a watch re-reads the database.
const pollEvery = 200 * time.Millisecond

// stopMargin is the part of the cell's deadline a wait leaves for stopping probes and judging.
const stopMargin = 10 * time.Second

// errWatchDeadline means a scenario's own wait ran out (the cell still had time).
var errWatchDeadline = errors.New("wait deadline passed")

// waitFor is the one poll loop: it calls check every `every` until check reports done, the
// wait's budget d passes (errWatchDeadline), ctx ends (ctx's error), or check fails. stop,
// when non-nil, also ends the wait early (with nil).
func waitFor(ctx context.Context, d, every time.Duration, stop <-chan struct{}, check func() (bool, error)) error {
	if c, ok := ctx.Value(waitClockKey{}).(*waitClock); ok {
		defer c.add(time.Now())
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		done, err := check()
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return errWatchDeadline
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
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
	// live are the runtimes that proved the worker live, when it is inert.
	live []oracle.Runtime
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
	// Cells always have a deadline; the hour only bounds a ctx without one.
	err = waitFor(ctx, watchBudget(ctx, time.Hour), pollEvery, w.worker.Done(), func() (bool, error) {
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
		ok, live, err := w.inert(ctx, res.jobs)
		if ok {
			res.end, res.live = inert, live
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

// inert reports whether the worker has provably left the jobs alone: every job untouched for
// env.Inert since it was ready and they were due, its runtime heartbeating, and not one
// handler call.
func (w watch) inert(ctx context.Context, jobs []oracle.Job) (bool, []oracle.Runtime, error) {
	since := w.readyAt
	if w.dueAt.After(since) {
		since = w.dueAt
	}
	if w.readyAt.IsZero() || !untouched(jobs) || time.Since(since) < w.env.Inert {
		return false, nil, nil
	}
	live, err := w.o.Runtimes(ctx, 30*time.Second)
	if err != nil {
		return false, nil, err
	}
	if hasRuntime(live, w.env.Probes[w.role].Version) && countEvents(w.worker.All(), probes.EventHandled) == 0 {
		return true, live, nil
	}
	return false, live, nil
}

// inertOutcome is the verdict for a provably idle worker.
func inertOutcome(env Env, role string, n int, live []oracle.Runtime) Outcome {
	w := env.Probes[role]
	out := Outcome{Verdict: matrix.Inert, Detail: fmt.Sprintf("%s %s %s was live (ready event, runtime heartbeat) for %s and claimed none of %d jobs",
		role, w.Kind, w.Version, env.Inert, n)}
	out.find("live runtimes: %s", runtimesString(live))
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
