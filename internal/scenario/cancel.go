package scenario

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const (
	cancelQueue     = "awacompat_cancel"
	cancelUniqQueue = "awacompat_cancel_uniq" // no worker ever serves it
)

// cancelAnswer is what the admin said about one cancel: an error, "nothing" (a null job), or
// the job it cancelled.
type cancelAnswer struct {
	Ref   string
	JobID int64 // the job the cancel was meant for
	// Err is the awa error (class CLI for the awa binary).
	Err *results.ErrorInfo
	// Null: the SDK returned nothing (cancel_by_unique_key's None).
	Null bool
	// ReturnedID and ReturnedState are what the SDK returned, when it returned a job.
	ReturnedID    int64
	ReturnedState oracle.JobState
	// Missing: no answer at all (a probe that skipped the step).
	Missing bool
}

// answerFrom reads the answer to step ref from a probe's events.
func answerFrom(evs []probes.Event, ref string, jobID int64) cancelAnswer {
	a := cancelAnswer{Ref: ref, JobID: jobID}
	e, ok := eventFor(evs, ref)
	switch {
	case !ok:
		a.Missing = true
	case e.Event == probes.EventError:
		a.Err = errorInfo(e)
	case e.Event == probes.EventCancelled && e.JobID == nil:
		a.Null = true
	case e.Event == probes.EventCancelled:
		a.ReturnedID, a.ReturnedState = *e.JobID, oracle.JobState(e.State)
	default:
		a.Missing = true
	}
	return a
}

// judgeCancels checks every answer against the database: each job must now be cancelled,
// exactly once; a job whose cancel errored must be untouched (then the error is a refusal); a
// cancel that returned nothing while the job is still live is a silent no-op (a finding).
// before holds each job's state before the cancel.
func judgeCancels(op probes.Op, answers []cancelAnswer, before map[int64]oracle.JobState, after []oracle.Job) (findings []string, refusal *results.ErrorInfo, allCancelled bool) {
	allCancelled = true
	for _, a := range answers {
		row, f := oneRow(after, a.JobID)
		if f != "" {
			findings = append(findings, f)
			allCancelled = false
			if row.ID == 0 {
				continue
			}
		}
		if row.State != oracle.JobStateCancelled {
			allCancelled = false
		}
		switch {
		case a.Missing:
			findings = append(findings, fmt.Sprintf("%s %s: the admin gave no answer for job %d", op, a.Ref, a.JobID))
		case a.Err != nil:
			if row.State != before[a.JobID] {
				findings = append(findings, fmt.Sprintf("%s of job %d raised %s: %s, yet the job went from %s to %s",
					op, a.JobID, a.Err.Class, a.Err.Message, before[a.JobID], row.State))
			}
			if refusal == nil {
				refusal = a.Err
			}
		case a.Null:
			if row.State == oracle.JobStateCancelled {
				findings = append(findings, fmt.Sprintf("%s returned nothing, but job %d was cancelled", op, a.JobID))
			} else {
				findings = append(findings, fmt.Sprintf("%s returned nothing and the job is still %s (job %d)", op, row.State, a.JobID))
			}
		default:
			if a.ReturnedID != a.JobID {
				findings = append(findings, fmt.Sprintf("%s returned job %d, but the job meant was %d", op, a.ReturnedID, a.JobID))
			}
			if a.ReturnedState != "" && a.ReturnedState != oracle.JobStateCancelled {
				findings = append(findings, fmt.Sprintf("%s returned job %d in state %s, want cancelled", op, a.ReturnedID, a.ReturnedState))
			}
			if row.State != oracle.JobStateCancelled {
				findings = append(findings, fmt.Sprintf("%s reported success, but job %d is %s in the database", op, a.JobID, row.State))
			}
		}
	}
	return findings, refusal, allCancelled
}

