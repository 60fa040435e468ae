package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

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
	// Under canonical nothing drained the backlog before the upgrade: the cell's worker must.
	// On a template whose staged transition drained it, the cell binds no worker (the
	// transition's canonical_drain worker did the work) and checks what it left.
	res := watched{end: reached, jobs: jobs}
	drained := allState(jobs, ids, oracle.JobStateCompleted)
	_, workerBound := env.Probes["worker"]
	if !drained && !workerBound {
		out.Verdict = matrix.Fail
		out.Detail = "the staged transition finished with the pre-upgrade jobs not completed: " + statesString(jobs)
		return out, nil
	}
	if !drained {
		if res, err = workBacklog(ctx, env, o, ids); err != nil {
			return Outcome{}, err
		}
	}
	if res.end == inert {
		return inertOutcome(env, "worker", len(ids), res.evidence), nil
	}
	out.Findings = backlogFindings(env, res.jobs)
	switch {
	case ctx.Err() != nil || res.end == outOfTime:
		out.Verdict = matrix.Timeout
		out.Detail = "pre-upgrade jobs in states " + statesString(res.jobs)
	case allState(res.jobs, ids, oracle.JobStateCompleted) && len(out.Findings) == 0:
		out.Verdict = matrix.Pass
		if drained {
			out.Detail = fmt.Sprintf("the %d jobs awa %s enqueued before the upgrade were drained and completed during the staged transition, args intact", len(ids), env.UpgradedFrom)
		} else {
			out.Detail = fmt.Sprintf("the %d jobs awa %s enqueued before the upgrade were completed by the worker after it, args intact", len(ids), env.UpgradedFrom)
		}
	default:
		out.Verdict = matrix.Fail
		out.Detail = "pre-upgrade jobs ended in states " + statesString(res.jobs)
	}
	return out, nil
}

// workBacklog starts the cell's worker on the pre-upgrade queue and watches the jobs ids
// until they are completed; the jobs are read again once the worker stopped.
func workBacklog(ctx context.Context, env Env, o *oracle.Oracle, ids []int64) (watched, error) {
	worker, readyAt, err := startReady(ctx, env, "worker", "worker", []probes.Step{workStep(ctx, migrate.UpgradeQueue, probes.BehaviorComplete, 2)})
	if err != nil {
		return watched{}, err
	}
	defer stopProbe(ctx, worker)
	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, handles: len(ids)}
	res, err := w.until(ctx, ids, func(jobs []oracle.Job) bool { return allState(jobs, ids, oracle.JobStateCompleted) })
	if err != nil {
		return res, err
	}
	stopProbe(ctx, worker)
	if j, err := o.Jobs(context.WithoutCancel(ctx), ids); err == nil {
		res.jobs = j
	}
	return res, nil
}

// backlogFindings says where the pre-upgrade jobs differ from what the old release enqueued:
// a payload no job carries, or a job that matches more than one.
func backlogFindings(env Env, jobs []oracle.Job) []string {
	var d []string
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
			d = append(d, fmt.Sprintf("no pre-upgrade job carries args %s", want))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byRef)) {
		if n := byRef[id]; n > 1 {
			d = append(d, fmt.Sprintf("job %d matches %d pre-upgrade payloads", id, n))
		}
	}
	return d
}
