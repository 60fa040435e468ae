package oracle

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// JobIDsInQueue lists the ids of every job in queue, from the canonical tables and, when queue
// storage is active, the awa.jobs view; pass them to Jobs for the rows.
func (o *Oracle) JobIDsInQueue(ctx context.Context, queue string) ([]int64, error) {
	var ids []int64
	err := o.read(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id FROM awa.jobs_hot WHERE queue = $1
			UNION SELECT id FROM awa.scheduled_jobs WHERE queue = $1
			UNION SELECT id FROM awa.jobs WHERE queue = $1 ORDER BY 1`, queue)
		if err != nil {
			return err
		}
		ids, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("oracle: jobs in queue %s: %w", queue, err)
	}
	return ids, nil
}
