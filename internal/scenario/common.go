package scenario

// Helpers shared by the contract-operation scenarios (cancel, cancel_by_unique_key,
// cancel_by_unique_key_running, unique_dedupe, admin_reads, fidelity, retry, migrate_refusal).

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

// stopWait bounds how long a stopped probe may take to shut down before it is killed.
const stopWait = 20 * time.Second

// nonce is the cell's tag: with the cell id it makes every payload distinctive, so a row left
// by anything else can never be mistaken for this cell's. It is derived from the cell id, not
// drawn at random, so a cell's rerun (its repro command) sends exactly the same payloads.
func nonce(env Env) string {
	sum := sha256.Sum256([]byte(env.CellID))
	return hex.EncodeToString(sum[:6])
}

// cellArgs are the distinctive args of job n of a scenario run.
func cellArgs(env Env, scenario, tag string, n int) map[string]any {
	return map[string]any{
		"cell":     env.CellID,
		"scenario": scenario,
		"nonce":    tag,
		"n":        n,
		"text":     fmt.Sprintf("%s ✓ job %d", scenario, n),
	}
}

// futureRFC3339 is now+d truncated to the millisecond, as the RFC 3339 text sent to probes
// and the time it denotes.
func futureRFC3339(d time.Duration) (string, time.Time) {
	t := time.Now().Add(d).UTC().Truncate(time.Millisecond)
	return t.Format("2006-01-02T15:04:05.000Z07:00"), t
}

// startProbe starts role's probe with steps under the process name name. Callers defer
// stopProbe.
func startProbe(ctx context.Context, env Env, role, name string, steps []probes.Step) (*probes.Proc, error) {
	return startProbeSpec(ctx, env, role, name, probes.Spec{Steps: steps})
}

// startProbeSpec is startProbe with the spec's other fields (its exit); the cell's database
// and the job kind are filled in.
func startProbeSpec(ctx context.Context, env Env, role, name string, spec probes.Spec) (*probes.Proc, error) {
	p, ok := env.Probes[role]
	if !ok {
		return nil, fmt.Errorf("no probe bound to role %s", role)
	}
	if len(p.Argv) == 0 {
		return nil, fmt.Errorf("role %s is bound to a %s artifact, which has no probe", role, p.Kind)
	}
	spec.DatabaseURL, spec.Kind = clientURL(env.URL, name), probes.JobKind
	proc, err := p.start(ctx, spec, env.Dir, name)
	if err == nil {
		traceOf(ctx).started(role, proc)
	}
	return proc, err
}

// clientURL is url with the PostgreSQL application_name "awacompat <name>" (a probe's process
// name), so that a kept database's pg_stat_activity and the server's log say which of a cell's
// processes holds each connection. A url that is not a URL is returned as it is.
func clientURL(dbURL, name string) string {
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" {
		return dbURL
	}
	q := u.Query()
	q.Set("application_name", "awacompat "+name)
	u.RawQuery = q.Encode()
	return u.String()
}

// stopProbe asks a probe to stop (stdin) and waits a bounded time for it, killing it after
// that; it returns every event. Calling it twice is harmless.
func stopProbe(ctx context.Context, p *probes.Proc) []probes.Event {
	p.Stop()
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
	defer cancel()
	evs, _ := p.Wait(wctx)
	return evs
}

// refused is the outcome of an awa error from role's op.
func refused(role string, e *results.ErrorInfo) Outcome {
	return Outcome{Verdict: matrix.Refused, Error: e, Detail: fmt.Sprintf("%s %s refused: %s: %s", role, e.Op, e.Class, e.Message)}
}

// enqueue runs role's probe with enqueue steps and returns the job ids by ref. An awa error
// ends the scenario as refused (an *outcomeError).
func enqueue(ctx context.Context, env Env, role, name string, steps []probes.Step) (map[string]int64, []probes.Event, error) {
	if p := env.Probes[role]; p.Kind == "cli" {
		return nil, nil, fmt.Errorf("role %s needs a python or rust artifact (the awa CLI cannot enqueue)", role)
	}
	evs, err := runSteps(ctx, env, role, name, steps)
	if err != nil {
		return nil, evs, err
	}
	if e := firstError(evs); e != nil {
		return nil, evs, stopWith(refused(role, e))
	}
	ids := map[string]int64{}
	for _, e := range evs {
		if e.Event == probes.EventEnqueued && e.JobID != nil {
			ids[e.Ref] = *e.JobID
		}
	}
	for _, s := range steps {
		if s.Op == probes.OpEnqueue {
			if _, ok := ids[s.Ref]; !ok {
				return nil, evs, fmt.Errorf("probe %s reported no job id for %s", name, s.Ref)
			}
		}
	}
	return ids, evs, nil
}

// eventFor returns the first event with ref (a step's answer: the result or its error).
func eventFor(evs []probes.Event, ref string) (probes.Event, bool) {
	for _, e := range evs {
		if e.Ref == ref && e.Event != probes.EventStart {
			return e, true
		}
	}
	return probes.Event{}, false
}

// errorInfo converts an error event.
func errorInfo(e probes.Event) *results.ErrorInfo {
	return &results.ErrorInfo{Op: string(e.Op), Class: e.Class, Message: e.Message, SQLState: e.SQLState}
}

// byID indexes rows by job id (a job stored twice keeps both rows).
func byID(jobs []oracle.Job) map[int64][]oracle.Job {
	m := map[int64][]oracle.Job{}
	for _, j := range jobs {
		m[j.ID] = append(m[j.ID], j)
	}
	return m
}

// oneRow returns the only row of job id, or a finding why there is not exactly one.
func oneRow(jobs []oracle.Job, id int64) (oracle.Job, string) {
	rows := byID(jobs)[id]
	switch len(rows) {
	case 0:
		return oracle.Job{}, fmt.Sprintf("job %d is missing from the database", id)
	case 1:
		return rows[0], ""
	}
	return rows[0], fmt.Sprintf("job %d is stored %d times (%s)", id, len(rows), locations(rows))
}

// startReady starts role's probe with steps that end in a work step and waits for its ready
// event. On failure the probe is stopped and the error says why (an awa error is a refusal,
// an *outcomeError); on success the caller defers stopProbe.
func startReady(ctx context.Context, env Env, role, name string, steps []probes.Step) (*probes.Proc, time.Time, error) {
	p, err := startProbe(ctx, env, role, name, steps)
	if err != nil {
		return nil, time.Time{}, err
	}
	readyAt, err := p.WaitReady(ctx)
	if err != nil {
		// Judged on what the probe said before it was told to stop.
		if e := firstError(p.All()); e != nil {
			err = stopWith(Outcome{Verdict: matrix.Refused, Error: e, Detail: fmt.Sprintf("%s refused: %s: %s", name, e.Class, e.Message)})
		} else {
			err = fmt.Errorf("%s: %w; stderr: %s", name, err, probes.StderrTail(env.Dir, name, 8))
		}
		stopProbe(ctx, p)
		return nil, time.Time{}, err
	}
	return p, readyAt, nil
}
