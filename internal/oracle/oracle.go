// Package oracle reads an awa database to confirm what probes claim. It only reads: every
// query is a SELECT, run in a read-only transaction, so the oracle can never be the thing
// that made a cell pass.
package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job is one job row as the database holds it.
type Job struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       JobState        `json:"state"`
	Priority    int             `json:"priority"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
	Metadata    json.RawMessage `json:"metadata"`
	Tags        []string        `json:"tags"`
	RunAt       time.Time       `json:"run_at"`
	// UniqueKey is the hex of the row's unique_key ("" when the job is not unique).
	UniqueKey string `json:"unique_key,omitempty"`
	// Location is "canonical" (awa.jobs_hot / awa.scheduled_jobs) or "queue_storage" (the
	// append-only substrate, seen through the awa.jobs view).
	Location string `json:"location"`
	// Receipt is true for a queue-storage job held running through an open claim receipt
	// (no lease row: see receiptRunningSQL).
	Receipt bool `json:"receipt,omitempty"`
}

// JobState is awa's job_state enum.
type JobState string

const (
	JobStateScheduled       JobState = "scheduled"
	JobStateAvailable       JobState = "available"
	JobStateRunning         JobState = "running"
	JobStateCompleted       JobState = "completed"
	JobStateRetryable       JobState = "retryable"
	JobStateFailed          JobState = "failed"
	JobStateCancelled       JobState = "cancelled"
	JobStateWaitingExternal JobState = "waiting_external"
)

// Engine is the row of awa.storage_transition_state, with the queue-storage ring authority.
type Engine struct {
	State          string `json:"state"`
	CurrentEngine  string `json:"current_engine"`
	PreparedEngine string `json:"prepared_engine,omitempty"`
	Epoch          int64  `json:"transition_epoch"`
	// Authority is awa.ring_cursor_authority's "columns" or "ledger" (schema v43 and later;
	// "" when the schema has no such table).
	Authority string `json:"ring_authority,omitempty"`
}

// Active is the engine new work routes to: "canonical" or "queue_storage".
func (e Engine) Active() string {
	if (e.State == "active" || e.State == "mixed_transition") && e.PreparedEngine != "" {
		return e.PreparedEngine
	}
	return e.CurrentEngine
}

func (e Engine) String() string {
	s := fmt.Sprintf("state=%s current=%s", e.State, e.CurrentEngine)
	if e.PreparedEngine != "" {
		s += " prepared=" + e.PreparedEngine
	}
	if e.Authority != "" {
		s += " authority=" + e.Authority
	}
	return s
}

// Name is the engine as matrix.yaml names it: "canonical", "queue_storage" or, when the
// schema has a ring authority, "queue_storage:columns" / "queue_storage:ledger". A database
// in the middle of a transition (prepared, mixed_transition) names its state.
func (e Engine) Name() string {
	switch {
	case e.State == "canonical" && e.CurrentEngine == "canonical":
		return "canonical"
	case e.State == "active" && e.Active() == "queue_storage":
		if e.Authority != "" {
			return "queue_storage:" + e.Authority
		}
		return "queue_storage"
	}
	return e.State + ":" + e.Active()
}

// Runtime is one awa.runtime_instances row.
type Runtime struct {
	Version           string    `json:"version"`
	LastSeen          time.Time `json:"last_seen_at"`
	StorageCapability string    `json:"storage_capability,omitempty"`
	TransitionRole    string    `json:"transition_role,omitempty"`
}

// Oracle reads one database.
type Oracle struct {
	url  string
	conn *pgx.Conn
	// since, when set, limits job and runtime reads to rows created from then on (by the
	// database's clock); see Scope.
	since *time.Time
	// pin holds the read transaction that keeps queue storage's job evidence from being
	// pruned while the cell runs; see Scope.
	pin *pgx.Conn
}

// Scope limits what the oracle returns to jobs created and runtimes started from now on, by
// the database's own clock. A cell scopes its oracle before it starts any probe, so rows its
// template already held (an upgraded database's pre-upgrade jobs, whose ids the queue-storage
// id sequence reuses; the staged transition's worker runtimes) never count as the cell's.
//
// It also pins the cell's evidence until Close. Queue storage keeps a finished job only until
// its ring slot rotates out and is truncated: with awa's default 1 s rotation a completed job
// can vanish from the database a second or two after it finished, before a loaded machine's
// next poll reads it (the oracle then found "job N is missing" of a job the worker had
// completed). So the oracle holds one read transaction open that has read every partitioned
// queue-storage table: its ACCESS SHARE locks make awa's prune, which takes its locks with a
// 10 ms lock_timeout and backs off when blocked (awa-model PruneOutcome::Blocked), leave the
// cell's rows in place. It only reads; a long reporting query has the same effect.
func (o *Oracle) Scope(ctx context.Context) error {
	var now time.Time
	err := o.read(ctx, func(tx pgx.Tx) error { return tx.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now) })
	if err != nil {
		return fmt.Errorf("oracle: scope: %w", err)
	}
	o.since = &now
	return o.pinEvidence(ctx)
}

// pinEvidence opens the pin transaction (see Scope).
func (o *Oracle) pinEvidence(ctx context.Context) error {
	conn, err := connect(ctx, o.url, "awacompat oracle pin")
	if err != nil {
		return fmt.Errorf("oracle: pin: connect: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		conn.Close(ctx)
		return fmt.Errorf("oracle: pin: begin: %w", err)
	}
	// Every partitioned table of the awa schema holds job evidence (ready, done, lease and
	// claim rings), except the terminal-count deltas, which carry no job and whose rollup
	// must keep working.
	rows, err := tx.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname)
		FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'awa' AND c.relname <> 'queue_terminal_count_deltas' ORDER BY 1`)
	if err == nil {
		var tables []string
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
		// LOCK TABLE on a partitioned table takes the lock on every partition too, without
		// opening them as planning a query does (and their indexes: four times the server
		// CPU on a queue-storage database).
		if err == nil && len(tables) > 0 {
			_, err = tx.Exec(ctx, "LOCK TABLE "+strings.Join(tables, ", ")+" IN ACCESS SHARE MODE")
		}
	}
	if err != nil {
		conn.Close(ctx)
		return fmt.Errorf("oracle: pin: %w", err)
	}
	o.pin = conn
	return nil
}

