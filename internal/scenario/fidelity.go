package scenario

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

const (
	fidelityQueue = "awacompat_fidelity"
	// fidelityPayload is the size of the large string in the args.
	fidelityPayload = 256 << 10
	fidelityDelay   = 2 * time.Second
)

// fidelityArgs is a payload that a lossy layer (JSON via float64, a UTF-16 or Latin-1 hop,
// key reordering that drops duplicates, truncation) would change.
func fidelityArgs(env Env, tag string) map[string]any {
	var big strings.Builder
	unit := "awacompat ✓ 256KiB ü 😀 " + tag + " "
	for big.Len() < fidelityPayload {
		big.WriteString(unit)
	}
	payload := big.String()
	cut := fidelityPayload
	for !utf8.RuneStart(payload[cut]) {
		cut--
	}
	payload = payload[:cut]
	return map[string]any{
		"cell":  env.CellID,
		"nonce": tag,
		"unicode": map[string]any{
			"emoji":     "😀🎉👩‍👩‍👧‍👦🏳️‍🌈",
			"rtl":       "שָׁלוֹם עולם — مرحبا بالعالم",
			"combining": "e\u0301 a\u0308 n\u0303 Å (A\u030a)",
			"cjk":       "漢字かなカナ한국어",
			"controls":  "tab\tnewline\nquote\" backslash\\ nul-adjacent \u0001 end",
			"astral":    "𝄞 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
			"bom_zwj":   "\ufeffzero\u200dwidth\u200bspace",
		},
		"nested": map[string]any{
			"list":   []any{1, "two", 3.5, nil, true, false, []any{}, map[string]any{}},
			"deeper": map[string]any{"a": map[string]any{"b": map[string]any{"c": []any{map[string]any{"d": "deep"}}}}},
			"null":   nil,
		},
		"null": nil,
		"numbers": map[string]any{
			"int64_max":    int64(9223372036854775807),
			"int64_min":    int64(-9223372036854775808),
			"beyond_2_53":  int64(9007199254740993),
			"negative":     int64(-42),
			"zero":         0,
			"pi":           3.141592653589793,
			"tiny":         1e-300,
			"huge":         1e300, // f64::MAX breaks awa-pg 0.6.9 (see docs): jsonb prints it as a 309-digit integer serde_json rejects
			"third":        1.0 / 3.0,
			"neg_exponent": -2.5e-7,
		},
		"empty_string": "",
		"large":        payload,
	}
}

// fidelity: the producer enqueues a job carrying fidelityArgs plus metadata, tags, priority 1
// and run_at 2 s ahead; the worker (started after the enqueue) handles it. Pass: the handler
// saw exactly the args sent; the database row, read while the job was still scheduled, holds
// exactly the args, metadata, tags, priority and run_at (to the millisecond) that were sent;
// the job ends completed at attempt 1, args unchanged, and was not run before its run_at.
// (awa rewrites run_at when it promotes the job, so run_at is compared on the scheduled row.)
func fidelity(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	tag := nonce(env)
	sent := fidelitySent{args: fidelityArgs(env, tag), tags: []string{"awacompat", "fidelity", "ünï-cødé", "emoji-🏷️"},
		meta: map[string]any{"cell": env.CellID, "trace": map[string]any{"id": "ü-" + tag, "n": int64(1) << 40}, "emoji": "🧪", "null": nil}}
	sent.runAtText, sent.runAt = futureRFC3339(fidelityDelay)
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{{
		Op: probes.OpEnqueue, Ref: "f1", Queue: fidelityQueue, Args: sent.args, Priority: 1, Metadata: sent.meta, Tags: sent.tags, RunAt: sent.runAtText,
	}})
	if err != nil {
		return Outcome{}, err
	}
	id := ids["f1"]
	sched, err := o.Jobs(ctx, []int64{id})
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Findings: sent.scheduledFindings(id, sched)}

	worker, readyAt, err := startReady(ctx, env, "worker", "worker", []probes.Step{workStep(ctx, fidelityQueue, probes.BehaviorComplete, 1)})
	if err != nil {
		return Outcome{}, err
	}
	defer stopProbe(ctx, worker)
	w := watch{o: o, env: env, role: "worker", worker: worker, readyAt: readyAt, dueAt: sent.runAt, handles: 1}
	res, err := w.until(ctx, []int64{id}, func(jobs []oracle.Job) bool { return allState(jobs, []int64{id}, oracle.JobStateCompleted) })
	if err != nil {
		return Outcome{}, err
	}
	wevs := stopProbe(ctx, worker)
	if res.end == inert {
		return inertOutcome(env, "worker", 1, res.evidence), nil
	}
	out.Findings = append(out.Findings, sent.completedFindings(id, res.jobs, handledByJob(wevs)[id])...)
	if len(out.Findings) == 0 {
		out.Verdict = matrix.Pass
		out.Detail = fmt.Sprintf("job %d: handler args, and the row's args (%d KiB), metadata, tags, priority 1 and run_at (ms) equal what was sent; completed at attempt 1, not before run_at, in %s",
			id, len(mustJSON(sent.args))>>10, env.Engine)
		return out, nil
	}
	out.Verdict = matrix.Fail
	out.Detail = "the job did not arrive intact: " + statesString(res.jobs)
	if ctx.Err() != nil {
		out.Verdict = matrix.Timeout
	}
	if e := firstError(wevs); e != nil {
		out.Error = e
	}
	return out, nil
}

