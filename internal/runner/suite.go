package runner

import (
	"context"
	"time"

	"github.com/awacompat/awacompat/internal/results"
	"github.com/awacompat/awacompat/internal/scenario"
	"github.com/awacompat/awacompat/internal/suite"
	"github.com/awacompat/awacompat/matrix"
	"github.com/awacompat/awacompat/pinned"
)

// SuiteBuilder builds suite artifacts; *suite.Cache is the real one.
type SuiteBuilder interface {
	Build(ctx context.Context, a matrix.Artifact) (*suite.Built, error)
}

// suiteMargin is a suite cell's time beyond its suite's own timeout: cloning and dropping its
// database.
const suiteMargin = 2 * time.Minute

// job is one thing installAll installs: an artifact, a release's CLI or probe, or a suite.
type job struct {
	name string // artifact name, or the release record's name
	spec pinned.Spec
	// install, when set, replaces the Installer (a suite's build).
	install func(context.Context) (*pinned.Installed, error)
	done    func(*pinned.Installed, error)
}

// suiteJob builds suite artifact a (a failure fails its cells only, like an install).
func (r *run) suiteJob(a matrix.Artifact) job {
	var built *suite.Built
	return job{
		name: a.Name,
		spec: pinned.Spec{Kind: pinned.Kind(a.Kind), Version: a.Version, Source: a.Source},
		install: func(ctx context.Context) (*pinned.Installed, error) {
			if r.cfg.Suites == nil {
				return nil, errNoSuiteBuilder
			}
			b, err := r.cfg.Suites.Build(ctx, a)
			if err != nil {
				return nil, err
			}
			built = b
			return &pinned.Installed{Origin: b.Origin, Dir: b.Dir, Reused: b.Reused}, nil
		},
		done: func(_ *pinned.Installed, err error) {
			if err != nil {
				r.failed[a.Name] = err
				return
			}
			r.suites[a.Name] = built
		},
	}
}

type noSuiteBuilder struct{}

func (noSuiteBuilder) Error() string { return "this run has no suite builder (runner.Config.Suites)" }

var errNoSuiteBuilder error = noSuiteBuilder{}

// exclusive makes a suite cell run alone: awa's suites run their tests on every core at once
// and wait on timers, so another cell beside them would make both slow and flaky. Every other
// cell shares the run. It returns the release.
func (r *run) exclusive(c matrix.Cell) func() {
	if c.Scenario == matrix.SuiteScenario {
		r.alone.Lock()
		return r.alone.Unlock
	}
	r.alone.RLock()
	return r.alone.RUnlock
}

// runSuite runs the cell's suite in its database (env.URL) and records every test.
func (r *run) runSuite(ctx context.Context, c matrix.Cell, env scenario.Env, rec *results.Cell) scenario.Outcome {
	a := c.Roles[matrix.SuiteRole]
	b, ok := r.suites[a.Name]
	if !ok {
		return scenario.Outcome{Verdict: matrix.Error, Detail: "suite " + a.Name + " was not built"}
	}
	run := b.Run(ctx, suite.Env{URL: env.URL, Engine: c.Engine.Base(), Dir: env.Dir, Timeout: a.Suite.Timeout})
	tests, verdict, detail := suite.Judge(run, func(name string, ignored bool) matrix.TestExpectation {
		return r.cfg.Matrix.ExpectTest(c, name, ignored)
	})
	rec.Tests = tests
	rec.Suite = &results.SuiteRun{
		Command: a.Suite.Command, Format: a.Suite.Format, TestEngine: c.Engine.Base(), Template: c.TemplateName(),
		Origin: b.Origin, Exit: run.Exit, Counts: suite.CountMap(tests),
	}
	for _, t := range tests {
		if !t.OK {
			rec.Suite.Mismatched++
		}
	}
	out := scenario.Outcome{Verdict: verdict, Detail: detail, Findings: run.Findings}
	if len(tests) > 0 {
		out.Ran = []string{matrix.SuiteRole}
	}
	return out
}
