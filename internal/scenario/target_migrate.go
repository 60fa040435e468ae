package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/awacompat/awacompat/internal/oracle"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/migrate"
)

// targetMigrate reports the schema path's last step, the target's own migrate, for a template
// that was built: the runner gives every cell of a template that awa refused (or that could
// not be built) that outcome instead, so this runs on built templates only. It re-reads the
// cell's clone: the schema version the template reached, the engine and ring authority the
// matrix asked for, and on an upgraded path the old release's jobs, still there once each.
func targetMigrate(ctx context.Context, env Env) (Outcome, error) {
	o, err := oracle.Open(ctx, env.URL)
	if err != nil {
		return Outcome{}, err
	}
	defer o.Close(context.WithoutCancel(ctx))
	var out Outcome
	for _, s := range env.Template.Steps {
		out.find("template step %s by %s: schema v%d, %s", s.Op, s.By, s.After.SchemaVersion, s.After.Engine)
	}
	v, err := o.SchemaVersion(ctx)
	if err != nil {
		return Outcome{}, err
	}
	e, err := o.Engine(ctx)
	if err != nil {
		return Outcome{}, err
	}
	var problems []string
	if v != env.Template.Built.SchemaVersion {
		problems = append(problems, fmt.Sprintf("the clone is at schema v%d, the template was verified at v%d", v, env.Template.Built.SchemaVersion))
	}
	if err := migrate.CheckEngine(env.Template.Engine, e); err != nil {
		problems = append(problems, err.Error())
	}
	jobs := ""
	if !env.UpgradedFrom.IsZero() {
		ids, err := o.JobIDsInQueue(ctx, migrate.UpgradeQueue)
		if err != nil {
			return Outcome{}, err
		}
		rows, err := o.Jobs(ctx, ids)
		if err != nil {
			return Outcome{}, err
		}
		if msg := checkBacklog(env, rows); msg != "" {
			problems = append(problems, msg)
		}
		jobs = fmt.Sprintf("; the %d jobs awa %s enqueued before it are there (%s)", len(rows), env.UpgradedFrom, statesString(rows))
	}
	if len(problems) > 0 {
		out.Verdict = matrix.Fail
		out.Detail = strings.Join(problems, "; ")
		return out, nil
	}
	out.Verdict = matrix.Pass
	out.Detail = fmt.Sprintf("the target's migrate reached schema v%d, %s%s", v, e, jobs)
	return out, nil
}

// checkBacklog says what is wrong with the old release's jobs, "" when each is there once
// with the args it was given.
func checkBacklog(env Env, rows []oracle.Job) string {
	var missing []string
	for n := 1; n <= migrate.UpgradeJobs; n++ {
		want := mustJSON(migrate.UpgradeArgs(env.UpgradedFrom, n))
		found := 0
		for _, j := range rows {
			if jsonDiff(j.Args, want) == "" {
				found++
			}
		}
		if found != 1 {
			missing = append(missing, fmt.Sprintf("%d rows carry pre-upgrade payload %d", found, n))
		}
	}
	if len(rows) != migrate.UpgradeJobs {
		missing = append(missing, fmt.Sprintf("%d rows in %s, the old release enqueued %d", len(rows), migrate.UpgradeQueue, migrate.UpgradeJobs))
	}
	return strings.Join(missing, "; ")
}
