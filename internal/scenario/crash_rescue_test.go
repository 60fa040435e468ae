package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/probes"
)

// crashFixture is a crash_rescue_unique cell that went right: two held plain jobs (ids 1, 2),
// the held unique job (3), its duplicate (4) and the control job (5); the worker held 1-3,
// the rescuer ran 1, 2 (attempt 2), 4 and 5 (attempt 1).
func crashFixture() (Env, *crashCase, []oracle.Job) {
	env := Env{Engine: "canonical", Probes: map[string]Probe{
		"worker": {Kind: "python", Version: "0.6.9"}, "rescuer": {Kind: "rust", Version: "0.6.9"}}}
	cc := &crashCase{plan: crashPlan{scenario: "crash_rescue_unique", jobs: 2, unique: true}, rescue: rescued,
		sent: map[string]map[string]any{}, ids: map[string]int64{"h1": 1, "h2": 2, "unique": 3, "duplicate": 4, "control": 5},
		held: []string{"h1", "h2", "unique"}}
	var jobs []oracle.Job
	for ref, id := range cc.ids {
		cc.sent[ref] = map[string]any{"ref": ref}
		state, attempt := oracle.JobStateCompleted, 1
		switch ref {
		case "h1", "h2":
			attempt = 2
		case "unique":
			state = oracle.JobStateCancelled
		}
		jobs = append(jobs, oracle.Job{ID: id, Kind: probes.JobKind, State: state, Attempt: attempt, Args: mustJSON(cc.sent[ref]), Location: "canonical"})
	}
	handled := func(id int64, attempt int, result probes.HandlerResult) probes.Event {
		return probes.Event{Event: probes.EventHandled, JobID: &id, Attempt: attempt, Result: result}
	}
	cc.worker = []probes.Event{handled(1, 1, probes.ResultHeld), handled(2, 1, probes.ResultHeld), handled(3, 1, probes.ResultHeld)}
	cc.rescuer = []probes.Event{handled(5, 1, probes.ResultCompleted), handled(1, 2, probes.ResultCompleted), handled(2, 2, probes.ResultCompleted), handled(4, 1, probes.ResultCompleted)}
	return env, cc, jobs
}

// The crash-rescue judge passes only an exact rescue: every break below is a fail (or inert,
// for a rescuer that never claimed anything), never a pass.
func TestJudgeCrash(t *testing.T) {
	env, cc, jobs := crashFixture()
	if out := judgeCrash(env, cc, jobs); out.Verdict != matrix.Pass {
		t.Fatalf("the fixture must pass: %s %s %v", out.Verdict, out.Detail, out.Findings)
	}
	cases := []struct {
		name    string
		breakIt func(cc *crashCase, jobs []oracle.Job) []oracle.Job
		want    matrix.Verdict
		finding string
	}{
		{"a lost job", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			return jobs[1:]
		}, matrix.Fail, "is missing from the database"},
		{"a job stored twice", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			return append(jobs, jobs[0])
		}, matrix.Fail, "is stored 2 times"},
		{"a job the rescuer ran twice", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescuer = append(cc.rescuer, cc.rescuer[1])
			return jobs
		}, matrix.Fail, "the rescuer ran job 1 (h1) 2 times, want 1"},
		{"a job run again at attempt 3 while its row says attempt 2", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			id := int64(1)
			cc.rescuer = append(cc.rescuer, probes.Event{Event: probes.EventHandled, JobID: &id, Attempt: 3, Result: probes.ResultCompleted})
			return jobs
		}, matrix.Fail, "the rescuer ran job 1 (h1) 2 times, want 1"},
		{"a held job completed at attempt 1 (never rescued, re-run in place)", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			for i := range jobs {
				if jobs[i].ID == 2 {
					jobs[i].Attempt = 1
				}
			}
			return jobs
		}, matrix.Fail, "job 2 (h2) completed at attempt 1, want 2"},
		{"the worker finished a job before the kill", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.worker = cc.worker[1:]
			return jobs
		}, matrix.Fail, "the worker reported job 1 (h1) handled 0 times before the kill"},
		{"the older unique job rescued and run anyway (#388 class)", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			for i := range jobs {
				if jobs[i].ID == 3 {
					jobs[i].State, jobs[i].Attempt = oracle.JobStateCompleted, 2
				}
			}
			return jobs
		}, matrix.Fail, "job 3 ended completed/attempt 2, want cancelled"},
		{"changed args", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			jobs[0].Args = []byte(`{"ref":"other"}`)
			return jobs
		}, matrix.Fail, "args in the database differ"},
		{"rescue stalled, control completed", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescue = stalled
			cc.rescuer = cc.rescuer[:1]
			for i := range jobs {
				if jobs[i].ID <= 3 {
					jobs[i].State, jobs[i].Attempt = oracle.JobStateRunning, 1
				}
			}
			return jobs
		}, matrix.Fail, "jobs 1-2 ended running/attempt 1, want completed"},
		{"rescuer never claimed anything", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescue, cc.rescuer = stalled, nil
			return heldStillRunning(jobs)
		}, matrix.Inert, ""},
		{"rescuer live and idle through the inert window, its own control job untouched", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescue, cc.rescuer = rescuerInert, nil
			cc.inert = inertEvidence{checks: 7, span: 1500 * time.Millisecond, sawAvailable: -1}
			return heldStillRunning(jobs)
		}, matrix.Inert, "live runtimes:"},
		{"rescue stalled after awa paused its sweep for load: not judged", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescue, cc.backoffs = stalled, []int{120}
			for i := range jobs {
				if jobs[i].ID <= 3 {
					jobs[i].State, jobs[i].Attempt = oracle.JobStateRunning, 1
				}
			}
			return jobs
		}, matrix.Error, ""},
		{"rescuer exited", func(cc *crashCase, jobs []oracle.Job) []oracle.Job {
			cc.rescue = rescuerExited
			return jobs
		}, matrix.Fail, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, cc, jobs := crashFixture()
			out := judgeCrash(env, cc, c.breakIt(cc, jobs))
			if out.Verdict != c.want {
				t.Fatalf("verdict %s, want %s: %s %v", out.Verdict, c.want, out.Detail, out.Findings)
			}
			if c.finding != "" && !strings.Contains(strings.Join(out.Findings, "\n"), c.finding) {
				t.Fatalf("findings lack %q: %v", c.finding, out.Findings)
			}
			if cc.rescue == rescuerInert && out.InertEvidence != cc.inert.span {
				t.Fatalf("inert evidence %s, want the span of the rescuer's health reports, %s", out.InertEvidence, cc.inert.span)
			}
		})
	}
}

