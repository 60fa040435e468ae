package oracle

// The oracle's reads, checked against databases that real awa 0.6.9 built and wrote: each
// subtest gets its own database on an embedded PostgreSQL, migrated by the awa CLI 0.6.9 (and,
// for queue storage, finalized with awa's own awa.storage_auto_finalize_if_fresh), with jobs
// enqueued and worked by the Python probe of awa-pg 0.6.9. Nothing is mocked.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/awacompat/awacompat/internal/pgserver"
	"github.com/awacompat/awacompat/internal/version"
	"github.com/awacompat/awacompat/pinned"
	"github.com/awacompat/awacompat/probes"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// awaRelease is the release whose migrate builds the schema and whose probe writes the jobs.
const awaRelease = "0.6.9"

// schemaVersion is what awa 0.6.9's migrate reaches (README: "its migrator reaches schema
// version 40").
const schemaVersion = 40

func TestOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("runs awa 0.6.9 (from PyPI) against a real PostgreSQL")
	}
	if _, _, err := pgserver.Discover(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but no PostgreSQL server binaries: %v", err)
		}
		t.Skipf("no PostgreSQL server: %v", err)
	}
	f := newFixture(t)

	t.Run("empty database", f.testEmpty)
	t.Run("migrated", f.testMigrated)
	t.Run("queue storage", f.testQueueStorage)
	for _, eng := range engines {
		t.Run("jobs/"+eng, func(t *testing.T) { f.testJobs(t, eng) })
		t.Run("scope/"+eng, func(t *testing.T) { f.testScope(t, eng) })
	}
	t.Run("reads are read-only", f.testReadOnly)
	t.Run("every read in a read-only transaction", f.testReadsInReadOnlyTx)
	t.Run("scope pins queue storage", f.testPin)
}

// engines are awa's two storage engines, by the names the oracle gives them.
var engines = []string{"canonical", "queue_storage"}

// fixture is one server, awa 0.6.9's CLI and Python probe, and a template database per engine.
type fixture struct {
	srv   *pgserver.Server
	admin *pgx.Conn
	probe []string
	// n counts the databases made, for their names.
	n int
}

func newFixture(t *testing.T) *fixture {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := pgserver.Start(ctx, pgserver.Config{Log: log})
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(context.Background()); err != nil {
			t.Errorf("stop postgres: %v", err)
		}
	})
	f := &fixture{srv: srv}
	if f.admin, err = pgx.Connect(ctx, srv.URL("postgres")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.admin.Close(context.Background()) })

	probesDir, err := filepath.Abs(filepath.Join("..", "..", "probes"))
	if err != nil {
		t.Fatal(err)
	}
	cache := &pinned.Cache{Root: t.TempDir(), ProbesDir: probesDir, Log: log}
	ictx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cli, err := cache.Install(ictx, pinned.Spec{Kind: pinned.CLI, Version: version.MustParse(awaRelease)})
	if err != nil {
		t.Fatalf("install the awa CLI %s: %v", awaRelease, err)
	}
	py, err := cache.Install(ictx, pinned.Spec{Kind: pinned.Python, Version: version.MustParse(awaRelease)})
	if err != nil {
		t.Fatalf("install awa-pg %s: %v", awaRelease, err)
	}
	f.probe = py.Probe

	// The canonical template: awa's own migrate on an empty database. The queue-storage
	// template: a clone of it, put under queue storage with awa's function for a fresh install.
	f.exec(t, "CREATE DATABASE oracle_tpl_canonical")
	cmd := exec.CommandContext(ictx, cli.AwaBin, "migrate")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+srv.URL("oracle_tpl_canonical"), "NO_COLOR=1", "RUST_LOG=warn")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("awa migrate: %v\n%s", err, out)
	}
	f.exec(t, "CREATE DATABASE oracle_tpl_queue_storage TEMPLATE oracle_tpl_canonical")
	var ok bool
	f.queryRow(t, srv.URL("oracle_tpl_queue_storage"), `SELECT awa.storage_auto_finalize_if_fresh('awa')`, &ok)
	if !ok {
		t.Fatal("awa.storage_auto_finalize_if_fresh('awa') returned false on a fresh migrated database")
	}
	return f
}