// cancelVerdict: findings make a fail (with the refusal recorded if any), a refusal with an
// untouched database is refused, else pass when every job is cancelled.
func cancelVerdict(findings []string, refusal *results.ErrorInfo, allCancelled bool, pass string, states string) Outcome {
	out := Outcome{Findings: findings, Error: refusal}
	switch {
	case len(findings) > 0:
		out.Verdict, out.Detail = matrix.Fail, "the database disagrees with the cancel: "+states
	case refusal != nil:
		out.Verdict = matrix.Refused
		out.Detail = fmt.Sprintf("admin %s refused: %s: %s (database unchanged: %s)", refusal.Op, refusal.Class, refusal.Message, states)
	case allCancelled:
		out.Verdict, out.Detail = matrix.Pass, pass
	default:
		out.Verdict, out.Detail = matrix.Fail, "jobs not cancelled: "+states
	}
	return out
}

// unchangedFindings compares a job that no operation should have touched with what was sent.
func unchangedFindings(jobs []oracle.Job, id int64, args map[string]any, state oracle.JobState, runAt time.Time) []string {
	row, f := oneRow(jobs, id)
	if f != "" {
		return []string{f}
	}
	var out []string
	if row.State != state || row.Attempt != 0 {
		out = append(out, fmt.Sprintf("untouched job %d is %s at attempt %d, want %s at attempt 0", id, row.State, row.Attempt, state))
	}
	if d := jsonDiff(row.Args, mustJSON(args)); d != "" {
		out = append(out, fmt.Sprintf("untouched job %d has different args: %s", id, d))
	}
	if !runAt.IsZero() && row.RunAt.UnixMilli() != runAt.UnixMilli() {
		out = append(out, fmt.Sprintf("untouched job %d has run_at %s, was %s", id, row.RunAt.UTC().Format(time.RFC3339Nano), runAt.Format(time.RFC3339Nano)))
	}
	return out
}

func statesOf(jobs []oracle.Job) map[int64]oracle.JobState {
	m := map[int64]oracle.JobState{}
	for _, j := range jobs {
		m[j.ID] = j.State
	}
	return m
}

// cancelByID: the producer enqueues two scheduled jobs; the admin cancels the first by id
// (SDK cancel, or `awa job cancel ID`); the first must be cancelled, the second untouched.
func cancelByID(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	tag := nonce(env)
	runAtText, runAt := futureRFC3339(time.Hour)
	a1, a2 := cellArgs(env, "cancel", tag, 1), cellArgs(env, "cancel", tag, 2)
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{
		{Op: probes.OpEnqueue, Ref: "j1", Queue: cancelQueue, Args: a1, RunAt: runAtText},
		{Op: probes.OpEnqueue, Ref: "j2", Queue: cancelQueue, Args: a2, RunAt: runAtText},
	})
	if err != nil {
		return Outcome{}, err
	}
	id1, id2 := ids["j1"], ids["j2"]
	before, err := o.Jobs(ctx, []int64{id1, id2})
	if err != nil {
		return Outcome{}, err
	}
	if f := append(unchangedFindings(before, id1, a1, oracle.JobStateScheduled, runAt), unchangedFindings(before, id2, a2, oracle.JobStateScheduled, runAt)...); len(f) > 0 {
		return Outcome{Verdict: matrix.Fail, Detail: "the producer's scheduled jobs are not as sent: " + statesString(before), Findings: f}, nil
	}

	var answer cancelAnswer
	if env.Probes["admin"].Kind == "cli" {
		r := runCLI(ctx, env, "admin", "admin", "job", "cancel", strconv.FormatInt(id1, 10))
		answer = cancelAnswer{Ref: "c1", JobID: id1}
		switch {
		case r.notFromAwa():
			return Outcome{}, r.broken("job", "cancel", strconv.FormatInt(id1, 10))
		case r.Err != nil:
			answer.Err = cliError(probes.OpCancel, r)
		case !strings.Contains(r.Stdout, fmt.Sprintf("Cancelled job %d", id1)):
			answer.Missing = true
		default:
			answer.ReturnedID = id1 // the CLI names the job, not its state
		}
	} else {
		evs, err := runSteps(ctx, env, "admin", "admin", []probes.Step{{Op: probes.OpCancel, Ref: "c1", JobID: id1}})
		if err != nil {
			return Outcome{}, err
		}
		answer = answerFrom(evs, "c1", id1)
	}

	after, err := o.Jobs(ctx, []int64{id1, id2})
	if err != nil {
		return Outcome{}, err
	}
	findings, refusal, _ := judgeCancels(probes.OpCancel, []cancelAnswer{answer}, statesOf(before), after)
	findings = append(findings, unchangedFindings(after, id2, a2, oracle.JobStateScheduled, runAt)...)
	row1, _ := oneRow(after, id1)
	out := cancelVerdict(findings, refusal, row1.State == oracle.JobStateCancelled, fmt.Sprintf(
		"job %d cancelled by id (was scheduled), job %d still scheduled at attempt 0 with its args and run_at, in %s", id1, id2, env.Engine), statesString(after))
	return out, nil
}