// scoped wraps a job condition with the Scope filter; since is the last parameter.
func (o *Oracle) scoped(cond string, params []any) (string, []any) {
	return "(" + cond + fmt.Sprintf(") AND ($%d::timestamptz IS NULL OR created_at >= $%d)", len(params)+1, len(params)+1), append(params, o.since)
}

// Open connects to url.
func Open(ctx context.Context, url string) (*Oracle, error) {
	conn, err := connect(ctx, url, "awacompat oracle")
	if err != nil {
		return nil, fmt.Errorf("oracle: connect: %w", err)
	}
	return &Oracle{url: url, conn: conn}, nil
}

// connect opens a connection to url that names itself app (application_name), so the server
// says which connections are the oracle's.
func connect(ctx context.Context, url, app string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = app
	return pgx.ConnectConfig(ctx, cfg)
}

// Unpin ends the evidence pin (see Scope), so that awa can take the locks a migration needs:
// the pin's ACCESS SHARE locks would hold a migrate's DDL, and every query queued behind it,
// until the cell ended. Pin takes it again (it covers tables the migration created too). A
// cell that migrates under its own traffic unpins around the migrate.
func (o *Oracle) Unpin(ctx context.Context) {
	if o.pin != nil {
		o.pin.Close(ctx)
		o.pin = nil
	}
}

// Pin takes the evidence pin again after Unpin (a no-op while it is held).
func (o *Oracle) Pin(ctx context.Context) error {
	if o.pin != nil {
		return nil
	}
	return o.pinEvidence(ctx)
}

// Close releases the connection (and the pin, ending its transaction).
func (o *Oracle) Close(ctx context.Context) error {
	o.Unpin(ctx)
	return o.conn.Close(ctx)
}

