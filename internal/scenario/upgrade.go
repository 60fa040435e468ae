package scenario

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

// upgradeBacklog checks the work the old release enqueued before the upgrade: every job is
// still there exactly once with its args, and ends completed. Under canonical the jobs are
// still available and the cell's worker must complete them; under queue_storage the staged
// transition's canonical_drain worker already did, and the cell confirms it.
func upgradeBacklog(ctx context.Context, env Env) (Outcome, error) {
	if env.UpgradedFrom.IsZero() {
		return Outcome{}, errors.New("upgrade_backlog runs on upgraded-from schema paths only")
	}
	// Unscoped: the pre-upgrade jobs were created before the cell.
	o, err := oracle.Open(ctx, env.URL)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	ids, err := o.JobIDsInQueue(ctx, migrate.UpgradeQueue)
	if err != nil {
		return Outcome{}, err
	}
	jobs, err := o.Jobs(ctx, ids)
	if err != nil {
		return Outcome{}, err
	}
	var out Outcome
	if len(ids) != migrate.UpgradeJobs {
		out.find("found %d jobs in %s, the old release enqueued %d", len(ids), migrate.UpgradeQueue, migrate.UpgradeJobs)
		out.Verdict, out.Detail = matrix.Fail, "pre-upgrade work is missing or duplicated"
		return out, nil
	}
	drained := allState(jobs, ids, oracle.JobStateCompleted)
	var (
		worker *probes.Proc
		inert  bool
		live   []oracle.Runtime
		werr   error
	)
	if !drained {
		var readyAt time.Time
		worker, readyAt, err = startReady(ctx, env, "worker", "worker", []probes.Step{{
			Op: probes.OpWork, Queue: migrate.UpgradeQueue, MaxWorkers: 2, Behavior: probes.BehaviorComplete, TimeoutMS: deadlineMS(ctx),
		}})
		if err != nil {
			return Outcome{}, err
		}
		defer stopProbe(ctx, worker)
		werr = waitFor(ctx, watchBudget(ctx, time.Hour), worker.Done(), func() (bool, error) {
			var err error
			if jobs, err = o.Jobs(ctx, ids); err != nil {
				return false, err
			}
			if allState(jobs, ids, oracle.JobStateCompleted) {
				return true, nil
			}
			inert, live, err = workerInert(ctx, o, env, "worker", worker, readyAt, readyAt, jobs)
			return inert, err
		})
		if werr != nil && ctx.Err() == nil && werr != errWatchDeadline {
			return Outcome{}, werr
		}
		stopProbe(ctx, worker)
		if j, err := o.Jobs(context.WithoutCancel(ctx), ids); err == nil {
			jobs = j
		}
	}
	byRef := map[int64]int{}
	for n := 1; n <= migrate.UpgradeJobs; n++ {
		want := mustJSON(migrate.UpgradeArgs(env.UpgradedFrom, n))
		found := false
		for _, j := range jobs {
			if jsonDiff(j.Args, want) == "" {
				byRef[j.ID]++
				found = true
			}
		}
		if !found {
			out.find("no pre-upgrade job carries args %s", want)
		}
	}
	for id, n := range byRef {
		if n > 1 {
			out.find("job %d matches %d pre-upgrade payloads", id, n)
		}
	}
	switch {
	case inert:
		return inertOutcome(env, "worker", len(ids), live), nil
	case ctx.Err() != nil || werr == errWatchDeadline:
		out.Verdict = matrix.Timeout
		out.Detail = "pre-upgrade jobs in states " + statesString(jobs)
	case allState(jobs, ids, oracle.JobStateCompleted) && len(out.Findings) == 0:
		out.Verdict = matrix.Pass
		if worker == nil {
			out.Detail = fmt.Sprintf("the %d jobs awa %s enqueued before the upgrade were drained and completed during the staged transition, args intact", len(ids), env.UpgradedFrom)
		} else {
			out.Detail = fmt.Sprintf("the %d jobs awa %s enqueued before the upgrade were completed by the worker after it, args intact", len(ids), env.UpgradedFrom)
		}
	default:
		out.Verdict = matrix.Fail
		out.Detail = "pre-upgrade jobs ended in states " + statesString(jobs)
	}
	return out, nil
}