// cancelByUniqueKey: the producer enqueues a unique scheduled job and a unique available job
// (different args, a queue no worker serves); the admin cancels each by kind+args; both must
// be cancelled in the database. A None from the SDK while the job is still live is a fail.
func cancelByUniqueKey(ctx context.Context, env Env) (Outcome, error) {
	if env.Probes["admin"].Kind == "cli" {
		return Outcome{}, errors.New("cancel_by_unique_key needs a python or rust admin: the awa CLI has no cancel-by-unique-key command")
	}
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	tag := nonce(env)
	runAtText, _ := futureRFC3339(time.Hour)
	a1, a2 := cellArgs(env, "cancel_by_unique_key", tag, 1), cellArgs(env, "cancel_by_unique_key", tag, 2)
	uniq := &probes.Unique{ByArgs: true}
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{
		{Op: probes.OpEnqueue, Ref: "u1", Queue: cancelUniqQueue, Args: a1, RunAt: runAtText, Unique: uniq},
		{Op: probes.OpEnqueue, Ref: "u2", Queue: cancelUniqQueue, Args: a2, Unique: uniq},
	})
	if err != nil {
		return Outcome{}, err
	}
	id1, id2 := ids["u1"], ids["u2"]
	before, err := o.Jobs(ctx, []int64{id1, id2})
	if err != nil {
		return Outcome{}, err
	}
	var pre []string
	for _, c := range []struct {
		id    int64
		state oracle.JobState
	}{{id1, oracle.JobStateScheduled}, {id2, oracle.JobStateAvailable}} {
		row, f := oneRow(before, c.id)
		switch {
		case f != "":
			pre = append(pre, f)
		case row.State != c.state:
			pre = append(pre, fmt.Sprintf("job %d is %s before the cancel, want %s", c.id, row.State, c.state))
		case row.UniqueKey == "":
			pre = append(pre, fmt.Sprintf("job %d was enqueued unique but has no unique_key in the database", c.id))
		}
	}
	if len(pre) > 0 {
		return Outcome{Verdict: matrix.Fail, Detail: "the producer's unique jobs are not as enqueued: " + statesString(before), Findings: pre}, nil
	}

	evs, err := runSteps(ctx, env, "admin", "admin", []probes.Step{
		{Op: probes.OpCancelByUniqueKey, Ref: "c1", Args: a1},
		{Op: probes.OpCancelByUniqueKey, Ref: "c2", Args: a2},
	})
	if err != nil {
		return Outcome{}, err
	}
	answers := []cancelAnswer{answerFrom(evs, "c1", id1), answerFrom(evs, "c2", id2)}
	after, err := o.Jobs(ctx, []int64{id1, id2})
	if err != nil {
		return Outcome{}, err
	}
	findings, refusal, all := judgeCancels(probes.OpCancelByUniqueKey, answers, statesOf(before), after)
	return cancelVerdict(findings, refusal, all, fmt.Sprintf(
		"unique jobs %d (scheduled) and %d (available) cancelled by kind+args, in %s", id1, id2, env.Engine), statesString(after)), nil
}