// read runs f in a READ ONLY transaction.
func (o *Oracle) read(ctx context.Context, f func(tx pgx.Tx) error) error {
	tx, err := o.conn.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("oracle: begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// hasTable reports whether the awa schema has table name: an empty database (before any
// migrate) has none, and reads of it answer "nothing" rather than fail.
func hasTable(ctx context.Context, tx pgx.Tx, name string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "awa."+name).Scan(&ok)
	return ok, err
}

// SchemaVersion is MAX(version) of awa.schema_version; 0 on a database awa never migrated.
func (o *Oracle) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := o.read(ctx, func(tx pgx.Tx) error {
		if ok, err := hasTable(ctx, tx, "schema_version"); err != nil || !ok {
			return err
		}
		return tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM awa.schema_version`).Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("oracle: schema version: %w", err)
	}
	return v, nil
}

// Engine reads awa.storage_transition_state and, where the schema has one, the queue-storage
// schema's ring authority (awa.ring_cursor_authority, v43). A database awa never migrated has
// the zero Engine.
func (o *Oracle) Engine(ctx context.Context) (Engine, error) {
	var e Engine
	err := o.read(ctx, func(tx pgx.Tx) error {
		if ok, err := hasTable(ctx, tx, "storage_transition_state"); err != nil || !ok {
			return err
		}
		var prepared, authority *string
		err := tx.QueryRow(ctx, `SELECT state, current_engine, prepared_engine, transition_epoch
			FROM awa.storage_transition_state WHERE singleton`).Scan(&e.State, &e.CurrentEngine, &prepared, &e.Epoch)
		if err != nil {
			return err
		}
		if prepared != nil {
			e.PreparedEngine = *prepared
		}
		if ok, err := hasTable(ctx, tx, "ring_cursor_authority"); err != nil || !ok {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT authority FROM awa.ring_cursor_authority WHERE singleton`).Scan(&authority); err != nil && err != pgx.ErrNoRows {
			return err
		}
		if authority != nil {
			e.Authority = *authority
		}
		return nil
	})
	if err != nil {
		return e, fmt.Errorf("oracle: engine state: %w", err)
	}
	return e, nil
}

// Runtimes lists worker runtimes that heartbeated within the last `within`.
func (o *Oracle) Runtimes(ctx context.Context, within time.Duration) ([]Runtime, error) {
	var out []Runtime
	err := o.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT version, last_seen_at, COALESCE(storage_capability, ''), COALESCE(transition_role, '')
			FROM awa.runtime_instances WHERE last_seen_at > now() - make_interval(secs => $1)
			AND ($2::timestamptz IS NULL OR started_at >= $2) ORDER BY started_at`, within.Seconds(), o.since)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Runtime, error) {
			var rt Runtime
			err := r.Scan(&rt.Version, &rt.LastSeen, &rt.StorageCapability, &rt.TransitionRole)
			return rt, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("oracle: runtimes: %w", err)
	}
	return out, nil
}

const jobCols = `id, kind, queue, state::text, priority, attempt, max_attempts, args, metadata, tags, run_at,
	COALESCE(encode(unique_key, 'hex'), '')`

// Jobs returns every row for the given ids: canonical rows read from the canonical tables
// directly, and queue-storage rows through the awa.jobs view when queue storage is active
// (the view shows one engine at a time, so a row the active engine hides still counts).
// A job id may appear twice, which is itself a finding.
func (o *Oracle) Jobs(ctx context.Context, ids []int64) ([]Job, error) {
	out, err := o.jobsWhere(ctx, `id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("oracle: jobs: %w", err)
	}
	return out, nil
}

