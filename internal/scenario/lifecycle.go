package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const lifecycleQueue = "awacompat_lifecycle"

// lifecycleArgs are distinctive enough that a mangled or swapped payload shows; 2^53+1 is lost
// by any layer that goes through a float64.
func lifecycleArgs(cellID string, n int) map[string]any {
	return map[string]any{
		"cell":   cellID,
		"n":      n,
		"text":   fmt.Sprintf("héllo wörld ✓ #%d", n),
		"big":    int64(1)<<53 + 1,
		"nested": map[string]any{"list": []any{1, 2.5, map[string]any{"k": "v"}}, "null": nil, "yes": true},
	}
}

// lifecycle: the producer enqueues two jobs, the worker starts (the database is not empty, so
// a default worker cannot auto-finalize a canonical database), the producer enqueues a third
// job while the worker runs, and the worker must claim and complete all three, each once.
func lifecycle(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	sent := map[string]map[string]any{}
	ids := map[string]int64{}
	// produce enqueues jobs ns with lifecycle args and records their ids.
	produce := func(name string, ns ...int) error {
		var steps []probes.Step
		for _, n := range ns {
			ref := fmt.Sprintf("j%d", n)
			sent[ref] = lifecycleArgs(env.CellID, n)
			steps = append(steps, probes.Step{Op: probes.OpEnqueue, Ref: ref, Queue: lifecycleQueue, Args: sent[ref]})
		}
		got, _, err := enqueue(ctx, env, "producer", name, steps)
		for ref, id := range got {
			ids[ref] = id
		}
		return err
	}

	if err := produce("producer-1", 1, 2); err != nil {
		return Outcome{}, err
	}

	worker, readyAt, err := startReady(ctx, env, "worker", "worker", []probes.Step{workStep(ctx, lifecycleQueue, probes.BehaviorComplete, 2)})
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, worker)

	if err := produce("producer-2", 3); err != nil {
		return Outcome{}, err
	}
	want := []int64{ids["j1"], ids["j2"], ids["j3"]}

	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, handles: len(want)}
	res, err := w.until(ctx, want, func(jobs []oracle.Job) bool { return allState(jobs, want, oracle.JobStateCompleted) })
	if err != nil {
		return Outcome{}, err
	}
	wevs := stopProbe(ctx, worker)
	if res.end == inert {
		return inertOutcome(env, "worker", len(want), res.evidence), nil
	}
	// A worker that exited early is judged from what it left behind.
	jobs := res.jobs
	if j, err := o.Jobs(context.WithoutCancel(ctx), want); err == nil {
		jobs = j
	}

	out := Outcome{}
	judgeJobs(&out, jobs, want, sent, ids, env.Engine)
	judgeHandled(&out, handledByJob(wevs), sent, ids)
	switch {
	case allState(jobs, want, oracle.JobStateCompleted) && len(out.Findings) == 0:
		out.Verdict = matrix.Pass
		out.Detail = fmt.Sprintf("%d jobs enqueued, each claimed and completed once (attempt 1), args intact, stored in %s", len(want), env.Engine)
	case ctx.Err() != nil || res.end == outOfTime:
		out.Verdict = matrix.Timeout
		out.Detail = fmt.Sprintf("deadline passed with jobs in states %s", statesString(jobs))
	default:
		if e := firstError(wevs); e != nil {
			out.Error = e
		}
		out.Verdict = matrix.Fail
		out.Detail = fmt.Sprintf("jobs ended in states %s", statesString(jobs))
	}
	return out, nil
}

// judgeHandled records what the worker's handler calls say against what was sent.
func judgeHandled(out *Outcome, handled map[int64][]probes.Event, sent map[string]map[string]any, ids map[string]int64) {
	for _, ref := range slices.Sorted(maps.Keys(ids)) {
		id := ids[ref]
		hs := handled[id]
		if len(hs) > 1 {
			out.find("worker reported job %d handled %d times", id, len(hs))
		}
		if len(hs) >= 1 {
			if d := jsonDiff(hs[0].Args, mustJSON(sent[ref])); d != "" {
				out.find("worker saw other args for job %d than the producer sent: %s", id, d)
			}
		}
	}
}

// judgeJobs records what the database holds for each job against what was sent.
func judgeJobs(out *Outcome, jobs []oracle.Job, want []int64, sent map[string]map[string]any, ids map[string]int64, engine string) {
	stored := byID(jobs)
	for _, ref := range slices.Sorted(maps.Keys(ids)) {
		id := ids[ref]
		rows := stored[id]
		switch {
		case len(rows) == 0:
			out.find("job %d (%s) is missing from the database", id, ref)
			continue
		case len(rows) > 1:
			out.find("job %d (%s) is stored %d times (%s)", id, ref, len(rows), locations(rows))
		}
		j := rows[0]
		if d := jsonDiff(j.Args, mustJSON(sent[ref])); d != "" {
			out.find("job %d args in the database differ from what was sent: %s", id, d)
		}
		if j.Kind != probes.JobKind {
			out.find("job %d has kind %q, want %q", id, j.Kind, probes.JobKind)
		}
		if j.State == oracle.JobStateCompleted && j.Attempt != 1 {
			out.find("job %d completed on attempt %d, want 1", id, j.Attempt)
		}
		if j.Location != engine {
			out.find("job %d lives in %s storage, but the database runs %s", id, j.Location, engine)
		}
	}
}

func deadlineMS(ctx context.Context) int64 {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d).Milliseconds(), 1000)
	}
	return 120_000
}

func allState(jobs []oracle.Job, want []int64, state oracle.JobState) bool {
	got := map[int64]bool{}
	for _, j := range jobs {
		if j.State != state {
			return false
		}
		got[j.ID] = true
	}
	for _, id := range want {
		if !got[id] {
			return false
		}
	}
	return true
}

func handledByJob(evs []probes.Event) map[int64][]probes.Event {
	out := map[int64][]probes.Event{}
	for _, e := range evs {
		if e.Event == probes.EventHandled && e.JobID != nil {
			out[*e.JobID] = append(out[*e.JobID], e)
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func locations(rows []oracle.Job) string {
	return joinEach(rows, ", ", "", func(r oracle.Job) string { return r.Location + ":" + string(r.State) })
}

func statesString(jobs []oracle.Job) string {
	return joinEach(jobs, ", ", "(no rows)", func(j oracle.Job) string {
		return fmt.Sprintf("%d=%s/attempt %d/%s", j.ID, j.State, j.Attempt, j.Location)
	})
}

func runtimesString(rts []oracle.Runtime) string {
	return joinEach(rts, "; ", "none", func(r oracle.Runtime) string {
		return fmt.Sprintf("awa %s capability=%s role=%s last_seen=%s", r.Version, r.StorageCapability, r.TransitionRole, r.LastSeen.Format(time.RFC3339))
	})
}

// joinEach formats each element and joins them with sep; empty is what an empty slice shows.
func joinEach[T any](xs []T, sep, empty string, f func(T) string) string {
	if len(xs) == 0 {
		return empty
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, sep)
}