func (f *fixture) exec(t *testing.T, sql string) {
	t.Helper()
	if _, err := f.admin.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// queryRow runs one query on its own connection to url.
func (f *fixture) queryRow(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// newDB makes the subtest's own database, a clone of engine's template ("" for an empty
// database), dropped when the subtest ends, and returns its URL.
func (f *fixture) newDB(t *testing.T, engine string) string {
	t.Helper()
	f.n++
	name := fmt.Sprintf("oracle_%d", f.n)
	sql := "CREATE DATABASE " + name
	if engine != "" {
		sql += " TEMPLATE oracle_tpl_" + engine
	}
	f.exec(t, sql)
	t.Cleanup(func() {
		if _, err := f.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return f.srv.URL(name)
}

// open opens an oracle on url, closed when the subtest ends.
func open(t *testing.T, url string) *Oracle {
	t.Helper()
	o, err := Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

// run runs the Python probe of awa-pg 0.6.9 with steps against url, requires that it finished
// them without an awa error, and returns the job ids it reported by ref.
func (f *fixture) run(t *testing.T, url, name string, steps ...probes.Step) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	evs, err := probes.Run(ctx, f.probe, probes.Spec{DatabaseURL: url, Kind: probes.JobKind, Steps: steps}, dir, name)
	if err != nil {
		t.Fatalf("probe %s: %v", name, err)
	}
	ids := map[string]int64{}
	for _, e := range evs {
		switch {
		case e.Event == probes.EventError:
			t.Fatalf("probe %s: awa error on %s %s: %s %s", name, e.Op, e.Ref, e.Class, e.Message)
		case e.Event == probes.EventEnqueued && e.JobID != nil:
			ids[e.Ref] = *e.JobID
		}
	}
	for _, s := range steps {
		if _, ok := ids[s.Ref]; s.Op == probes.OpEnqueue && !ok {
			t.Fatalf("probe %s reported no job id for %s", name, s.Ref)
		}
	}
	return ids
}

// A database awa never migrated: version 0, no history, the zero Engine; not an error.
func (f *fixture) testEmpty(t *testing.T) {
	ctx := context.Background()
	o := open(t, f.newDB(t, ""))
	if v, err := o.SchemaVersion(ctx); err != nil || v != 0 {
		t.Errorf("SchemaVersion = %d, %v; want 0", v, err)
	}
	if h, err := o.SchemaHistory(ctx); err != nil || len(h) != 0 {
		t.Errorf("SchemaHistory = %v, %v; want none", h, err)
	}
	if e, err := o.Engine(ctx); err != nil || e != (Engine{}) {
		t.Errorf("Engine = %+v, %v; want the zero Engine", e, err)
	}
}

// After awa 0.6.9's migrate: schema version 40, its history in order, and canonical storage.
func (f *fixture) testMigrated(t *testing.T) {
	ctx := context.Background()
	url := f.newDB(t, "canonical")
	o := open(t, url)
	v, err := o.SchemaVersion(ctx)
	if err != nil || v != schemaVersion {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, schemaVersion)
	}
	h, err := o.SchemaHistory(ctx)
	if err != nil || len(h) == 0 {
		t.Fatalf("SchemaHistory = %v, %v", h, err)
	}
	var rows int
	f.queryRow(t, url, `SELECT count(*) FROM awa.schema_version`, &rows)
	if len(h) != rows {
		t.Errorf("SchemaHistory has %d rows, awa.schema_version %d", len(h), rows)
	}
	for i, r := range h {
		if i > 0 && r.Version <= h[i-1].Version {
			t.Errorf("history not in version order: %d after %d", r.Version, h[i-1].Version)
		}
		if r.Description == "" || r.AppliedAt.IsZero() || r.AppliedAt.After(time.Now().Add(time.Minute)) {
			t.Errorf("history row %+v", r)
		}
	}
	if last := h[len(h)-1].Version; last != v {
		t.Errorf("history ends at %d, SchemaVersion says %d", last, v)
	}
	e, err := o.Engine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != "canonical" || e.CurrentEngine != "canonical" || e.PreparedEngine != "" || e.Authority != "" ||
		e.Active() != "canonical" || e.Name() != "canonical" {
		t.Errorf("Engine after migrate = %+v (name %s)", e, e.Name())
	}
}

// awa.storage_auto_finalize_if_fresh puts a fresh database under queue storage, and the
// oracle says so (no ring authority on the v40 schema).
func (f *fixture) testQueueStorage(t *testing.T) {
	ctx := context.Background()
	o := open(t, f.newDB(t, "queue_storage"))
	e, err := o.Engine(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if e.State != "active" || e.Active() != "queue_storage" || e.Name() != "queue_storage" || e.Authority != "" {
		t.Errorf("Engine after auto-finalize = %+v (active %s, name %s)", e, e.Active(), e.Name())
	}
	if v, err := o.SchemaVersion(ctx); err != nil || v != schemaVersion {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, schemaVersion)
	}
}

const (
	queueA = "oracle_a"
	queueB = "oracle_b"
)

// sentJob is what the test asked the probe to enqueue, to hold the oracle's rows to.
type sentJob struct {
	queue    string
	args     map[string]any
	state    JobState
	priority int
	tags     []string
	metadata map[string]any
	runAt    time.Time
}

// The job reads return exactly the rows awa wrote, once each, with their state, args and the
// engine that stores them; a worker's completion shows too.
func (f *fixture) testJobs(t *testing.T, engine string) {
	ctx := context.Background()
	url := f.newDB(t, engine)
	o := open(t, url)
	// As a cell does: scoped before anything is written, so queue storage cannot prune the
	// completed job before it is read.
	if err := o.Scope(ctx); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	sent := map[string]sentJob{
		"a1": {queue: queueA, args: map[string]any{"n": 1.0, "text": "héllo ✓", "nested": map[string]any{"list": []any{1.0, 2.5, nil}}}, state: JobStateAvailable, priority: 2},
		"a2": {queue: queueA, args: map[string]any{"n": 2.0}, state: JobStateScheduled, priority: 3, tags: []string{"t1", "t2"},
			metadata: map[string]any{"k": "v"}, runAt: later},
		"b1": {queue: queueB, args: map[string]any{"n": 3.0}, state: JobStateAvailable, priority: 2},
	}
	var steps []probes.Step
	for _, ref := range []string{"a1", "a2", "b1"} {
		s := sent[ref]
		step := probes.Step{Op: probes.OpEnqueue, Ref: ref, Queue: s.queue, Args: s.args, Tags: s.tags, Metadata: s.metadata}
		if s.priority != 2 {
			step.Priority = s.priority
		}
		if !s.runAt.IsZero() {
			step.RunAt = s.runAt.Format(time.RFC3339)
		}
		steps = append(steps, step)
	}
	ids := f.run(t, url, "producer", steps...)
	refOf := map[int64]string{}
	for ref, id := range ids {
		refOf[id] = ref
	}

	// Jobs: every id asked for, once, as sent; an id that does not exist is simply absent.
	jobs, err := o.Jobs(ctx, []int64{ids["a1"], ids["a2"], ids["b1"], 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 3 {
		t.Errorf("Jobs returned %d rows, want 3: %s", len(jobs), describe(jobs))
	}
	for _, j := range jobs {
		ref, ok := refOf[j.ID]
		if !ok {
			t.Errorf("Jobs returned job %d, which was not asked for", j.ID)
			continue
		}
		checkJob(t, j, sent[ref], engine)
	}

	// JobsByArgs: jsonb equality (key order and spacing do not matter), and the kind counts.
	if got, err := o.JobsByArgs(ctx, probes.JobKind, json.RawMessage(`{"nested": {"list": [1, 2.5, null]}, "text": "héllo ✓",   "n": 1}`)); err != nil || len(got) != 1 || got[0].ID != ids["a1"] {
		t.Errorf("JobsByArgs(a1's args) = %s, %v; want job %d", describe(got), err, ids["a1"])
	}
	if got, err := o.JobsByArgs(ctx, "another_kind", json.RawMessage(`{"n": 2}`)); err != nil || len(got) != 0 {
		t.Errorf("JobsByArgs(another kind) = %s, %v; want none", describe(got), err)
	}
	if got, err := o.JobsByArgs(ctx, probes.JobKind, json.RawMessage(`{"n": 2, "extra": true}`)); err != nil || len(got) != 0 {
		t.Errorf("JobsByArgs(other args) = %s, %v; want none", describe(got), err)
	}

	// QueueJobs and JobIDsInQueue: a queue's rows and nothing of another queue.
	for queue, want := range map[string][]int64{queueA: {ids["a1"], ids["a2"]}, queueB: {ids["b1"]}, "oracle_none": nil} {
		rows, err := o.QueueJobs(ctx, queue)
		if err != nil {
			t.Fatal(err)
		}
		if got := jobIDs(rows); !slices.Equal(got, want) {
			t.Errorf("QueueJobs(%s) = %v; want %v", queue, got, want)
		}
		for _, j := range rows {
			checkJob(t, j, sent[refOf[j.ID]], engine)
		}
		got, err := o.JobIDsInQueue(ctx, queue)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("JobIDsInQueue(%s) = %v, %v; want %v", queue, got, err, want)
		}
	}

	// A worker completes b1: the oracle reads it completed at attempt 1, still where it was.
	f.run(t, url, "worker", probes.Step{Op: probes.OpWork, Queue: queueB, MaxWorkers: 1, Behavior: probes.BehaviorComplete, Handled: 1, TimeoutMS: 60_000})
	jobs, err = o.Jobs(ctx, []int64{ids["b1"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].State != JobStateCompleted || jobs[0].Attempt != 1 || jobs[0].Location != engine {
		t.Errorf("after the worker: %s; want job %d completed at attempt 1 in %s", describe(jobs), ids["b1"], engine)
	}
}

// checkJob holds a row to what was sent.
func checkJob(t *testing.T, j Job, s sentJob, engine string) {
	t.Helper()
	var args, meta map[string]any
	if err := json.Unmarshal(j.Args, &args); err != nil || !reflect.DeepEqual(args, s.args) {
		t.Errorf("job %d args %s (%v); want %v", j.ID, j.Args, err, s.args)
	}
	wantMeta := s.metadata
	if wantMeta == nil {
		wantMeta = map[string]any{}
	}
	if err := json.Unmarshal(j.Metadata, &meta); err != nil || !reflect.DeepEqual(meta, wantMeta) {
		t.Errorf("job %d metadata %s (%v); want %v", j.ID, j.Metadata, err, wantMeta)
	}
	if j.Kind != probes.JobKind || j.Queue != s.queue || j.State != s.state || j.Location != engine ||
		j.Attempt != 0 || j.Priority != s.priority || j.UniqueKey != "" || !slices.Equal(j.Tags, s.tags) {
		t.Errorf("job %d: kind %s, queue %s, state %s, location %s, attempt %d, priority %d, tags %v, unique key %q;\n"+
			"want kind %s, queue %s, state %s, location %s, attempt 0, priority %d, tags %v, not unique",
			j.ID, j.Kind, j.Queue, j.State, j.Location, j.Attempt, j.Priority, j.Tags, j.UniqueKey,
			probes.JobKind, s.queue, s.state, engine, s.priority, s.tags)
	}
	if !s.runAt.IsZero() && !j.RunAt.Equal(s.runAt) {
		t.Errorf("job %d run_at %v; want %v", j.ID, j.RunAt, s.runAt)
	}
}

// describe renders rows for a failure message.
func describe(jobs []Job) string {
	var parts []string
	for _, j := range jobs {
		parts = append(parts, fmt.Sprintf("{id %d %s %s attempt %d in %s, args %s}", j.ID, j.Queue, j.State, j.Attempt, j.Location, j.Args))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func jobIDs(jobs []Job) []int64 {
	var ids []int64
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	slices.Sort(ids)
	return ids
}

// Scope hides the rows created before it, and only from the reads it scopes: Jobs, JobsByArgs
// and QueueJobs. JobIDsInQueue is not scoped (its callers list pre-upgrade jobs, with an
// unscoped oracle), and another oracle on the same database sees every row.
func (f *fixture) testScope(t *testing.T, engine string) {
	ctx := context.Background()
	url := f.newDB(t, engine)
	o := open(t, url)
	args := map[string]any{"scope": "same args before and after"}
	enqueue := probes.Step{Op: probes.OpEnqueue, Ref: "j", Queue: queueA, Args: args}
	before := f.run(t, url, "before", enqueue)["j"]
	if err := o.Scope(ctx); err != nil {
		t.Fatal(err)
	}
	after := f.run(t, url, "after", enqueue)["j"]
	both := []int64{before, after}
	slices.Sort(both)

	jobs, err := o.Jobs(ctx, both)
	if err != nil || !slices.Equal(jobIDs(jobs), []int64{after}) {
		t.Errorf("scoped Jobs(%v) = %v, %v; want only %d", both, jobIDs(jobs), err, after)
	}
	raw, _ := json.Marshal(args)
	jobs, err = o.JobsByArgs(ctx, probes.JobKind, raw)
	if err != nil || !slices.Equal(jobIDs(jobs), []int64{after}) {
		t.Errorf("scoped JobsByArgs = %v, %v; want only %d", jobIDs(jobs), err, after)
	}
	jobs, err = o.QueueJobs(ctx, queueA)
	if err != nil || !slices.Equal(jobIDs(jobs), []int64{after}) {
		t.Errorf("scoped QueueJobs = %v, %v; want only %d", jobIDs(jobs), err, after)
	}
	if ids, err := o.JobIDsInQueue(ctx, queueA); err != nil || !slices.Equal(ids, both) {
		t.Errorf("JobIDsInQueue = %v, %v; want both %v", ids, err, both)
	}
	if jobs, err := open(t, url).Jobs(ctx, both); err != nil || !slices.Equal(jobIDs(jobs), both) {
		t.Errorf("unscoped Jobs = %v, %v; want both %v", jobIDs(jobs), err, both)
	}
}

// read runs its function in a read-only transaction: PostgreSQL says so, and refuses a write.
func (f *fixture) testReadOnly(t *testing.T) {
	ctx := context.Background()
	url := f.newDB(t, "canonical")
	o := open(t, url)
	var ro string
	if err := o.read(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SHOW transaction_read_only`).Scan(&ro)
	}); err != nil || ro != "on" {
		t.Errorf("transaction_read_only inside read = %q, %v; want on", ro, err)
	}
	err := o.read(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `CREATE TABLE public.oracle_wrote_this (x int)`)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Errorf("a write inside read: %v; want SQLSTATE 25006", err)
	}
	var exists bool
	f.queryRow(t, url, `SELECT to_regclass('public.oracle_wrote_this') IS NOT NULL`, &exists)
	if exists {
		t.Error("the write inside read left a table behind")
	}
	// The connection is usable afterwards: the failed transaction was rolled back.
	if v, err := o.SchemaVersion(ctx); err != nil || v != schemaVersion {
		t.Errorf("SchemaVersion after a failed read = %d, %v", v, err)
	}
}

// txTracer records, for every statement a connection sends, whether it ran inside a
// transaction begun READ ONLY.
type txTracer struct {
	mu sync.Mutex
	// readOnly is whether the open transaction was begun read only.
	readOnly bool
	// outside lists the statements sent outside such a transaction.
	outside []string
	begins  int
}

func (tr *txTracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	sql := strings.ToLower(strings.TrimSpace(data.SQL))
	switch {
	case strings.HasPrefix(sql, "begin"):
		tr.begins++
		tr.readOnly = strings.Contains(sql, "read only")
		if !tr.readOnly {
			tr.outside = append(tr.outside, data.SQL)
		}
	case sql == "commit" || sql == "rollback":
		tr.readOnly = false
	case !tr.readOnly || conn.PgConn().TxStatus() != 'T':
		tr.outside = append(tr.outside, data.SQL)
	}
	return ctx
}

func (tr *txTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Every exported read sends its statements inside a READ ONLY transaction, none outside one.
// (The pin's own connection is checked from the server's side in testPin.)
func (f *fixture) testReadsInReadOnlyTx(t *testing.T) {
	ctx := context.Background()
	url := f.newDB(t, "queue_storage")
	ids := f.run(t, url, "producer", probes.Step{Op: probes.OpEnqueue, Ref: "j", Queue: queueA, Args: map[string]any{"n": 1}})
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	tr := &txTracer{}
	cfg.Tracer = tr
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o := &Oracle{url: url, conn: conn}
	defer o.Close(ctx)
	for _, read := range []struct {
		name string
		call func() error
	}{
		{"SchemaVersion", func() error { _, err := o.SchemaVersion(ctx); return err }},
		{"SchemaHistory", func() error { _, err := o.SchemaHistory(ctx); return err }},
		{"Engine", func() error { _, err := o.Engine(ctx); return err }},
		{"Runtimes", func() error { _, err := o.Runtimes(ctx, time.Minute); return err }},
		{"Jobs", func() error { _, err := o.Jobs(ctx, []int64{ids["j"]}); return err }},
		{"JobsByArgs", func() error { _, err := o.JobsByArgs(ctx, probes.JobKind, json.RawMessage(`{"n":1}`)); return err }},
		{"QueueJobs", func() error { _, err := o.QueueJobs(ctx, queueA); return err }},
		{"JobIDsInQueue", func() error { _, err := o.JobIDsInQueue(ctx, queueA); return err }},
		{"Scope", func() error { return o.Scope(ctx) }},
	} {
		tr.mu.Lock()
		tr.outside, tr.begins = nil, 0
		tr.mu.Unlock()
		if err := read.call(); err != nil {
			t.Errorf("%s: %v", read.name, err)
			continue
		}
		tr.mu.Lock()
		if len(tr.outside) > 0 || tr.begins == 0 {
			t.Errorf("%s sent %d statements outside a read-only transaction (%d transactions begun): %q",
				read.name, len(tr.outside), tr.begins, tr.outside)
		}
		tr.mu.Unlock()
	}
}

// While an oracle is scoped, its pin keeps awa from truncating queue storage's rings (awa's
// prune takes its locks with a short lock_timeout, as the TRUNCATE here does); once it is
// closed, the truncate goes through. The pin itself only reads: ACCESS SHARE locks, no
// transaction id.
func (f *fixture) testPin(t *testing.T) {
	ctx := context.Background()
	url := f.newDB(t, "queue_storage")
	other, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	if _, err := other.Exec(ctx, `SET lock_timeout = '100ms'`); err != nil {
		t.Fatal(err)
	}
	truncate := func() error {
		_, err := other.Exec(ctx, `TRUNCATE awa.done_entries_0`)
		return err
	}
	// Unscoped, the oracle pins nothing.
	o := open(t, url)
	if err := truncate(); err != nil {
		t.Fatalf("TRUNCATE with an unscoped oracle open: %v", err)
	}

	if err := o.Scope(ctx); err != nil {
		t.Fatal(err)
	}
	err = truncate()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
		t.Errorf("TRUNCATE while the oracle is scoped: %v; want a lock timeout (SQLSTATE 55P03)", err)
	}

	pin := o.pin
	pid := pin.PgConn().PID()
	var modes []string
	var xid *string
	rows, err := other.Query(ctx, `SELECT DISTINCT mode FROM pg_locks WHERE pid = $1 AND locktype = 'relation' ORDER BY 1`, pid)
	if err == nil {
		modes, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err == nil {
		err = other.QueryRow(ctx, `SELECT backend_xid::text FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&xid)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(modes, []string{"AccessShareLock"}) || xid != nil {
		t.Errorf("the pin holds relation locks %v and transaction id %v; want only AccessShareLock and none", modes, xid)
	}
	// Every partition of every ring (the prune truncates partitions), not only the one above.
	var parts, unlocked int
	if err := other.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
			SELECT 1 FROM pg_locks l WHERE l.pid = $1 AND l.relation = c.oid AND l.mode = 'AccessShareLock'))
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'awa' AND c.relispartition AND c.relkind IN ('r', 'p')
		  AND 'awa.queue_terminal_count_deltas'::regclass NOT IN (SELECT relid FROM pg_partition_ancestors(c.oid))`, pid).Scan(&parts, &unlocked); err != nil {
		t.Fatal(err)
	}
	if parts == 0 || unlocked != 0 {
		t.Errorf("the pin leaves %d of queue storage's %d partitions unlocked; want all locked", unlocked, parts)
	}

	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close ends the pin's connection; its backend releases the locks as it exits, which the
	// server does on its own time: wait for the backend to be gone, not for a clock.
	gone := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := other.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, pid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(gone) {
			t.Fatalf("the pin's backend %d is still there 30s after Close", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := truncate(); err != nil {
		t.Errorf("TRUNCATE after Close: %v", err)
	}
	// Held to here, so that only Close, never the garbage collector closing an unreachable
	// socket, can have ended the pin's backend.
	runtime.KeepAlive(pin)
}