// jobsWhere returns the rows matching cond (SQL over the job columns, parameters $1...) from
// the canonical tables and, when queue storage is active, from the awa.jobs view, ordered by
// id within each.
func (o *Oracle) jobsWhere(ctx context.Context, cond string, params ...any) ([]Job, error) {
	cond, params = o.scoped(cond, params)
	var out []Job
	err := o.read(ctx, func(tx pgx.Tx) error {
		scan := func(loc string) pgx.RowToFunc[Job] {
			return func(r pgx.CollectableRow) (Job, error) {
				var j Job
				err := r.Scan(&j.ID, &j.Kind, &j.Queue, &j.State, &j.Priority, &j.Attempt, &j.MaxAttempts, &j.Args, &j.Metadata, &j.Tags, &j.RunAt, &j.UniqueKey)
				j.Location = loc
				return j, err
			}
		}
		rows, err := tx.Query(ctx, `SELECT `+jobCols+` FROM awa.jobs_hot WHERE `+cond+`
			UNION ALL SELECT `+jobCols+` FROM awa.scheduled_jobs WHERE `+cond+` ORDER BY 1`, params...)
		if err != nil {
			return err
		}
		canon, err := pgx.CollectRows(rows, scan("canonical"))
		if err != nil {
			return fmt.Errorf("canonical tables: %w", err)
		}
		out = append(out, canon...)
		var qsSchema *string
		if err := tx.QueryRow(ctx, `SELECT awa.active_queue_storage_schema()`).Scan(&qsSchema); err != nil {
			return fmt.Errorf("active engine: %w", err)
		}
		if qsSchema == nil {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT `+jobCols+` FROM awa.jobs WHERE `+cond+` ORDER BY 1`, params...)
		if err != nil {
			return err
		}
		qs, err := pgx.CollectRows(rows, scan("queue_storage"))
		if err != nil {
			return fmt.Errorf("awa.jobs view: %w", err)
		}
		out = append(out, qs...)
		rows, err = tx.Query(ctx, `SELECT `+jobCols+` FROM (`+receiptRunningSQL(*qsSchema)+`) AS receipts WHERE `+cond+` ORDER BY 1`, params...)
		if err != nil {
			return fmt.Errorf("receipt-backed claims: %w", err)
		}
		running, err := pgx.CollectRows(rows, scan("queue_storage"))
		if err != nil {
			return fmt.Errorf("receipt-backed claims: %w", err)
		}
		for i := range running {
			running[i].Receipt = true
		}
		out = append(out, running...)
		return nil
	})
	return out, err
}

// receiptRunningSQL selects the jobs that queue storage holds running through an open claim
// receipt (ADR-023: lease_claims rows and compact lease_claim_batches items that were never
// materialized into awa.leases). The awa.jobs view of the v40 schema does not show these at
// all: a job a 0.6.9 worker is executing vanishes from the view until it finishes (awa #416
// class). The conditions mirror awa-model 0.6.9 QueueStorage::load_job.
func receiptRunningSQL(schema string) string {
	s := pgx.Identifier{schema}.Sanitize()
	return `
	SELECT claims.job_id AS id, ready.kind, ready.queue, 'running'::awa.job_state AS state,
		claims.priority, claims.attempt, claims.max_attempts, ready.args,
		COALESCE(NULLIF(ready.payload->'metadata', 'null'::jsonb), '{}'::jsonb) AS metadata,
		awa.queue_storage_payload_tags(ready.payload) AS tags, ready.run_at, ready.unique_key, ready.created_at
	FROM ` + s + `.lease_claims AS claims
	JOIN ` + s + `.ready_entries AS ready
	  ON ready.ready_slot = claims.ready_slot AND ready.ready_generation = claims.ready_generation
	 AND ready.queue = claims.queue AND ready.priority = claims.priority
	 AND ready.enqueue_shard = claims.enqueue_shard AND ready.lane_seq = claims.lane_seq
	WHERE claims.closed_at IS NULL
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.lease_claim_closures c
	                  WHERE c.claim_slot = claims.claim_slot AND c.job_id = claims.job_id AND c.run_lease = claims.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.lease_claim_closure_batches cb WHERE cb.receipt_ranges @> claims.receipt_id)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.done_entries d WHERE d.job_id = claims.job_id AND d.run_lease = claims.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.deferred_jobs d WHERE d.job_id = claims.job_id AND d.run_lease = claims.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.dlq_entries d WHERE d.job_id = claims.job_id AND d.run_lease = claims.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.leases l WHERE l.job_id = claims.job_id AND l.run_lease = claims.run_lease)
	UNION ALL
	SELECT items.job_id, ready.kind, ready.queue, 'running'::awa.job_state,
		batches.priority, items.attempt, items.max_attempts, ready.args,
		COALESCE(NULLIF(ready.payload->'metadata', 'null'::jsonb), '{}'::jsonb),
		awa.queue_storage_payload_tags(ready.payload), ready.run_at, ready.unique_key, ready.created_at
	FROM ` + s + `.lease_claim_batches AS batches
	CROSS JOIN LATERAL unnest(batches.job_ids, batches.run_leases, batches.receipt_ids, batches.lane_seqs, batches.attempts, batches.max_attempts)
		AS items(job_id, run_lease, receipt_id, lane_seq, attempt, max_attempts)
	JOIN ` + s + `.ready_entries AS ready
	  ON ready.ready_slot = batches.ready_slot AND ready.ready_generation = batches.ready_generation
	 AND ready.queue = batches.queue AND ready.enqueue_shard = batches.enqueue_shard
	 AND ready.lane_seq = items.lane_seq AND ready.job_id = items.job_id
	WHERE NOT EXISTS (SELECT 1 FROM ` + s + `.lease_claim_closures c
	                  WHERE c.claim_slot = batches.claim_slot AND c.job_id = items.job_id AND c.run_lease = items.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.lease_claim_closure_batches cb
	                  WHERE cb.claim_slot = batches.claim_slot AND cb.receipt_ranges @> items.receipt_id)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.leases l WHERE l.job_id = items.job_id AND l.run_lease = items.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.done_entries d WHERE d.job_id = items.job_id AND d.run_lease = items.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.deferred_jobs d WHERE d.job_id = items.job_id AND d.run_lease = items.run_lease)
	  AND NOT EXISTS (SELECT 1 FROM ` + s + `.dlq_entries d WHERE d.job_id = items.job_id AND d.run_lease = items.run_lease)`
}