// fidelitySent is what the producer sent.
type fidelitySent struct {
	args, meta map[string]any
	tags       []string
	runAtText  string
	runAt      time.Time
}

// scheduledFindings compares the row read right after the enqueue, while the job is still
// scheduled (awa rewrites run_at when it promotes the job).
func (s fidelitySent) scheduledFindings(id int64, jobs []oracle.Job) []string {
	row, f := oneRow(jobs, id)
	if f != "" {
		return []string{f}
	}
	var d []string
	if row.State != oracle.JobStateScheduled {
		d = append(d, fmt.Sprintf("job %d is %s right after the enqueue, want scheduled (run_at %s)", id, row.State, s.runAtText))
	}
	d = append(d, rowFidelity("the scheduled row", row, s.args, s.meta, s.tags, 1)...)
	if row.RunAt.UnixMilli() != s.runAt.UnixMilli() {
		d = append(d, fmt.Sprintf("job %d run_at is %s in the database, sent %s", id, row.RunAt.UTC().Format(time.RFC3339Nano), s.runAtText))
	}
	return d
}

// completedFindings compares the row after the worker ran, and the handler's calls for it.
func (s fidelitySent) completedFindings(id int64, jobs []oracle.Job, hs []probes.Event) []string {
	var d []string
	if row, f := oneRow(jobs, id); f != "" {
		d = append(d, f)
	} else {
		if row.State != oracle.JobStateCompleted || row.Attempt != 1 {
			d = append(d, fmt.Sprintf("job %d ended %s at attempt %d, want completed at attempt 1", id, row.State, row.Attempt))
		}
		d = append(d, rowFidelity("the completed row", row, s.args, s.meta, s.tags, 1)...)
		if row.RunAt.Before(s.runAt) {
			d = append(d, fmt.Sprintf("the completed row's run_at %s is before the run_at sent %s", row.RunAt.UTC().Format(time.RFC3339Nano), s.runAtText))
		}
	}
	if len(hs) == 0 {
		return append(d, fmt.Sprintf("the worker never reported handling job %d", id))
	}
	if len(hs) > 1 {
		d = append(d, fmt.Sprintf("the worker handled job %d %d times", id, len(hs)))
	}
	if x := jsonDiff(hs[0].Args, mustJSON(s.args)); x != "" {
		d = append(d, fmt.Sprintf("the handler saw different args than were sent: %s", x))
	}
	if hs[0].At.Before(s.runAt) {
		d = append(d, fmt.Sprintf("the handler ran at %s, before the job's run_at %s", hs[0].At.UTC().Format(time.RFC3339Nano), s.runAtText))
	}
	return d
}

// rowFidelity compares a database row with what was sent.
func rowFidelity(what string, row oracle.Job, args, meta map[string]any, tags []string, priority int) []string {
	var d []string
	if x := jsonDiff(row.Args, mustJSON(args)); x != "" {
		d = append(d, fmt.Sprintf("%s: args differ from what was sent: %s", what, x))
	}
	if x := jsonDiff(row.Metadata, mustJSON(meta)); x != "" {
		d = append(d, fmt.Sprintf("%s: metadata differ from what was sent: %s", what, x))
	}
	if !slices.Equal(row.Tags, tags) {
		d = append(d, fmt.Sprintf("%s: tags are %q, sent %q", what, row.Tags, tags))
	}
	if row.Priority != priority {
		d = append(d, fmt.Sprintf("%s: priority is %d, sent %d", what, row.Priority, priority))
	}
	if row.Kind != probes.JobKind {
		d = append(d, fmt.Sprintf("%s: kind is %q, want %q", what, row.Kind, probes.JobKind))
	}
	return d
}
