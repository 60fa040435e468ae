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

// SchemaHistory reads the whole awa.schema_version table, ordered by version; none on a
// database awa never migrated.
func (o *Oracle) SchemaHistory(ctx context.Context) ([]SchemaRow, error) {
	var out []SchemaRow
	err := o.read(ctx, func(tx pgx.Tx) error {
		if ok, err := hasTable(ctx, tx, "schema_version"); err != nil || !ok {
			return err
		}
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

// MaxVersion is the schema version a history stands for: its highest version (0 for none).
func MaxVersion(rows []SchemaRow) int {
	m := 0
	for _, r := range rows {
		m = max(m, r.Version)
	}
	return m
}