// A held job the rescuer completed at attempt 2 and ran again at attempt 3, the row completed
// at attempt 3, is a re-delivery after a lost completion (findings #28): at-least-once, a pass
// that says so.
func TestJudgeCrashLostCompletion(t *testing.T) {
	env, cc, jobs := crashFixture()
	id := int64(1)
	cc.rescuer = append(cc.rescuer, probes.Event{Event: probes.EventHandled, JobID: &id, Attempt: 3, Result: probes.ResultCompleted})
	for i := range jobs {
		if jobs[i].ID == 1 {
			jobs[i].Attempt = 3
		}
	}
	out := judgeCrash(env, cc, jobs)
	if out.Verdict != matrix.Pass || !strings.Contains(out.Detail, "job 1 ran again, at-least-once") {
		t.Fatalf("verdict %s, want pass naming the re-delivery: %s %v", out.Verdict, out.Detail, out.Findings)
	}
}

// The pause awa announces for an overrunning rescue sweep, as a 0.6.9 Rust rescuer logged it
// in CI, and in Python logging's words should awa-pg ever bridge its core's logs (0.6.9 does not).
func TestSweepBackoffs(t *testing.T) {
	stderr := `2026-12-02T15:50:33.227642Z  WARN awa_worker::maintenance: maintenance branch overran tick interval branch="rescue_stale_heartbeats" last_duration_ms=382 tick_interval_ms=250 upper_threshold_ms=375 consecutive_overrun=3 cooldown_ticks=120
2026-12-02T15:50:34.1Z  WARN awa_worker::maintenance: maintenance branch overran tick interval branch="promote_scheduled" cooldown_ticks=4
2026-12-02 15:50:35,001 WARNING awa_worker::maintenance: maintenance branch overran tick interval branch=rescue_stale_heartbeats last_duration_ms=900
`
	got := sweepBackoffs(stderr)
	if len(got) != 2 || got[0] != 120 || got[1] != awaBranchCooldown {
		t.Fatalf("sweepBackoffs = %v, want [120 %d]", got, awaBranchCooldown)
	}
	if got := sweepBackoffs("nothing here\n"); len(got) != 0 {
		t.Fatalf("sweepBackoffs on a quiet log = %v", got)
	}
}

// heldStillRunning is the fixture's jobs after a rescuer that never claimed anything: the held
// jobs (1-3) still running at attempt 1, the duplicate and the control job untouched.
func heldStillRunning(jobs []oracle.Job) []oracle.Job {
	for i := range jobs {
		jobs[i].State, jobs[i].Attempt = oracle.JobStateRunning, 1
		if jobs[i].ID >= 4 {
			jobs[i].State, jobs[i].Attempt = oracle.JobStateAvailable, 0
		}
	}
	return jobs
}
