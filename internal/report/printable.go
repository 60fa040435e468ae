package report

import (
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// printable returns a copy of r whose text has no control characters and no passwords, so no
// report or terminal line can be restyled by a probe's raw output, whichever results.json it
// was rendered from (an old run, a merge, a hand-edited file). It covers what probes, awa and
// the harness said and what the command line and the matrix named (the matrix path, artifact
// names and origins, cell IDs and rerun commands).
func printable(r *results.Results) *results.Results {
	p := redact.Printable
	cp := *r
	cp.Error, cp.Matrix, cp.Tool = p(r.Error), p(r.Matrix), p(r.Tool)
	cp.Target.Awa, cp.Target.Origin = p(r.Target.Awa), p(r.Target.Origin)
	cp.Postgres.Version, cp.Postgres.URL, cp.Postgres.Mode = p(r.Postgres.Version), p(r.Postgres.URL), p(r.Postgres.Mode)
	cp.Shards = append([]string(nil), r.Shards...)
	for i := range cp.Shards {
		cp.Shards[i] = p(cp.Shards[i])
	}
	cp.Artifacts = append([]results.Artifact(nil), r.Artifacts...)
	for i := range cp.Artifacts {
		a := &cp.Artifacts[i]
		a.Name, a.Kind, a.Version, a.Origin, a.Error = p(a.Name), p(a.Kind), p(a.Version), p(a.Origin), p(a.Error)
	}
	cp.Templates = append([]results.Template(nil), r.Templates...)
	for i := range cp.Templates {
		cp.Templates[i].Error = p(cp.Templates[i].Error)
	}
	cp.Cells = append([]results.Cell(nil), r.Cells...)
	for i := range cp.Cells {
		c := &cp.Cells[i]
		c.ID, c.Engine, c.SchemaPath, c.Scenario = p(c.ID), p(c.Engine), p(c.SchemaPath), p(c.Scenario)
		c.Expected, c.ExpectedError, c.Actual = p(c.Expected), p(c.ExpectedError), p(c.Actual)
		c.Detail, c.StderrTail, c.Because = p(c.Detail), p(c.StderrTail), p(c.Because)
		c.Repro, c.Logs, c.KeptDatabase = p(c.Repro), p(c.Logs), p(c.KeptDatabase)
		c.Findings = append([]string(nil), c.Findings...)
		for j := range c.Findings {
			c.Findings[j] = p(c.Findings[j])
		}
		roles := make(map[string]results.Role, len(c.Roles))
		for name, role := range c.Roles {
			roles[p(name)] = results.Role{Artifact: p(role.Artifact), Kind: p(role.Kind), Version: p(role.Version)}
		}
		c.Roles = roles
		c.Tests = append([]results.Test(nil), c.Tests...)
		for j := range c.Tests {
			t := &c.Tests[j]
			t.Name, t.Outcome, t.Expected, t.Because = p(t.Name), p(t.Outcome), p(t.Expected), p(t.Because)
			t.Reason, t.OutputTail = p(t.Reason), p(t.OutputTail)
		}
		if c.Suite != nil {
			s := *c.Suite
			s.Command, s.Template, s.Origin, s.Exit = p(s.Command), p(s.Template), p(s.Origin), p(s.Exit)
			c.Suite = &s
		}
		if c.Error != nil {
			e := *c.Error
			e.Class, e.Message, e.Op, e.SQLState = p(e.Class), p(e.Message), p(e.Op), p(e.SQLState)
			c.Error = &e
		}
	}
	return &cp
}
