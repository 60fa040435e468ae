package report

import (
	"github.com/awacompat/awacompat/internal/redact"
	"github.com/awacompat/awacompat/internal/results"
)

// printable returns a copy of r whose free text (what probes, awa and the harness said) has no
// control characters and no passwords, so no report or terminal line can be restyled by a
// probe's raw output, whichever results.json it was rendered from (an old run, a merge).
func printable(r *results.Results) *results.Results {
	cp := *r
	cp.Error = redact.Printable(r.Error)
	cp.Artifacts = append([]results.Artifact(nil), r.Artifacts...)
	for i := range cp.Artifacts {
		cp.Artifacts[i].Error = redact.Printable(cp.Artifacts[i].Error)
	}
	cp.Templates = append([]results.Template(nil), r.Templates...)
	for i := range cp.Templates {
		cp.Templates[i].Error = redact.Printable(cp.Templates[i].Error)
	}
	cp.Cells = append([]results.Cell(nil), r.Cells...)
	for i := range cp.Cells {
		c := &cp.Cells[i]
		c.Detail, c.StderrTail, c.Because = redact.Printable(c.Detail), redact.Printable(c.StderrTail), redact.Printable(c.Because)
		c.Findings = append([]string(nil), c.Findings...)
		for j := range c.Findings {
			c.Findings[j] = redact.Printable(c.Findings[j])
		}
		if c.Error != nil {
			e := *c.Error
			e.Class, e.Message, e.Op = redact.Printable(e.Class), redact.Printable(e.Message), redact.Printable(e.Op)
			c.Error = &e
		}
	}
	return &cp
}
