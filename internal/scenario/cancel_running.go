package scenario

import (
	"context"
	"errors"
	"fmt"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const cancelRunningQueue = "awacompat_cancel_running"

// cancelByUniqueKeyRunning: the worker's own probe enqueues a unique job and then starts a
// worker whose handler holds the job; once the database shows it running (and the handler
// reported it), the admin cancels it by kind+args.
//
// What awa does (awa-model 0.6.9 admin::cancel, both engines): a running job is cancelled at
// once, without waiting for its handler. Canonical: the row becomes `cancelled`
// (finalized_at set) and `awa:cancel` is NOTIFYed to the worker. Queue storage: the lease is
// deleted, a `cancelled` done row is written, the receipt is closed and the worker notified.
// The handler keeps running until it returns; its late completion must not resurrect the job.
//
// So pass means: right after the cancel the database shows the job cancelled, and after the
// held handler returned and the worker shut down it is still cancelled, attempt 1, one row,
// handled once. A worker that never claims the job while provably live is inert.
func cancelByUniqueKeyRunning(ctx context.Context, env Env) (Outcome, error) {
	if env.Probes["admin"].Kind == "cli" {
		return Outcome{}, errors.New("cancel_by_unique_key_running needs a python or rust admin: the awa CLI has no cancel-by-unique-key command")
	}
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	args := cellArgs(env, "cancel_by_unique_key_running", nonce(env), 1)
	worker, readyAt, err := startReady(ctx, env, "worker", "worker", []probes.Step{
		{Op: probes.OpEnqueue, Ref: "u1", Queue: cancelRunningQueue, Args: args, Unique: &probes.Unique{ByArgs: true}},
		workStep(ctx, cancelRunningQueue, probes.BehaviorHold, 1),
	})
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, worker)
	var id int64
	for _, e := range worker.All() {
		if e.Event == probes.EventEnqueued && e.Ref == "u1" && e.JobID != nil {
			id = *e.JobID
		}
	}
	if id == 0 {
		return Outcome{}, fmt.Errorf("worker probe reported no job id for its enqueue")
	}

	// Wait until the job is running in the database and its handler is executing.
	held := func(jobs []oracle.Job) bool {
		if !allState(jobs, []int64{id}, oracle.JobStateRunning) {
			return false
		}
		for _, e := range worker.All() {
			if e.Event == probes.EventHandled && e.JobID != nil && *e.JobID == id {
				return true
			}
		}
		return false
	}
	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, handles: 1}
	res, err := w.until(ctx, []int64{id}, held)
	switch {
	case err != nil:
		return Outcome{}, err
	case res.end == inert:
		return inertOutcome(env, "worker", 1, res.evidence), nil
	case res.end == outOfTime, !allState(res.jobs, []int64{id}, oracle.JobStateRunning):
		out := Outcome{Verdict: matrix.Fail, Detail: "the worker never held the job running: " + statesString(res.jobs)}
		if e := firstError(worker.All()); e != nil {
			out.Error = e
		}
		return out, nil
	}
	return cancelHeld(ctx, env, o, worker, id, args, statesOf(res.jobs))
}

// cancelHeld has the admin cancel the running job id by its args, then releases the worker's
// held handler; the cancel must take at once and stick.
func cancelHeld(ctx context.Context, env Env, o *oracle.Oracle, worker *probes.Proc, id int64, args map[string]any, before map[int64]oracle.JobState) (Outcome, error) {
	evs, err := runSteps(ctx, env, "admin", "admin", []probes.Step{{Op: probes.OpCancelByUniqueKey, Ref: "c1", Args: args}})
	if err != nil {
		return Outcome{}, err
	}
	answer := answerFrom(evs, "c1", id)
	atCancel, err := o.Jobs(ctx, []int64{id})
	if err != nil {
		return Outcome{}, err
	}
	findings, refusal, cancelled := judgeCancels(probes.OpCancelByUniqueKey, []cancelAnswer{answer}, before, atCancel)

	// Release the held handler and let the worker shut down; the cancel must stick.
	wevs := stopProbe(ctx, worker)
	final, err := o.Jobs(ctx, []int64{id})
	if err != nil {
		return Outcome{}, err
	}
	row, f := oneRow(final, id)
	if f != "" {
		findings = append(findings, f)
	}
	if cancelled && row.State != oracle.JobStateCancelled {
		findings = append(findings, fmt.Sprintf("job %d was cancelled while running, but after its handler returned it is %s: the late completion overwrote the cancel", id, row.State))
	}
	if row.ID != 0 && row.Attempt != 1 {
		findings = append(findings, fmt.Sprintf("job %d is at attempt %d, want 1 (claimed once)", id, row.Attempt))
	}
	if n := len(handledByJob(wevs)[id]); n != 1 {
		findings = append(findings, fmt.Sprintf("the worker reported job %d handled %d times, want 1", id, n))
	}
	return cancelVerdict(findings, refusal, cancelled && row.State == oracle.JobStateCancelled, fmt.Sprintf(
		"running job %d (handler holding it) cancelled by kind+args: cancelled at once and still cancelled after the handler returned, attempt 1, in %s", id, env.Engine),
		"at cancel "+statesString(atCancel)+"; after the worker stopped "+statesString(final)), nil
}
