package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// JobsByArgs returns every row of kind whose args equal args (jsonb equality), wherever it is
// stored: two rows for one payload that was meant to be unique is a finding.
func (o *Oracle) JobsByArgs(ctx context.Context, kind string, args json.RawMessage) ([]Job, error) {
	out, err := o.jobsWhere(ctx, `kind = $1 AND args = $2::jsonb`, kind, string(args))
	if err != nil {
		return nil, fmt.Errorf("oracle: jobs by args: %w", err)
	}
	return out, nil
}

// QueueJobs returns every row in queue (canonical tables and, under queue storage, the
// awa.jobs view).
func (o *Oracle) QueueJobs(ctx context.Context, queue string) ([]Job, error) {
	out, err := o.jobsWhere(ctx, `queue = $1`, queue)
	if err != nil {
		return nil, fmt.Errorf("oracle: jobs in queue %s: %w", queue, err)
	}
	return out, nil
}

// SchemaRow is one row of awa.schema_version.
type SchemaRow struct {
	Version     int       `json:"version"`
	Description string    `json:"description"`
	AppliedAt   time.Time `json:"applied_at"`
}

// Migrated reports whether the database holds awa's schema at all (awa.schema_version).
func (o *Oracle) Migrated(ctx context.Context) (bool, error) {
	var ok bool
	err := o.read(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT to_regclass('awa.schema_version') IS NOT NULL`).Scan(&ok)
	})
	if err != nil {
		return false, fmt.Errorf("oracle: migrated: %w", err)
	}
	return ok, nil
}

// SchemaHistory reads the whole awa.schema_version table, ordered by version.
func (o *Oracle) SchemaHistory(ctx context.Context) ([]SchemaRow, error) {
	var out []SchemaRow
	err := o.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT version, description, applied_at FROM awa.schema_version ORDER BY version`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SchemaRow, error) {
			var s SchemaRow
			err := r.Scan(&s.Version, &s.Description, &s.AppliedAt)
			return s, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("oracle: schema history: %w", err)
	}
	return out, nil
}
