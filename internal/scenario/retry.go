package scenario

import (
	"context"
	"fmt"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const retryQueue = "awacompat_retry"

// retry: the producer enqueues one job; the worker's handler asks for a retry on attempt 1
// (the shortest retry its SDK allows) and completes attempt 2. Pass: the database shows the
// job completed at attempt 2, args intact, and the worker reported exactly two handler calls
// for it, attempt 1 "retry" and attempt 2 "completed".
func retry(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	args := cellArgs(env, "retry", nonce(env), 1)
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{{Op: probes.OpEnqueue, Ref: "r1", Queue: retryQueue, Args: args}})
	if err != nil {
		return Outcome{}, err
	}
	id := ids["r1"]
	worker, readyAt, err := startReady(ctx, env, "worker", "worker", []probes.Step{workStep(ctx, retryQueue, probes.BehaviorFailOnce, 1)})
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, worker)
	// fail_once: the job completes at its second handler call.
	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, handles: 2}
	res, err := w.until(ctx, []int64{id}, func(jobs []oracle.Job) bool { return allState(jobs, []int64{id}, oracle.JobStateCompleted) })
	if err != nil {
		return Outcome{}, err
	}
	wevs := stopProbe(ctx, worker)
	if res.end == inert {
		return inertOutcome(env, "worker", 1, res.evidence), nil
	}
	out := judgeRetry(id, res.jobs, handledByJob(wevs)[id], args)
	if out.Verdict == matrix.Pass {
		out.Detail += " in " + env.Engine
	} else if e := firstError(wevs); e != nil {
		out.Error = e
	}
	return out, nil
}

// judgeRetry decides retry from the job's rows and the worker's handler calls for it.
func judgeRetry(id int64, jobs []oracle.Job, hs []probes.Event, args map[string]any) Outcome {
	var out Outcome
	row, f := oneRow(jobs, id)
	if f != "" {
		out.find("%s", f)
	} else {
		if row.State != oracle.JobStateCompleted || row.Attempt != 2 {
			out.find("job %d is %s at attempt %d, want completed at attempt 2", id, row.State, row.Attempt)
		}
		if d := jsonDiff(row.Args, mustJSON(args)); d != "" {
			out.find("job %d args differ from what was sent: %s", id, d)
		}
	}
	want := []struct {
		attempt int
		result  probes.HandlerResult
	}{{1, probes.ResultRetry}, {2, probes.ResultCompleted}}
	if len(hs) != len(want) {
		out.find("the worker reported %d handler calls for job %d (%s), want 2", len(hs), id, callsString(hs))
	}
	for i := 0; i < min(len(hs), len(want)); i++ {
		if hs[i].Attempt != want[i].attempt || hs[i].Result != want[i].result {
			out.find("handler call %d for job %d was attempt %d -> %s, want attempt %d -> %s", i+1, id, hs[i].Attempt, hs[i].Result, want[i].attempt, want[i].result)
		}
	}
	if len(out.Findings) == 0 {
		out.Verdict = matrix.Pass
		out.Detail = fmt.Sprintf("job %d: attempt 1 asked for a retry, attempt 2 completed; the database shows completed at attempt 2, args intact,", id)
		return out
	}
	out.Verdict = matrix.Fail
	out.Detail = fmt.Sprintf("the retried job ended %s", statesString(jobs))
	return out
}

func callsString(hs []probes.Event) string {
	return joinEach(hs, ", ", "none", func(h probes.Event) string { return fmt.Sprintf("attempt %d -> %s", h.Attempt, h.Result) })
}
