package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const uniqueQueue = "awacompat_unique"

// uniqueDedupe: producer enqueues a unique (by_args) scheduled job; producer2, possibly another
// release, enqueues the same kind, args, queue and unique options. awa derives the unique key
// client-side (BLAKE3 over kind and sorted args), so the two releases must derive the same key:
// producer2 must get UniqueConflict and the database must hold exactly one job with those args.
func uniqueDedupe(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	args := cellArgs(env, "unique_dedupe", nonce(env), 1)
	// A payload whose key order differs from its sorted order, so a release that hashes the
	// args as written rather than sorted would show.
	args["zz_last"] = map[string]any{"b": 2, "a": 1}
	args["aa_first"] = []any{"x", map[string]any{"k2": true, "k1": nil}}
	runAt, _ := futureRFC3339(time.Hour)
	step := probes.Step{Op: probes.OpEnqueue, Queue: uniqueQueue, Args: args, RunAt: runAt, Unique: &probes.Unique{ByArgs: true}}

	s1 := step
	s1.Ref = "first"
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{s1})
	if err != nil {
		return Outcome{}, err
	}
	s2 := step
	s2.Ref = "second"
	evs, err := runSteps(ctx, env, "producer2", "producer2", []probes.Step{s2})
	if err != nil {
		return Outcome{}, err
	}
	rows, err := o.JobsByArgs(ctx, probes.JobKind, mustJSON(args))
	if err != nil {
		return Outcome{}, err
	}
	e, _ := eventFor(evs, "second")
	return judgeDedupe(env, ids["first"], e, rows), nil
}

// judgeDedupe decides unique_dedupe from producer2's answer and the rows holding the args.
func judgeDedupe(env Env, first int64, second probes.Event, rows []oracle.Job) Outcome {
	var out Outcome
	p1, p2 := env.Probes["producer"], env.Probes["producer2"]
	who := fmt.Sprintf("%s %s then %s %s", p1.Kind, p1.Version, p2.Kind, p2.Version)
	distinct := map[int64]bool{}
	for _, r := range rows {
		distinct[r.ID] = true
	}
	keys := func() string {
		s := ""
		for i, r := range rows {
			if i > 0 {
				s += ", "
			}
			k := r.UniqueKey
			if k == "" {
				k = "(none)"
			}
			s += fmt.Sprintf("job %d unique_key=%s (%s, %s)", r.ID, k, r.State, r.Location)
		}
		return s
	}
	if !distinct[first] {
		out.find("the first producer's job %d is not among the rows with its args: %s", first, keys())
	}
	switch {
	case second.Event == probes.EventError && second.Class == "UniqueConflict":
		if len(rows) == 1 && distinct[first] {
			out.Verdict = matrix.Pass
			out.Detail = fmt.Sprintf("%s: the duplicate raised UniqueConflict and the database holds one job (%d) with those args, in %s", who, first, env.Engine)
			return out
		}
		out.Error = errorInfo(second)
		out.find("producer2 got UniqueConflict, but the database holds %d rows with those args: %s", len(rows), keys())
	case second.Event == probes.EventError:
		out.Error = errorInfo(second)
		out.find("producer2's duplicate was rejected with %s: %s, not UniqueConflict", second.Class, second.Message)
		if len(rows) != 1 {
			out.find("the database holds %d rows with those args: %s", len(rows), keys())
		}
	case second.Event == probes.EventEnqueued:
		id := int64(0)
		if second.JobID != nil {
			id = *second.JobID
		}
		if len(distinct) >= 2 {
			out.find("producer2 enqueued a second job %d with the same kind, args and unique options: the unique-key derivation differs across the two versions (%s)", id, keys())
		} else {
			out.find("producer2's duplicate enqueue succeeded (job %d) without UniqueConflict; the database holds %d rows: %s", id, len(rows), keys())
		}
	default:
		out.find("producer2 gave no answer to its enqueue (last event %q)", second.Event)
	}
	out.Verdict = matrix.Fail
	out.Detail = fmt.Sprintf("%s: the duplicate was not rejected as UniqueConflict with one row left", who)
	return out
}
