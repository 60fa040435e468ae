package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/internal/poll"
	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
	"github.com/awacompat/awacompat/probes"
)

const (
	readsQueue = "awacompat_reads"
	// leaderQueue is served by the fleet's maintenance leader and never holds a job.
	leaderQueue = "awacompat_reads_leader"
	// adminCacheCycle is how often a maintenance leader refreshes the cached counts canonical
	// queue_stats reads (awa's dirty-key recompute interval, 2 s from 0.5.7 through 0.7): once
	// a leader has led for two cycles, a queue_stats answer is final.
	adminCacheCycle = 2 * time.Second
	// statsBudget is how long queue_stats may take to catch up with the database: under
	// canonical its counts come from the awa.queue_state_counts cache, which the maintenance
	// leader refreshes every ~2 s (awa-model admin::queue_overviews).
	statsBudget = 20 * time.Second
	// statsEvery spaces the re-reads of queue_stats.
	statsEvery = 500 * time.Millisecond
	// statsRereads bounds the re-reads a probe admin is given (more than statsBudget holds).
	statsRereads = int(statsBudget / statsEvery)
)

// readJob is a job as an admin read reported it. Pointer and nil fields were not shown by
// that source (the CLI's job list shows neither args nor priority).
type readJob struct {
	ID          int64
	Kind        string
	Queue       string
	State       oracle.JobState
	Priority    *int
	Attempt     *int
	MaxAttempts *int
	Args        json.RawMessage
	Metadata    json.RawMessage
	Tags        []string
	HasTags     bool
}

// parseReadJob reads the protocol's JOB object (also the job of `awa job dump`).
func parseReadJob(raw json.RawMessage) (readJob, error) {
	var j struct {
		ID          *int64          `json:"id"`
		Kind        string          `json:"kind"`
		Queue       string          `json:"queue"`
		State       string          `json:"state"`
		Priority    *int            `json:"priority"`
		Attempt     *int            `json:"attempt"`
		MaxAttempts *int            `json:"max_attempts"`
		Args        json.RawMessage `json:"args"`
		Metadata    json.RawMessage `json:"metadata"`
		Tags        *[]string       `json:"tags"`
	}
	if err := json.Unmarshal(raw, &j); err != nil {
		return readJob{}, fmt.Errorf("job object: %w", err)
	}
	if j.ID == nil {
		return readJob{}, fmt.Errorf("job object without id: %s", clip(string(raw), 200))
	}
	r := readJob{ID: *j.ID, Kind: j.Kind, Queue: j.Queue, State: oracle.JobState(strings.ToLower(j.State)), Priority: j.Priority,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, Args: j.Args, Metadata: j.Metadata}
	if j.Tags != nil {
		r.Tags, r.HasTags = *j.Tags, true
	}
	return r, nil
}

// readStat is one queue's row of queue_stats (nil: not shown by that source).
type readStat struct {
	Queue             string
	Available         *int64
	Scheduled         *int64
	Running           *int64
	Retryable         *int64
	Failed            *int64
	CompletedLastHour *int64
	TotalQueued       *int64
}

func parseReadStats(raw json.RawMessage) ([]readStat, error) {
	var ss []struct {
		Queue             string `json:"queue"`
		Available         *int64 `json:"available"`
		Scheduled         *int64 `json:"scheduled"`
		Running           *int64 `json:"running"`
		Retryable         *int64 `json:"retryable"`
		Failed            *int64 `json:"failed"`
		CompletedLastHour *int64 `json:"completed_last_hour"`
		TotalQueued       *int64 `json:"total_queued"`
	}
	if err := json.Unmarshal(raw, &ss); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	out := make([]readStat, 0, len(ss))
	for _, s := range ss {
		out = append(out, readStat{Queue: s.Queue, Available: s.Available, Scheduled: s.Scheduled, Running: s.Running,
			Retryable: s.Retryable, Failed: s.Failed, CompletedLastHour: s.CompletedLastHour, TotalQueued: s.TotalQueued})
	}
	return out, nil
}

