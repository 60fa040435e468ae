package scenario

import (
	"context"
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
func upgradeBacklog(ctx context.Context, env Env) Outcome {
	if env.UpgradedFrom == "" {
		return Outcome{Verdict: matrix.Error, Detail: "upgrade_backlog runs on upgraded-from schema paths only"}
	}
	// Unscoped: the pre-upgrade jobs were created before the cell.
	o, err := oracle.Open(ctx, env.URL)
	if err != nil {
		return errorOutcome(ctx, err)
	}
	defer o.Close(context.WithoutCancel(ctx))
	ids, err := o.JobIDsInQueue(ctx, migrate.UpgradeQueue)
	if err != nil {
		return errorOutcome(ctx, err)
	}
	jobs, err := o.Jobs(ctx, ids)
	if err != nil {
		return errorOutcome(ctx, err)
	}
	var out Outcome
	if len(ids) != migrate.UpgradeJobs {
		out.find("found %d jobs in %s, the old release enqueued %d", len(ids), migrate.UpgradeQueue, migrate.UpgradeJobs)
		out.Verdict, out.Detail = matrix.Fail, "pre-upgrade work is missing or duplicated"
		return out
	}
	drained := allState(jobs, ids, "completed")
	var worker *probes.Proc
	var readyAt time.Time
	w := env.Probes["worker"]
	if !drained {
		worker, err = probes.Start(ctx, w.Argv, probes.Spec{DatabaseURL: env.URL, Kind: Kind, Steps: []probes.Step{{
			Op: "work", Queue: migrate.UpgradeQueue, MaxWorkers: 2, Behavior: "complete", TimeoutMS: deadlineMS(ctx),
		}}}, env.Dir, "worker")
		if err != nil {
			return errorOutcome(ctx, err)
		}
		defer func() {
			worker.Stop()
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			worker.Wait(wctx)
		}()
		if readyAt, err = waitReady(ctx, worker); err != nil {
			if e := firstError(worker.All()); e != nil {
				return Outcome{Verdict: matrix.Refused, Error: e, Detail: fmt.Sprintf("worker refused to start: %s: %s", e.Class, e.Message)}
			}
			return errorOutcome(ctx, fmt.Errorf("worker: %w; stderr: %s", err, StderrTail(env.Dir, "worker", 8)))
		}
	}
	inert := false
	var live []oracle.Runtime
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for !drained {
		if jobs, err = o.Jobs(ctx, ids); err != nil {
			return errorOutcome(ctx, err)
		}
		if allState(jobs, ids, "completed") {
			break
		}
		if untouched(jobs) && time.Since(readyAt) >= env.Inert {
			if live, err = o.Runtimes(ctx, 30*time.Second); err != nil {
				return errorOutcome(ctx, err)
			}
			if hasRuntime(live, w.Version) && countEvents(worker.All(), "handled") == 0 {
				inert = true
				break
			}
		}
		select {
		case <-ctx.Done():
			return Outcome{Verdict: matrix.Timeout, Detail: "pre-upgrade jobs in states " + statesString(jobs)}
		case <-worker.Done():
			jobs, _ = o.Jobs(context.WithoutCancel(ctx), ids)
			drained = true // judged below from what the database holds
		case <-tick.C:
		}
	}
	byRef := map[int64]int{}
	for n := 1; n <= migrate.UpgradeJobs; n++ {
		want := mustJSON(migrate.UpgradeArgs(env.UpgradedFrom, n))
		found := false
		for _, j := range jobs {
			if jsonEqual(j.Args, want) {
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
		out.Verdict = matrix.Inert
		out.Detail = fmt.Sprintf("worker %s %s was live for %s and claimed none of the %d pre-upgrade jobs", w.Kind, w.Version, env.Inert, len(ids))
		out.find("live runtimes: %s", runtimesString(live))
	case allState(jobs, ids, "completed") && len(out.Findings) == 0:
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
	return out
}