// compareJob lists every way got disagrees with the database row want.
func compareJob(src string, got readJob, want oracle.Job) []string {
	var d []string
	diff := func(field string, g, w any) {
		d = append(d, fmt.Sprintf("%s: job %d %s is %v, the database says %v", src, want.ID, field, g, w))
	}
	if got.ID != want.ID {
		diff("id", got.ID, want.ID)
	}
	if got.Kind != want.Kind {
		diff("kind", got.Kind, want.Kind)
	}
	if got.Queue != want.Queue {
		diff("queue", got.Queue, want.Queue)
	}
	if got.State != want.State {
		diff("state", got.State, want.State)
	}
	if got.Priority != nil && *got.Priority != want.Priority {
		diff("priority", *got.Priority, want.Priority)
	}
	if got.Attempt == nil {
		d = append(d, fmt.Sprintf("%s: job %d has no attempt", src, want.ID))
	} else if *got.Attempt != want.Attempt {
		diff("attempt", *got.Attempt, want.Attempt)
	}
	if got.MaxAttempts != nil && *got.MaxAttempts != want.MaxAttempts {
		diff("max_attempts", *got.MaxAttempts, want.MaxAttempts)
	}
	if got.Args != nil {
		if x := jsonDiff(got.Args, want.Args); x != "" {
			d = append(d, fmt.Sprintf("%s: job %d args differ from the database: %s", src, want.ID, x))
		}
	}
	if got.Metadata != nil {
		if x := jsonDiff(got.Metadata, want.Metadata); x != "" {
			d = append(d, fmt.Sprintf("%s: job %d metadata differ from the database: %s", src, want.ID, x))
		}
	}
	if got.HasTags && !slices.Equal(nonNil(got.Tags), nonNil(want.Tags)) {
		diff("tags", got.Tags, want.Tags)
	}
	return d
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// compareList checks a list answer holds exactly the jobs want (any order), each agreeing.
func compareList(src string, got []readJob, want []oracle.Job) []string {
	var d []string
	wantByID := map[int64]oracle.Job{}
	for _, w := range want {
		wantByID[w.ID] = w
	}
	seen := map[int64]int{}
	for _, g := range got {
		seen[g.ID]++
		w, ok := wantByID[g.ID]
		if !ok {
			d = append(d, fmt.Sprintf("%s: lists job %d (%s, %s), which the database does not hold there", src, g.ID, g.Queue, g.State))
			continue
		}
		if seen[g.ID] == 1 {
			d = append(d, compareJob(src, g, w)...)
		}
	}
	for _, w := range want {
		switch n := seen[w.ID]; {
		case n == 0:
			d = append(d, fmt.Sprintf("%s: job %d (%s) is missing", src, w.ID, w.State))
		case n > 1:
			d = append(d, fmt.Sprintf("%s: job %d listed %d times", src, w.ID, n))
		}
	}
	return d
}

// queueCounts are the counts queue_stats should show for a queue, from the database rows.
type queueCounts struct {
	Available, Scheduled, Running, Retryable, Failed, WaitingExternal int64
}

func countQueue(jobs []oracle.Job) queueCounts {
	var c queueCounts
	for _, j := range jobs {
		switch j.State {
		case oracle.JobStateAvailable:
			c.Available++
		case oracle.JobStateScheduled:
			c.Scheduled++
		case oracle.JobStateRunning:
			c.Running++
		case oracle.JobStateRetryable:
			c.Retryable++
		case oracle.JobStateFailed:
			c.Failed++
		case oracle.JobStateWaitingExternal:
			c.WaitingExternal++
		}
	}
	return c
}

// compareStats checks queue's row of a stats answer; found is false when the queue is absent.
func compareStats(src, queue string, got []readStat, want queueCounts) (found bool, d []string) {
	var row *readStat
	for i := range got {
		if got[i].Queue == queue {
			row = &got[i]
			break
		}
	}
	if row == nil {
		names := make([]string, 0, len(got))
		for _, s := range got {
			names = append(names, s.Queue)
		}
		return false, []string{fmt.Sprintf("%s: queue %s is missing (queues shown: %s)", src, queue, orNone(names))}
	}
	check := func(field string, g *int64, w int64) {
		if g != nil && *g != w {
			d = append(d, fmt.Sprintf("%s: queue %s %s=%d, the database holds %d", src, queue, field, *g, w))
		}
	}
	check("available", row.Available, want.Available)
	check("scheduled", row.Scheduled, want.Scheduled)
	check("running", row.Running, want.Running)
	check("retryable", row.Retryable, want.Retryable)
	check("failed", row.Failed, want.Failed)
	check("total_queued", row.TotalQueued, want.Available+want.Scheduled+want.Running+want.Retryable+want.WaitingExternal)
	return true, d
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func statString(s []readStat, queue string) string {
	for _, r := range s {
		if r.Queue == queue {
			f := func(p *int64) string {
				if p == nil {
					return "-"
				}
				return strconv.FormatInt(*p, 10)
			}
			return fmt.Sprintf("%s available=%s scheduled=%s running=%s retryable=%s failed=%s total_queued=%s",
				queue, f(r.Available), f(r.Scheduled), f(r.Running), f(r.Retryable), f(r.Failed), f(r.TotalQueued))
		}
	}
	return queue + " absent"
}

// adminAnswers are the admin's four reads.
type adminAnswers struct {
	Get, List, ListAvailable []readJob
	Stats                    []readStat
	// Errs are the reads awa refused.
	Errs []*results.ErrorInfo
	// EngineState and EngineCurrent are `awa storage status` (CLI admins only).
	EngineState, EngineCurrent string
}

// adminReads: the producer enqueues j1 (available, with tags, metadata and priority 3) and j2
// (scheduled) in a dedicated queue; a worker of the producer's release serves another queue as
// the fleet's maintenance leader; the admin then reads get_job(j1), list_jobs(queue),
// list_jobs(queue, state=available) and queue_stats, and every answer must agree with the
// database. queue_stats may lag (see statsBudget) and is re-read until it agrees or the budget
// is spent; a queue still missing then is a fail.
func adminReads(ctx context.Context, env Env) (Outcome, error) {
	o, err := withOracle(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))

	id1, id2, err := enqueueReads(ctx, env)
	if err != nil {
		return Outcome{}, err
	}
	leaderNote, settled, stopLeader := startLeader(ctx, env)
	defer stopLeader()
	db, err := readsInDatabase(ctx, o, id1, id2)
	if err != nil {
		return Outcome{}, err
	}
	if len(db.findings) > 0 {
		return Outcome{Verdict: matrix.Fail, Detail: "the producer's jobs are not as enqueued", Findings: db.findings}, nil
	}

	ans, reread, stopAdmin, err := adminRead(ctx, env, id1)
	if err != nil {
		return Outcome{}, err
	}
	defer stopAdmin()
	admin := env.Probes["admin"]
	src := fmt.Sprintf("%s %s", admin.Kind, admin.Version)
	out := Outcome{Findings: compareReads(ctx, o, src, ans, db)}
	polls, sd, err := settleStats(ctx, src, &ans, reread, countQueue(db.rows), leaderNote, settled)
	if err != nil {
		return Outcome{}, err
	}
	out.Findings = append(out.Findings, sd...)
	return readsVerdict(out, src, ans, polls, id1, id2, env.Engine), nil
}

// enqueueReads has the producer enqueue the two jobs the admin reads.
func enqueueReads(ctx context.Context, env Env) (id1, id2 int64, err error) {
	tag := nonce(env)
	runAtText, _ := futureRFC3339(time.Hour)
	a1, a2 := cellArgs(env, "admin_reads", tag, 1), cellArgs(env, "admin_reads", tag, 2)
	ids, _, err := enqueue(ctx, env, "producer", "producer", []probes.Step{
		{Op: probes.OpEnqueue, Ref: "j1", Queue: readsQueue, Args: a1, Priority: 3, Tags: []string{"awacompat", "reads-" + tag},
			Metadata: map[string]any{"cell": env.CellID, "origin": "awacompat admin_reads"}},
		{Op: probes.OpEnqueue, Ref: "j2", Queue: readsQueue, Args: a2, RunAt: runAtText},
	})
	return ids["j1"], ids["j2"], err
}

// startLeader starts a worker of the producer's release on leaderQueue, so the fleet has a
// maintenance leader to refresh the queue_stats cache. note says why there is none ("" when
// there is); the caller defers stop.
func startLeader(ctx context.Context, env Env) (note string, settled func() bool, stop func()) {
	never := func() bool { return false }
	leader, err := startProbe(ctx, env, "producer", "leader", []probes.Step{workStep(ctx, leaderQueue, probes.BehaviorComplete, 1)})
	if err != nil {
		return "no maintenance leader: " + err.Error(), never, func() {}
	}
	stop = func() { stopProbe(ctx, leader) }
	if _, err := leader.WaitReady(ctx); err != nil {
		return "the maintenance leader (a worker of the producer's release) did not start: " + err.Error(), never, stop
	}
	return "", func() bool { return ledTwoCycles(leader) }, stop
}

// ledTwoCycles reports whether the leader's own health check has said it leads for two
// admin-cache cycles: the cache has been refreshed since the reads' jobs were enqueued, so a
// queue_stats answer that still disagrees is final.
func ledTwoCycles(leader *probes.Proc) bool {
	for _, e := range leader.All() {
		if e.Event == probes.EventHealth && e.Leader {
			return time.Since(e.At) >= 2*adminCacheCycle
		}
	}
	return false
}

// readsDB is what the database holds in readsQueue, the truth the admin's reads are held to.
type readsDB struct {
	rows, available []oracle.Job
	j1              oracle.Job
	// findings say how the queue differs from the two jobs enqueued.
	findings []string
}

// readsInDatabase reads readsQueue, which must hold exactly j1 (available) and j2.
func readsInDatabase(ctx context.Context, o *oracle.Oracle, id1, id2 int64) (readsDB, error) {
	var db readsDB
	var err error
	if db.rows, err = o.QueueJobs(ctx, readsQueue); err != nil {
		return db, err
	}
	for _, r := range db.rows {
		if r.ID == id1 {
			db.j1 = r
		}
		if r.State == oracle.JobStateAvailable {
			db.available = append(db.available, r)
		}
	}
	if len(db.rows) != 2 || db.j1.ID == 0 {
		db.findings = append(db.findings, fmt.Sprintf("the database holds %s in %s, want jobs %d and %d", statesString(db.rows), readsQueue, id1, id2))
	}
	if len(db.available) != 1 || db.available[0].ID != id1 {
		db.findings = append(db.findings, fmt.Sprintf("the database's available jobs in %s are %s, want only job %d", readsQueue, statesString(db.available), id1))
	}
	return db, nil
}

// adminRead runs the admin's reads with its probe or, for a cli artifact, with the awa binary,
// and returns reread, which reads queue_stats again (the n-th time), and stop, which the caller
// defers. A probe admin is one process: after its first reads it re-reads queue_stats every
// statsEvery until stopped, and reread takes its next answer; a cli admin runs `awa queue
// stats` again.
func adminRead(ctx context.Context, env Env, id1 int64) (ans adminAnswers, reread func(n int) (adminAnswers, error), stop func(), err error) {
	if env.Probes["admin"].Kind == "cli" {
		ans, err = cliReads(ctx, env, id1, 0)
		return ans, func(n int) (adminAnswers, error) { return cliReads(ctx, env, 0, n) }, func() {}, err
	}
	return probeReads(ctx, env, id1)
}

// compareReads holds the job reads (and the CLI's storage status) to the database.
func compareReads(ctx context.Context, o *oracle.Oracle, src string, ans adminAnswers, db readsDB) []string {
	var d []string
	if len(ans.Get) == 1 {
		d = append(d, compareJob(src+" get_job", ans.Get[0], db.j1)...)
	}
	if ans.List != nil {
		d = append(d, compareList(src+" list_jobs(queue)", ans.List, db.rows)...)
	}
	if ans.ListAvailable != nil {
		d = append(d, compareList(src+" list_jobs(queue, state=available)", ans.ListAvailable, db.available)...)
	}
	if ans.EngineState != "" {
		if e, err := o.Engine(ctx); err == nil && (ans.EngineState != e.State || ans.EngineCurrent != e.CurrentEngine) {
			d = append(d, fmt.Sprintf("%s storage status says state=%s current=%s, the database says %s", src, ans.EngineState, ans.EngineCurrent, e))
		}
	}
	return d
}

// settleStats re-reads queue_stats every statsEvery while it disagrees with want, until the
// answer is final (settled: the maintenance leader has refreshed the cache twice) or
// statsBudget ends, and returns how many reads it took and the disagreements left (with
// leaderNote when the queue never showed). A re-read that awa refuses ends it (the refusal
// joins ans.Errs).
func settleStats(ctx context.Context, src string, ans *adminAnswers, reread func(n int) (adminAnswers, error), want queueCounts, leaderNote string, settled func() bool) (polls int, d []string, err error) {
	polls = 1
	if ans.Stats == nil {
		return polls, nil, nil
	}
	first, found := true, false
	err = waitFor(ctx, watchBudget(ctx, statsBudget), statsEvery, nil, func() (bool, error) {
		if !first {
			again, err := reread(polls)
			if err != nil {
				return false, err
			}
			polls++
			if len(again.Errs) > 0 || again.Stats == nil {
				ans.Errs = append(ans.Errs, again.Errs...)
				return true, nil
			}
			ans.Stats = again.Stats
		}
		first = false
		found, d = compareStats(src+" queue_stats", readsQueue, ans.Stats, want)
		return len(d) == 0 || settled(), nil
	})
	if err != nil && !errors.Is(err, errWatchDeadline) {
		return polls, nil, err
	}
	if len(d) > 0 {
		if !found && leaderNote != "" {
			d = append(d, leaderNote)
		}
		d = append(d, fmt.Sprintf("queue_stats read %d times, until the maintenance leader had refreshed its cache twice", polls))
	}
	return polls, d, nil
}

// readsVerdict: disagreements fail, a refused read with the others agreeing is refused.
func readsVerdict(out Outcome, src string, ans adminAnswers, polls int, id1, id2 int64, engine string) Outcome {
	var refusal *results.ErrorInfo
	if len(ans.Errs) > 0 {
		refusal = ans.Errs[0]
	}
	switch {
	case len(out.Findings) > 0:
		out.Verdict, out.Error = matrix.Fail, refusal
		out.Detail = fmt.Sprintf("%s admin reads disagree with the database (jobs %d available, %d scheduled in %s)", src, id1, id2, readsQueue)
	case refusal != nil:
		out.Verdict, out.Error = matrix.Refused, refusal
		out.Detail = fmt.Sprintf("admin %s refused: %s: %s (the other reads agree with the database)", refusal.Op, refusal.Class, refusal.Message)
		for _, e := range ans.Errs[1:] {
			out.find("also refused: %s: %s: %s", e.Op, e.Class, e.Message)
		}
	default:
		out.Verdict = matrix.Pass
		out.Detail = fmt.Sprintf("%s get_job, list_jobs (queue; queue+available) and queue_stats [%s, after %d read(s)] agree with the database for jobs %d (available) and %d (scheduled), in %s",
			src, statString(ans.Stats, readsQueue), polls, id1, id2, engine)
	}
	return out
}

// probeReads starts the admin's probe: get_job(id1), list_jobs twice and queue_stats, then
// up to statsRereads re-reads of queue_stats statsEvery apart (refs stats-1, stats-2, ...), and
// returns the first answers, reread (which waits for the n-th re-read's answer) and stop (the
// probe only reads, so it is killed wherever it is).
func probeReads(ctx context.Context, env Env, id1 int64) (adminAnswers, func(int) (adminAnswers, error), func(), error) {
	steps := []probes.Step{
		{Op: probes.OpGetJob, Ref: "get", JobID: id1},
		{Op: probes.OpListJobs, Ref: "list", Queue: readsQueue, Limit: 100},
		{Op: probes.OpListJobs, Ref: "list_available", Queue: readsQueue, State: string(oracle.JobStateAvailable), Limit: 100},
		{Op: probes.OpQueueStats, Ref: "stats"},
	}
	for n := 1; n <= statsRereads; n++ {
		steps = append(steps, probes.Step{Op: probes.OpSleep, MS: int(statsEvery.Milliseconds())},
			probes.Step{Op: probes.OpQueueStats, Ref: fmt.Sprintf("stats-%d", n)})
	}
	p, err := startProbe(ctx, env, "admin", "admin", steps)
	if err != nil {
		return adminAnswers{}, nil, func() {}, err
	}
	stop := func() {
		p.Kill()
		p.Wait(context.WithoutCancel(ctx))
	}
	reread := func(n int) (adminAnswers, error) {
		return probeAnswers(ctx, p, steps[3:4], fmt.Sprintf("stats-%d", n))
	}
	ans, err := probeAnswers(ctx, p, steps[:4], "")
	return ans, reread, stop, err
}

// probeAnswers waits until the admin probe p has answered each of steps (the answer to a
// queue_stats step under ref instead, when ref is set) or exited, and parses the answers.
func probeAnswers(ctx context.Context, p *probes.Proc, steps []probes.Step, ref string) (adminAnswers, error) {
	var ans adminAnswers
	refOf := func(s probes.Step) string {
		if ref != "" {
			return ref
		}
		return s.Ref
	}
	answered := func() bool {
		evs := p.All()
		for _, s := range steps {
			if _, ok := eventFor(evs, refOf(s)); !ok {
				return false
			}
		}
		return true
	}
	// The probe's own step timeouts and the cell's deadline bound the wait; the hour only
	// bounds a ctx without one.
	err := poll.Until(ctx, time.Hour, 20*time.Millisecond, p.Done(), func() (bool, error) { return answered(), nil })
	if err != nil {
		return ans, err
	}
	evs := p.All()
	for _, s := range steps {
		e, ok := eventFor(evs, refOf(s))
		if !ok {
			return ans, fmt.Errorf("probe %s gave no answer to %s", p.Name, refOf(s))
		}
		if e.Event == probes.EventError {
			ans.Errs = append(ans.Errs, errorInfo(e))
			continue
		}
		switch s.Ref {
		case "get":
			if len(e.Job) == 0 || string(e.Job) == "null" {
				return ans, fmt.Errorf("get_job answered no job")
			}
			j, err := parseReadJob(e.Job)
			if err != nil {
				return ans, err
			}
			ans.Get = []readJob{j}
		case "list", "list_available":
			var raws []json.RawMessage
			if err := json.Unmarshal(e.Jobs, &raws); err != nil {
				return ans, fmt.Errorf("%s: %w", s.Ref, err)
			}
			list := []readJob{}
			for _, r := range raws {
				j, err := parseReadJob(r)
				if err != nil {
					return ans, err
				}
				list = append(list, j)
			}
			if s.Ref == "list" {
				ans.List = list
			} else {
				ans.ListAvailable = list
			}
		case "stats":
			st, err := parseReadStats(e.Stats)
			if err != nil {
				return ans, err
			}
			if st == nil {
				st = []readStat{}
			}
			ans.Stats = st
		}
	}
	return ans, nil
}

// cliReads runs the same reads with the awa binary: job dump, job list (twice), queue stats,
// storage status.
func cliReads(ctx context.Context, env Env, id1 int64, statsOnly int) (adminAnswers, error) {
	var ans adminAnswers
	run := func(op probes.Op, name string, args ...string) (string, bool, error) {
		r := runCLI(ctx, env, "admin", name, args...)
		if r.notFromAwa() {
			return "", false, r.broken(args...)
		}
		if r.Err != nil {
			ans.Errs = append(ans.Errs, cliError(op, r))
			return "", false, nil
		}
		return r.Stdout, true, nil
	}
	if statsOnly == 0 {
		if s, ok, err := run(probes.OpGetJob, "admin-dump", "job", "dump", strconv.FormatInt(id1, 10)); err != nil {
			return ans, err
		} else if ok {
			j, err := parseCLIJobDump(s)
			if err != nil {
				return ans, err
			}
			ans.Get = []readJob{j}
		}
		for _, c := range []struct {
			name string
			args []string
			dst  *[]readJob
		}{
			{"admin-list", []string{"job", "list", "--queue", readsQueue, "--limit", "100"}, &ans.List},
			{"admin-list-available", []string{"job", "list", "--queue", readsQueue, "--state", string(oracle.JobStateAvailable), "--limit", "100"}, &ans.ListAvailable},
		} {
			s, ok, err := run(probes.OpListJobs, c.name, c.args...)
			if err != nil {
				return ans, err
			}
			if ok {
				l, err := parseCLIJobList(s)
				if err != nil {
					return ans, err
				}
				if l == nil {
					l = []readJob{}
				}
				*c.dst = l
			}
		}
		if s, ok, err := run(opStorageStatus, "admin-storage-status", "storage", "status"); err != nil {
			return ans, err
		} else if ok {
			st, err := migrate.ParseStorageStatus(s)
			if err != nil {
				return ans, err
			}
			ans.EngineState, ans.EngineCurrent = st.State, st.CurrentEngine
		}
	}
	name := "admin-stats"
	if statsOnly > 0 {
		name = fmt.Sprintf("admin-stats-%d", statsOnly)
	}
	s, ok, err := run(probes.OpQueueStats, name, "queue", "stats")
	if err != nil {
		return ans, err
	}
	if ok {
		st, err := parseCLIQueueStats(s)
		if err != nil {
			return ans, err
		}
		ans.Stats = st
	}
	return ans, nil
}
